//! The engine as a library, called as the API server will call it: from the worker threads of a
//! multi-threaded tokio runtime, with no CLI code involved. One container's whole life (create,
//! start, attach, exec, logs, stop, rm) goes through `berth_engine` alone; the `berth` binary is
//! only the engine's helper processes (monitor, exec helper).

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use berth_engine::containers::{Caller, CreateOptions, ExecOptions, ExecStdio, StartMode};
use berth_engine::images::ImportOptions;
use berth_engine::{Engine, Options};

/// Runs `f` with an engine on one of the runtime's blocking threads, as a server's handler does.
async fn call<T: Send + 'static>(
    options: &Options,
    f: impl FnOnce(&Engine) -> berth_engine::Result<T> + Send + 'static,
) -> berth_engine::Result<T> {
    let options = options.clone();
    tokio::task::spawn_blocking(move || f(&Engine::open(options)?))
        .await
        .expect("engine call panicked")
}

/// The engine's options for `berth`'s roots, with busybox imported as `api-busybox:latest` through
/// the engine; None (the test skips) without busybox.
async fn engine_with_busybox(berth: &common::Berth) -> Option<Options> {
    let Some(rootfs) = common::busybox_rootfs(berth.dir.path()) else {
        eprintln!("SKIPPED: no busybox");
        return None;
    };
    berth_engine::use_helper_executable(env!("CARGO_BIN_EXE_berth").into());
    let options = Options {
        root: berth.root(),
        runroot: berth.dir.path().join("run"),
    };
    let tarball = berth.path("rootfs.tar");
    common::tar_dir(&rootfs, &tarball);
    call(&options, move |engine| {
        let import = ImportOptions {
            reference: Some("api-busybox:latest".into()),
            source: "-".into(),
            ..ImportOptions::default()
        };
        engine.import(&mut File::open(&tarball).expect("rootfs tar"), &import)
    })
    .await
    .expect("import");
    Some(options)
}

fn threads_of_this_process() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with("Threads:"))
        .expect("Threads line");
    line[8..].trim().parse().expect("thread count")
}

/// Reads an attach stream's frames (`[stream, 0, 0, 0, len]` + data) until stdout holds `want`.
fn read_frames_until(stream: &mut UnixStream, want: &str) -> String {
    let mut stdout = String::new();
    let mut header = [0u8; 8];
    while !stdout.contains(want) {
        stream.read_exact(&mut header).expect("attach frame header");
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut data = vec![0; len];
        stream.read_exact(&mut data).expect("attach frame");
        if header[0] == 1 {
            stdout.push_str(&String::from_utf8_lossy(&data));
        }
    }
    stdout
}

fn read_all(fd: OwnedFd) -> String {
    let mut text = String::new();
    // A terminal's master reads EIO once the process is gone: what came before is the output.
    let _ = File::from(fd).read_to_string(&mut text);
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_multi_threaded_caller_drives_a_container_through_the_engine_alone() {
    let berth = common::Berth::new();
    let Some(options) = engine_with_busybox(&berth).await else {
        return;
    };

    let id = call(&options, |engine| {
        let mut create = CreateOptions {
            name: Some("api-box".into()),
            cmd: [
                "sh",
                "-c",
                "echo started; while read line; do echo \"got $line\"; done; sleep 1000",
            ]
            .map(String::from)
            .to_vec(),
            ..CreateOptions::default()
        };
        create.config.image = "api-busybox:latest".into();
        create.config.open_stdin = true;
        create.config.host.network_mode = "none".into();
        Ok(engine.create_container(create)?.id().to_string())
    })
    .await
    .expect("create");

    let started = {
        let id = id.clone();
        call(&options, move |engine| engine.start_container(&id, StartMode::Detached)).await
    };
    assert!(started.expect("start").pid > 0);
    assert!(
        threads_of_this_process() > 1,
        "the caller must be multi-threaded for this test to mean anything"
    );

    // attach: what goes in comes back out of the container's stdout.
    let (_, mut stream) = {
        let id = id.clone();
        call(&options, move |engine| engine.attach_container(&id))
            .await
            .expect("attach")
    };
    let attached = tokio::task::spawn_blocking(move || {
        stream.write_all(b"ping\n").expect("attach input");
        read_frames_until(&mut stream, "got ping")
    });
    assert!(attached.await.expect("attach thread").contains("got ping"));

    // exec, eight at once from the runtime's threads: pipes, exit codes, stderr kept apart.
    let mut execs = Vec::new();
    for n in 0..8 {
        let id = id.clone();
        execs.push(call(&options, move |engine| {
            let exec = ExecOptions {
                args: ["sh", "-c", &format!("echo out {n}; echo err {n} >&2; exit {n}")]
                    .map(String::from)
                    .to_vec(),
                ..ExecOptions::default()
            };
            let mut process = engine.exec_start(&id, &exec, ExecStdio::Pipes { stdin: false })?;
            let (stdout, stderr) = (process.stdout.take(), process.stderr.take());
            let err = std::thread::spawn(move || read_all(stderr.expect("stderr pipe")));
            let out = read_all(stdout.expect("stdout pipe"));
            let code = process.wait()?;
            Ok((n, out, err.join().expect("stderr reader"), code))
        }));
    }
    for exec in execs {
        let (n, out, err, code) = exec.await.expect("exec");
        assert_eq!(
            (out.as_str(), err.as_str(), code),
            (&*format!("out {n}\n"), &*format!("err {n}\n"), n)
        );
    }

    // exec with a terminal: the process sees one, and its size is the one set.
    let tty = {
        let id = id.clone();
        call(&options, move |engine| {
            let exec = ExecOptions {
                args: ["sh", "-c", "sleep 0.2; test -t 0 && echo tty; stty size"]
                    .map(String::from)
                    .to_vec(),
                ..ExecOptions::default()
            };
            let mut process = engine.exec_start(&id, &exec, ExecStdio::Tty)?;
            process.resize(33, 77)?;
            let master = process.terminal.take().expect("terminal");
            let out = read_all(master);
            Ok((out, process.wait()?))
        })
        .await
        .expect("exec with a tty")
    };
    assert!(tty.0.contains("tty") && tty.0.contains("33 77"), "{:?}", tty.0);
    assert_eq!(tty.1, 0);

    // exec attached to streams the caller hands in: its stdin goes in, its output comes back.
    let pipe = || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
    let ((stdin_r, stdin_w), (out_r, out_w), (err_r, err_w)) = (pipe(), pipe(), pipe());
    let mut stdin_w = File::from(stdin_w);
    let attached_exec = {
        let id = id.clone();
        call(&options, move |engine| {
            let caller = Caller {
                stdin: Some(stdin_r),
                stdout: Some(out_w),
                stderr: Some(err_w),
            };
            let exec = ExecOptions {
                args: ["sh", "-c", "tr a-z A-Z; exit 7"].map(String::from).to_vec(),
                ..ExecOptions::default()
            };
            engine.exec_attached(&id, &exec, false, caller, Vec::new())
        })
    };
    stdin_w.write_all(b"handed in\n").expect("exec input");
    drop(stdin_w);
    let output = tokio::task::spawn_blocking(move || (read_all(out_r), read_all(err_r)));
    assert_eq!(attached_exec.await.expect("attached exec"), 7);
    assert_eq!(
        output.await.expect("reader"),
        ("HANDED IN\n".to_string(), String::new())
    );

    // logs: the container's output, as written by its monitor.
    let logs = {
        let id = id.clone();
        call(&options, move |engine| {
            let mut reader = engine.container_logs(&id, None, false)?;
            let mut lines = Vec::new();
            while let Some(entry) = reader.next_entry()? {
                lines.push(entry.log);
            }
            Ok(lines)
        })
        .await
        .expect("logs")
    };
    assert_eq!(logs, ["started\n", "got ping\n"]);

    // stop, then rm: the container is gone.
    {
        let id = id.clone();
        call(&options, move |engine| engine.stop_container(&id, Some(1), None))
            .await
            .expect("stop");
    }
    let state = {
        let id = id.clone();
        call(&options, move |engine| Ok(engine.container(&id)?.row.state)).await
    };
    assert_eq!(state.expect("inspect after stop"), berth_engine::ContainerState::Exited);
    {
        let id = id.clone();
        call(&options, move |engine| engine.remove_container(&id, false, false))
            .await
            .expect("rm");
    }
    let gone = call(&options, move |engine| engine.container(&id).map(|_| ())).await;
    assert!(matches!(gone, Err(berth_engine::Error::NoSuchContainer(_))), "{gone:?}");
    let leftovers = std::fs::read_dir(options.runroot.join("containers")).map_or(0, |d| d.count());
    assert_eq!(leftovers, 0, "the container's run directory outlived rm");
}

/// A build's output, collected.
struct Collected(std::sync::Mutex<Vec<String>>);

impl berth_engine::build::BuildOutput for Collected {
    fn line(&self, text: &str) {
        self.0.lock().expect("output lock").push(text.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_sends_its_run_output_to_the_output_the_caller_hands_in() {
    let berth = common::Berth::new();
    let Some(options) = engine_with_busybox(&berth).await else {
        return;
    };
    let context = berth.path("context");
    std::fs::create_dir_all(&context).expect("context dir");
    let built = call(&options, move |engine| {
        let build = berth_engine::build::BuildOptions {
            context,
            dockerfile_text: Some("FROM api-busybox\nRUN echo from-the-run-step; echo and-its-stderr >&2\n".into()),
            network: Some("none".into()),
            ..Default::default()
        };
        let out = Collected(std::sync::Mutex::new(Vec::new()));
        engine.build(&build, &out)?;
        Ok(out.0.into_inner().expect("output lock"))
    })
    .await
    .expect("build");
    assert!(built.iter().any(|l| l == "from-the-run-step"), "{built:?}");
    assert!(built.iter().any(|l| l == "and-its-stderr"), "{built:?}");
}

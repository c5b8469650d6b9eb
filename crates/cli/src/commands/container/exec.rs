//! `exec` and `attach`.

use super::*;

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    user: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    detach_keys: Option<String>,
    container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

pub fn exec(options: &Options, args: ExecArgs) -> anyhow::Result<()> {
    let env = env_from_flags(&args.env_file, &args.env)?;
    let exec = berth_engine::containers::ExecOptions {
        args: args.command.clone(),
        env,
        working_dir: args.workdir.clone(),
        user: args.user.clone(),
        privileged: args.privileged,
    };
    let engine = engine(options)?;
    let result = if args.detach {
        engine.exec_detached(&args.container, &exec).map(|_| 0)
    } else {
        let _raw = RawMode::enter(args.tty && args.interactive);
        let keys = match &args.detach_keys {
            Some(k) => berth_engine::relay::parse_detach_keys(k).map_err(anyhow::Error::msg)?,
            None => engine.container(&args.container)?.detach_keys(),
        };
        let terminal = berth_engine::relay::Caller::own_stdio(args.interactive)?;
        crate::out::end_when_reader_leaves();
        engine.exec_attached(&args.container, &exec, args.tty, terminal, keys)
    };
    match result {
        Ok(0) => Ok(()),
        Ok(code) => Err(Exit::status(code as i64).into()),
        Err(e @ Error::StartFailed { .. }) => {
            eprintln!("OCI runtime exec failed: {e}");
            Err(Exit::for_error(&e).into())
        }
        Err(e) => {
            eprintln!("Error response from daemon: {e}");
            Err(Exit::for_error(&e).into())
        }
    }
}

/// The hidden `container-exec` helper the engine starts for each exec.
#[derive(Args)]
pub struct ExecHelperArgs {
    #[arg(long)]
    request_fd: i32,
    #[arg(long)]
    status_fd: i32,
}

pub fn exec_helper(options: &Options, args: ExecHelperArgs) -> anyhow::Result<()> {
    let code = berth_engine::containers::exec::exec_helper(options.clone(), args.request_fd, args.status_fd);
    if code != 0 {
        return Err(Exit::status(code as i64).into());
    }
    Ok(())
}

#[derive(Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long, default_value = "true", action = ArgAction::Set)]
    sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    detach_keys: Option<String>,
    container: String,
}

/// `attach`: streams the container's output here and our input there until
/// it exits (its code is ours) or the detach keys are typed.
pub fn attach(options: &Options, args: AttachArgs) -> anyhow::Result<()> {
    use std::io::Read;
    let engine = engine(options)?;
    let (container, stream) = engine.attach_container(&args.container)?;
    let tty = container.config.tty;
    let raw = RawMode::enter(tty && !args.no_stdin && container.config.open_stdin);
    let pid = container.pid();
    let sig_proxy = args.sig_proxy && !tty;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGWINCH,
    ])?;
    let handle = signals.handle();
    let resize = |engine: &Engine, id: &str| {
        if let Ok(size) = rustix::termios::tcgetwinsize(io::stdout()) {
            let _ = engine.resize_container_tty(id, size.ws_row, size.ws_col);
        }
    };
    if tty {
        resize(&engine, container.id());
    }
    let options_for_thread = options.clone();
    let id_for_thread = container.id().to_string();
    std::thread::spawn(move || {
        let engine = crate::commands::engine(&options_for_thread).ok();
        for signal in signals.forever() {
            if signal == signal_hook::consts::SIGWINCH {
                if let (true, Some(engine)) = (tty, engine.as_ref()) {
                    resize(engine, &id_for_thread);
                }
                continue;
            }
            if sig_proxy {
                if let (Some(p), Some(s)) = (
                    rustix::process::Pid::from_raw(pid),
                    rustix::process::Signal::from_named_raw(signal),
                ) {
                    let _ = rustix::process::kill_process(p, s);
                }
            }
        }
    });
    if !args.no_stdin && container.config.open_stdin {
        let mut to_container = stream.try_clone()?;
        // The monitor watches for the container's own detach keys; other
        // keys given here are caught on this side.
        let keys = match &args.detach_keys {
            Some(k) => berth_engine::relay::parse_detach_keys(k).map_err(anyhow::Error::msg)?,
            None => Vec::new(),
        };
        std::thread::spawn(move || {
            let mut scanner = berth_engine::relay::DetachScanner::new(&keys);
            let mut buf = [0u8; 4096];
            let mut stdin = io::stdin().lock();
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let (data, detached) = scanner.feed(&buf[..n]);
                if to_container.write_all(&data).is_err() {
                    break;
                }
                if detached {
                    let _ = to_container.shutdown(std::net::Shutdown::Both);
                    break;
                }
            }
        });
    }
    let mut from = stream;
    let mut out = crate::out::stdout();
    let mut err = io::stderr();
    if tty {
        let _ = io::copy(&mut from, &mut out);
    } else {
        let mut header = [0u8; 8];
        while from.read_exact(&mut header).is_ok() {
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            let mut data = vec![0u8; len];
            if from.read_exact(&mut data).is_err() {
                break;
            }
            let target: &mut dyn Write = if header[0] == 2 { &mut err } else { &mut out };
            target.write_all(&data)?;
            target.flush()?;
        }
    }
    handle.close();
    drop(raw);
    let _ = args.detach_keys;
    // The stream ended: the container exited (its code is ours; the monitor
    // records it a moment after the stream closes) or we detached.
    let code = match engine.wait_stopped(container.id(), Some(Duration::from_secs(2))) {
        Ok(code) => code,
        Err(_) => return Ok(()),
    };
    if code != 0 {
        return Err(Exit::status(code as i64).into());
    }
    Ok(())
}

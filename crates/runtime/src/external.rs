//! External OCI runtimes (`--runtime runc|crun|PATH`), driven through their
//! command line as containerd and Podman do, and `Runtime`, which picks the
//! built-in libcontainer launcher or one of these per container.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio as ProcessStdio};

use crate::error::Error;
#[cfg(feature = "libcontainer")]
use crate::launch::Launcher;
#[cfg(feature = "libcontainer")]
pub use crate::launch::Stdio;

/// An OCI runtime binary with its own state directory.
#[derive(Clone, Debug)]
pub struct External {
    binary: PathBuf,
    state_root: PathBuf,
}

impl External {
    pub fn new(binary: &Path, state_root: &Path) -> External {
        External {
            binary: binary.to_path_buf(),
            state_root: state_root.to_path_buf(),
        }
    }

    /// `runc`, `crun` (looked up on PATH) or an absolute path to an executable.
    pub fn resolve(name: &str) -> Result<PathBuf, Error> {
        let candidate = if name.contains('/') {
            Some(PathBuf::from(name))
        } else {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        };
        match candidate {
            Some(path) if is_executable(&path) => Ok(path),
            _ => Err(Error::InvalidArgument(format!(
                "unknown or invalid runtime name: {name}: install it or give the path of an OCI runtime binary"
            ))),
        }
    }

    fn command(&self, log: &Path) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.state_root).arg("--log").arg(log);
        c
    }

    fn log_path(&self, id: &str) -> PathBuf {
        self.state_root.join(format!("{id}.log"))
    }

    /// Runs a runtime command to completion; its log explains a failure.
    fn run(&self, id: &str, what: &str, mut command: Command) -> Result<(), Error> {
        fs::create_dir_all(&self.state_root).map_err(|source| Error::Io {
            path: self.state_root.clone(),
            source,
        })?;
        let output = command
            .output()
            .map_err(|e| Error::Runtime(format!("{what} {id}: running {}: {e}", self.binary.display())))?;
        if output.status.success() {
            return Ok(());
        }
        let log = fs::read_to_string(self.log_path(id)).unwrap_or_default();
        let last = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(Error::Runtime(format!(
            "{what} {id}: {} failed: {} {}",
            self.binary.display(),
            stderr.trim(),
            last.trim()
        )))
    }

    /// Creates and starts the container of `bundle`; returns its init's pid.
    #[cfg(feature = "libcontainer")]
    pub fn start(&self, id: &str, bundle: &Path, stdio: Stdio) -> Result<i32, Error> {
        let pid_file = bundle.join("init.pid");
        let _ = fs::remove_file(&pid_file);
        let mut create = self.command(&self.log_path(id));
        create
            .arg("create")
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file);
        match stdio {
            Stdio::Pipes { stdin, stdout, stderr } => {
                create
                    .stdin(stdin.map(ProcessStdio::from).unwrap_or_else(ProcessStdio::null))
                    .stdout(ProcessStdio::from(stdout))
                    .stderr(ProcessStdio::from(stderr));
            }
            Stdio::Tty { console_socket } => {
                create.arg("--console-socket").arg(console_socket);
                create
                    .stdin(ProcessStdio::null())
                    .stdout(ProcessStdio::null())
                    .stderr(ProcessStdio::piped());
            }
        }
        create.arg(id);
        self.run(id, "create container", create)?;
        let pid: i32 = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| Error::Runtime(format!("create container {id}: the runtime wrote no pid file")))?;
        let mut start = self.command(&self.log_path(id));
        start.arg("start").arg(id).stdin(ProcessStdio::null());
        self.run(id, "start container", start)?;
        Ok(pid)
    }

    pub fn pause(&self, id: &str) -> Result<(), Error> {
        let mut c = self.command(&self.log_path(id));
        c.arg("pause").arg(id);
        self.run(id, "pause container", c)
    }

    pub fn resume(&self, id: &str) -> Result<(), Error> {
        let mut c = self.command(&self.log_path(id));
        c.arg("resume").arg(id);
        self.run(id, "resume container", c)
    }

    /// Removes the runtime's state; a container it does not know is fine.
    pub fn delete(&self, id: &str) -> Result<(), Error> {
        if !self.state_root.join(id).exists() {
            let _ = fs::remove_file(self.log_path(id));
            return Ok(());
        }
        let mut c = self.command(&self.log_path(id));
        c.arg("delete").arg("--force").arg(id);
        let result = self.run(id, "delete container", c);
        let _ = fs::remove_file(self.log_path(id));
        result
    }

    /// Runs an extra process in the container; returns its pid.
    #[cfg(feature = "libcontainer")]
    pub fn exec(&self, id: &str, process: &oci_spec::runtime::Process, stdio: Stdio) -> Result<i32, Error> {
        let dir = self.state_root.join(id);
        let process_file = dir.join(format!("exec-{}.json", std::process::id()));
        let pid_file = dir.join(format!("exec-{}.pid", std::process::id()));
        let mut process = process.clone();
        process.set_terminal(Some(matches!(stdio, Stdio::Tty { .. })));
        let json = serde_json::to_vec(&process).map_err(|e| Error::Runtime(format!("exec in {id}: {e}")))?;
        fs::write(&process_file, json).map_err(|source| Error::Io {
            path: process_file.clone(),
            source,
        })?;
        let mut c = self.command(&self.log_path(id));
        c.arg("exec")
            .arg("--detach")
            .arg("--process")
            .arg(&process_file)
            .arg("--pid-file")
            .arg(&pid_file);
        match stdio {
            Stdio::Pipes { stdin, stdout, stderr } => {
                c.stdin(stdin.map(ProcessStdio::from).unwrap_or_else(ProcessStdio::null))
                    .stdout(ProcessStdio::from(stdout))
                    .stderr(ProcessStdio::from(stderr));
            }
            Stdio::Tty { console_socket } => {
                c.arg("--console-socket").arg(console_socket);
            }
        }
        c.arg(id);
        let result = self.run(id, "exec in container", c);
        let _ = fs::remove_file(&process_file);
        result?;
        let pid = fs::read_to_string(&pid_file).ok().and_then(|t| t.trim().parse().ok());
        let _ = fs::remove_file(&pid_file);
        pid.ok_or_else(|| Error::Runtime(format!("exec in container {id}: the runtime wrote no pid file")))
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The runtime of one container: berth's built-in one or an external binary.
#[cfg(feature = "libcontainer")]
#[derive(Clone, Debug)]
pub enum Runtime {
    Builtin(Launcher),
    External(External),
}

#[cfg(feature = "libcontainer")]
impl Runtime {
    /// `name` as given to `--runtime`: empty or "berth" for the built-in one.
    /// Each runtime keeps its state under its own directory of `runroot`.
    pub fn for_name(name: &str, runroot: &Path) -> Result<Runtime, Error> {
        if name.is_empty() || name == "berth" {
            return Ok(Runtime::Builtin(Launcher::new(&runroot.join("runtime"))));
        }
        let binary = External::resolve(name)?;
        let label: String = name
            .rsplit('/')
            .next()
            .unwrap_or(name)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        Ok(Runtime::External(External::new(
            &binary,
            &runroot.join(format!("runtime-{label}")),
        )))
    }

    pub fn start(&self, id: &str, bundle: &Path, stdio: Stdio) -> Result<i32, Error> {
        match self {
            Runtime::Builtin(l) => l.start(id, bundle, stdio),
            Runtime::External(e) => e.start(id, bundle, stdio),
        }
    }

    pub fn pause(&self, id: &str) -> Result<(), Error> {
        match self {
            Runtime::Builtin(l) => l.pause(id),
            Runtime::External(e) => e.pause(id),
        }
    }

    pub fn resume(&self, id: &str) -> Result<(), Error> {
        match self {
            Runtime::Builtin(l) => l.resume(id),
            Runtime::External(e) => e.resume(id),
        }
    }

    pub fn delete(&self, id: &str) -> Result<(), Error> {
        match self {
            Runtime::Builtin(l) => l.delete(id),
            Runtime::External(e) => e.delete(id),
        }
    }

    pub fn exec(&self, id: &str, process: &oci_spec::runtime::Process, stdio: Stdio) -> Result<i32, Error> {
        match self {
            Runtime::Builtin(l) => l.exec(id, process, stdio),
            Runtime::External(e) => e.exec(id, process, stdio),
        }
    }
}

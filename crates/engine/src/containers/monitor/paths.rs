//! Where a container's monitor keeps its files: the stop marker, its own log, the container's log, the
//! attach socket and size file, and the cgroup path it gives the runtime.

use std::fs::{self, File};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use crate::{Engine, Error, Result};

pub(super) fn stop_marker(engine: &Engine, id: &str) -> PathBuf {
    engine.container_run_dir(id).join("stopped-by-user")
}

pub(crate) fn write_stop_marker(engine: &Engine, id: &str) -> Result<()> {
    let dir = engine.container_run_dir(id);
    fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;
    fs::write(stop_marker(engine, id), b"").map_err(|e| Error::Io { path: dir, source: e })
}

/// The monitor's own log, in the container's run dir under `runroot`: its warnings and, should it fail, its
/// last words. Every detached monitor writes there, forked or exec'd (`berth container-monitor` opens it
/// for its tracing before it has an engine).
pub fn log_file_path(runroot: &Path, id: &str) -> PathBuf {
    runroot.join("containers").join(id).join("monitor.log")
}

/// Opens the monitor's log for appending, creating the run dir if needed.
pub fn open_log(runroot: &Path, id: &str) -> std::io::Result<File> {
    let path = log_file_path(runroot, id);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::OpenOptions::new().create(true).append(true).open(path)
}

/// The last line of the monitor's log, if it wrote any.
pub(crate) fn last_words(engine: &Engine, id: &str) -> Option<String> {
    last_line(&log_file_path(engine.runroot(), id))
}

/// The last non-empty line of a file, read from its last 4 kB.
fn last_line(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// The cgroup path the runtime creates for a container.
pub(crate) fn cgroups_path(id: &str) -> String {
    format!("/berth/{id}")
}

pub(super) fn console_dir(engine: &Engine) -> PathBuf {
    engine.layout().console()
}

/// The unix socket `attach` connects to (short, to fit the 107-byte limit).
pub(crate) fn attach_socket_path(engine: &Engine, id: &str) -> PathBuf {
    console_dir(engine).join(format!("{}.attach", &id[..12]))
}

/// Where `attach` leaves its terminal size for the container's pty.
pub(crate) fn size_file_path(engine: &Engine, id: &str) -> PathBuf {
    console_dir(engine).join(format!("{}.size", &id[..12]))
}

pub(super) fn bind_attach_socket(engine: &Engine, id: &str) -> Result<UnixListener> {
    let dir = console_dir(engine);
    fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;
    let path = attach_socket_path(engine, id);
    let _ = fs::remove_file(&path);
    UnixListener::bind(&path).map_err(|e| Error::Io { path, source: e })
}

pub(crate) fn log_path(engine: &Engine, id: &str) -> PathBuf {
    engine.container_dir(id).join(format!("{id}-json.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_line_of_a_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("monitor.log");
        assert_eq!(last_line(&log), None);
        fs::write(&log, "").expect("write");
        assert_eq!(last_line(&log), None);
        let long = "x".repeat(10_000);
        fs::write(
            &log,
            format!("{long}\nfirst words\nthread 'main' panicked at here:\n  \n\n"),
        )
        .expect("write");
        assert_eq!(last_line(&log).as_deref(), Some("thread 'main' panicked at here:"));
    }
}

//! A file that appears at its path whole or not at all, and leaves nothing behind when its writer is
//! killed: written as an unnamed file (O_TMPFILE) in the target's directory, which the kernel frees
//! with its last descriptor, and given its name only once complete. Where the filesystem has no
//! O_TMPFILE, a hidden temporary name beside the target, removed on failure.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

pub(crate) struct WholeFile {
    file: File,
    target: PathBuf,
    /// The visible temporary name, when the filesystem had no O_TMPFILE.
    named: Option<PathBuf>,
}

impl WholeFile {
    pub(crate) fn create(target: &Path) -> Result<WholeFile> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let io_error = |path: &Path, source: io::Error| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        match OpenOptions::new()
            .write(true)
            .mode(0o666)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
        {
            Ok(file) => Ok(WholeFile {
                file,
                target: target.to_path_buf(),
                named: None,
            }),
            // EOPNOTSUPP (no O_TMPFILE on this filesystem), EISDIR (kernel without it).
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::EISDIR)) => {
                let temp = hidden_name(target);
                let file = File::create(&temp).map_err(|e| io_error(&temp, e))?;
                Ok(WholeFile {
                    file,
                    target: target.to_path_buf(),
                    named: Some(temp),
                })
            }
            Err(e) => Err(io_error(dir, e)),
        }
    }

    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Syncs the content and gives the file its name, replacing what was there.
    #[allow(unsafe_code)]
    pub(crate) fn finish(self) -> Result<()> {
        let io_error = |path: &Path, source: io::Error| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        self.file.sync_all().map_err(|e| io_error(&self.target, e))?;
        let temp = match &self.named {
            Some(temp) => temp.clone(),
            None => {
                // linkat cannot replace a file: link under a hidden name, then rename over the target.
                let temp = hidden_name(&self.target);
                let from = CString::new(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
                    .map_err(|e| io_error(&self.target, io::Error::other(e)))?;
                let to = CString::new(temp.as_os_str().as_bytes()).map_err(|e| io_error(&temp, io::Error::other(e)))?;
                // SAFETY: both paths are NUL-terminated C strings that outlive the call.
                let rc = unsafe {
                    libc::linkat(
                        libc::AT_FDCWD,
                        from.as_ptr(),
                        libc::AT_FDCWD,
                        to.as_ptr(),
                        libc::AT_SYMLINK_FOLLOW,
                    )
                };
                if rc != 0 {
                    return Err(io_error(&temp, io::Error::last_os_error()));
                }
                temp
            }
        };
        fs::rename(&temp, &self.target).map_err(|e| {
            let _ = fs::remove_file(&temp);
            io_error(&self.target, e)
        })
    }
}

impl Drop for WholeFile {
    /// Unfinished: an unnamed file vanishes by itself; a named one is removed.
    fn drop(&mut self) {
        if let Some(temp) = &self.named {
            let _ = fs::remove_file(temp);
        }
    }
}

/// `.NAME.berth-PID` beside `target`.
fn hidden_name(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.berth-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn appears_only_when_finished_and_replaces_the_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.tar");
        fs::write(&target, b"old").expect("old file");
        let mut whole = WholeFile::create(&target).expect("create");
        whole.file().write_all(b"new content").expect("write");
        assert_eq!(fs::read(&target).expect("read"), b"old");
        assert_eq!(
            fs::read_dir(dir.path()).expect("list").count(),
            1,
            "nothing visible while writing"
        );
        whole.finish().expect("finish");
        assert_eq!(fs::read(&target).expect("read"), b"new content");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn an_unfinished_file_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.tar");
        let mut whole = WholeFile::create(&target).expect("create");
        whole.file().write_all(b"partial").expect("write");
        drop(whole);
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 0);
    }
}

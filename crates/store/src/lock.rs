//! Advisory file locks (flock) shared by every berth process on a root.

use std::fs::{File, OpenOptions};
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

use crate::{Error, IoContext};

/// Holds an exclusive flock until dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Waits for the exclusive lock on `path`, creating the file if needed.
    pub fn exclusive(path: &Path) -> Result<FileLock, Error> {
        loop {
            let file = open(path)?;
            flock(&file, FlockOperation::LockExclusive).map_err(|e| Error::Io {
                path: path.into(),
                source: e.into(),
            })?;
            if still_named(&file, path) {
                return Ok(FileLock { _file: file });
            }
        }
    }

    /// Takes the exclusive lock if nobody holds it, else returns None.
    pub fn try_exclusive(path: &Path) -> Result<Option<FileLock>, Error> {
        loop {
            let file = open(path)?;
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) if still_named(&file, path) => return Ok(Some(FileLock { _file: file })),
                Ok(()) => continue,
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
                Err(e) => {
                    return Err(Error::Io {
                        path: path.into(),
                        source: e.into(),
                    })
                }
            }
        }
    }

    /// Whether a live process holds the lock on `path`, found without creating the file or keeping the
    /// lock (for a check that must change nothing). A file nobody can open is taken as held.
    pub fn is_held(path: &Path) -> bool {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => return e.kind() != std::io::ErrorKind::NotFound,
        };
        // Taken for an instant and let go when `file` closes.
        matches!(
            flock(&file, FlockOperation::NonBlockingLockExclusive),
            Err(rustix::io::Errno::WOULDBLOCK)
        )
    }
}

/// Whether `path` still names the locked file. Whoever holds a lock may remove its file (prunes do):
/// a process that was waiting on that file then holds a lock nobody else can see, so it opens the
/// path again.
fn still_named(file: &File, path: &Path) -> bool {
    match (rustix::fs::fstat(file), rustix::fs::stat(path)) {
        (Ok(held), Ok(named)) => (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino),
        _ => false,
    }
}

/// The lock's file, for a forked child to close its copy: the lock belongs to the open file, so it lasts
/// while any process keeps a copy open.
impl std::os::fd::AsFd for FileLock {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self._file.as_fd()
    }
}

fn open(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .at(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_whose_file_its_holder_removed_is_taken_on_a_new_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.lock");
        let held = FileLock::exclusive(&path).expect("lock");
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || FileLock::exclusive(&path).expect("lock"))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::fs::remove_file(&path).expect("remove while held");
        drop(held);
        let second = waiter.join().expect("waiter");
        // The waiter holds the file the path names now, so a third taker must wait for it.
        assert!(still_named(&second._file, &path));
        assert!(FileLock::try_exclusive(&path).expect("try").is_none());
    }

    #[test]
    fn is_held_probes_without_creating_or_keeping_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.lock");
        assert!(!FileLock::is_held(&path));
        assert!(!path.exists(), "probing made no file");
        let held = FileLock::exclusive(&path).expect("lock");
        assert!(FileLock::is_held(&path));
        drop(held);
        assert!(!FileLock::is_held(&path));
        assert!(
            FileLock::try_exclusive(&path).expect("try").is_some(),
            "the probe let go"
        );
    }
}

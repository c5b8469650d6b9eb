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
        let file = open(path)?;
        flock(&file, FlockOperation::LockExclusive).map_err(|e| Error::Io {
            path: path.into(),
            source: e.into(),
        })?;
        Ok(FileLock { _file: file })
    }

    /// Takes the exclusive lock if nobody holds it, else returns None.
    pub fn try_exclusive(path: &Path) -> Result<Option<FileLock>, Error> {
        let file = open(path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(FileLock { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(Error::Io {
                path: path.into(),
                source: e.into(),
            }),
        }
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

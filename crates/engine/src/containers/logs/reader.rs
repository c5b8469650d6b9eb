//! Reading a json-file log as a stream of entries, oldest rotated file first, one line in memory at a
//! time; following it as the container writes, across rotations.
//!
//! The files are opened once, together, so a rotation while we read renames files under us without
//! changing what we read. When following, the newest file is watched: once the log's path names
//! another file, the writer has rotated, and what we hold is read to its end before moving on to the
//! files newer than it (found by their inode, since their names have shifted).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{rotated, tail, Entry};
use crate::{Error, Result};

/// The longest line kept. berth's writer cuts lines at 16 KiB of text, at most ~100 KiB once escaped
/// as JSON, so a longer line was written by something else; a cut JSON line cannot be parsed anyway,
/// so such a line is skipped whole, with a warning, and costs no more memory than this bound.
pub(super) const MAX_LINE: usize = 1024 * 1024;

/// A file's identity, which survives renames.
type FileId = (u64, u64);

/// The file being read.
struct Current {
    file: BufReader<File>,
    id: FileId,
    /// Where in the file the next byte comes from.
    pos: u64,
}

/// A container's log as an iterator of entries, from [`crate::Engine::container_logs`].
pub struct Reader {
    path: PathBuf,
    max_files: u32,
    follow: bool,
    current: Option<Current>,
    /// Files newer than `current`, oldest first.
    pending: VecDeque<File>,
    /// The line read so far.
    line: Vec<u8>,
    /// The line being read outgrew [`MAX_LINE`]; its bytes are dropped up to its newline.
    skipping: bool,
    /// The path names another file than `current` now: `current` is read to its end, then left.
    rotated_away: bool,
}

impl Reader {
    /// The log at `path` with up to `max_files` files: all of it, or only its last `tail` lines;
    /// `follow` waits at the end for what the container writes next (call again after a pause).
    pub fn open(path: &Path, max_files: u32, tail: Option<usize>, follow: bool) -> Result<Reader> {
        let mut files: Vec<File> = open_files(path, max_files)?.into_iter().map(|(f, _)| f).collect();
        let mut offset = 0;
        if let Some(n) = tail {
            let mut sized = Vec::with_capacity(files.len());
            for file in files {
                let len = file.metadata().map_err(|e| io_error(path, e))?.len();
                sized.push((file, len));
            }
            let (first, from) = tail::start(&mut sized, n, tail::BLOCK).map_err(|e| io_error(path, e))?;
            files = sized.into_iter().skip(first).map(|(f, _)| f).collect();
            offset = from;
        }
        let mut reader = Reader {
            path: path.to_path_buf(),
            max_files,
            follow,
            current: None,
            pending: files.into(),
            line: Vec::new(),
            skipping: false,
            rotated_away: false,
        };
        if let Some(file) = reader.pending.pop_front() {
            reader.current = Some(reader.start(file, offset)?);
        }
        Ok(reader)
    }

    /// The next entry; `None` at the end of the log (for now, when following). Lines that are not
    /// entries are skipped, as Docker does.
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        loop {
            if self.current.is_none() {
                if let Some(file) = self.pending.pop_front() {
                    self.current = Some(self.start(file, 0)?);
                    continue;
                }
                // Following a log that did not exist yet: it may now.
                if self.follow {
                    self.pending = open_files(&self.path, self.max_files)?
                        .into_iter()
                        .map(|(f, _)| f)
                        .collect();
                    if !self.pending.is_empty() {
                        continue;
                    }
                }
                return Ok(None);
            }
            if self.read_line()? {
                if let Some(entry) = self.take_entry() {
                    return Ok(Some(entry));
                }
                continue;
            }
            // The end of the current file. A file older than one we hold is complete; so is the newest
            // when not following. Its unterminated last line, if any, is all it will ever be.
            if !self.pending.is_empty() || !self.follow {
                let last = self.take_entry();
                self.current = None;
                self.skipping = false;
                if last.is_some() {
                    return Ok(last);
                }
                continue;
            }
            if !self.moved_on()? {
                return Ok(None);
            }
        }
    }

    /// Opens `file` for reading from `offset`.
    fn start(&self, file: File, offset: u64) -> Result<Current> {
        let meta = file.metadata().map_err(|e| io_error(&self.path, e))?;
        let mut file = BufReader::with_capacity(64 * 1024, file);
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io_error(&self.path, e))?;
        Ok(Current {
            file,
            id: (meta.dev(), meta.ino()),
            pos: offset,
        })
    }

    /// Reads up to the end of a line into `self.line`: true when it holds a whole line (without its
    /// newline), false at the end of the file (with what there is of a last line kept for later).
    fn read_line(&mut self) -> Result<bool> {
        let Some(current) = self.current.as_mut() else {
            return Ok(false);
        };
        loop {
            let buf = current.file.fill_buf().map_err(|e| io_error(&self.path, e))?;
            if buf.is_empty() {
                return Ok(false);
            }
            let (used, complete) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            let text = &buf[..if complete { used - 1 } else { used }];
            if !self.skipping && self.line.len() + text.len() > MAX_LINE {
                self.skipping = true;
                self.line = Vec::new();
            }
            if !self.skipping {
                self.line.extend_from_slice(text);
            }
            current.file.consume(used);
            current.pos += used as u64;
            if complete {
                if std::mem::take(&mut self.skipping) {
                    tracing::warn!(
                        path = %self.path.display(),
                        "skipping a log line longer than {} MiB: berth never writes one",
                        MAX_LINE >> 20
                    );
                    continue;
                }
                return Ok(true);
            }
        }
    }

    /// The entry `self.line` holds, if it is one; empties it.
    fn take_entry(&mut self) -> Option<Entry> {
        let entry = if self.line.is_empty() || self.skipping {
            None
        } else {
            serde_json::from_slice(&self.line).ok()
        };
        self.line.clear();
        entry
    }

    /// Following, at the end of the newest file we hold: whether there is more to read now, in it
    /// (it was truncated, or rotated away and may have had a last write) or in newer files.
    fn moved_on(&mut self) -> Result<bool> {
        let Some(current) = self.current.as_mut() else {
            return Ok(false);
        };
        let now = match std::fs::metadata(&self.path) {
            Ok(m) => (m.dev(), m.ino()),
            // Between the writer's rename and its create: look again later.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_error(&self.path, e)),
        };
        if now == current.id {
            // A single-file log rotates by truncating in place: start it over.
            let len = current
                .file
                .get_ref()
                .metadata()
                .map_err(|e| io_error(&self.path, e))?
                .len();
            if len < current.pos {
                current
                    .file
                    .seek(SeekFrom::Start(0))
                    .map_err(|e| io_error(&self.path, e))?;
                current.pos = 0;
                self.line.clear();
                self.skipping = false;
                return Ok(true);
            }
            return Ok(false);
        }
        if !self.rotated_away {
            // The writer finished with this file before it renamed it; read what came last.
            self.rotated_away = true;
            return Ok(true);
        }
        let id = current.id;
        let files = open_files(&self.path, self.max_files)?;
        // The files newer than ours; all of them if ours was rotated out of existence.
        let newer: VecDeque<File> = match files.iter().position(|(_, f)| *f == id) {
            Some(i) => files.into_iter().skip(i + 1).map(|(f, _)| f).collect(),
            None => files.into_iter().map(|(f, _)| f).collect(),
        };
        if newer.is_empty() {
            return Ok(false);
        }
        self.pending = newer;
        self.rotated_away = false;
        Ok(true)
    }
}

impl Iterator for Reader {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        self.next_entry().transpose()
    }
}

/// Every file of the log that exists, oldest first, with its identity.
fn open_files(path: &Path, max_files: u32) -> Result<Vec<(File, FileId)>> {
    let mut files = Vec::new();
    for n in (0..max_files.max(1)).rev() {
        let name = rotated(path, n);
        let file = match File::open(&name) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(&name, e)),
        };
        let meta = file.metadata().map_err(|e| io_error(&name, e))?;
        files.push((file, (meta.dev(), meta.ino())));
    }
    Ok(files)
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

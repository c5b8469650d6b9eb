//! Docker's json-file log driver: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`, with
//! `max-size`/`max-file` rotation (`<id>-json.log`, `.1`, `.2`, ...).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Docker splits long lines into 16 KiB log entries.
const MAX_ENTRY: usize = 16 * 1024;

#[derive(Debug, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

pub struct Writer {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_size: Option<u64>,
    max_files: u32,
    partial: [Vec<u8>; 2],
}

impl Writer {
    /// `max_size` in bytes (None: unbounded); `max_files` >= 1.
    pub fn open(path: &Path, max_size: Option<u64>, max_files: u32) -> io::Result<Writer> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Writer {
            path: path.to_path_buf(),
            file: Some(file),
            size,
            max_size,
            max_files: max_files.max(1),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// A disabled writer for `--log-driver none`.
    pub fn none() -> Writer {
        Writer {
            path: PathBuf::new(),
            file: None,
            size: 0,
            max_size: None,
            max_files: 1,
            partial: [Vec::new(), Vec::new()],
        }
    }

    /// Adds output from stream 0 (stdout) or 1 (stderr); complete lines are
    /// written, a trailing partial line waits for more.
    pub fn write(&mut self, stream: usize, bytes: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            return Ok(());
        }
        self.partial[stream].extend_from_slice(bytes);
        loop {
            let buf = &self.partial[stream];
            let cut = match buf.iter().position(|&b| b == b'\n') {
                Some(i) if i < MAX_ENTRY => i + 1,
                _ if buf.len() >= MAX_ENTRY => MAX_ENTRY,
                _ => break,
            };
            let line: Vec<u8> = self.partial[stream].drain(..cut).collect();
            self.entry(stream, &line)?;
        }
        Ok(())
    }

    /// Writes what is left of a stream when it ends.
    pub fn flush_stream(&mut self, stream: usize) -> io::Result<()> {
        if !self.partial[stream].is_empty() {
            let line = std::mem::take(&mut self.partial[stream]);
            self.entry(stream, &line)?;
        }
        Ok(())
    }

    fn entry(&mut self, stream: usize, line: &[u8]) -> io::Result<()> {
        let entry = Entry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: if stream == 0 { "stdout" } else { "stderr" }.into(),
            time: crate::time::now(),
        };
        let mut text = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        text.push(b'\n');
        if self
            .max_size
            .is_some_and(|max| self.size + text.len() as u64 > max && self.size > 0)
        {
            self.rotate()?;
        }
        if let Some(file) = self.file.as_mut() {
            file.write_all(&text)?;
            self.size += text.len() as u64;
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.max_files <= 1 {
            fs::File::create(&self.path)?;
        } else {
            for n in (1..self.max_files).rev() {
                let from = rotated(&self.path, n - 1);
                if from.exists() {
                    fs::rename(&from, rotated(&self.path, n))?;
                }
            }
        }
        self.file = Some(OpenOptions::new().create(true).append(true).open(&self.path)?);
        self.size = 0;
        Ok(())
    }
}

/// `path` for n = 0, `path.n` after.
fn rotated(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        path.to_path_buf()
    } else {
        PathBuf::from(format!("{}.{n}", path.display()))
    }
}

/// Every entry of a container's log, oldest first (rotated files included).
pub fn read_all(path: &Path, max_files: u32) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for n in (0..max_files.max(1)).rev() {
        let file = match File::open(rotated(path, n)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in BufReader::new(file).lines() {
            if let Ok(entry) = serde_json::from_str::<Entry>(&line?) {
                entries.push(entry);
            }
        }
    }
    Ok(entries)
}

/// Parses docker's `max-size` values: 10k, 5m, 1g (binary units) or bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1024),
        'm' => (&t[..t.len() - 1], 1024 * 1024),
        'g' => (&t[..t.len() - 1], 1024 * 1024 * 1024),
        _ => (t.as_str(), 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_partial_lines_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = Writer::open(&path, Some(200), 3).unwrap();
        w.write(0, b"hello\nwor").unwrap();
        w.write(1, b"oops\n").unwrap();
        w.write(0, b"ld\n").unwrap();
        w.flush_stream(0).unwrap();
        let entries = read_all(&path, 3).unwrap();
        let logs: Vec<_> = entries.iter().map(|e| (e.stream.as_str(), e.log.as_str())).collect();
        assert_eq!(
            logs,
            vec![("stdout", "hello\n"), ("stderr", "oops\n"), ("stdout", "world\n")]
        );
        for i in 0..20 {
            w.write(0, format!("line {i}\n").as_bytes()).unwrap();
        }
        assert!(rotated(&path, 1).exists() && rotated(&path, 2).exists() && !rotated(&path, 3).exists());
        let all = read_all(&path, 3).unwrap();
        assert_eq!(all.last().unwrap().log, "line 19\n");
        assert!(fs::metadata(&path).unwrap().len() <= 200);
        assert_eq!(parse_size("10k"), Some(10240));
        assert_eq!(parse_size("abc"), None);
    }
}

//! Docker's json-file log driver, writing side: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`, with
//! `max-size`/`max-file` rotation (`<id>-json.log`, `.1`, `.2`, ...).
//! Written without serde or chrono so the shim stays small.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Docker splits long lines into 16 KiB log entries.
const MAX_ENTRY: usize = 16 * 1024;

pub struct Writer {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_size: Option<u64>,
    max_files: u32,
    partial: [Vec<u8>; 2],
    /// The `"attrs":{...}` member every entry carries (`--log-opt labels=/env=`), or empty.
    attrs: String,
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
            attrs: String::new(),
        })
    }

    /// Tags every entry with these attributes (Docker's `attrs`, from `--log-opt labels=...,env=...`).
    pub fn with_attrs(mut self, attrs: &[(String, String)]) -> Writer {
        self.attrs.clear();
        if !attrs.is_empty() {
            self.attrs.push_str(",\"attrs\":{");
            for (i, (k, v)) in attrs.iter().enumerate() {
                if i > 0 {
                    self.attrs.push(',');
                }
                json_string(&mut self.attrs, k);
                self.attrs.push(':');
                json_string(&mut self.attrs, v);
            }
            self.attrs.push('}');
        }
        self
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
            attrs: String::new(),
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
        let mut text = String::with_capacity(line.len() + 64);
        text.push_str("{\"log\":");
        json_string(&mut text, &String::from_utf8_lossy(line));
        text.push_str(if stream == 0 {
            ",\"stream\":\"stdout\""
        } else {
            ",\"stream\":\"stderr\""
        });
        text.push_str(&self.attrs);
        text.push_str(",\"time\":\"");
        text.push_str(&now_rfc3339_nano());
        text.push_str("\"}\n");
        let text = text.into_bytes();
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
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        path.to_path_buf()
    } else {
        PathBuf::from(format!("{}.{n}", path.display()))
    }
}

/// Appends `s` as a JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The current UTC time as RFC 3339 with nanoseconds, as Docker writes it.
pub fn now_rfc3339_nano() -> String {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    format_rfc3339_nano(t.tv_sec, t.tv_nsec as u32)
}

fn format_rfc3339_nano(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_partial_lines_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = Writer::open(&path, Some(1000), 3).unwrap();
        w.write(0, b"hello\nwor").unwrap();
        w.write(1, b"oo\"ps\n").unwrap();
        w.write(0, b"ld\n").unwrap();
        w.flush_stream(0).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"20"),
            "{}",
            lines[0]
        );
        assert!(lines[1].starts_with("{\"log\":\"oo\\\"ps\\n\",\"stream\":\"stderr\""));
        assert!(lines[2].contains("world"));
        for i in 0..40 {
            w.write(0, format!("line {i}\n").as_bytes()).unwrap();
        }
        assert!(rotated(&path, 1).exists() && rotated(&path, 2).exists() && !rotated(&path, 3).exists());
        assert!(fs::metadata(&path).unwrap().len() <= 1000);
    }

    #[test]
    fn times_are_rfc3339_nano() {
        assert_eq!(format_rfc3339_nano(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339_nano(1_700_000_000, 123_450_000),
            "2023-11-14T22:13:20.12345Z"
        );
        assert_eq!(format_rfc3339_nano(951_782_400, 1), "2000-02-29T00:00:00.000000001Z");
    }
}

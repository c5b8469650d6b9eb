//! Reading Docker's json-file logs; berth_relay::log writes them.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use berth_relay::log::rotated;
pub use berth_relay::log::Writer;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
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
    fn reads_back_what_the_writer_wrote_across_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = Writer::open(&path, Some(300), 3).unwrap();
        w.write(0, b"hello\nwor").unwrap();
        w.write(1, b"oops\n").unwrap();
        w.write(0, b"ld\n").unwrap();
        let entries = read_all(&path, 3).unwrap();
        let logs: Vec<_> = entries.iter().map(|e| (e.stream.as_str(), e.log.as_str())).collect();
        assert_eq!(
            logs,
            vec![("stdout", "hello\n"), ("stderr", "oops\n"), ("stdout", "world\n")]
        );
        assert_eq!(parse_size("10k"), Some(10240));
        assert_eq!(parse_size("abc"), None);
    }
}

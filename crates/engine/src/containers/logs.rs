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
    /// Labels and environment variables picked by `--log-opt labels=`/`env=`.
    #[serde(default)]
    pub attrs: std::collections::BTreeMap<String, String>,
}

impl Entry {
    /// `logs --details`: the attributes as Docker prints them, `k=v,k2=v2` (keys sorted, both
    /// query-escaped), then a space; a lone space when there are none.
    pub fn details(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.attrs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&berth_gotmpl::query_escape(k));
            out.push('=');
            out.push_str(&berth_gotmpl::query_escape(v));
        }
        out.push(' ');
        out
    }
}

/// The attributes each log entry of this container carries: the values of the labels named in
/// `--log-opt labels=a,b` and of the environment variables named in `--log-opt env=X,Y`.
pub fn log_attrs(config: &super::ContainerConfig) -> Vec<(String, String)> {
    let mut attrs = std::collections::BTreeMap::new();
    let names = |key: &str| -> Vec<String> {
        config
            .host
            .log_opts
            .get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for label in names("labels") {
        if let Some(value) = config.labels.get(&label) {
            attrs.insert(label, value.clone());
        }
    }
    for var in names("env") {
        let value = config
            .env
            .iter()
            .rev()
            .find_map(|e| e.split_once('=').filter(|(k, _)| *k == var).map(|(_, v)| v.to_string()));
        if let Some(value) = value {
            attrs.insert(var, value);
        }
    }
    attrs.into_iter().collect()
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
    fn details_are_sorted_escaped_and_end_in_a_space() {
        let mut entry = Entry {
            log: "x\n".into(),
            stream: "stdout".into(),
            time: String::new(),
            attrs: Default::default(),
        };
        assert_eq!(entry.details(), " ");
        entry.attrs.insert("zone".into(), "eu west".into());
        entry.attrs.insert("app".into(), "a=b&c".into());
        assert_eq!(entry.details(), "app=a%3Db%26c,zone=eu+west ");
    }

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

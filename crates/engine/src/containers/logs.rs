//! Reading Docker's json-file logs; berth_relay::log writes them. A log is read as a stream
//! ([`Reader`]), so reading one costs the same memory whatever its size.

mod reader;
mod stream;
mod tail;

use berth_relay::log::rotated;
pub use berth_relay::log::Writer;
pub use reader::Reader;
use serde::Deserialize;
pub use stream::{LogNext, LogStream, LogsRequest};

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
    /// The entry as `logs` shows it: `[TIME ][DETAILS ]TEXT`.
    pub fn line(&self, timestamps: bool, details: bool) -> String {
        let mut text = String::with_capacity(self.log.len() + 40);
        if timestamps {
            text.push_str(&self.time);
            text.push(' ');
        }
        if details {
            text.push_str(&self.details());
        }
        text.push_str(&self.log);
        text
    }

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

/// Docker's `max-size` values: 10k, 5m, 1g (binary units, as go-units' RAMInBytes) or bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    crate::units::parse_memory(text)
        .ok()
        .and_then(|n| u64::try_from(n).ok())
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
        let entries: Vec<Entry> = Reader::open(&path, 3, None, false)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let logs: Vec<_> = entries.iter().map(|e| (e.stream.as_str(), e.log.as_str())).collect();
        assert_eq!(
            logs,
            vec![("stdout", "hello\n"), ("stderr", "oops\n"), ("stdout", "world\n")]
        );
        assert_eq!(parse_size("10k"), Some(10240));
        assert_eq!(parse_size("abc"), None);
    }

    /// Every entry's text the reader gives now.
    fn texts(reader: &mut Reader) -> Vec<String> {
        std::iter::from_fn(|| reader.next_entry().unwrap())
            .map(|e| e.log.trim_end().to_string())
            .collect()
    }

    fn lines(w: &mut Writer, range: std::ops::Range<u32>) {
        for i in range {
            w.write(0, format!("line-{i:03}\n").as_bytes()).unwrap();
        }
    }

    #[test]
    fn tail_spans_rotated_files_and_then_streams_forward() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = Writer::open(&path, Some(400), 4).unwrap();
        lines(&mut w, 0..20);
        assert!(rotated(&path, 2).exists(), "the writer rotated twice");
        let want: Vec<String> = (13..20).map(|i| format!("line-{i:03}")).collect();
        assert_eq!(texts(&mut Reader::open(&path, 4, Some(7), false).unwrap()), want);
        let all = texts(&mut Reader::open(&path, 4, Some(1000), false).unwrap());
        assert_eq!(all.last().map(String::as_str), Some("line-019"));
        assert_eq!(all, texts(&mut Reader::open(&path, 4, None, false).unwrap()));
        assert!(texts(&mut Reader::open(&path, 4, Some(0), false).unwrap()).is_empty());
        let missing = dir.path().join("none-json.log");
        assert!(texts(&mut Reader::open(&missing, 4, Some(3), false).unwrap()).is_empty());
    }

    #[test]
    fn follow_reads_on_across_rotations_without_losing_or_repeating_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        // Following a log that does not exist yet.
        let mut reader = Reader::open(&path, 3, Some(2), true).unwrap();
        assert!(texts(&mut reader).is_empty());
        let mut w = Writer::open(&path, Some(300), 3).unwrap();
        lines(&mut w, 0..2);
        assert_eq!(texts(&mut reader), ["line-000", "line-001"]);
        let mut seen = Vec::new();
        // A few entries at a time (within one file, across one rotation), then many (the file we
        // read is rotated out of existence before we come back).
        for (from, to) in [(2, 4), (4, 9), (9, 11), (11, 40), (40, 41)] {
            lines(&mut w, from..to);
            seen.extend(texts(&mut reader));
        }
        let newest = texts(&mut Reader::open(&path, 3, None, false).unwrap());
        assert_eq!(seen[seen.len() - newest.len()..], newest[..]);
        let want: Vec<String> = (2..11).map(|i| format!("line-{i:03}")).collect();
        assert_eq!(seen[..9], want[..]);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order, none twice: {seen:?}");
    }

    #[test]
    fn follow_starts_over_when_a_single_file_log_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        // Two entries (~80 bytes each) fit, a third truncates the file.
        let mut w = Writer::open(&path, Some(170), 1).unwrap();
        lines(&mut w, 0..2);
        let mut reader = Reader::open(&path, 1, None, true).unwrap();
        assert_eq!(texts(&mut reader), ["line-000", "line-001"]);
        lines(&mut w, 2..3);
        assert_eq!(texts(&mut reader), ["line-002"]);
    }

    #[test]
    fn partial_lines_wait_when_following_and_overlong_lines_are_skipped() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(br#"{"log":"a\n","stream":"stdout","time":"t"}"#)
            .unwrap();
        file.write_all(b"\nnot json\n{\"log\":\"").unwrap();
        let mut reader = Reader::open(&path, 1, None, true).unwrap();
        assert_eq!(texts(&mut reader), ["a"]);
        file.write_all(&vec![b'x'; reader::MAX_LINE]).unwrap();
        file.write_all(b"\",\"stream\":\"stdout\",\"time\":\"t\"}\n").unwrap();
        file.write_all(b"{\"log\":\"b\\n\",\"stream\":\"stderr\",\"time\":\"t\"}")
            .unwrap();
        assert!(texts(&mut reader).is_empty(), "b waits for its newline");
        file.write_all(b"\n").unwrap();
        assert_eq!(texts(&mut reader), ["b"]);
        // Not following, an unterminated last line is read as it is.
        file.write_all(br#"{"log":"c\n","stream":"stdout","time":"t"}"#)
            .unwrap();
        assert_eq!(
            texts(&mut Reader::open(&path, 1, None, false).unwrap()),
            ["a", "b", "c"]
        );
    }
}

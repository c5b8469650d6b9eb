//! `logs --tail N`: where the last N lines of a log begin, found by reading its files backwards in
//! blocks (newest file first, older ones only as far as needed), so the cost is a block of memory and
//! the bytes of those N lines, never the whole log.

use std::io::{self, Read, Seek, SeekFrom};

/// How much of a file one backwards read takes.
pub(super) const BLOCK: usize = 64 * 1024;

/// Where reading forward must begin to see the last `n` lines of `files` (oldest first, each with the
/// length to consider): the index of a file and an offset in it. A line is what lies between two
/// newlines, or between one and a file's edge; empty lines do not count (the writer never writes one).
/// With fewer than `n` lines in all, the start of the oldest file; with `n` = 0, the end of the newest.
pub(super) fn start<R: Read + Seek>(files: &mut [(R, u64)], n: usize, block: usize) -> io::Result<(usize, u64)> {
    let Some(newest) = files.len().checked_sub(1) else {
        return Ok((0, 0));
    };
    if n == 0 {
        return Ok((newest, files[newest].1));
    }
    let mut buf = vec![0u8; block.max(1)];
    let mut found = 0usize;
    for (index, (file, len)) in files.iter_mut().enumerate().rev() {
        // The end (exclusive) of the line being scanned: the next newline, or the end of the file.
        let mut line_end = *len;
        let mut end = *len;
        while end > 0 {
            let begin = end.saturating_sub(buf.len() as u64);
            let chunk = &mut buf[..(end - begin) as usize];
            file.seek(SeekFrom::Start(begin))?;
            match file.read_exact(chunk) {
                Ok(()) => {}
                // The file shrank under us (a single-file log is truncated when it rotates): what it
                // holds now is newer than anything older, so read it whole.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((index, 0)),
                Err(e) => return Err(e),
            }
            for (i, &byte) in chunk.iter().enumerate().rev() {
                if byte != b'\n' {
                    continue;
                }
                let newline = begin + i as u64;
                if line_end > newline + 1 {
                    found += 1;
                    if found == n {
                        return Ok((index, newline + 1));
                    }
                }
                line_end = newline;
            }
            end = begin;
        }
        if line_end > 0 {
            found += 1;
            if found == n {
                return Ok((index, 0));
            }
        }
    }
    Ok((0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// The lines from `start` on, as reading forward would see them.
    fn tail(files: &[&str], n: usize, block: usize) -> Vec<String> {
        let mut cursors: Vec<_> = files
            .iter()
            .map(|f| (Cursor::new(f.as_bytes().to_vec()), f.len() as u64))
            .collect();
        let (index, offset) = start(&mut cursors, n, block).unwrap();
        let mut text = String::new();
        for (i, f) in files.iter().enumerate().skip(index) {
            let from = if i == index { offset as usize } else { 0 };
            text.push_str(&f[from..]);
            // Each file's last line ends with it, newline or not.
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
        }
        text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    #[test]
    fn lines_spanning_block_boundaries() {
        let file = "alpha\nbravo-bravo\ncharlie\nd\necho-echo-echo\n";
        for block in 1..=file.len() + 1 {
            assert_eq!(tail(&[file], 2, block), ["d", "echo-echo-echo"], "block {block}");
            assert_eq!(
                tail(&[file], 4, block),
                ["bravo-bravo", "charlie", "d", "echo-echo-echo"]
            );
        }
    }

    #[test]
    fn a_last_line_without_its_newline_counts() {
        for block in [1, 3, 64] {
            assert_eq!(tail(&["one\ntwo\nthree"], 1, block), ["three"]);
            assert_eq!(tail(&["one\ntwo\nthree"], 2, block), ["two", "three"]);
        }
    }

    #[test]
    fn empty_files_and_empty_lines() {
        assert_eq!(tail(&[""], 3, 4), Vec::<String>::new());
        assert_eq!(tail(&[], 3, 4), Vec::<String>::new());
        assert_eq!(tail(&["", "a\n", ""], 1, 4), ["a"]);
        assert_eq!(tail(&["a\n\n\nb\n\n"], 2, 2), ["a", "b"]);
    }

    #[test]
    fn more_lines_wanted_than_the_log_has() {
        assert_eq!(tail(&["a\nb\n"], 10, 3), ["a", "b"]);
        assert_eq!(tail(&["a\n", "b\nc\n"], 10, 3), ["a", "b", "c"]);
    }

    #[test]
    fn zero_lines_start_at_the_end() {
        let mut files = vec![(Cursor::new(b"a\n".to_vec()), 2), (Cursor::new(b"b\nc\n".to_vec()), 4)];
        assert_eq!(start(&mut files, 0, 8).unwrap(), (1, 4));
    }

    #[test]
    fn several_rotated_files_are_read_only_as_far_as_needed() {
        let files = ["old-1\nold-2\n", "mid-1\nmid-2\nmid-3\n", "new-1\n"];
        for block in [1, 4, 100] {
            assert_eq!(tail(&files, 1, block), ["new-1"]);
            assert_eq!(tail(&files, 2, block), ["mid-3", "new-1"]);
            assert_eq!(tail(&files, 4, block), ["mid-1", "mid-2", "mid-3", "new-1"]);
            assert_eq!(tail(&files, 5, block), ["old-2", "mid-1", "mid-2", "mid-3", "new-1"]);
            assert_eq!(tail(&files, 6, block).len(), 6);
        }
        // The oldest file is never read when the newer ones hold enough: it may even be unreadable.
        struct Unreadable;
        impl Read for Unreadable {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("read the oldest file"))
            }
        }
        impl Seek for Unreadable {
            fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
                Ok(0)
            }
        }
        let mut both: Vec<(Box<dyn ReadSeek>, u64)> = vec![
            (Box::new(Unreadable), 100),
            (Box::new(Cursor::new(b"x\ny\n".to_vec())), 4),
        ];
        assert_eq!(start(&mut both, 2, 3).unwrap(), (1, 0));
        assert!(start(&mut both, 3, 3).is_err());
    }

    trait ReadSeek: Read + Seek {}
    impl<T: Read + Seek> ReadSeek for T {}

    #[test]
    fn a_file_that_shrank_is_read_from_its_start() {
        let mut files = vec![(Cursor::new(b"a\n".to_vec()), 2), (Cursor::new(b"b\n".to_vec()), 50)];
        assert_eq!(start(&mut files, 1, 8).unwrap(), (1, 0));
    }
}

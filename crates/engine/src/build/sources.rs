//! What COPY and ADD sources name: paths and wildcards in the context or an image, directories walked
//! with `.dockerignore` applied, and the entries they become.

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use berth_build::Ignore;

use super::clean_path;
use crate::{Error, Result};

/// The files a COPY source names in `root`: a path, or a pattern with `*`, `?` or `[...]` in its last
/// part. Paths outside the root are refused, as Docker does.
pub(super) fn resolve_sources(root: &Path, source: &str, ignore: Option<&Ignore>) -> Result<Vec<(String, PathBuf)>> {
    let rel = source.trim_start_matches('/');
    let mut depth = 0i32;
    for c in Path::new(rel).components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(Error::InvalidArgument(format!(
                "forbidden path outside the build context: {source}"
            )));
        }
    }
    let clean = clean_path(rel).trim_start_matches('/').to_string();
    let excluded = |rel: &str, dir: bool| ignore.is_some_and(|i| i.is_excluded(rel, dir));
    let (dir, last) = match clean.rsplit_once('/') {
        Some((d, l)) => (d.to_string(), l.to_string()),
        None => (String::new(), clean.clone()),
    };
    if last.contains(['*', '?', '[']) {
        let mut found = Vec::new();
        let base = root.join(&dir);
        let mut names: Vec<String> = fs::read_dir(&base)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for name in names {
            let rel = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            let full = root.join(&rel);
            if wildcard(&last, &name) && !excluded(&rel, full.is_dir()) {
                found.push((rel, full));
            }
        }
        if found.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "no source files were specified: {source} matched nothing"
            )));
        }
        return Ok(found);
    }
    let full = if clean.is_empty() {
        root.to_path_buf()
    } else {
        root.join(&clean)
    };
    if fs::symlink_metadata(&full).is_err() || (!clean.is_empty() && excluded(&clean, full.is_dir())) {
        return Err(Error::InvalidArgument(format!(
            "COPY failed: file not found in build context or excluded by .dockerignore: stat {source}: file does not exist"
        )));
    }
    Ok(vec![(clean, full)])
}

/// `*`, `?` and `[...]` as filepath.Match does for one path element.
fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|c| *c == ']') else {
                    return false;
                };
                let Some(&c) = n.first() else { return false };
                let class = &p[1..end];
                let (negate, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != negate && go(&p[end + 1..], &n[1..])
            }
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// One thing a COPY or ADD writes.
pub(super) enum Entry {
    File {
        target: String,
        source: PathBuf,
    },
    Dir {
        target: String,
        source: PathBuf,
    },
    Inline {
        target: String,
        content: Vec<u8>,
    },
    /// ADD of a local tar (plain, gzip or zstd): extracted under `target`.
    Archive {
        target: String,
        source: PathBuf,
    },
    /// ADD of a URL, with the sha256 it must have (`--checksum`).
    Download {
        target: String,
        url: String,
        checksum: Option<String>,
    },
}

/// Whether a file is a tar archive ADD extracts: gzip or zstd (assumed tar inside), or a plain tar.
pub(super) fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(n) = fs::File::open(path).and_then(|mut f| f.read(&mut head)) else {
        return false;
    };
    let head = &head[..n];
    berth_image::layer::sniff_compression(head) != berth_image::layer::Compression::None
        || (n >= 262 && &head[257..262] == b"ustar")
}

/// The contents of `dir` under `dest`, minus what .dockerignore excludes.
pub(super) fn collect_dir(
    dir: &Path,
    rel: &str,
    dest: &str,
    root: &Path,
    ignore: Option<&Ignore>,
    entries: &mut Vec<Entry>,
) -> Result<()> {
    entries.push(Entry::Dir {
        target: dest.to_string(),
        source: dir.to_path_buf(),
    });
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            source: e,
        })?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let full = root.join(&child_rel);
        let is_dir = fs::symlink_metadata(&full).map(|m| m.is_dir()).unwrap_or(false);
        let target = format!("{}/{name}", dest.trim_end_matches('/'));
        let excluded = ignore.is_some_and(|i| i.is_excluded(&child_rel, is_dir));
        if is_dir {
            if excluded && !ignore.is_some_and(|i| i.may_include_below(&child_rel)) {
                continue;
            }
            collect_dir(&full, &child_rel, &target, root, ignore, entries)?;
        } else if !excluded {
            entries.push(Entry::File { target, source: full });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_go() {
        assert!(wildcard("*.txt", "a.txt"));
        assert!(!wildcard("*.txt", "a.txt.bak"));
        assert!(wildcard("f?le", "file"));
        assert!(wildcard("[a-c]x", "bx"));
        assert!(!wildcard("[!a-c]x", "bx"));
    }
}

//! What COPY and ADD sources name: paths and wildcards in the context or an image, directories walked
//! with `.dockerignore` applied, and the entries they become.

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use berth_build::{Ignore, Source};

use super::download::{is_url, url_file_name};
use super::{build_error, clean_path};
use crate::pattern::Pattern;
use crate::{Error, Result};

/// The files a COPY source names in `root`: a path, or a pattern, with Go's `path.Match` wildcards
/// (`*`, `?`, `[...]`, `\` escapes) in any of its parts (`src/*/conf/*.yml`), matched part by part as
/// Docker's builder does when it walks the context. Paths outside the root are refused, as Docker does.
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
    let excluded = |rel: &str, full: &Path| ignore.is_some_and(|i| i.is_excluded(rel, full.is_dir()));
    if has_wildcards(&clean) {
        let mut found = match_parts(root, &clean, source)?;
        found.retain(|(rel, full)| !excluded(rel, full));
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
    if fs::symlink_metadata(&full).is_err() || (!clean.is_empty() && excluded(&clean, &full)) {
        return Err(Error::InvalidArgument(format!(
            "COPY failed: file not found in build context or excluded by .dockerignore: stat {source}: file does not exist"
        )));
    }
    Ok(vec![(clean, full)])
}

/// Whether a source is a pattern: it has a `*`, `?` or `[` that no `\` escapes (Docker's
/// `containsWildcards`); any other source is a plain path.
fn has_wildcards(path: &str) -> bool {
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// What `pattern` (clean and relative) matches under `root`, each of its parts against the names of
/// one level by Go's `path.Match`, sorted as a walk of the context finds them. A malformed part is an
/// error naming `source`, even when an earlier part matches nothing. Only directories are walked
/// into, never a symlink (as Go's `filepath.Walk`): it could point out of the context, and is a
/// match of its own.
fn match_parts(root: &Path, pattern: &str, source: &str) -> Result<Vec<(String, PathBuf)>> {
    let parts = pattern
        .split('/')
        .map(|part| {
            let plain = !part.contains(['*', '?', '[', '\\']);
            let compiled = Pattern::new(part)
                .map_err(|e| Error::InvalidArgument(format!("invalid source pattern {source:?}: {e}")))?;
            Ok((part, plain, compiled))
        })
        .collect::<Result<Vec<_>>>()?;
    // The paths matched so far, relative to the root ("" is the root).
    let mut matched = vec![String::new()];
    for (part, plain, compiled) in parts {
        let mut next = Vec::new();
        for dir in &matched {
            let full = root.join(dir);
            let is_dir = if dir.is_empty() {
                // The context itself may be reached through a symlink.
                fs::metadata(&full)
            } else {
                fs::symlink_metadata(&full)
            }
            .is_ok_and(|m| m.is_dir());
            if !is_dir {
                continue;
            }
            let names: Vec<String> = if plain {
                // A part without wildcards names one entry: no need to list a big directory for it.
                match fs::symlink_metadata(full.join(part)) {
                    Ok(_) => vec![part.to_string()],
                    Err(_) => Vec::new(),
                }
            } else {
                let listing = fs::read_dir(&full).map_err(|e| Error::Io {
                    path: full.clone(),
                    source: e,
                })?;
                let mut names: Vec<String> = listing
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| compiled.matches(name))
                    .collect();
                names.sort();
                names
            };
            next.extend(
                names
                    .into_iter()
                    .map(|name| if dir.is_empty() { name } else { format!("{dir}/{name}") }),
            );
        }
        matched = next;
    }
    Ok(matched
        .into_iter()
        .map(|rel| {
            let full = root.join(&rel);
            (rel, full)
        })
        .collect())
}

/// One thing a COPY or ADD writes.
#[derive(Debug, PartialEq)]
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

/// Where a COPY or ADD puts what its sources name.
pub(super) struct Placement<'a> {
    /// The destination, absolute and clean.
    pub(super) dest: &'a str,
    /// The destination as written (expanded): a trailing `/` makes it a directory.
    pub(super) dest_word: &'a str,
    /// Whether the destination is a directory: it ends in `/`, or there are several sources.
    pub(super) dest_is_dir: bool,
    /// --parents: sources keep their paths under the destination.
    pub(super) parents: bool,
    /// ADD rather than COPY: URLs are downloaded, local archives extracted.
    pub(super) add: bool,
    /// ADD --checksum, for URL sources.
    pub(super) checksum: Option<String>,
}

impl Placement<'_> {
    /// Adds the entries one source gives: files of `root` (minus what `ignore` excludes), a here-document
    /// or a URL. `expand` substitutes the stage's variables in a path, URL or here-document.
    pub(super) fn add_source(
        &self,
        source: &Source,
        root: &Path,
        ignore: Option<&Ignore>,
        expand: &dyn Fn(&str) -> Result<String>,
        entries: &mut Vec<Entry>,
    ) -> Result<()> {
        let (dest, dest_word, dest_is_dir, parents, add) =
            (self.dest, self.dest_word, self.dest_is_dir, self.parents, self.add);
        match source {
            Source::Heredoc(doc) => {
                let content = if doc.expand {
                    expand(&doc.content)?
                } else {
                    doc.content.clone()
                };
                let target = if dest_is_dir || dest_word.ends_with('/') {
                    format!("{}/{}", dest.trim_end_matches('/'), doc.name)
                } else {
                    dest.to_string()
                };
                entries.push(Entry::Inline {
                    target,
                    content: content.into_bytes(),
                });
            }
            Source::Path(p) if add && is_url(p) => {
                // ADD URL: downloaded, not extracted, mode 0600 (as Docker).
                let url = expand(p)?;
                let name = url_file_name(&url);
                let target = if dest_is_dir || dest_word.ends_with('/') {
                    format!("{}/{name}", dest.trim_end_matches('/'))
                } else {
                    dest.to_string()
                };
                entries.push(Entry::Download {
                    target,
                    url,
                    checksum: self.checksum.clone(),
                });
            }
            Source::Path(p) => {
                let p = expand(p)?;
                let matched = resolve_sources(root, &p, ignore)?;
                let several = matched.len() > 1 || dest_is_dir;
                for (rel, full) in matched {
                    let meta = fs::symlink_metadata(&full).map_err(|e| Error::Io {
                        path: full.clone(),
                        source: e,
                    })?;
                    if meta.is_dir() {
                        // A directory's contents go into the destination.
                        let under = if parents {
                            format!("{}/{rel}", dest.trim_end_matches('/'))
                        } else {
                            dest.to_string()
                        };
                        collect_dir(&full, &rel, &under, root, ignore, entries)?;
                    } else if add && meta.is_file() && is_archive(&full) {
                        // ADD of a local archive: its contents land in the destination directory.
                        entries.push(Entry::Archive {
                            target: dest.to_string(),
                            source: full,
                        });
                    } else {
                        let name = Path::new(&rel)
                            .file_name()
                            .map_or(rel.clone(), |n| n.to_string_lossy().into_owned());
                        let target = if parents {
                            format!("{}/{rel}", dest.trim_end_matches('/'))
                        } else if several || dest_word.ends_with('/') {
                            format!("{}/{name}", dest.trim_end_matches('/'))
                        } else {
                            dest.to_string()
                        };
                        entries.push(Entry::File { target, source: full });
                    }
                }
            }
        }
        Ok(())
    }
}

/// --exclude: `.dockerignore` patterns, matched against the paths of files and directories as they land
/// under `dest`.
pub(super) fn exclude(entries: &mut Vec<Entry>, dest: &str, patterns: &[String]) -> Result<()> {
    let exclude = Ignore::parse(&patterns.join("\n")).map_err(build_error)?;
    let base = dest.trim_end_matches('/').to_string();
    entries.retain(|e| {
        let (target, is_dir) = match e {
            Entry::File { target, .. } => (target, false),
            Entry::Dir { target, .. } => (target, true),
            _ => return true,
        };
        let rel = target.strip_prefix(&base).unwrap_or(target).trim_start_matches('/');
        rel.is_empty() || !exclude.is_excluded(rel, is_dir)
    });
    Ok(())
}

/// Whether a file is a tar archive ADD extracts: gzip or zstd (assumed tar inside), or a plain tar.
fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(n) = fs::File::open(path).and_then(|mut f| f.read(&mut head)) else {
        return false;
    };
    let head = &head[..n];
    berth_image::layer::sniff_compression(head) != berth_image::layer::Compression::None
        || (n >= 262 && &head[257..262] == b"ustar")
}

/// The contents of `dir` under `dest`, minus what .dockerignore excludes.
fn collect_dir(
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
    use std::os::unix::fs::symlink;

    use berth_build::Heredoc;

    use super::*;

    /// A context: a.txt, b.txt, c.md, notes.log, sub/x.txt, sub/deep/y.txt, dir/keep.log, dir/drop.log.
    fn context() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in ["a.txt", "b.txt", "c.md", "notes.log"] {
            fs::write(root.join(name), name).unwrap();
        }
        fs::create_dir_all(root.join("sub/deep")).unwrap();
        fs::write(root.join("sub/x.txt"), "x").unwrap();
        fs::write(root.join("sub/deep/y.txt"), "y").unwrap();
        fs::create_dir(root.join("dir")).unwrap();
        fs::write(root.join("dir/keep.log"), "k").unwrap();
        fs::write(root.join("dir/drop.log"), "d").unwrap();
        dir
    }

    fn ignore(text: &str) -> Ignore {
        Ignore::parse(text).unwrap()
    }

    fn rels(found: Vec<(String, PathBuf)>) -> Vec<String> {
        found.into_iter().map(|(rel, _)| rel).collect()
    }

    fn error(result: Result<Vec<(String, PathBuf)>>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn a_plain_path_names_one_file() {
        let ctx = context();
        let found = resolve_sources(ctx.path(), "a.txt", None).unwrap();
        assert_eq!(found, [("a.txt".to_string(), ctx.path().join("a.txt"))]);
        // Leading slashes, `.` and `..` that stay inside are cleaned away.
        let found = resolve_sources(ctx.path(), "/sub/../sub/./x.txt", None).unwrap();
        assert_eq!(found, [("sub/x.txt".to_string(), ctx.path().join("sub/x.txt"))]);
        // The context itself.
        let found = resolve_sources(ctx.path(), ".", None).unwrap();
        assert_eq!(found, [(String::new(), ctx.path().to_path_buf())]);
    }

    #[test]
    fn paths_out_of_the_root_are_refused() {
        let ctx = context();
        for source in ["../etc/passwd", "sub/../../x", "./.."] {
            assert_eq!(
                error(resolve_sources(ctx.path(), source, None)),
                format!("forbidden path outside the build context: {source}")
            );
        }
        // An absolute path is read inside the root.
        assert_eq!(rels(resolve_sources(ctx.path(), "/a.txt", None).unwrap()), ["a.txt"]);
    }

    #[test]
    fn missing_and_ignored_paths_are_not_found() {
        let ctx = context();
        let not_found = |source: &str| {
            format!(
                "COPY failed: file not found in build context or excluded by .dockerignore: stat {source}: file does not exist"
            )
        };
        assert_eq!(error(resolve_sources(ctx.path(), "nope", None)), not_found("nope"));
        let ignored = ignore("*.md\nsub\n");
        assert_eq!(
            error(resolve_sources(ctx.path(), "c.md", Some(&ignored))),
            not_found("c.md")
        );
        assert_eq!(
            error(resolve_sources(ctx.path(), "sub", Some(&ignored))),
            not_found("sub")
        );
        // The root itself is never excluded; an image's files (no ignore) are all there.
        assert!(resolve_sources(ctx.path(), ".", Some(&ignore("*"))).is_ok());
        assert!(resolve_sources(ctx.path(), "c.md", None).is_ok());
    }

    #[test]
    fn dangling_symlinks_are_sources() {
        let ctx = context();
        symlink("/nowhere", ctx.path().join("dangling")).unwrap();
        assert_eq!(
            rels(resolve_sources(ctx.path(), "dangling", None).unwrap()),
            ["dangling"]
        );
    }

    #[test]
    fn wildcards_match_names_in_one_directory_sorted() {
        let ctx = context();
        assert_eq!(
            rels(resolve_sources(ctx.path(), "*.txt", None).unwrap()),
            ["a.txt", "b.txt"]
        );
        assert_eq!(
            rels(resolve_sources(ctx.path(), "sub/*.txt", None).unwrap()),
            ["sub/x.txt"]
        );
        assert_eq!(
            rels(resolve_sources(ctx.path(), "[ab].*", None).unwrap()),
            ["a.txt", "b.txt"]
        );
        // Directories match too.
        assert_eq!(rels(resolve_sources(ctx.path(), "s*", None).unwrap()), ["sub"]);
        // .dockerignore applies to what a wildcard matches.
        let ignored = ignore("b.txt\n");
        assert_eq!(
            rels(resolve_sources(ctx.path(), "*.txt", Some(&ignored)).unwrap()),
            ["a.txt"]
        );
        assert_eq!(
            error(resolve_sources(ctx.path(), "*.rs", None)),
            "no source files were specified: *.rs matched nothing"
        );
        assert_eq!(
            error(resolve_sources(ctx.path(), "missing/*", None)),
            "no source files were specified: missing/* matched nothing"
        );
    }

    #[test]
    fn wildcards_match_in_every_part() {
        let ctx = context();
        let root = ctx.path();
        let found = |source: &str| rels(resolve_sources(root, source, None).unwrap());
        assert_eq!(found("s*/x.txt"), ["sub/x.txt"]);
        assert_eq!(found("*/*.txt"), ["sub/x.txt"]);
        assert_eq!(found("*/*/y.txt"), ["sub/deep/y.txt"]);
        assert_eq!(found("sub/*/*"), ["sub/deep/y.txt"]);
        assert_eq!(found("*/deep"), ["sub/deep"]);
        assert_eq!(found("d?r/*.log"), ["dir/drop.log", "dir/keep.log"]);
        // Sorted as a walk finds them: by directory, then by name.
        assert_eq!(found("*/*"), ["dir/drop.log", "dir/keep.log", "sub/deep", "sub/x.txt"]);
        // `*` stops at a slash: one part never matches two levels.
        assert_eq!(
            error(resolve_sources(root, "*/y.txt", None)),
            "no source files were specified: */y.txt matched nothing"
        );
        assert_eq!(
            error(resolve_sources(root, "*/nothing.txt", None)),
            "no source files were specified: */nothing.txt matched nothing"
        );
        // A file where a directory is needed matches nothing.
        assert!(resolve_sources(root, "a.txt/*", None).is_err());
        // .dockerignore applies to what the whole pattern matches.
        let ignored = ignore("sub/x.txt\n");
        assert_eq!(
            error(resolve_sources(root, "*/x.txt", Some(&ignored))),
            "no source files were specified: */x.txt matched nothing"
        );
    }

    #[test]
    fn wildcards_are_go_patterns() {
        let ctx = context();
        let root = ctx.path();
        fs::write(root.join("!x"), "bang").unwrap();
        let found = |source: &str| rels(resolve_sources(root, source, None).unwrap());
        // `!` does not negate a class in Go: `[!a]` is `!` or `a`.
        assert_eq!(found("[!a]*"), ["!x", "a.txt"]);
        assert_eq!(found("[^a-b]*"), ["!x", "c.md", "dir", "notes.log", "sub"]);
        assert_eq!(found("?.*"), ["a.txt", "b.txt", "c.md"]);
        // `\` makes the next character literal; a source without an unescaped wildcard is a plain path.
        assert_eq!(found("*.t\\xt"), ["a.txt", "b.txt"]);
        assert!(!has_wildcards("file\\*name"));
        assert!(has_wildcards("src/*/conf"));
    }

    #[test]
    fn malformed_patterns_are_errors_naming_them() {
        let ctx = context();
        for source in ["sub/[a", "[z-a]/x.txt", "nothing/*/[", "*.txt[]"] {
            assert_eq!(
                error(resolve_sources(ctx.path(), source, None)),
                format!("invalid source pattern {source:?}: syntax error in pattern")
            );
        }
    }

    #[test]
    fn symlinks_are_matched_but_not_walked_into() {
        let ctx = context();
        let root = ctx.path();
        symlink("sub", root.join("link")).unwrap();
        symlink("/etc", root.join("host")).unwrap();
        assert_eq!(rels(resolve_sources(root, "l*", None).unwrap()), ["link"]);
        assert!(resolve_sources(root, "link/*.txt", None).is_err());
        assert!(resolve_sources(root, "host/*", None).is_err());
        assert!(resolve_sources(root, "*/passwd", None).is_err());
    }

    #[test]
    fn archives_are_told_by_their_first_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("a.gz");
        let mut encoder = flate2::write::GzEncoder::new(fs::File::create(&gz).unwrap(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, b"data").unwrap();
        encoder.finish().unwrap();
        assert!(is_archive(&gz));

        let tar = dir.path().join("a.tar");
        let mut builder = tar::Builder::new(fs::File::create(&tar).unwrap());
        let mut h = tar::Header::new_ustar();
        h.set_size(1);
        h.set_mode(0o644);
        builder.append_data(&mut h, "f", &b"f"[..]).unwrap();
        builder.finish().unwrap();
        assert!(is_archive(&tar));

        let text = dir.path().join("a.txt");
        fs::write(&text, "just text, even if named .tar.gz").unwrap();
        assert!(!is_archive(&text));
        let empty = dir.path().join("empty");
        fs::write(&empty, "").unwrap();
        assert!(!is_archive(&empty));
        assert!(!is_archive(&dir.path().join("missing")));
    }

    fn placement<'a>(dest: &'a str, dest_word: &'a str, dest_is_dir: bool) -> Placement<'a> {
        Placement {
            dest,
            dest_word,
            dest_is_dir,
            parents: false,
            add: false,
            checksum: None,
        }
    }

    /// Entries as (kind, target, source relative to `root` or content).
    fn summary(entries: &[Entry], root: &Path) -> Vec<(char, String, String)> {
        let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
        entries
            .iter()
            .map(|e| match e {
                Entry::File { target, source } => ('f', target.clone(), rel(source)),
                Entry::Dir { target, source } => ('d', target.clone(), rel(source)),
                Entry::Inline { target, content } => ('i', target.clone(), String::from_utf8_lossy(content).into()),
                Entry::Archive { target, source } => ('a', target.clone(), rel(source)),
                Entry::Download { target, url, .. } => ('u', target.clone(), url.clone()),
            })
            .collect()
    }

    fn plain(word: &str) -> Result<String> {
        Ok(word.to_string())
    }

    fn path(p: &str) -> Source {
        Source::Path(p.into())
    }

    fn entries(place: &Placement<'_>, sources: &[Source], root: &Path, ignore: Option<&Ignore>) -> Vec<Entry> {
        let mut entries = Vec::new();
        for source in sources {
            place.add_source(source, root, ignore, &plain, &mut entries).unwrap();
        }
        entries
    }

    fn e(kind: char, target: &str, source: &str) -> (char, String, String) {
        (kind, target.to_string(), source.to_string())
    }

    #[test]
    fn one_file_to_a_file_or_a_directory() {
        let ctx = context();
        let root = ctx.path();
        let found = entries(
            &placement("/etc/app.txt", "/etc/app.txt", false),
            &[path("a.txt")],
            root,
            None,
        );
        assert_eq!(summary(&found, root), [e('f', "/etc/app.txt", "a.txt")]);
        let found = entries(&placement("/etc", "/etc/", true), &[path("sub/x.txt")], root, None);
        assert_eq!(summary(&found, root), [e('f', "/etc/x.txt", "sub/x.txt")]);
        // A wildcard that matches several files makes the destination a directory.
        let found = entries(&placement("/out", "/out", false), &[path("*.txt")], root, None);
        assert_eq!(
            summary(&found, root),
            [e('f', "/out/a.txt", "a.txt"), e('f', "/out/b.txt", "b.txt")]
        );
    }

    #[test]
    fn a_directory_copies_its_contents_minus_the_ignored() {
        let ctx = context();
        let root = ctx.path();
        let found = entries(&placement("/app", "/app", false), &[path("sub")], root, None);
        assert_eq!(
            summary(&found, root),
            [
                e('d', "/app", "sub"),
                e('d', "/app/deep", "sub/deep"),
                e('f', "/app/deep/y.txt", "sub/deep/y.txt"),
                e('f', "/app/x.txt", "sub/x.txt"),
            ]
        );
        // .dockerignore paths are relative to the context, with exceptions.
        let ignored = ignore("dir/*.log\n!dir/keep.log\nsub/deep\n");
        let found = entries(
            &placement("/", "/", true),
            &[path("dir"), path("sub")],
            root,
            Some(&ignored),
        );
        assert_eq!(
            summary(&found, root),
            [
                e('d', "/", "dir"),
                e('f', "/keep.log", "dir/keep.log"),
                e('d', "/", "sub"),
                e('f', "/x.txt", "sub/x.txt"),
            ]
        );
    }

    #[test]
    fn an_ignored_directory_is_walked_for_its_exceptions() {
        let ctx = context();
        let root = ctx.path();
        let ignored = ignore("sub\n!sub/deep/y.txt\n");
        let found = entries(&placement("/c", "/c", false), &[path(".")], root, Some(&ignored));
        let targets: Vec<String> = summary(&found, root).into_iter().map(|(_, t, _)| t).collect();
        assert!(targets.contains(&"/c/sub/deep/y.txt".to_string()), "{targets:?}");
        assert!(!targets.contains(&"/c/sub/x.txt".to_string()), "{targets:?}");
        assert!(targets.contains(&"/c/a.txt".to_string()), "{targets:?}");
    }

    #[test]
    fn parents_keep_source_paths_under_the_destination() {
        let ctx = context();
        let root = ctx.path();
        let mut place = placement("/out", "/out/", true);
        place.parents = true;
        let found = entries(&place, &[path("sub/deep/y.txt"), path("sub/deep")], root, None);
        assert_eq!(
            summary(&found, root),
            [
                e('f', "/out/sub/deep/y.txt", "sub/deep/y.txt"),
                e('d', "/out/sub/deep", "sub/deep"),
                e('f', "/out/sub/deep/y.txt", "sub/deep/y.txt"),
            ]
        );
    }

    #[test]
    fn here_documents_are_named_files_in_a_directory() {
        let root = Path::new("/nonexistent");
        let doc = |name: &str, expand: bool| {
            Source::Heredoc(Heredoc {
                name: name.into(),
                content: "hello $NAME\n".into(),
                expand,
                chomp: false,
                fd: 0,
            })
        };
        let upper = |w: &str| Ok(w.replace("$NAME", "world"));
        let mut found = Vec::new();
        let place = placement("/etc", "/etc/", true);
        place
            .add_source(&doc("greeting", true), root, None, &upper, &mut found)
            .unwrap();
        place
            .add_source(&doc("raw", false), root, None, &upper, &mut found)
            .unwrap();
        let place = placement("/etc/motd", "/etc/motd", false);
        place
            .add_source(&doc("ignored", true), root, None, &upper, &mut found)
            .unwrap();
        assert_eq!(
            summary(&found, root),
            [
                e('i', "/etc/greeting", "hello world\n"),
                e('i', "/etc/raw", "hello $NAME\n"),
                e('i', "/etc/motd", "hello world\n"),
            ]
        );
    }

    #[test]
    fn add_downloads_urls_and_extracts_local_archives() {
        let ctx = context();
        let root = ctx.path();
        let tar = root.join("bundle.tar");
        let mut builder = tar::Builder::new(fs::File::create(&tar).unwrap());
        let mut h = tar::Header::new_ustar();
        h.set_size(1);
        h.set_mode(0o644);
        builder.append_data(&mut h, "f", &b"f"[..]).unwrap();
        builder.finish().unwrap();

        let mut add = placement("/dl", "/dl/", true);
        add.add = true;
        add.checksum = Some("sha256:abc".into());
        let sources = [
            path("https://example.com/files/tool.tgz?v=1"),
            path("bundle.tar"),
            path("a.txt"),
        ];
        let found = entries(&add, &sources, root, None);
        assert_eq!(
            summary(&found, root),
            [
                e('u', "/dl/tool.tgz", "https://example.com/files/tool.tgz?v=1"),
                e('a', "/dl", "bundle.tar"),
                e('f', "/dl/a.txt", "a.txt"),
            ]
        );
        assert!(matches!(&found[0], Entry::Download { checksum: Some(c), .. } if c == "sha256:abc"));

        // COPY copies an archive as a file, and a URL is a path it does not find.
        let copy = placement("/dl", "/dl/", true);
        let found = entries(&copy, &[path("bundle.tar")], root, None);
        assert_eq!(summary(&found, root), [e('f', "/dl/bundle.tar", "bundle.tar")]);
        let mut none = Vec::new();
        assert!(copy
            .add_source(&path("https://example.com/x"), root, None, &plain, &mut none)
            .is_err());
    }

    #[test]
    fn excludes_match_paths_under_the_destination() {
        let ctx = context();
        let root = ctx.path();
        let mut found = entries(&placement("/app", "/app", false), &[path(".")], root, None);
        // `*.log` is matched from the destination (only notes.log), and a directory takes what is below it.
        exclude(&mut found, "/app/", &["*.log".into(), "sub/deep".into()]).unwrap();
        let targets: Vec<String> = summary(&found, root).into_iter().map(|(_, t, _)| t).collect();
        assert_eq!(
            targets,
            [
                "/app",
                "/app/a.txt",
                "/app/b.txt",
                "/app/c.md",
                "/app/dir",
                "/app/dir/drop.log",
                "/app/dir/keep.log",
                "/app/sub",
                "/app/sub/x.txt"
            ]
        );
    }
}

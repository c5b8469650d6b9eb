//! `.dockerignore` with Docker's rules (moby/patternmatcher): patterns are
//! cleaned like Go's `filepath.Clean` with a leading `/` dropped; `*`, `?`
//! and `[...]` match within one path element, `**` across any number of
//! them; `\` escapes; `!pattern` re-includes; the last matching rule wins;
//! a pattern that matches a directory matches everything below it.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern, without `!`.
    text: String,
    exclusion: bool,
    tokens: Vec<Tok>,
    /// `**suffix` with no other wildcard: Docker matches by string suffix.
    suffix: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `*`: any run without `/`.
    Star,
    /// `?`: one character, not `/`.
    Quest,
    /// `**` followed by more pattern: `(.*/)?`.
    AnyDirs,
    /// `**` at the end: anything.
    AnyTail,
    Class {
        negate: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Ignore {
    /// Parses a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<Ignore> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for line in text.lines() {
            // Comments are recognised before trimming, as Docker does.
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (exclusion, rest) = match line.strip_prefix('!') {
                Some(r) => (true, r.trim()),
                None => (false, line),
            };
            if rest.is_empty() {
                return Err(Error::IgnorePattern {
                    pattern: line.to_string(),
                    reason: "illegal exclusion pattern: \"!\"".to_string(),
                });
            }
            let mut text = clean(rest);
            if text.len() > 1 && text.starts_with('/') {
                text.remove(0);
            }
            patterns.push(Pattern::compile(line, text, exclusion)?);
        }
        Ok(Ignore { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether a path (relative to the context, `/`-separated) is left out of
    /// the build context. Directories and files follow the same rules.
    pub fn is_excluded(&self, rel_path: &str, _is_dir: bool) -> bool {
        let path = clean(rel_path.trim_start_matches('/'));
        if path == "." || path.is_empty() {
            return false;
        }
        let parents: Vec<&str> = path.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            // Only rules that could flip the current answer matter.
            if p.exclusion != matched {
                continue;
            }
            let mut hit = p.matches(&path);
            if !hit {
                for i in 1..parents.len() {
                    if p.matches(&parents[..i].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether a walk must descend into `dir` (relative to the context): true
    /// unless `dir` is excluded and no `!` rule could re-include anything
    /// below it. Conservative: it may say yes when nothing comes back.
    pub fn may_include_below(&self, dir: &str) -> bool {
        if !self.is_excluded(dir, true) {
            return true;
        }
        let dir = clean(dir.trim_start_matches('/'));
        let dir_parts: Vec<&str> = dir.split('/').collect();
        self.patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| p.may_match_below(&dir_parts))
    }
}

impl Pattern {
    fn compile(original: &str, text: String, exclusion: bool) -> Result<Pattern> {
        let bad = |reason: &str| Error::IgnorePattern {
            pattern: original.to_string(),
            reason: reason.to_string(),
        };
        let chars: Vec<char> = text.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let ch = chars[i];
            i += 1;
            match ch {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    tokens.push(if i == chars.len() { Tok::AnyTail } else { Tok::AnyDirs });
                }
                '*' => tokens.push(Tok::Star),
                '?' => tokens.push(Tok::Quest),
                '\\' => match chars.get(i) {
                    Some(&next) => {
                        tokens.push(Tok::Lit(next));
                        i += 1;
                    }
                    None => tokens.push(Tok::Lit('\\')),
                },
                '[' => {
                    let (tok, used) = compile_class(&chars[i..]).ok_or_else(|| bad("syntax error in pattern"))?;
                    tokens.push(tok);
                    i += used;
                }
                _ => tokens.push(Tok::Lit(ch)),
            }
        }
        let suffix = text
            .strip_prefix("**")
            .filter(|rest| !rest.contains(['*', '?', '[', '\\']))
            .map(str::to_string);
        Ok(Pattern {
            text,
            exclusion,
            tokens,
            suffix,
        })
    }

    fn matches(&self, path: &str) -> bool {
        if let Some(suffix) = &self.suffix {
            return path.ends_with(suffix.as_str())
                || suffix.strip_prefix('/').is_some_and(|s| path == s)
                || suffix.is_empty();
        }
        let chars: Vec<char> = path.chars().collect();
        match_tokens(&self.tokens, &chars)
    }

    /// Could this pattern match `dir/...` or one of dir's ancestors?
    fn may_match_below(&self, dir: &[&str]) -> bool {
        let segments: Vec<&str> = self.text.split('/').collect();
        for (k, seg) in segments.iter().enumerate() {
            if seg.contains("**") {
                return true;
            }
            let Some(d) = dir.get(k) else {
                // The pattern continues below dir.
                return true;
            };
            let Ok(p) = Pattern::compile(seg, seg.to_string(), true) else {
                return true;
            };
            if !p.matches(d) {
                return false;
            }
        }
        // The pattern names dir or an ancestor: all below comes back.
        true
    }
}

/// A `[...]` class after the `[`: `^` negates, `a-z` ranges, `\` escapes.
/// Returns the token and how many characters it used, `None` if unclosed.
fn compile_class(chars: &[char]) -> Option<(Tok, usize)> {
    let mut i = 0;
    let negate = chars.first() == Some(&'^');
    if negate {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut lo = *chars.get(i)?;
        i += 1;
        if lo == ']' && !first {
            return Some((Tok::Class { negate, ranges }, i));
        }
        first = false;
        if lo == '\\' {
            lo = *chars.get(i)?;
            i += 1;
        }
        let mut hi = lo;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
            hi = chars[i + 1];
            i += 2;
            if hi == '\\' {
                hi = *chars.get(i)?;
                i += 1;
            }
            if hi < lo {
                return None;
            }
        }
        ranges.push((lo, hi));
    }
}

fn match_tokens(tokens: &[Tok], text: &[char]) -> bool {
    let Some(tok) = tokens.first() else {
        return text.is_empty();
    };
    let rest = &tokens[1..];
    match tok {
        Tok::Lit(c) => text.first() == Some(c) && match_tokens(rest, &text[1..]),
        Tok::Quest => text.first().is_some_and(|c| *c != '/') && match_tokens(rest, &text[1..]),
        Tok::Class { negate, ranges } => {
            text.first()
                .is_some_and(|c| ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negate)
                && match_tokens(rest, &text[1..])
        }
        Tok::Star => {
            for i in 0..=text.len() {
                if match_tokens(rest, &text[i..]) {
                    return true;
                }
                if text.get(i) == Some(&'/') {
                    break;
                }
            }
            false
        }
        Tok::AnyTail => true,
        Tok::AnyDirs => {
            // Either nothing, or anything ending in '/'.
            match_tokens(rest, text) || (0..text.len()).any(|i| text[i] == '/' && match_tokens(rest, &text[i + 1..]))
        }
    }
}

/// Go's `filepath.Clean` for `/`-separated paths.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The ignore files that apply to a build, in order of precedence: the one
/// named after the Dockerfile and next to it (`app.Dockerfile` →
/// `app.Dockerfile.dockerignore`), then `.dockerignore` at the context root.
pub fn dockerignore_candidates(context: &Path, dockerfile: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(df) = dockerfile {
        if let Some(name) = df.file_name() {
            let mut name = name.to_os_string();
            name.push(".dockerignore");
            out.push(df.with_file_name(name));
        }
    }
    out.push(context.join(".dockerignore"));
    out
}

/// The ignore file to use, if any exists (see [`dockerignore_candidates`]).
pub fn find_dockerignore(context: &Path, dockerfile: Option<&Path>) -> Option<PathBuf> {
    dockerignore_candidates(context, dockerfile)
        .into_iter()
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> Ignore {
        Ignore::parse(text).unwrap()
    }

    #[test]
    fn clean_paths() {
        let cases = [
            ("a/b/../c", "a/c"),
            ("./a//b/", "a/b"),
            ("/a/../../b", "/b"),
            ("../a", "../a"),
            ("", "."),
            (".", "."),
            ("/", "/"),
            ("a/..", "."),
        ];
        for (p, want) in cases {
            assert_eq!(clean(p), want, "{p}");
        }
    }

    #[test]
    fn matching_table() {
        // (patterns, path, excluded)
        let cases: &[(&str, &str, bool)] = &[
            ("node_modules", "node_modules", true),
            ("node_modules", "node_modules/x/y.js", true),
            ("node_modules", "src/node_modules", false),
            ("/node_modules", "node_modules/a", true),
            ("./build/", "build/out", true),
            ("*.md", "README.md", true),
            ("*.md", "docs/README.md", false),
            ("*/*.md", "docs/README.md", true),
            ("**/*.md", "README.md", true),
            ("**/*.md", "a/b/c/README.md", true),
            ("**/*.md", "a/b/c/README.txt", false),
            ("a/**/z", "a/z", true),
            ("a/**/z", "a/b/c/z", true),
            ("a/**/z", "ab/z", false),
            ("a/**", "a/b/c", true),
            ("a/**", "ab", false),
            ("**", "anything/at/all", true),
            ("**/foo", "foo", true),
            ("**/foo", "x/y/foo", true),
            ("**/foo", "x/yfoo", false),
            ("**/foo", "foo/bar", true),
            ("tmp?", "tmp1", true),
            ("tmp?", "tmp/", false),
            ("tmp?", "tmp12", false),
            ("file[0-9].txt", "file7.txt", true),
            ("file[0-9].txt", "filex.txt", false),
            ("file[^0-9].txt", "filex.txt", true),
            ("\\*.txt", "*.txt", true),
            ("\\*.txt", "a.txt", false),
            ("a.b", "axb", false),
            ("a+b(c)", "a+b(c)", true),
            ("# comment", "# comment", false),
            (" spaced ", "spaced", true),
            ("a/../b", "b", true),
            ("*", "anything", true),
            ("*", "dir/file", true),
            ("", "x", false),
        ];
        for (pat, path, want) in cases {
            assert_eq!(ig(pat).is_excluded(path, false), *want, "{pat:?} vs {path:?}");
        }
    }

    #[test]
    fn exceptions_and_order() {
        let i = ig("# logs\n*.log\n!important.log\n\n");
        assert!(i.is_excluded("debug.log", false));
        assert!(!i.is_excluded("important.log", false));

        // Later rules win.
        let i = ig("!keep.txt\n*.txt\n");
        assert!(i.is_excluded("keep.txt", false));
        let i = ig("*.txt\n!keep.txt\n");
        assert!(!i.is_excluded("keep.txt", false));

        // An exception under an excluded directory re-includes that file only.
        let i = ig("docs\n!docs/README.md\n");
        assert!(i.is_excluded("docs", true));
        assert!(i.is_excluded("docs/other.md", false));
        assert!(!i.is_excluded("docs/README.md", false));

        // Exclude everything but a few things.
        let i = ig("*\n!src\n!Cargo.toml\nsrc/**/*.tmp\n");
        assert!(i.is_excluded("target", true));
        assert!(i.is_excluded("target/debug/x", false));
        assert!(!i.is_excluded("Cargo.toml", false));
        assert!(!i.is_excluded("src/main.rs", false));
        assert!(i.is_excluded("src/a/b.tmp", false));
        assert!(!i.is_excluded(".", true));
    }

    #[test]
    fn walking_into_excluded_dirs() {
        let i = ig("docs\n!docs/keep/*.md\nbuild\nvendor\n!**/LICENSE\n");
        assert!(i.may_include_below("src"), "not excluded at all");
        assert!(i.may_include_below("docs"));
        assert!(i.may_include_below("docs/keep"));
        assert!(i.may_include_below("build"), "**/LICENSE may match below");
        let i = ig("docs\n!docs/keep/*.md\nbuild\n");
        assert!(!i.may_include_below("build"));
        assert!(!i.may_include_below("docs/other"));
        assert!(i.may_include_below("docs/keep"));
        assert!(!i.is_excluded("docs/keep/a.md", false));
        assert!(i.is_excluded("docs/keep/a.txt", false));
        let i = ig("a\n!a\n");
        assert!(i.may_include_below("a"));
    }

    #[test]
    fn bad_patterns() {
        assert!(Ignore::parse("!\n").is_err());
        assert!(Ignore::parse("file[a-\n").is_err());
        assert!(Ignore::parse("[unclosed\n").is_err());
    }

    #[test]
    fn ignore_file_lookup() {
        let dir = std::env::temp_dir().join(format!("berth-build-ignore-{}", std::process::id()));
        let ctx = dir.join("ctx");
        std::fs::create_dir_all(&ctx).unwrap();
        let df = ctx.join("app.Dockerfile");
        assert_eq!(
            dockerignore_candidates(&ctx, Some(&df)),
            [ctx.join("app.Dockerfile.dockerignore"), ctx.join(".dockerignore")]
        );
        assert_eq!(find_dockerignore(&ctx, Some(&df)), None);
        std::fs::write(ctx.join(".dockerignore"), "x").unwrap();
        assert_eq!(find_dockerignore(&ctx, Some(&df)), Some(ctx.join(".dockerignore")));
        std::fs::write(ctx.join("app.Dockerfile.dockerignore"), "y").unwrap();
        assert_eq!(
            find_dockerignore(&ctx, Some(&df)),
            Some(ctx.join("app.Dockerfile.dockerignore"))
        );
        assert_eq!(find_dockerignore(&ctx, None), Some(ctx.join(".dockerignore")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

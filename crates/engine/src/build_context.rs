//! Where a build's context comes from: a directory here, a stream (a tar, plain or compressed, or a
//! Dockerfile alone: the CLI's stdin, the API's request body), a git repository or an http(s) URL. Each
//! becomes a directory the builder reads, kept until the build is done.

use std::io::{Cursor, Read};
use std::path::{Component, Path, PathBuf};

use berth_store::Digest;

use crate::build::{BuildOptions, BuildOutput};
use crate::{Engine, Error, Result};

/// A build's context.
pub enum BuildContext {
    /// A directory on this machine.
    Dir(PathBuf),
    /// A tar archive (plain, gzip or zstd), or the text of a Dockerfile alone (then the context is empty).
    Stream(Box<dyn Read + Send>),
    /// A git repository, as Docker takes it: `URL[#REF][:SUBDIR]`.
    Git(String),
    /// An http(s) URL serving what a [`BuildContext::Stream`] holds.
    Url(String),
}

impl BuildContext {
    /// The context `build` names with its PATH | URL argument (`-`, stdin, is the caller's to open).
    pub fn from_arg(arg: &str) -> BuildContext {
        let is_git =
            arg.starts_with("git@") || arg.starts_with("git://") || arg.contains(".git#") || arg.ends_with(".git");
        if is_git {
            BuildContext::Git(arg.to_string())
        } else if arg.starts_with("http://") || arg.starts_with("https://") {
            BuildContext::Url(arg.to_string())
        } else {
            BuildContext::Dir(PathBuf::from(arg))
        }
    }
}

/// Which Dockerfile a build reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Dockerfile {
    /// `Dockerfile` at the root of the context (or the stream itself, when it was a Dockerfile alone).
    #[default]
    Default,
    /// A file on this machine (`-f` with a directory context, relative to the caller's directory).
    Host(PathBuf),
    /// A file inside the context (`-f` with any other context; the API's `dockerfile`).
    InContext(String),
    /// The text itself (`-f -`).
    Text(String),
}

/// A build as a caller hands it in.
pub struct BuildRequest {
    pub context: BuildContext,
    pub dockerfile: Dockerfile,
    /// `--platform`: refused unless it is this machine's (berth builds for the machine it runs on).
    pub platform: Option<String>,
    /// The rest; its `context`, `dockerfile` and `dockerfile_text` are set from the fields above.
    pub options: BuildOptions,
}

/// A context made ready: a directory, and what it needs kept until the build is done.
struct Prepared {
    dir: PathBuf,
    dockerfile: Option<PathBuf>,
    dockerfile_text: Option<String>,
    /// The temporary directory a stream or clone went into (removed on drop).
    _temp: Option<tempfile::TempDir>,
}

impl Engine {
    /// `build` from any context.
    pub fn build_from(&self, request: BuildRequest, out: &dyn BuildOutput) -> Result<Digest> {
        if let Some(platform) = &request.platform {
            check_platform(platform)?;
        }
        let prepared = prepare(request.context, request.dockerfile)?;
        let mut options = request.options;
        options.context = prepared.dir.clone();
        options.dockerfile = prepared.dockerfile.clone();
        options.dockerfile_text = prepared.dockerfile_text.clone();
        self.build(&options, out)
    }
}

/// Refuses to build for another platform than this machine's.
fn check_platform(platform: &str) -> Result<()> {
    let host = berth_image::spec::host_platform();
    if platform == format!("{}/{}", host.os, host.architecture) {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "platform {platform} is not supported: berth builds for {}/{}",
        host.os, host.architecture
    )))
}

fn temp_dir(what: &str) -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| Error::Internal(format!("making a directory for the {what}: {e}")))
}

fn prepare(context: BuildContext, dockerfile: Dockerfile) -> Result<Prepared> {
    let (dir, stream_text, temp) = match context {
        BuildContext::Dir(dir) => (dir, None, None),
        BuildContext::Stream(input) => {
            let temp = temp_dir("context")?;
            let text = unpack_stream(input, temp.path())?;
            (temp.path().to_path_buf(), text, Some(temp))
        }
        BuildContext::Url(url) => {
            let response = ureq::get(&url).call().map_err(|e| Error::Download {
                context: format!("downloading the build context from {url}"),
                reason: e.to_string(),
            })?;
            let temp = temp_dir("context")?;
            let text = unpack_stream(Box::new(response.into_reader()), temp.path())?;
            (temp.path().to_path_buf(), text, Some(temp))
        }
        BuildContext::Git(spec) => {
            let temp = temp_dir("git context")?;
            let dir = clone(&spec, temp.path())?;
            (dir, None, Some(temp))
        }
    };
    let (dockerfile, dockerfile_text) = match (dockerfile, stream_text) {
        (Dockerfile::Text(text), _) => (None, Some(text)),
        // The stream was the Dockerfile itself: a name given as well has nothing to name.
        (_, Some(text)) => (None, Some(text)),
        (Dockerfile::Default, None) => (None, None),
        (Dockerfile::Host(path), None) => (Some(path), None),
        (Dockerfile::InContext(name), None) => (Some(inside(&dir, &name)?), None),
    };
    Ok(Prepared {
        dir,
        dockerfile,
        dockerfile_text,
        _temp: temp,
    })
}

/// `name` inside the context `dir`: a relative path that does not climb out.
fn inside(dir: &Path, name: &str) -> Result<PathBuf> {
    let relative = Path::new(name.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(Error::InvalidArgument(format!(
            "the Dockerfile {name:?} must be inside the build context"
        )));
    }
    Ok(dir.join(relative))
}

/// What a context stream starts with.
#[derive(Debug, PartialEq, Eq)]
enum StreamKind {
    Archive,
    Dockerfile,
}

/// A tar has `ustar` at offset 257; gzip and zstd have their magic numbers. Anything else is taken for
/// a Dockerfile, as Docker does.
fn sniff(head: &[u8]) -> StreamKind {
    let tar = head.len() > 262 && &head[257..262] == b"ustar";
    let compressed = head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    if tar || compressed {
        StreamKind::Archive
    } else {
        StreamKind::Dockerfile
    }
}

/// Unpacks an archive stream into `dir`; returns the text when the stream is a Dockerfile instead.
fn unpack_stream(mut input: Box<dyn Read + Send>, dir: &Path) -> Result<Option<String>> {
    let reading = |source| Error::Stream {
        context: "reading the build context".into(),
        source,
    };
    // Enough to see a tar header's magic; read in a loop, as a pipe hands out what it has.
    let mut head = Vec::with_capacity(512);
    (&mut input).take(512).read_to_end(&mut head).map_err(reading)?;
    let rest = Cursor::new(head.clone()).chain(input);
    match sniff(&head) {
        StreamKind::Archive => {
            let stream = berth_image::layer::decompressed(rest).map_err(|source| Error::Stream {
                context: "reading the context archive".into(),
                source,
            })?;
            unpack_archive(stream, dir).map_err(|source| Error::Stream {
                context: "unpacking the context archive".into(),
                source,
            })?;
            Ok(None)
        }
        StreamKind::Dockerfile => {
            let mut bytes = Vec::new();
            let mut rest = rest;
            rest.read_to_end(&mut bytes).map_err(reading)?;
            let text = String::from_utf8(bytes)
                .map_err(|e| Error::InvalidArgument(format!("the Dockerfile given is not UTF-8: {e}")))?;
            Ok(Some(text))
        }
    }
}

/// Unpacks a context archive into `dir`, as Go's tar reader reads it: the docker client sends a
/// context whose Dockerfile it added (`-f` outside the context) without the last entry's padding
/// and the end-of-archive blocks, which dockerd takes. Such an end is padded here; an archive cut
/// inside an entry's data is still an error.
fn unpack_archive(stream: impl Read, dir: &Path) -> std::io::Result<()> {
    let real = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let mut archive = tar::Archive::new(PaddedAtEnd {
        inner: stream,
        real: real.clone(),
        padding: None,
    });
    let mut directories = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let data_end = entry.raw_file_position() + entry.size();
        if entry.header().entry_type() == tar::EntryType::Directory {
            directories.push(entry);
        } else {
            entry.unpack_in(dir)?;
        }
        if real.get() < data_end {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the archive ends inside an entry",
            ));
        }
    }
    // Directories last, deepest first, so their modes do not stop what goes in them.
    directories.sort_by(|a, b| b.path_bytes().cmp(&a.path_bytes()));
    for mut directory in directories {
        directory.unpack_in(dir)?;
    }
    Ok(())
}

/// A reader that, at the end of its input, adds zeros up to the next 512-byte block and two empty
/// blocks (a tar's end), and counts the bytes that were really there.
struct PaddedAtEnd<R> {
    inner: R,
    real: std::rc::Rc<std::cell::Cell<u64>>,
    /// Zeros still to give once the input ended.
    padding: Option<u64>,
}

impl<R: Read> Read for PaddedAtEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.padding.is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.real.set(self.real.get() + n as u64);
                return Ok(n);
            }
            let to_block = (512 - self.real.get() % 512) % 512;
            self.padding = Some(to_block + 1024);
        }
        let left = self.padding.unwrap_or(0);
        let n = (buf.len() as u64).min(left) as usize;
        buf[..n].fill(0);
        self.padding = Some(left - n as u64);
        Ok(n)
    }
}

/// A git context split: repository URL, ref (empty: the default branch), directory in it.
fn split_git(spec: &str) -> (&str, &str, &str) {
    let (url, fragment) = spec.split_once('#').unwrap_or((spec, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    (url, reference, subdir)
}

/// A shallow clone of the ref into `into`; returns the context directory in it.
fn clone(spec: &str, into: &Path) -> Result<PathBuf> {
    let (url, reference, subdir) = split_git(spec);
    let checkout = into.join("repo");
    let mut git = std::process::Command::new("git");
    git.args(["clone", "--quiet", "--depth", "1", "--recurse-submodules"]);
    if !reference.is_empty() {
        git.args(["--branch", reference]);
    }
    // `--`: a URL that starts with a dash is a URL, not an option of git's.
    git.arg("--").arg(url).arg(&checkout);
    let out = git
        .output()
        .map_err(|e| Error::Internal(format!("running git (install it to build from a git repository): {e}")))?;
    if !out.status.success() {
        return Err(Error::InvalidArgument(format!(
            "unable to prepare context: git clone of {url} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let context = checkout.join(subdir.trim_start_matches('/'));
    if subdir.split('/').any(|p| p == "..") || !context.starts_with(&checkout) || !context.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "unable to prepare context: {subdir:?} is not a directory of {url}"
        )));
    }
    Ok(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(arg: &str) -> &'static str {
        match BuildContext::from_arg(arg) {
            BuildContext::Dir(_) => "dir",
            BuildContext::Stream(_) => "stream",
            BuildContext::Git(_) => "git",
            BuildContext::Url(_) => "url",
        }
    }

    #[test]
    fn arguments_name_their_kind_of_context() {
        assert_eq!(kind("."), "dir");
        assert_eq!(kind("git@github.com:a/b.git"), "git");
        assert_eq!(kind("https://github.com/a/b.git#main:sub"), "git");
        assert_eq!(kind("git://host/repo"), "git");
        assert_eq!(kind("https://example.com/context.tar.gz"), "url");
        assert_eq!(kind("http://example.com/Dockerfile"), "url");
    }

    #[test]
    fn git_specs_split_into_url_ref_and_directory() {
        assert_eq!(split_git("https://h/r.git"), ("https://h/r.git", "", ""));
        assert_eq!(split_git("https://h/r.git#v1"), ("https://h/r.git", "v1", ""));
        assert_eq!(
            split_git("https://h/r.git#v1:docs/x"),
            ("https://h/r.git", "v1", "docs/x")
        );
        assert_eq!(split_git("https://h/r.git#:sub"), ("https://h/r.git", "", "sub"));
    }

    #[test]
    fn streams_are_archives_or_a_dockerfile() {
        assert_eq!(sniff(b"FROM busybox\n"), StreamKind::Dockerfile);
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), StreamKind::Archive);
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), StreamKind::Archive);
        let mut tar_head = vec![0u8; 512];
        tar_head[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar_head), StreamKind::Archive);
        assert_eq!(sniff(b""), StreamKind::Dockerfile);
    }

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, text.as_bytes()).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn a_tar_stream_becomes_the_context_and_names_its_dockerfile() {
        let tar = tar_of(&[("build/Dockerfile.app", "FROM scratch\n"), ("file", "x")]);
        let prepared = prepare(
            BuildContext::Stream(Box::new(Cursor::new(tar))),
            Dockerfile::InContext("build/Dockerfile.app".into()),
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(prepared.dir.join("file")).unwrap(), "x");
        let dockerfile = prepared.dockerfile.clone().unwrap();
        assert_eq!(std::fs::read_to_string(dockerfile).unwrap(), "FROM scratch\n");
        assert_eq!(prepared.dockerfile_text, None);
        let dir = prepared.dir.clone();
        drop(prepared);
        assert!(!dir.exists(), "the unpacked context goes with the build");
    }

    #[test]
    fn an_archive_without_its_end_blocks_unpacks_but_a_cut_one_does_not() {
        let tar = tar_of(&[("Dockerfile", "FROM scratch\n"), (".dockerfile.x", "FROM busybox\n")]);
        // What the docker client sends for `-f` outside the context: the last entry's data, and
        // nothing after it.
        let last_data_end = 512 * 3 + "FROM busybox\n".len();
        let dir = tempfile::tempdir().unwrap();
        unpack_archive(&tar[..last_data_end], dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".dockerfile.x")).unwrap(),
            "FROM busybox\n"
        );
        let cut = tempfile::tempdir().unwrap();
        let err = unpack_archive(&tar[..last_data_end - 3], cut.path()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        let whole = tempfile::tempdir().unwrap();
        unpack_archive(&tar[..], whole.path()).unwrap();
    }

    #[test]
    fn a_text_stream_is_the_dockerfile_of_an_empty_context() {
        let prepared = prepare(
            BuildContext::Stream(Box::new(Cursor::new(b"FROM busybox\n".to_vec()))),
            Dockerfile::Default,
        )
        .unwrap();
        assert_eq!(prepared.dockerfile_text.as_deref(), Some("FROM busybox\n"));
        assert_eq!(std::fs::read_dir(&prepared.dir).unwrap().count(), 0);
    }

    #[test]
    fn a_dockerfile_in_the_context_cannot_climb_out() {
        let tar = tar_of(&[("Dockerfile", "FROM scratch\n")]);
        let err = prepare(
            BuildContext::Stream(Box::new(Cursor::new(tar))),
            Dockerfile::InContext("../../etc/passwd".into()),
        )
        .err()
        .unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
        assert_eq!(
            inside(Path::new("/c"), "/sub/Dockerfile").unwrap(),
            Path::new("/c/sub/Dockerfile")
        );
    }

    #[test]
    fn only_this_machines_platform_builds() {
        let host = berth_image::spec::host_platform();
        assert!(check_platform(&format!("{}/{}", host.os, host.architecture)).is_ok());
        let err = check_platform("plan9/mips").unwrap_err().to_string();
        assert!(
            err.starts_with("platform plan9/mips is not supported: berth builds for"),
            "{err}"
        );
    }
}

//! diff, commit, export and cp.

use super::*;

#[derive(Args)]
pub struct DiffArgs {
    container: String,
}

/// `diff`: A, C and D lines, as docker prints them.
pub fn diff(options: &Options, args: DiffArgs) -> anyhow::Result<()> {
    for change in engine(options)?.diff_container(&args.container)? {
        outln!("{} {}", change.kind.letter(), change.path)?;
    }
    Ok(())
}

#[derive(Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value = "true", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pause: bool,
    container: String,
    /// [REPOSITORY[:TAG]]
    reference: Option<String>,
}

pub fn commit(options: &Options, args: CommitArgs) -> anyhow::Result<()> {
    let id = engine(options)?.commit_container(
        &args.container,
        &berth_engine::containers::CommitOptions {
            reference: args.reference,
            author: args.author,
            message: args.message,
            changes: args.change,
            pause: args.pause,
            config: None,
        },
    )?;
    outln!("{id}")?;
    Ok(())
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
    container: String,
}

pub fn export(options: &Options, args: ExportArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    match &args.output {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let name = path.file_name().context("-o needs a file name")?.to_string_lossy();
            let temp = dir.join(format!(".{name}.berth-{}", std::process::id()));
            let file = std::fs::File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
            match engine.export_container(&args.container, io::BufWriter::new(file)) {
                Ok(()) => std::fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))?,
                Err(e) => {
                    let _ = std::fs::remove_file(&temp);
                    return Err(e.into());
                }
            }
        }
        None => {
            if std::io::IsTerminal::is_terminal(&io::stdout()) {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            engine.export_container(&args.container, io::BufWriter::new(crate::out::stdout()))?;
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short, long)]
    quiet: bool,
    /// CONTAINER:SRC_PATH or SRC_PATH|-
    src: String,
    /// DEST_PATH|- or CONTAINER:DEST_PATH
    dest: String,
}

/// `CONTAINER:PATH` as docker reads it: a colon before any slash, and the
/// argument not starting with `/` or `.`.
pub(super) fn container_side(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (name, path) = arg.split_once(':')?;
    (!name.contains('/') && !name.is_empty()).then_some((name, path))
}

/// Renames the top of every entry of a tar (`from` -> `to`), or drops the
/// top level (`to` empty), writing a new tar.
pub(super) fn retarget(input: &Path, output: &Path, to: Option<&str>) -> anyhow::Result<()> {
    // A path with its top renamed, or dropped (None when nothing is left).
    let rename = |path: &Path| -> Option<PathBuf> {
        let mut parts = path.components();
        parts.next();
        let rest: PathBuf = parts.collect();
        match to {
            Some(name) if rest.as_os_str().is_empty() => Some(PathBuf::from(name)),
            Some(name) => Some(Path::new(name).join(&rest)),
            None if rest.as_os_str().is_empty() => None,
            None => Some(rest),
        }
    };
    let mut archive = tar::Archive::new(std::fs::File::open(input)?);
    let mut out = tar::Builder::new(std::fs::File::create(output)?);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let Some(new_path) = rename(&path) else { continue };
        let mut header = entry.header().clone();
        if header.entry_type().is_symlink() || header.entry_type().is_hard_link() {
            let mut target = entry.link_name()?.map(|t| t.into_owned()).unwrap_or_default();
            // A hard link names another entry of the archive, renamed the same way.
            if header.entry_type().is_hard_link() {
                target = rename(&target).unwrap_or(target);
            }
            out.append_link(&mut header, &new_path, &target)?;
        } else {
            out.append_data(&mut header, &new_path, &mut entry)?;
        }
    }
    out.finish()?;
    Ok(())
}

pub fn cp(options: &Options, args: CpArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let scratch = engine.layout().scratch("cp");
    std::fs::create_dir_all(&scratch)?;
    let result = cp_with(&engine, &args, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// How `cp` unpacks into a container: owners kept with `-a`; a directory may be replaced by a file
/// of the same name and the reverse (the docker client refuses, through the API's flag).
fn copy_in(args: &CpArgs) -> berth_engine::containers::CopyInOptions {
    berth_engine::containers::CopyInOptions {
        keep_owners: args.archive,
        no_overwrite_dir_non_dir: false,
    }
}

pub(super) fn cp_with(engine: &Engine, args: &CpArgs, scratch: &Path) -> anyhow::Result<()> {
    match (container_side(&args.src), container_side(&args.dest)) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
        (Some((name, src)), None) => {
            if args.dest == "-" {
                engine.copy_from_container(name, src, args.follow_link, io::BufWriter::new(crate::out::stdout()))?;
                return Ok(());
            }
            let tarball = scratch.join("out.tar");
            engine.copy_from_container(name, src, args.follow_link, std::fs::File::create(&tarball)?)?;
            let src_is_dir = engine.container_path_kind(name, src)? == berth_engine::containers::PathKind::Dir;
            let dest = Path::new(&args.dest);
            let contents_only = src.ends_with("/.");
            let (target_dir, rename): (PathBuf, Option<Option<String>>) = if dest.is_dir() {
                (dest.to_path_buf(), None)
            } else if args.dest.ends_with('/') {
                bail!("destination directory {} does not exist", args.dest);
            } else if dest.exists() && src_is_dir {
                bail!("cannot copy a directory to a file: {}", args.dest);
            } else {
                let parent = dest
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                if !parent.is_dir() {
                    bail!("destination directory {} does not exist", parent.display());
                }
                let name = dest
                    .file_name()
                    .context("destination has no name")?
                    .to_string_lossy()
                    .into_owned();
                (parent.to_path_buf(), Some(Some(name)))
            };
            let tarball = match (rename, contents_only) {
                (Some(to), false) => {
                    let renamed = scratch.join("renamed.tar");
                    retarget(&tarball, &renamed, to.as_deref())?;
                    renamed
                }
                (Some(Some(name)), true) => {
                    std::fs::create_dir_all(target_dir.join(&name))?;
                    let mut archive = tar::Archive::new(std::fs::File::open(&tarball)?);
                    archive.set_preserve_ownerships(args.archive);
                    archive.set_preserve_permissions(true);
                    archive.unpack(target_dir.join(&name))?;
                    return Ok(());
                }
                _ => tarball,
            };
            let mut archive = tar::Archive::new(std::fs::File::open(&tarball)?);
            archive.set_preserve_ownerships(args.archive);
            archive.set_preserve_permissions(true);
            archive.set_overwrite(true);
            archive.unpack(&target_dir)?;
            Ok(())
        }
        (None, Some((name, dest))) => {
            if args.src == "-" {
                engine.copy_into_container(name, dest, copy_in(args), &mut io::stdin().lock())?;
                return Ok(());
            }
            let src = Path::new(&args.src);
            let meta = std::fs::symlink_metadata(src).with_context(|| format!("lstat {}", args.src))?;
            let kind = engine.container_path_kind(name, dest)?;
            let contents_only = args.src.ends_with("/.");
            let base = src
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Where the tar unpacks in the container, and the name its top entry gets.
            let (into, top) = match kind {
                berth_engine::containers::PathKind::Dir => (dest.to_string(), base.clone()),
                _ if dest.ends_with('/') => bail!("destination directory {dest} does not exist in the container"),
                berth_engine::containers::PathKind::File if meta.is_dir() => {
                    bail!("cannot copy a directory to a file: {dest}")
                }
                _ => {
                    let p = Path::new(dest);
                    let parent = p
                        .parent()
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "/".into());
                    let name = p
                        .file_name()
                        .context("destination has no name")?
                        .to_string_lossy()
                        .into_owned();
                    (if parent.is_empty() { "/".into() } else { parent }, name)
                }
            };
            let tarball = scratch.join("in.tar");
            {
                let mut b = tar::Builder::new(std::fs::File::create(&tarball)?);
                b.follow_symlinks(args.follow_link);
                if meta.is_dir() {
                    let name = if contents_only && kind == berth_engine::containers::PathKind::Dir {
                        "."
                    } else {
                        &top
                    };
                    b.append_dir_all(name, src)?;
                } else {
                    b.append_path_with_name(src, &top)?;
                }
                b.finish()?;
            }
            engine.copy_into_container(name, &into, copy_in(args), &mut std::fs::File::open(&tarball)?)?;
            let _ = args.quiet;
            Ok(())
        }
    }
}

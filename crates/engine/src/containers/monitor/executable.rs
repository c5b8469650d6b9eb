//! Docker's 126 and 127: whether a container's command can be found and run, looked up before the
//! container exists.

use std::fs::File;
use std::path::Path;

use berth_runtime::spec;

/// Docker's answers for a command that cannot run: 127 when it is not
/// there, 126 when it is there but cannot be executed. Looked up before the
/// container exists, so a path under a bind mount is looked up in its source.
pub(crate) fn check_executable(
    rootfs: &Path,
    binds: &[spec::BindMount],
    args: &[String],
    env: &[String],
) -> std::result::Result<(), (i32, String)> {
    let Some(program) = args.first() else {
        return Err((125, "no command specified".into()));
    };
    let probe = |path: &str| -> std::result::Result<rustix::fs::Stat, rustix::io::Errno> {
        let (base, rest) = bind_source_of(rootfs, binds, path);
        if rest.is_empty() {
            // A file bind-mounted right at that path.
            return rustix::fs::stat(base);
        }
        let root =
            File::open(base).map_err(|e| rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO))?;
        let fd = rustix::fs::openat2(
            &root,
            &rest,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
            rustix::fs::ResolveFlags::IN_ROOT,
        )?;
        rustix::fs::fstat(&fd)
    };
    let runnable = |st: &rustix::fs::Stat| {
        let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
        kind == rustix::fs::FileType::RegularFile && st.st_mode & 0o111 != 0
    };
    if program.contains('/') {
        return match probe(program) {
            Ok(st) if runnable(&st) => Ok(()),
            Ok(_) => Err((126, format!("exec: {program:?}: permission denied"))),
            Err(_) => Err((
                127,
                format!("exec: {program:?}: stat {program}: no such file or directory"),
            )),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(spec::DEFAULT_PATH);
    let mut denied = false;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        if let Ok(st) = probe(&format!("{dir}/{program}")) {
            if runnable(&st) {
                return Ok(());
            }
            denied = true;
        }
    }
    if denied {
        return Err((126, format!("exec: {program:?}: permission denied")));
    }
    Err((127, format!("exec: {program:?}: executable file not found in $PATH")))
}

/// Where `path` inside the container will come from: the source of the innermost bind mount over it (and
/// the rest of the path below that), or the root filesystem.
fn bind_source_of<'a>(rootfs: &'a Path, binds: &'a [spec::BindMount], path: &str) -> (&'a Path, String) {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let mut best: Option<(usize, &Path)> = None;
    for b in binds {
        let dest: Vec<&str> = b.destination.split('/').filter(|p| !p.is_empty()).collect();
        if parts.starts_with(&dest) && best.is_none_or(|(len, _)| dest.len() >= len) {
            best = Some((dest.len(), b.source.as_path()));
        }
    }
    match best {
        Some((len, source)) => (source, parts[len..].join("/")),
        None => (rootfs, parts.join("/")),
    }
}

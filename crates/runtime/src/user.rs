//! The container user: `--user` and `--group-add` resolved against the
//! image's own /etc/passwd and /etc/group, with runc's (and so Docker's)
//! semantics.
//!
//! Both files are read *inside* the container root: they are opened with
//! `openat2(RESOLVE_IN_ROOT)` on a descriptor of the root, so a symlink in the
//! image (`/etc/passwd -> /etc/shadow`, `-> ../../../etc/shadow`) resolves to a
//! file of the image, never of the host. Only regular files are read (the
//! file is first opened `O_PATH`, checked, then reopened), so a device node
//! planted at /etc/group is never opened for reading.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::Error;

/// The largest passwd or group file read (an image with a bigger one is broken or hostile).
const MAX_FILE_SIZE: u64 = 64 << 20;
/// The largest uid or gid runc accepts.
const MAX_ID: u32 = i32::MAX as u32;

/// A user resolved for the container's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the groups of /etc/group listing the user, then `--group-add`.
    pub additional_gids: Vec<u32>,
    /// The user's home directory from /etc/passwd, "/" without an entry.
    pub home: String,
}

/// Resolves `user` (`""`, `name`, `uid`, `name:group`, `uid:gid`, ...) and
/// `group_add` (names or gids) against the passwd and group files of `rootfs`.
pub fn resolve(rootfs: &Path, user: &str, group_add: &[String]) -> Result<ResolvedUser, Error> {
    let root = open_root(rootfs)?;
    let passwd = read_in_root(&root, rootfs, "etc/passwd")?;
    // The group file is only needed for a group name, supplementary groups or --group-add.
    let group = read_in_root(&root, rootfs, "etc/group")?;
    resolve_with(passwd.as_deref(), group.as_deref(), user, group_add)
}

/// `HOME=<home>` for `env` unless it already sets HOME (Docker and runc add it).
pub fn home_env(env: &[String], home: &str) -> Option<String> {
    let has_home = env.iter().any(|e| e == "HOME" || e.starts_with("HOME="));
    (!has_home).then(|| format!("HOME={}", if home.is_empty() { "/" } else { home }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolution from file contents (`None`: the file does not exist).
pub(crate) fn resolve_with(
    passwd: Option<&str>,
    group: Option<&str>,
    user: &str,
    group_add: &[String],
) -> Result<ResolvedUser, Error> {
    let users = passwd.map(parse_passwd).unwrap_or_default();
    let groups = group.map(parse_group).unwrap_or_default();

    let (user_arg, group_arg) = match user.split_once(':') {
        Some((u, g)) => (u, g),
        None => (user, ""),
    };
    let uid_arg = parse_id(user_arg)?;

    let matched = users.iter().find(|u| match (user_arg, uid_arg) {
        ("", _) => u.uid == 0,
        (_, Some(uid)) => u.uid == uid,
        (name, None) => u.name == name,
    });

    let mut resolved = ResolvedUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".to_string(),
    };
    let mut matched_name = None;
    match matched {
        Some(entry) => {
            resolved.uid = entry.uid;
            resolved.gid = entry.gid;
            if !entry.home.is_empty() {
                resolved.home = entry.home.clone();
            }
            if !entry.name.is_empty() {
                matched_name = Some(entry.name.as_str());
            }
        }
        None => match uid_arg {
            Some(uid) => resolved.uid = uid,
            None if user_arg.is_empty() => {}
            None => return Err(Error::UnknownUser(user_arg.to_string())),
        },
    }

    if !group_arg.is_empty() {
        // An explicit group sets the primary group; runc adds no supplementary groups then.
        let gid_arg = parse_id(group_arg)?;
        let found = groups.iter().find(|g| match gid_arg {
            Some(gid) => g.gid == gid,
            None => g.name == group_arg,
        });
        resolved.gid = match (found, gid_arg) {
            (Some(g), _) => g.gid,
            (None, Some(gid)) => gid,
            (None, None) => return Err(Error::UnknownGroup(group_arg.to_string())),
        };
    } else if let Some(name) = matched_name {
        for g in groups.iter().filter(|g| g.members.iter().any(|m| m == name)) {
            push_unique(&mut resolved.additional_gids, g.gid);
        }
    }

    for wanted in group_add {
        let gid_arg = parse_id(wanted)?;
        let found = groups.iter().find(|g| g.name == *wanted || Some(g.gid) == gid_arg);
        let gid = match (found, gid_arg) {
            (Some(g), _) => g.gid,
            (None, Some(gid)) => gid,
            (None, None) => return Err(Error::UnknownGroup(wanted.clone())),
        };
        push_unique(&mut resolved.additional_gids, gid);
    }
    Ok(resolved)
}

fn push_unique(list: &mut Vec<u32>, id: u32) {
    if !list.contains(&id) {
        list.push(id);
    }
}

/// `Some(id)` when `s` is numeric (in runc's range), `None` when it is a name.
fn parse_id(s: &str) -> Result<Option<u32>, Error> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match s.parse::<u64>() {
        Ok(id) if id <= u64::from(MAX_ID) => Ok(Some(id as u32)),
        _ => Err(Error::InvalidArgument(format!(
            "uids and gids must be in range 0-{MAX_ID}: {s}"
        ))),
    }
}

fn is_entry_line(line: &str) -> bool {
    !(line.is_empty() || line.starts_with('#') || line.starts_with('+') || line.starts_with('-'))
}

/// name:password:uid:gid:gecos:home:shell; lines with a malformed uid or gid are skipped
/// (runc reads them as 0, which would make a broken line a root entry).
fn parse_passwd(content: &str) -> Vec<PasswdEntry> {
    content
        .lines()
        .map(str::trim)
        .filter(|l| is_entry_line(l))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let uid = fields.get(2)?.trim().parse().ok()?;
            let gid = fields.get(3)?.trim().parse().ok()?;
            Some(PasswdEntry {
                name: fields[0].to_string(),
                uid,
                gid,
                home: fields.get(5).map(|h| h.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

/// name:password:gid:member,member
fn parse_group(content: &str) -> Vec<GroupEntry> {
    content
        .lines()
        .map(str::trim)
        .filter(|l| is_entry_line(l))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let gid = fields.get(2)?.trim().parse().ok()?;
            let members = fields
                .get(3)
                .map(|m| {
                    m.split(',')
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            Some(GroupEntry {
                name: fields[0].to_string(),
                gid,
                members,
            })
        })
        .collect()
}

fn io_error(path: PathBuf, errno: Errno) -> Error {
    Error::Io {
        path,
        source: errno.into(),
    }
}

fn open_root(rootfs: &Path) -> Result<OwnedFd, Error> {
    rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error(rootfs.to_path_buf(), e))
}

/// Reads `rel` (relative to the container root) without ever leaving the
/// root. `Ok(None)` when it does not exist or is not a regular file.
fn read_in_root(root: &OwnedFd, rootfs: &Path, rel: &str) -> Result<Option<String>, Error> {
    let display = rootfs.join(rel);
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let mut attempts = 0;
    let path_fd = loop {
        match rustix::fs::openat2(
            root.as_fd(),
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        ) {
            Ok(fd) => break fd,
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => return Ok(None),
            // The root was renamed under us during the lookup: the kernel asks to retry.
            Err(Errno::AGAIN) if attempts < 16 => attempts += 1,
            Err(Errno::NOSYS) => {
                return Err(Error::Io {
                    path: display,
                    source: std::io::Error::other("openat2 is not available: berth needs Linux 5.6 or newer"),
                })
            }
            Err(e) => return Err(io_error(display, e)),
        }
    };
    let stat = rustix::fs::fstat(&path_fd).map_err(|e| io_error(display.clone(), e))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        tracing::warn!(path = %rootfs.join(rel).display(), "not a regular file; ignored");
        return Ok(None);
    }
    if stat.st_size < 0 || stat.st_size as u64 > MAX_FILE_SIZE {
        return Err(Error::Io {
            path: display,
            source: std::io::Error::other(format!("larger than {MAX_FILE_SIZE} bytes")),
        });
    }
    // Reopen the very inode that was checked (through its /proc magic link) for reading.
    let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&path_fd));
    let fd = rustix::fs::open(
        proc_path.as_str(),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| io_error(display.clone(), e))?;
    let reopened = rustix::fs::fstat(&fd).map_err(|e| io_error(display.clone(), e))?;
    if reopened.st_ino != stat.st_ino || reopened.st_dev != stat.st_dev {
        return Err(Error::Io {
            path: display,
            source: std::io::Error::other("file changed while being opened"),
        });
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            path: display.clone(),
            source,
        })?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(Error::Io {
            path: display,
            source: std::io::Error::other(format!("larger than {MAX_FILE_SIZE} bytes")),
        });
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
        # a comment\n\
        \n\
        broken:x:abc:1::/:/bin/sh\n\
        alice:x:1000:1000:Alice:/home/alice:/bin/sh\n\
        bob:x:1001:100::/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n\
        wheel:x:10:root,alice\n\
        users:x:100:\n\
        alice:x:1000:\n\
        audio:x:29:alice, bob\n\
        video:x:44:\n";

    fn rootfs(passwd: Option<&str>, group: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        if let Some(p) = passwd {
            fs::write(dir.path().join("etc/passwd"), p).unwrap();
        }
        if let Some(g) = group {
            fs::write(dir.path().join("etc/group"), g).unwrap();
        }
        dir
    }

    fn ru(uid: u32, gid: u32, extra: &[u32], home: &str) -> ResolvedUser {
        ResolvedUser {
            uid,
            gid,
            additional_gids: extra.to_vec(),
            home: home.to_string(),
        }
    }

    #[test]
    fn empty_user_is_root_with_its_groups() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        assert_eq!(resolve(dir.path(), "", &[]).unwrap(), ru(0, 0, &[10], "/root"));
        assert_eq!(resolve(dir.path(), "root", &[]).unwrap(), ru(0, 0, &[10], "/root"));
    }

    #[test]
    fn names_and_supplementary_groups() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        assert_eq!(
            resolve(dir.path(), "alice", &[]).unwrap(),
            ru(1000, 1000, &[10, 29], "/home/alice")
        );
        assert_eq!(
            resolve(dir.path(), "bob", &[]).unwrap(),
            ru(1001, 100, &[29], "/home/bob")
        );
        assert_eq!(resolve(dir.path(), "daemon", &[]).unwrap(), ru(1, 1, &[], "/usr/sbin"));
    }

    #[test]
    fn numeric_ids() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        // A uid with an entry takes the entry's gid, home and groups.
        assert_eq!(
            resolve(dir.path(), "1000", &[]).unwrap(),
            ru(1000, 1000, &[10, 29], "/home/alice")
        );
        // Without an entry: gid 0 and home "/", as docker run -u 4242 does.
        assert_eq!(resolve(dir.path(), "4242", &[]).unwrap(), ru(4242, 0, &[], "/"));
        assert_eq!(resolve(dir.path(), "4242:4343", &[]).unwrap(), ru(4242, 4343, &[], "/"));
        // Without any passwd file numeric ids still work.
        let bare = rootfs(None, None);
        assert_eq!(
            resolve(bare.path(), "1000:1000", &[]).unwrap(),
            ru(1000, 1000, &[], "/")
        );
        assert_eq!(resolve(bare.path(), "", &[]).unwrap(), ru(0, 0, &[], "/"));
        assert!(matches!(
            resolve(bare.path(), "3000000000", &[]),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn user_and_group() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        // An explicit group replaces the primary group and adds no supplementary groups (runc).
        assert_eq!(
            resolve(dir.path(), "alice:video", &[]).unwrap(),
            ru(1000, 44, &[], "/home/alice")
        );
        assert_eq!(
            resolve(dir.path(), "alice:29", &[]).unwrap(),
            ru(1000, 29, &[], "/home/alice")
        );
        assert_eq!(
            resolve(dir.path(), "1001:users", &[]).unwrap(),
            ru(1001, 100, &[], "/home/bob")
        );
        assert_eq!(
            resolve(dir.path(), "alice:777", &[]).unwrap(),
            ru(1000, 777, &[], "/home/alice")
        );
    }

    #[test]
    fn group_add() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        let add = vec!["video".to_string(), "500".to_string(), "wheel".to_string()];
        assert_eq!(
            resolve(dir.path(), "alice", &add).unwrap(),
            ru(1000, 1000, &[10, 29, 44, 500], "/home/alice")
        );
        assert_eq!(
            resolve(dir.path(), "4242", &["44".to_string()]).unwrap(),
            ru(4242, 0, &[44], "/")
        );
        let err = resolve(dir.path(), "alice", &["nosuch".to_string()]).unwrap_err();
        assert!(matches!(err, Error::UnknownGroup(ref g) if g == "nosuch"), "{err}");
    }

    #[test]
    fn unknown_user_and_group() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        let err = resolve(dir.path(), "mallory", &[]).unwrap_err();
        assert!(matches!(err, Error::UnknownUser(ref u) if u == "mallory"));
        assert_eq!(
            err.to_string(),
            "unable to find user mallory: no matching entries in passwd file"
        );
        let err = resolve(dir.path(), "alice:nogroup", &[]).unwrap_err();
        assert!(matches!(err, Error::UnknownGroup(ref g) if g == "nogroup"));
        // A malformed line is never a match (runc would read its uid as 0).
        assert!(matches!(resolve(dir.path(), "broken", &[]), Err(Error::UnknownUser(_))));
        // No passwd file at all: names cannot resolve.
        let bare = rootfs(None, None);
        assert!(matches!(resolve(bare.path(), "alice", &[]), Err(Error::UnknownUser(_))));
        assert!(matches!(
            resolve(bare.path(), "0:wheel", &[]),
            Err(Error::UnknownGroup(_))
        ));
    }

    #[test]
    fn symlinks_never_leave_the_root() {
        // A host file with a recognisable entry, outside the rootfs.
        let host = tempfile::tempdir().unwrap();
        let secret = host.path().join("shadow");
        fs::write(
            &secret,
            "hostuser:x:4321:4321::/host-home:/bin/sh\nhostgroup:x:4321:hostuser\n",
        )
        .unwrap();

        let dir = rootfs(None, None);
        let etc = dir.path().join("etc");
        // Absolute symlink straight at the host file.
        std::os::unix::fs::symlink(&secret, etc.join("passwd")).unwrap();
        // Relative symlink climbing out of the root.
        let depth = dir.path().components().count() + 2;
        let climb = "../".repeat(depth) + secret.strip_prefix("/").unwrap().to_str().unwrap();
        std::os::unix::fs::symlink(&climb, etc.join("group")).unwrap();
        // Sanity: followed naively, both links do reach the host file.
        assert!(fs::read_to_string(etc.join("passwd")).unwrap().contains("hostuser"));
        assert!(fs::read_to_string(etc.join("group")).unwrap().contains("hostgroup"));

        match resolve(dir.path(), "hostuser", &[]) {
            Err(Error::UnknownUser(_)) | Err(Error::Io { .. }) => {}
            other => panic!("read the host file: {other:?}"),
        }
        match resolve(dir.path(), "0:hostgroup", &[]) {
            Err(Error::UnknownGroup(_)) | Err(Error::Io { .. }) => {}
            other => panic!("read the host file: {other:?}"),
        }
        match resolve(dir.path(), "4321", &[]) {
            Ok(u) => assert_eq!(u, ru(4321, 0, &[], "/")),
            Err(Error::Io { .. }) => {}
            Err(e) => panic!("{e}"),
        }

        // The same links resolve inside the root when the target exists there.
        let inner = dir.path().join(secret.strip_prefix("/").unwrap());
        fs::create_dir_all(inner.parent().unwrap()).unwrap();
        fs::write(&inner, "inside:x:77:77::/in:/bin/sh\n").unwrap();
        assert_eq!(resolve(dir.path(), "inside", &[]).unwrap(), ru(77, 77, &[], "/in"));
        assert!(matches!(
            resolve(dir.path(), "hostuser", &[]),
            Err(Error::UnknownUser(_))
        ));
    }

    #[test]
    fn symlinked_etc_stays_in_the_root() {
        let host = tempfile::tempdir().unwrap();
        fs::write(host.path().join("passwd"), "hostuser:x:4321:4321::/host-home:/bin/sh\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(host.path(), dir.path().join("etc")).unwrap();
        assert!(fs::read_to_string(dir.path().join("etc/passwd"))
            .unwrap()
            .contains("hostuser"));
        match resolve(dir.path(), "hostuser", &[]) {
            Err(Error::UnknownUser(_)) | Err(Error::Io { .. }) => {}
            other => panic!("read the host file: {other:?}"),
        }
        assert_eq!(resolve(dir.path(), "", &[]).unwrap(), ru(0, 0, &[], "/"));
    }

    #[test]
    fn non_regular_files_are_ignored() {
        let dir = rootfs(None, None);
        fs::create_dir(dir.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("etc/group")).unwrap();
        assert_eq!(resolve(dir.path(), "", &[]).unwrap(), ru(0, 0, &[], "/"));
        assert!(matches!(resolve(dir.path(), "alice", &[]), Err(Error::UnknownUser(_))));

        // A device node planted as /etc/passwd (here /dev/zero's numbers) is never read.
        let dev = tempfile::tempdir().unwrap();
        fs::create_dir(dev.path().join("etc")).unwrap();
        let made = rustix::fs::mknodat(
            rustix::fs::CWD,
            dev.path().join("etc/passwd").as_path(),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o644),
            rustix::fs::makedev(1, 5),
        );
        if made.is_err() {
            eprintln!("SKIP device-node part of non_regular_files_are_ignored: mknod not permitted here");
            return;
        }
        assert_eq!(resolve(dev.path(), "", &[]).unwrap(), ru(0, 0, &[], "/"));
        assert!(matches!(resolve(dev.path(), "root", &[]), Err(Error::UnknownUser(_))));
    }

    #[test]
    fn home_env_only_when_missing() {
        assert_eq!(home_env(&["PATH=/bin".into()], "/root"), Some("HOME=/root".to_string()));
        assert_eq!(home_env(&["HOME=/x".into()], "/root"), None);
        assert_eq!(home_env(&[], ""), Some("HOME=/".to_string()));
    }
}

//! `--chown` of COPY and ADD: numeric ids, or names looked up in the stage's passwd and group files.

use std::path::Path;

use super::view::ImageView;
use super::Stage;
use crate::{Engine, Error, Result};

impl Engine {
    /// `--chown=NAME[:GROUP]` resolved in the stage's files; a user alone means its uid for the group too,
    /// as in Docker.
    pub(super) fn owner_by_name(&self, stage: &Stage, spec: &str) -> Result<(u64, u64)> {
        let Some(image) = &stage.image else {
            return Err(Error::InvalidArgument(format!(
                "--chown={spec}: a stage from scratch has no /etc/passwd to look names up in: use numeric ids"
            )));
        };
        let view = ImageView::mount(self, image)?;
        owner_in_root(&view.path, spec)
    }
}

/// `--chown=NAME[:GROUP]` (or a mix of names and ids) resolved against `root`'s /etc/passwd and
/// /etc/group, read inside `root`; a user alone means its uid for the group too, as in Docker.
fn owner_in_root(root: &Path, spec: &str) -> Result<(u64, u64)> {
    let user = berth_runtime::user::resolve(root, spec, &[])
        .map_err(|e| Error::InvalidArgument(format!("--chown={spec}: {e}")))?;
    Ok(if spec.contains(':') {
        (user.uid as u64, user.gid as u64)
    } else {
        (user.uid as u64, user.uid as u64)
    })
}

/// `--chown=UID[:GID]` in numbers (or `root`); names are looked up by [`Engine::owner_by_name`].
pub(super) fn parse_owner(spec: &str) -> Result<(u64, u64)> {
    let id = |s: &str| -> Result<u64> {
        match s {
            "root" => Ok(0),
            n => n
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("--chown={spec}: {n} is not a number"))),
        }
    };
    match spec.split_once(':') {
        Some((u, g)) => Ok((id(u)?, id(g)?)),
        None => {
            let u = id(spec)?;
            Ok((u, u))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// An image root with `passwd` and `group` under etc/.
    fn root(passwd: &str, group: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("etc/passwd"), passwd).unwrap();
        fs::write(dir.path().join("etc/group"), group).unwrap();
        dir
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:50:App:/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:app\nbuilders:x:2000:\n";

    #[test]
    fn owners_are_numeric_or_root() {
        assert_eq!(parse_owner("1000:100").unwrap(), (1000, 100));
        assert_eq!(parse_owner("root").unwrap(), (0, 0));
        assert!(parse_owner("alice").is_err());
    }

    #[test]
    fn numeric_owners_take_the_user_id_for_the_group() {
        assert_eq!(parse_owner("1000").unwrap(), (1000, 1000));
        assert_eq!(parse_owner("root:100").unwrap(), (0, 100));
        assert_eq!(parse_owner("100:root").unwrap(), (100, 0));
        let err = parse_owner("1000:staff").unwrap_err().to_string();
        assert_eq!(err, "--chown=1000:staff: staff is not a number");
        assert!(parse_owner("").is_err());
        assert!(parse_owner("-1").is_err());
    }

    #[test]
    fn a_user_name_alone_takes_its_uid_for_the_group_too() {
        let dir = root(PASSWD, GROUP);
        // Not the user's primary group (50) from passwd: Docker uses the uid.
        assert_eq!(owner_in_root(dir.path(), "app").unwrap(), (1000, 1000));
        assert_eq!(owner_in_root(dir.path(), "root").unwrap(), (0, 0));
    }

    #[test]
    fn names_and_ids_mix_in_user_and_group() {
        let dir = root(PASSWD, GROUP);
        assert_eq!(owner_in_root(dir.path(), "app:staff").unwrap(), (1000, 50));
        assert_eq!(owner_in_root(dir.path(), "app:builders").unwrap(), (1000, 2000));
        assert_eq!(owner_in_root(dir.path(), "app:7").unwrap(), (1000, 7));
        assert_eq!(owner_in_root(dir.path(), "1000:staff").unwrap(), (1000, 50));
    }

    #[test]
    fn unknown_names_are_refused_with_the_spec() {
        let dir = root(PASSWD, GROUP);
        let err = owner_in_root(dir.path(), "nobody").unwrap_err();
        assert!(err.to_string().starts_with("--chown=nobody: "), "{err}");
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
        let err = owner_in_root(dir.path(), "app:wheel").unwrap_err();
        assert!(err.to_string().starts_with("--chown=app:wheel: "), "{err}");
    }

    #[test]
    fn a_root_without_passwd_knows_no_names() {
        let dir = tempfile::tempdir().unwrap();
        assert!(owner_in_root(dir.path(), "app").is_err());
    }

    #[test]
    fn passwd_symlinks_resolve_inside_the_root() {
        // The image's /etc/passwd points at an absolute path: it is the image's file, not the host's.
        let dir = root(PASSWD, GROUP);
        fs::create_dir(dir.path().join("data")).unwrap();
        fs::rename(dir.path().join("etc/passwd"), dir.path().join("data/passwd")).unwrap();
        std::os::unix::fs::symlink("/data/passwd", dir.path().join("etc/passwd")).unwrap();
        assert_eq!(owner_in_root(dir.path(), "app").unwrap(), (1000, 1000));
    }
}

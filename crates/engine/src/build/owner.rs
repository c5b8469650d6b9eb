//! `--chown` of COPY and ADD: numeric ids, or names looked up in the stage's passwd and group files.

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
        let user = berth_runtime::user::resolve(&view.path, spec, &[])
            .map_err(|e| Error::InvalidArgument(format!("--chown={spec}: {e}")))?;
        Ok(if spec.contains(':') {
            (user.uid as u64, user.gid as u64)
        } else {
            (user.uid as u64, user.uid as u64)
        })
    }
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
    use super::*;

    #[test]
    fn owners_are_numeric_or_root() {
        assert_eq!(parse_owner("1000:100").unwrap(), (1000, 100));
        assert_eq!(parse_owner("root").unwrap(), (0, 0));
        assert!(parse_owner("alice").is_err());
    }
}

//! `container prune` (the API's ContainerPrune, and the containers part of `system prune`): every
//! container that is not running and passes Docker's prune filters goes, and the space its writable
//! layer held is counted.

use std::collections::BTreeMap;

use chrono::Utc;

use crate::filters::Filters;
use crate::{Engine, Result};

/// What a prune removed, and the bytes it gave back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Full ids (or names, for objects named by name), in the order they went.
    pub removed: Vec<String>,
    pub bytes: u64,
}

/// Filter keys of `container prune`, as dockerd's ContainersPrune accepts them.
pub const CONTAINER_PRUNE_FILTERS: &[&str] = &["until", "label", "label!"];

/// Whether a stopped container created at `created` (RFC 3339) with `labels` is one the filters let a
/// prune take. As dockerd decides, only a container created after `until` is kept back; one whose time
/// does not parse is kept too, since nothing says it is old enough.
fn prunable(created: &str, labels: &BTreeMap<String, String>, filters: &Filters, until: Option<i64>) -> bool {
    let old_enough = until.is_none_or(|until| {
        chrono::DateTime::parse_from_rfc3339(created)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .is_some_and(|t| t <= until)
    });
    old_enough && filters.allows_labels(labels) && filters.allows_labels_not(labels)
}

impl Engine {
    /// Removes every container that is not running and passes `filters` (`until`, `label`, `label!`;
    /// other keys are refused before anything goes). One that fails to go (it started meanwhile) stays.
    pub fn prune_containers(&self, filters: &Filters) -> Result<Pruned> {
        filters.accept_only(CONTAINER_PRUNE_FILTERS)?;
        let until = filters.time("until", Utc::now())?;
        let mut pruned = Pruned::default();
        for c in self.containers()? {
            if c.is_running() || !prunable(&c.row.created, &c.config.labels, filters, until) {
                continue;
            }
            let size = crate::disk::dir_size(&self.container_dir(c.id()).join("upper"));
            if self.remove_container(c.id(), false, false).is_ok() {
                pruned.removed.push(c.row.id.clone());
                pruned.bytes += size;
            }
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn nanos(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
    }

    #[test]
    fn until_takes_what_was_created_by_then() {
        let none = Filters::default();
        let created = "2026-12-07T12:00:00.5Z";
        assert!(prunable(created, &labels(&[]), &none, None));
        assert!(prunable(
            created,
            &labels(&[]),
            &none,
            Some(nanos("2026-12-07T12:00:01Z"))
        ));
        assert!(
            prunable(created, &labels(&[]), &none, Some(nanos(created))),
            "dockerd keeps only what is after"
        );
        assert!(!prunable(
            created,
            &labels(&[]),
            &none,
            Some(nanos("2026-12-07T12:00:00Z"))
        ));
        assert!(!prunable("garbage", &labels(&[]), &none, Some(nanos(created))));
        assert!(prunable("garbage", &labels(&[]), &none, None));
    }

    #[test]
    fn labels_and_negated_labels_as_dockerd_matches_them() {
        let tagged = labels(&[("env", "test"), ("keep", "")]);
        let check = |args: &[&str], l: &BTreeMap<String, String>| {
            let f = Filters::from_args(args).unwrap();
            prunable("2026-12-07T12:00:00Z", l, &f, None)
        };
        assert!(check(&["label=env"], &tagged));
        assert!(check(&["label=env=test"], &tagged));
        assert!(!check(&["label=env=prod"], &tagged));
        assert!(!check(&["label=env"], &labels(&[])));
        assert!(!check(&["label!=keep"], &tagged));
        assert!(check(&["label!=keep"], &labels(&[])));
        assert!(check(&["label!=env=prod"], &tagged));
        assert!(check(&["label=env", "label!=other"], &tagged));
    }

    #[test]
    fn refuses_what_container_prune_does_not_take() {
        let f = Filters::from_args(&["until=10m", "label=a", "label!=b"]).unwrap();
        assert!(f.accept_only(CONTAINER_PRUNE_FILTERS).is_ok());
        let f = Filters::from_args(&["status=exited"]).unwrap();
        let err = f.accept_only(CONTAINER_PRUNE_FILTERS).unwrap_err();
        assert_eq!(err.to_string(), "invalid filter 'status'");
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
    }
}

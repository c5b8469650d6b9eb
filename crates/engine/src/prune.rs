//! `volume prune`, `network prune` and `system prune`: each one engine call that removes what nothing
//! uses and says what went and what space came back (the API's `*PruneResponse` objects).

use berth_store::networks as rows;
use chrono::Utc;
use serde::Serialize;

use crate::containers::prune::Pruned;
use crate::disk::dir_size;
use crate::filters::Filters;
use crate::images::ImagePruneOptions;
use crate::images::Removed;
use crate::networks::DEFAULT_NETWORK;
use crate::{Engine, Result};

/// What `volume prune` removed (VolumePruneResponse).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VolumePruneReport {
    #[serde(rename = "VolumesDeleted")]
    pub volumes_deleted: Vec<String>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: u64,
}

/// What `network prune` removed (NetworkPruneResponse): names, as Docker reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetworkPruneReport {
    #[serde(rename = "NetworksDeleted")]
    pub networks_deleted: Vec<String>,
}

/// What `system prune` asks for.
#[derive(Clone, Debug, Default)]
pub struct SystemPruneOptions {
    /// Every image no container uses, not only dangling ones.
    pub all: bool,
    /// Unused anonymous volumes too.
    pub volumes: bool,
    /// `until`, `label` and `label!`, for every part (see [`Engine::prune_system`]).
    pub filters: Filters,
}

/// What `system prune` removed, part by part, in the order it went (the API has no system prune: a
/// client calls each part's prune, and this is their answers together).
#[derive(Clone, Debug, Default)]
pub struct SystemPruneReport {
    pub containers: Pruned,
    pub networks: NetworkPruneReport,
    /// Only when volumes were asked for.
    pub volumes: Option<VolumePruneReport>,
    pub images: Vec<Removed>,
    pub images_reclaimed: u64,
    pub build_cache_reclaimed: u64,
    /// Whether the build cache was left alone (an `until` filter was given; see [`Engine::prune_system`]).
    pub build_cache_kept: bool,
}

impl SystemPruneReport {
    /// Every part's reclaimed bytes together.
    pub fn space_reclaimed(&self) -> u64 {
        self.containers.bytes
            + self.volumes.as_ref().map_or(0, |v| v.space_reclaimed)
            + self.images_reclaimed
            + self.build_cache_reclaimed
    }
}

/// Filter keys of `volume prune`: as Docker's, `until` is not one (a volume's age says nothing of its use).
const VOLUME_PRUNE_FILTERS: &[&str] = &["all", "label", "label!"];
/// Filter keys of `network prune`.
const NETWORK_PRUNE_FILTERS: &[&str] = &["until", "label", "label!"];

/// Filter keys of `system prune`: those every part's prune takes (dockerd's container prune, the first
/// part, refuses any other before anything is removed).
const SYSTEM_PRUNE_FILTERS: &[&str] = &["until", "label", "label!"];

/// Checks what `system prune` is asked before it removes anything; a front door that asks the user to
/// confirm calls it first, as Docker's client refuses `until` with volumes before it prompts.
pub fn check_system_prune(options: &SystemPruneOptions) -> Result<()> {
    if options.volumes && !options.filters.get("until").is_empty() {
        // Docker's client's words: volume prune takes no `until`, and a volume's age says nothing of its use.
        return Err(crate::Error::InvalidArgument(
            r#"The "until" filter is not supported with "--volumes""#.into(),
        ));
    }
    Ok(())
}

/// Whether an object created at `created` (RFC 3339) is older than `until`; one whose time does not
/// parse is kept, since nothing says it is old enough.
fn created_before(created: &str, until: Option<i64>) -> bool {
    let Some(until) = until else { return true };
    chrono::DateTime::parse_from_rfc3339(created)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .is_some_and(|t| t < until)
}

impl Engine {
    /// `volume prune` (VolumePrune): unused anonymous volumes, or with the `all=true` filter every
    /// unused one, that pass the `label` and `label!` filters. What killed commands left under
    /// volumes/ goes too, and counts.
    pub fn prune_volumes(&self, filters: &Filters) -> Result<VolumePruneReport> {
        filters.accept_only(VOLUME_PRUNE_FILTERS)?;
        let all = filters.boolean("all")?.unwrap_or(false);
        let mut report = VolumePruneReport {
            space_reclaimed: self.volume_leftovers_size()?,
            ..VolumePruneReport::default()
        };
        // Taking the lock sweeps the leftovers just counted.
        drop(self.lock_volumes()?);
        for v in self.volumes()? {
            if (!all && !v.anonymous)
                || !filters.allows_labels(&v.labels)
                || !filters.allows_labels_not(&v.labels)
                || !self.volume_users(&v.name)?.is_empty()
            {
                continue;
            }
            let size = dir_size(&v.mountpoint);
            // One a container took meanwhile stays.
            if self.remove_volume(&v.name, false).is_ok() {
                report.volumes_deleted.push(v.name);
                report.space_reclaimed += size;
            }
        }
        Ok(report)
    }

    /// `network prune` (NetworkPrune): user networks without endpoints that pass the `until`, `label`
    /// and `label!` filters; first, this root's leaked bridges, veths and rules.
    pub fn prune_networks_matching(&self, filters: &Filters) -> Result<NetworkPruneReport> {
        filters.accept_only(NETWORK_PRUNE_FILTERS)?;
        let until = filters.time("until", Utc::now())?;
        {
            let _lock = self.host_lock()?;
            self.sweep_leaked_networks(false)?;
        }
        let mut report = NetworkPruneReport::default();
        // Straight from the rows: pruning must not create the default network. Listed before the loop:
        // a guard in a `for` head lives through the loop, and the removals below need the connection.
        let all = rows::list(&*self.store().db()?)?;
        for row in all {
            if row.name == DEFAULT_NETWORK || !created_before(&row.created, until) {
                continue;
            }
            // Written by berth from a map of strings; a damaged one counts as no labels.
            let labels = serde_json::from_str(&row.labels).unwrap_or_default();
            if !filters.allows_labels(&labels) || !filters.allows_labels_not(&labels) {
                continue;
            }
            if !rows::endpoints_of_network(&*self.store().db()?, &row.id)?.is_empty() {
                continue;
            }
            // One a container joined meanwhile stays.
            if let Ok(name) = self.remove_network(&row.id) {
                report.networks_deleted.push(name);
            }
        }
        Ok(report)
    }

    /// `system prune`: stopped containers, then unused networks (the stopped containers no longer
    /// hold theirs), unused anonymous volumes when asked, dangling (or with `all` unused) images, and
    /// the build cache, each part with the same filters, as Docker's client passes them to each prune.
    ///
    /// The build cache follows dockerd's BuildKit prune: label filters do not apply to it (it goes
    /// whatever they say), and `until` keeps cache used since then. berth does not record when a cache
    /// step was last used apart from the step itself, so with `until` the whole cache is kept
    /// (`build_cache_kept`): removing less than asked can be made up for, removing more cannot.
    pub fn prune_system(&self, options: &SystemPruneOptions) -> Result<SystemPruneReport> {
        let filters = &options.filters;
        check_system_prune(options)?;
        // Refused here, before the first part removes anything.
        filters.accept_only(SYSTEM_PRUNE_FILTERS)?;
        filters.time("until", Utc::now())?;
        let containers = self.prune_containers(filters)?;
        let networks = self.prune_networks_matching(filters)?;
        let volumes = match options.volumes {
            true => Some(self.prune_volumes(filters)?),
            false => None,
        };
        // As `image prune`: images only the build cache keeps are the cache's, handled below.
        let images = self.prune_images_filtered(&ImagePruneOptions {
            all: options.all,
            filters: filters.clone(),
        })?;
        let build_cache_kept = !filters.get("until").is_empty();
        let build_cache_reclaimed = match build_cache_kept {
            true => 0,
            // prune_images took what interrupted pulls left; this is the cache's own images and mounts.
            false => self.prune_build_cache()?.space_reclaimed,
        };
        Ok(SystemPruneReport {
            containers,
            networks,
            volumes,
            images: images.removed,
            images_reclaimed: images.space_reclaimed,
            build_cache_reclaimed,
            build_cache_kept,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_keeps_what_is_newer_or_has_no_time() {
        let noon = chrono::DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
        assert!(created_before("2026-12-07T11:59:59.5Z", Some(noon)));
        assert!(!created_before("2026-12-07T12:00:00Z", Some(noon)));
        assert!(!created_before("not a time", Some(noon)));
        assert!(created_before("not a time", None));
    }

    #[test]
    fn system_prune_refuses_until_with_volumes_as_dockers_client() {
        let options = |volumes: bool, args: &[&str]| SystemPruneOptions {
            all: false,
            volumes,
            filters: Filters::from_args(args).unwrap(),
        };
        let err = check_system_prune(&options(true, &["until=24h"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"The "until" filter is not supported with "--volumes""#
        );
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
        assert!(check_system_prune(&options(false, &["until=24h"])).is_ok());
        assert!(check_system_prune(&options(true, &["label=a", "label!=b"])).is_ok());
        let f = Filters::from_args(&["dangling=true"]).unwrap();
        assert_eq!(
            f.accept_only(SYSTEM_PRUNE_FILTERS).unwrap_err().to_string(),
            "invalid filter 'dangling'"
        );
    }

    #[test]
    fn system_prune_adds_every_parts_space() {
        let report = SystemPruneReport {
            containers: Pruned {
                removed: vec!["c".into()],
                bytes: 1,
            },
            volumes: Some(VolumePruneReport {
                volumes_deleted: vec![],
                space_reclaimed: 10,
            }),
            images_reclaimed: 100,
            build_cache_reclaimed: 1000,
            ..SystemPruneReport::default()
        };
        assert_eq!(report.space_reclaimed(), 1111);
        let json = serde_json::to_value(&report.volumes).unwrap();
        assert_eq!(json["SpaceReclaimed"], 10);
    }
}

//! Docker's `Volume` object (`volume inspect`, `volume ls --format json`, the API's volume routes) and
//! the volume list with its filters.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::filters::Filters;
use crate::{volumes, Engine, Result};

/// A volume as Docker's Engine API shows it. Fields are in the order dockerd writes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Volume {
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "Mountpoint")]
    pub mountpoint: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Scope")]
    pub scope: String,
    /// Only `system df` fills it.
    #[serde(rename = "UsageData", skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsageData>,
}

/// The space a volume takes and how many containers name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeUsageData {
    #[serde(rename = "Size")]
    pub size: i64,
    #[serde(rename = "RefCount")]
    pub ref_count: i64,
}

impl From<&volumes::Volume> for Volume {
    fn from(v: &volumes::Volume) -> Volume {
        Volume {
            created_at: v.created.clone(),
            // berth has the local driver only.
            driver: "local".into(),
            labels: v.labels.clone(),
            mountpoint: v.mountpoint.to_string_lossy().into_owned(),
            name: v.name.clone(),
            options: v.options.clone(),
            scope: "local".into(),
            usage_data: None,
        }
    }
}

/// The filter keys `volume ls` takes.
const LIST_FILTERS: &[&str] = &["dangling", "driver", "label", "name"];

/// Whether a volume passes `filters`; `in_use` is asked only when a `dangling` filter needs it, since
/// it reads every container's configuration.
fn passes(
    filters: &Filters,
    v: &volumes::Volume,
    dangling: Option<bool>,
    in_use: impl FnOnce() -> Result<bool>,
) -> Result<bool> {
    let matches = filters.allows("name", |n| v.name.contains(n))
        && filters.allows("driver", |d| d == "local")
        && filters.allows_labels(&v.labels);
    match dangling {
        Some(want) if matches => Ok(in_use()? != want),
        _ => Ok(matches),
    }
}

impl Engine {
    /// `volume inspect` (the API's VolumeInspect).
    pub fn inspect_volume(&self, name: &str) -> Result<Volume> {
        Ok(Volume::from(&self.volume(name)?))
    }

    /// `volume ls` (VolumeList): the volumes that pass `filters` (dangling, driver, label, name).
    pub fn list_volumes(&self, filters: &Filters) -> Result<Vec<Volume>> {
        filters.accept_only(LIST_FILTERS)?;
        let dangling = filters.boolean("dangling")?;
        let mut out = Vec::new();
        for v in self.volumes()? {
            if passes(filters, &v, dangling, || Ok(!self.volume_users(&v.name)?.is_empty()))? {
                out.push(Volume::from(&v));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str, labels: &[(&str, &str)]) -> volumes::Volume {
        volumes::Volume {
            name: name.into(),
            created: "2026-12-07T12:00:00Z".into(),
            mountpoint: format!("/var/lib/berth/volumes/{name}/_data").into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            options: BTreeMap::new(),
            anonymous: false,
        }
    }

    fn check(args: &[&str], v: &volumes::Volume, in_use: bool) -> bool {
        let f = Filters::from_args(args).unwrap();
        let dangling = f.boolean("dangling").unwrap();
        passes(&f, v, dangling, || Ok(in_use)).unwrap()
    }

    #[test]
    fn filters_match_as_docker_lists() {
        let v = volume("data-1", &[("app", "web"), ("tier", "")]);
        assert!(check(&[], &v, true));
        assert!(check(&["name=ata"], &v, true));
        assert!(!check(&["name=other"], &v, true));
        assert!(
            check(&["name=other", "name=data"], &v, true),
            "values of one key are alternatives"
        );
        assert!(check(&["driver=local"], &v, true));
        assert!(!check(&["driver=nfs"], &v, true));
        assert!(check(&["label=app=web", "label=tier"], &v, true));
        assert!(!check(&["label=app=db"], &v, true));
        assert!(check(&["dangling=true"], &v, false));
        assert!(!check(&["dangling=true"], &v, true));
        assert!(check(&["dangling=0"], &v, true));
    }

    #[test]
    fn in_use_is_asked_only_when_needed() {
        let v = volume("data-1", &[]);
        let f = Filters::from_args(&["name=nope", "dangling=true"]).unwrap();
        let asked = passes(&f, &v, Some(true), || panic!("not needed")).unwrap();
        assert!(!asked);
    }

    #[test]
    fn serializes_with_dockers_names() {
        let v = Volume::from(&volume("data-1", &[("a", "b")]));
        let json = serde_json::to_value(&v).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "CreatedAt",
                "Driver",
                "Labels",
                "Mountpoint",
                "Name",
                "Options",
                "Scope"
            ]
        );
        assert_eq!(json["Mountpoint"], "/var/lib/berth/volumes/data-1/_data");
        assert_eq!(json["Labels"]["a"], "b");
    }
}

//! The typed parts of a container's HostConfig, as Docker's API has them (`RestartPolicy`, `Ulimits`,
//! `Devices`, `Tmpfs`): what the server will deserialize and inspect serializes. Each also reads the
//! CLI's text form (`FromStr`: `--restart on-failure:3`, `--ulimit nofile=1024:2048`,
//! `--device /dev/fuse`, `--tmpfs /run:size=1m`), and the stored config reads the text forms that
//! containers created by older berth versions recorded.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::{Error, Result};

/// When the monitor starts a container again after it ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicyName {
    /// Docker writes "no"; its API takes "" for the same.
    #[default]
    #[serde(rename = "no", alias = "")]
    No,
    #[serde(rename = "always")]
    Always,
    #[serde(rename = "unless-stopped")]
    UnlessStopped,
    #[serde(rename = "on-failure")]
    OnFailure,
}

/// Docker's `RestartPolicy`: a name and, for on-failure only, a maximum retry count (0: no maximum).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    pub name: RestartPolicyName,
    #[serde(default)]
    pub maximum_retry_count: u32,
}

impl RestartPolicy {
    pub fn is_none(&self) -> bool {
        self.name == RestartPolicyName::No
    }

    /// Docker's rule: a retry count is for on-failure only.
    pub fn check(&self) -> Result<()> {
        if self.maximum_retry_count > 0 && self.name != RestartPolicyName::OnFailure {
            return Err(Error::InvalidArgument(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'".into(),
            ));
        }
        Ok(())
    }

    /// Whether the monitor starts the container again after it exited with `code`, having restarted
    /// it `restarts` times already.
    pub fn restarts_after(&self, code: i32, restarts: u32) -> bool {
        match self.name {
            RestartPolicyName::No => false,
            RestartPolicyName::Always | RestartPolicyName::UnlessStopped => true,
            RestartPolicyName::OnFailure => {
                code != 0 && (self.maximum_retry_count == 0 || restarts < self.maximum_retry_count)
            }
        }
    }
}

impl FromStr for RestartPolicy {
    type Err = Error;

    /// `--restart no|always|unless-stopped|on-failure[:max-retries]`.
    fn from_str(text: &str) -> Result<RestartPolicy> {
        let (name, count) = text.split_once(':').map_or((text, None), |(n, c)| (n, Some(c)));
        let name = match name {
            "no" | "" => RestartPolicyName::No,
            "always" => RestartPolicyName::Always,
            "unless-stopped" => RestartPolicyName::UnlessStopped,
            "on-failure" => RestartPolicyName::OnFailure,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "invalid restart policy {text:?}: use no, always, unless-stopped or on-failure[:max-retries]"
                )))
            }
        };
        let maximum_retry_count = match count {
            None => 0,
            Some(n) => n.parse().map_err(|_| {
                Error::InvalidArgument(format!("invalid restart policy {text:?}: the count must be a number"))
            })?,
        };
        let policy = RestartPolicy {
            name,
            maximum_retry_count,
        };
        policy.check()?;
        Ok(policy)
    }
}

/// Docker's `Ulimit`: a resource limit by its `--ulimit` name; -1 is unlimited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub hard: i64,
    pub soft: i64,
}

impl Ulimit {
    /// The runtime's form, checked (a known name, soft at most hard).
    pub fn to_runtime(&self) -> Result<berth_runtime::spec::Ulimit> {
        Ok(berth_runtime::spec::ulimit(&self.name, self.soft, self.hard)?)
    }
}

impl FromStr for Ulimit {
    type Err = Error;

    /// `--ulimit NAME=SOFT[:HARD]`.
    fn from_str(text: &str) -> Result<Ulimit> {
        let u = berth_runtime::spec::parse_ulimit(text)?;
        // The runtime reads unlimited (-1) as u64::MAX; Docker's type writes it as -1.
        let signed = |v: u64| i64::try_from(v).unwrap_or(-1);
        Ok(Ulimit {
            name: u.name,
            hard: signed(u.hard),
            soft: signed(u.soft),
        })
    }
}

/// Docker's `DeviceMapping`: a device node of the host given to the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    /// Some of `rwm`.
    pub cgroup_permissions: String,
}

impl DeviceMapping {
    /// Docker's checks: absolute paths, permissions from `rwm`.
    pub fn check(&self) -> Result<()> {
        let bad = |why: String| Error::InvalidArgument(format!("invalid device {:?}: {why}", self.path_on_host));
        if !self.path_on_host.starts_with('/') {
            return Err(bad("the host path must be absolute".into()));
        }
        if !self.path_in_container.starts_with('/') {
            return Err(bad(format!("{:?} is not an absolute path", self.path_in_container)));
        }
        if self.cgroup_permissions.is_empty() || !self.cgroup_permissions.chars().all(|c| "rwm".contains(c)) {
            return Err(bad(format!("invalid device mode: {}", self.cgroup_permissions)));
        }
        Ok(())
    }
}

impl FromStr for DeviceMapping {
    type Err = Error;

    /// `--device HOST[:CONTAINER][:PERMISSIONS]`; the container path defaults to the host's, the
    /// permissions to `rwm`.
    fn from_str(text: &str) -> Result<DeviceMapping> {
        let parts: Vec<&str> = text.split(':').collect();
        let is_mode = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
        let (host, container, permissions) = match parts.as_slice() {
            [host] => (*host, *host, "rwm"),
            [host, mode] if is_mode(mode) => (*host, *host, *mode),
            [host, container] => (*host, *container, "rwm"),
            [host, container, mode] => (*host, *container, *mode),
            _ => return Err(Error::InvalidArgument(format!("invalid device specification: {text}"))),
        };
        let device = DeviceMapping {
            path_on_host: host.into(),
            path_in_container: container.into(),
            cgroup_permissions: permissions.into(),
        };
        device.check()?;
        Ok(device)
    }
}

/// `--tmpfs PATH[:OPTIONS]` as Docker's `Tmpfs` map has it: the mount point and its options.
pub fn parse_tmpfs(text: &str) -> Result<(String, String)> {
    let (path, options) = split_tmpfs(text);
    check_tmpfs_target(&path)?;
    Ok((path, options))
}

/// A tmpfs mount point must be absolute.
pub(crate) fn check_tmpfs_target(path: &str) -> Result<()> {
    if !path.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid tmpfs {path:?}: the mount point must be an absolute path"
        )));
    }
    Ok(())
}

/// `PATH[:OPTIONS]`, unchecked.
fn split_tmpfs(text: &str) -> (String, String) {
    let (path, options) = text.split_once(':').unwrap_or((text, ""));
    (path.to_string(), options.to_string())
}

/// A value stored as itself, or as the text the CLI gave (configs of older versions).
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored<T> {
    Typed(T),
    Text(String),
}

impl<T: FromStr<Err = Error>> Stored<T> {
    fn value<E: serde::de::Error>(self) -> std::result::Result<T, E> {
        match self {
            Stored::Typed(t) => Ok(t),
            Stored::Text(text) => text.parse().map_err(|e: Error| E::custom(e)),
        }
    }
}

/// Reads a stored value that may be in its text form.
pub(crate) fn typed_or_text<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = Error> + Deserialize<'de>,
{
    Stored::<T>::deserialize(d)?.value()
}

/// Reads a stored list whose items may be in their text form.
pub(crate) fn list_typed_or_text<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = Error> + Deserialize<'de>,
{
    Vec::<Stored<T>>::deserialize(d)?
        .into_iter()
        .map(Stored::value)
        .collect()
}

/// Reads the stored tmpfs mounts: a map, or the `PATH[:OPTIONS]` list of older versions.
pub(crate) fn tmpfs_map<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Map(BTreeMap<String, String>),
        List(Vec<String>),
    }
    Ok(match Form::deserialize(d)? {
        Form::Map(map) => map,
        Form::List(list) => list.iter().map(|t| split_tmpfs(t)).collect(),
    })
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.name {
            RestartPolicyName::No => "no",
            RestartPolicyName::Always => "always",
            RestartPolicyName::UnlessStopped => "unless-stopped",
            RestartPolicyName::OnFailure => "on-failure",
        };
        match self.maximum_retry_count {
            0 => f.write_str(name),
            n => write!(f, "{name}:{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_read_the_cli_text_and_docker_json() {
        let p: RestartPolicy = "on-failure:3".parse().unwrap();
        assert_eq!((p.name, p.maximum_retry_count), (RestartPolicyName::OnFailure, 3));
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"Name":"on-failure","MaximumRetryCount":3}"#
        );
        let p: RestartPolicy = serde_json::from_str(r#"{"Name":"","MaximumRetryCount":0}"#).unwrap();
        assert!(p.is_none());
        assert!("always:2".parse::<RestartPolicy>().is_err());
        assert!("sometimes".parse::<RestartPolicy>().is_err());
        assert!("on-failure:x".parse::<RestartPolicy>().is_err());
        let bad = RestartPolicy {
            name: RestartPolicyName::Always,
            maximum_retry_count: 2,
        };
        assert!(bad.check().is_err());
        let p: RestartPolicy = "on-failure:2".parse().unwrap();
        assert!(p.restarts_after(1, 1) && !p.restarts_after(1, 2) && !p.restarts_after(0, 0));
        assert_eq!(p.to_string(), "on-failure:2");
    }

    #[test]
    fn ulimits_and_devices_read_the_cli_text() {
        let u: Ulimit = "nofile=1024:2048".parse().unwrap();
        assert_eq!((u.soft, u.hard), (1024, 2048));
        let u: Ulimit = "core=-1".parse().unwrap();
        assert_eq!((u.soft, u.hard), (-1, -1));
        assert!("bogus=1".parse::<Ulimit>().is_err());
        let typed = Ulimit {
            name: "nofile".into(),
            soft: 10,
            hard: 5,
        };
        assert!(typed.to_runtime().is_err(), "soft above hard");

        let d: DeviceMapping = "/dev/fuse".parse().unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/fuse", "rwm")
        );
        let d: DeviceMapping = "/dev/fuse:r".parse().unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/fuse", "r")
        );
        let d: DeviceMapping = "/dev/sda:/dev/xvda:rw".parse().unwrap();
        assert_eq!(d.path_in_container, "/dev/xvda");
        assert!("/dev/sda:/dev/xvda:rwx".parse::<DeviceMapping>().is_err());
        assert!("sda".parse::<DeviceMapping>().is_err());
    }

    #[test]
    fn stored_text_forms_of_older_versions_still_read() {
        #[derive(Deserialize)]
        struct Old {
            #[serde(deserialize_with = "typed_or_text")]
            restart: RestartPolicy,
            #[serde(deserialize_with = "list_typed_or_text")]
            ulimits: Vec<Ulimit>,
            #[serde(deserialize_with = "list_typed_or_text")]
            devices: Vec<DeviceMapping>,
            #[serde(deserialize_with = "tmpfs_map")]
            tmpfs: BTreeMap<String, String>,
        }
        let old: Old = serde_json::from_str(
            r#"{"restart": "on-failure:3", "ulimits": ["nofile=1:2"], "devices": ["/dev/fuse"],
                "tmpfs": ["/run:size=1m", "/tmp"]}"#,
        )
        .unwrap();
        assert_eq!(old.restart.maximum_retry_count, 3);
        assert_eq!(old.ulimits[0].hard, 2);
        assert_eq!(old.devices[0].path_in_container, "/dev/fuse");
        assert_eq!(old.tmpfs["/run"], "size=1m");
        assert_eq!(old.tmpfs["/tmp"], "");
        let new: Old = serde_json::from_str(
            r#"{"restart": {"Name": "always"}, "ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 2}],
                "devices": [{"PathOnHost": "/dev/a", "PathInContainer": "/dev/b", "CgroupPermissions": "r"}],
                "tmpfs": {"/run": ""}}"#,
        )
        .unwrap();
        assert_eq!(new.restart.name, RestartPolicyName::Always);
        assert_eq!(new.devices[0].path_in_container, "/dev/b");
        assert!(new.tmpfs.contains_key("/run"));
    }

    /// A whole config as berth recorded it before these types (made by that version's `create` with
    /// `--restart on-failure:3 --ulimit ... --tmpfs ... --device /dev/fuse --health-cmd true --mount
    /// type=tmpfs,...`): a container of an upgraded data root keeps every setting.
    #[test]
    fn a_config_recorded_before_the_typed_fields_reads_whole() {
        let text = include_str!("testdata/config-before-typed-host.json");
        let c: super::super::ContainerConfig = serde_json::from_str(text).unwrap();
        let h = &c.host;
        assert_eq!(h.restart_policy.to_string(), "on-failure:3");
        assert_eq!(
            h.ulimits,
            [
                "nofile=1024:2048".parse::<Ulimit>().unwrap(),
                "core=-1".parse().unwrap()
            ]
        );
        assert_eq!(
            h.tmpfs,
            BTreeMap::from([("/run".into(), "size=64k".into()), ("/scratch".into(), String::new())])
        );
        assert_eq!(h.devices, ["/dev/fuse".parse::<DeviceMapping>().unwrap()]);
        // Configs from before links have none.
        assert!(h.links.is_empty());
        let check = c.healthcheck.unwrap();
        assert_eq!((check.test.len(), check.interval), (2, 5_000_000_000));
        assert_eq!(c.mounts[1].kind, crate::mounts::MountKind::Tmpfs);
        assert_eq!(c.mounts[1].tmpfs_options, "size=1m");
    }
}

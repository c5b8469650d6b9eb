//! A container's mounts: Docker's API `Mount` (what `--mount` and the server's `HostConfig.Mounts`
//! give), the `-v` text (`HostConfig.Binds`), and the `MountSpec` both resolve to at create time.

use serde::{Deserialize, Serialize};

use crate::volumes::valid_volume_name;
use crate::{Error, Result};

/// What is mounted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    #[default]
    Volume,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// Docker's API `Mount`, the fields berth acts on (serde leaves the others out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    #[serde(rename = "Type")]
    pub kind: MountKind,
    /// Host path (bind) or volume name (volume; empty for a new anonymous one).
    pub source: String,
    pub target: String,
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    /// rprivate, rshared, rslave, private, shared, slave; empty for the default.
    pub propagation: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    pub no_copy: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// 0 for the kernel's default.
    pub size_bytes: i64,
    /// Permission bits; 0 for the kernel's default (1777).
    pub mode: u32,
}

/// One mount of a container, resolved at create time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountSpec {
    pub kind: MountKind,
    /// Host path (bind) or volume name (volume); empty for tmpfs.
    pub source: String,
    pub target: String,
    pub read_only: bool,
    /// rprivate, rshared, rslave, private, shared, slave; empty for the default.
    pub propagation: String,
    /// Do not fill a new empty volume with the image's content there.
    pub nocopy: bool,
    /// tmpfs options, e.g. "size=65536k,mode=1777".
    pub tmpfs_options: String,
}

const PROPAGATIONS: [&str; 6] = ["rprivate", "private", "rshared", "shared", "rslave", "slave"];

impl MountSpec {
    /// Checks an API mount as dockerd does and resolves it. A bind's source must exist (unlike `-v`).
    pub fn from_mount(m: &Mount) -> Result<MountSpec> {
        let kind = m.kind.as_str();
        let bad = |why: String| Error::InvalidArgument(format!("invalid mount config for type {kind:?}: {why}"));
        if m.target.is_empty() {
            return Err(bad("field Target must not be empty".into()));
        }
        if !m.target.starts_with('/') {
            return Err(bad(format!(
                "invalid mount path: '{}' mount path must be absolute",
                m.target
            )));
        }
        let wrong_options = match m.kind {
            MountKind::Bind => m.volume_options.is_some() || m.tmpfs_options.is_some(),
            MountKind::Volume => m.bind_options.is_some() || m.tmpfs_options.is_some(),
            MountKind::Tmpfs => m.bind_options.is_some() || m.volume_options.is_some(),
        };
        if wrong_options {
            return Err(bad(format!("options of another mount type given to a {kind} mount")));
        }
        let propagation = m
            .bind_options
            .as_ref()
            .map(|o| o.propagation.clone())
            .unwrap_or_default();
        if !propagation.is_empty() && !PROPAGATIONS.contains(&propagation.as_str()) {
            return Err(bad(format!("invalid propagation mode: {propagation}")));
        }
        match m.kind {
            MountKind::Bind => {
                if m.source.is_empty() {
                    return Err(bad("field Source must not be empty".into()));
                }
                if !m.source.starts_with('/') {
                    return Err(bad(format!(
                        "invalid mount path: '{}' mount path must be absolute",
                        m.source
                    )));
                }
                if !std::path::Path::new(&m.source).exists() {
                    return Err(bad(format!("bind source path does not exist: {}", m.source)));
                }
            }
            MountKind::Volume if !m.source.is_empty() => valid_volume_name(&m.source)?,
            MountKind::Volume => {}
            MountKind::Tmpfs if !m.source.is_empty() => return Err(bad("field Source must be empty".into())),
            MountKind::Tmpfs => {}
        }
        Ok(MountSpec {
            kind: m.kind,
            source: m.source.clone(),
            target: m.target.clone(),
            read_only: m.read_only,
            propagation,
            nocopy: m.volume_options.as_ref().is_some_and(|o| o.no_copy),
            tmpfs_options: m.tmpfs_options.as_ref().map(tmpfs_text).unwrap_or_default(),
        })
    }
}

/// The kernel's tmpfs options, as dockerd writes them: the size in the largest unit that divides it.
fn tmpfs_text(o: &TmpfsOptions) -> String {
    let mut options = Vec::new();
    if o.size_bytes > 0 {
        let (size, suffix) = [(1i64 << 30, "g"), (1 << 20, "m"), (1 << 10, "k")]
            .into_iter()
            .find(|(unit, _)| o.size_bytes % unit == 0)
            .map_or((o.size_bytes, ""), |(unit, suffix)| (o.size_bytes / unit, suffix));
        options.push(format!("size={size}{suffix}"));
    }
    if o.mode != 0 {
        options.push(format!("mode={:o}", o.mode));
    }
    options.join(",")
}

/// Parses `-v` specs: HOST:CTR[:opts] (bind), NAME:CTR[:opts] (volume),
/// /CTR (anonymous volume).
pub fn parse_volume_flag(spec: &str) -> Result<MountSpec> {
    let parts: Vec<&str> = spec.split(':').collect();
    let bad = |why: &str| Error::InvalidArgument(format!("invalid volume specification: '{spec}': {why}"));
    let (source, target, opts) = match parts.as_slice() {
        [target] => ("", *target, ""),
        [source, target] => (*source, *target, ""),
        [source, target, opts] => (*source, *target, *opts),
        _ => return Err(bad("use [SOURCE:]TARGET[:OPTIONS]")),
    };
    if !target.starts_with('/') {
        return Err(bad("the path in the container must be absolute"));
    }
    let mut m = MountSpec {
        target: target.to_string(),
        ..MountSpec::default()
    };
    m.kind = if source.is_empty() {
        MountKind::Volume
    } else if source.starts_with('/') {
        MountKind::Bind
    } else if source.starts_with('.') || source.contains('/') {
        return Err(bad(
            "a host path must be absolute: use $(pwd)/... for a path relative to here",
        ));
    } else {
        valid_volume_name(source)?;
        MountKind::Volume
    };
    m.source = source.to_string();
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => m.read_only = true,
            "rw" => m.read_only = false,
            "z" | "Z" => {}
            "nocopy" => m.nocopy = true,
            _ if PROPAGATIONS.contains(&opt) => m.propagation = opt.into(),
            other => return Err(bad(&format!("unknown option {other:?}"))),
        }
    }
    Ok(m)
}

/// Parses `--mount type=...,source=...,target=...,...` into the API's `Mount` (the syntax only: what it
/// names is checked at create, as for a mount that came through the API).
pub fn parse_mount_flag(spec: &str) -> Result<Mount> {
    let bad = |why: &str| Error::InvalidArgument(format!("invalid argument \"{spec}\" for \"--mount\" flag: {why}"));
    let flag = |value: &str| value.is_empty() || value == "true" || value == "1";
    let mut m = Mount::default();
    let mut propagation = None;
    let mut no_copy = None;
    let mut tmpfs = TmpfsOptions::default();
    let mut has_tmpfs = false;
    for field in spec.split(',') {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        match key {
            "type" => {
                m.kind = match value {
                    "bind" => MountKind::Bind,
                    "volume" => MountKind::Volume,
                    "tmpfs" => MountKind::Tmpfs,
                    other => {
                        return Err(bad(&format!(
                            "unsupported mount type {other:?}: use bind, volume or tmpfs"
                        )))
                    }
                }
            }
            "source" | "src" => m.source = value.to_string(),
            "target" | "destination" | "dst" => m.target = value.to_string(),
            "readonly" | "ro" => m.read_only = flag(value),
            "bind-propagation" => propagation = Some(value.to_string()),
            "volume-nocopy" => no_copy = Some(flag(value)),
            "tmpfs-size" => {
                tmpfs.size_bytes = crate::units::parse_memory(value)
                    .map_err(|_| bad(&format!("invalid tmpfs-size {value:?}: use e.g. 64m")))?;
                has_tmpfs = true;
            }
            "tmpfs-mode" => {
                tmpfs.mode = u32::from_str_radix(value, 8)
                    .map_err(|_| bad(&format!("invalid tmpfs-mode {value:?}: use octal bits, e.g. 1770")))?;
                has_tmpfs = true;
            }
            "consistency" | "bind-nonrecursive" | "volume-driver" => {}
            _ => return Err(bad(&format!("unexpected key '{key}'"))),
        }
    }
    if m.target.is_empty() {
        return Err(bad("target is required"));
    }
    m.bind_options = propagation.map(|propagation| BindOptions { propagation });
    m.volume_options = no_copy.map(|no_copy| VolumeOptions { no_copy });
    m.tmpfs_options = has_tmpfs.then_some(tmpfs);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flags_parse_like_docker() {
        let m = parse_volume_flag("/srv/data:/data:ro,rslave").unwrap();
        assert_eq!(
            (m.kind, m.source.as_str(), m.target.as_str()),
            (MountKind::Bind, "/srv/data", "/data")
        );
        assert!(m.read_only);
        assert_eq!(m.propagation, "rslave");
        let m = parse_volume_flag("dbdata:/var/lib/db:nocopy").unwrap();
        assert_eq!((m.kind, m.source.as_str()), (MountKind::Volume, "dbdata"));
        assert!(m.nocopy);
        let m = parse_volume_flag("/scratch").unwrap();
        assert_eq!((m.kind, m.source.as_str()), (MountKind::Volume, ""));
        for bad in [
            "./rel:/x",
            "data/x:/x",
            "a:/x",
            "name:relative",
            "x:/y:bogus",
            "a:b:c:d",
        ] {
            assert!(parse_volume_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mount_flags_parse_into_the_api_type_and_resolve_as_dockerd_does() {
        let m = parse_mount_flag("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert_eq!(
            m.tmpfs_options,
            Some(TmpfsOptions {
                size_bytes: 1 << 20,
                mode: 0o1770
            })
        );
        assert_eq!(MountSpec::from_mount(&m).unwrap().tmpfs_options, "size=1m,mode=1770");
        let m = parse_mount_flag("type=volume,source=v1,target=/v,readonly,volume-nocopy").unwrap();
        let spec = MountSpec::from_mount(&m).unwrap();
        assert!(spec.read_only && spec.nocopy);
        let m = parse_mount_flag("type=bind,source=/nonexistent-berth,target=/x").unwrap();
        let err = MountSpec::from_mount(&m).unwrap_err().to_string();
        assert!(err.contains("bind source path does not exist"), "{err}");
        assert!(parse_mount_flag("type=nfs,target=/x").is_err());
        assert!(parse_mount_flag("type=tmpfs,target=/x,tmpfs-size=lots").is_err());
        assert!(parse_mount_flag("type=volume,source=v").is_err(), "no target");
        let relative = parse_mount_flag("type=volume,target=x").unwrap();
        assert!(MountSpec::from_mount(&relative).is_err());
        let tmpfs_with_source = parse_mount_flag("type=tmpfs,source=x,target=/x").unwrap();
        assert!(MountSpec::from_mount(&tmpfs_with_source).is_err());
        let odd = TmpfsOptions {
            size_bytes: 1000,
            mode: 0,
        };
        assert_eq!(tmpfs_text(&odd), "size=1000");
    }

    #[test]
    fn the_api_mount_reads_dockers_json() {
        let m: Mount = serde_json::from_str(
            r#"{"Type": "bind", "Source": "/srv", "Target": "/srv", "ReadOnly": true,
                "BindOptions": {"Propagation": "rslave"}, "Consistency": "default"}"#,
        )
        .unwrap();
        assert_eq!(m.kind, MountKind::Bind);
        assert_eq!(m.bind_options.unwrap().propagation, "rslave");
        assert!(serde_json::from_str::<Mount>(r#"{"Type": "npipe", "Target": "/x"}"#).is_err());
        // Stored specs of older versions kept the kind as text; it reads the same.
        let stored: MountSpec = serde_json::from_str(r#"{"kind": "tmpfs", "target": "/t"}"#).unwrap();
        assert_eq!(stored.kind, MountKind::Tmpfs);
    }
}

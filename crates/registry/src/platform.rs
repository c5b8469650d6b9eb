//! Choosing the manifest for a platform from an index / manifest list, the way Docker and
//! containerd do: names normalised (aarch64 = arm64, arm64/v8 = arm64, amd64/v1 = amd64,
//! bare arm = arm/v7), older variants accepted when no exact one exists (arm/v7 runs v6
//! and v5 images, amd64/v3 runs v2 and v1), attestation entries ignored.

use berth_image::spec::{Descriptor, Index, Platform};

use crate::error::{Error, Result};

/// Annotation BuildKit puts on attestation manifests in an index.
const REFERENCE_TYPE: &str = "vnd.docker.reference.type";

/// `os/arch[/variant]`, as Docker prints platforms.
pub fn platform_string(p: &Platform) -> String {
    match p.variant.as_deref() {
        Some(v) if !v.is_empty() => format!("{}/{}/{}", p.os, p.architecture, v),
        _ => format!("{}/{}", p.os, p.architecture),
    }
}

/// Parses `--platform` values: `os/arch[/variant]`, or a bare `arch` (linux assumed) or `os`.
pub fn parse_platform(s: &str) -> Result<Platform> {
    let bad = |reason: &str| Error::InvalidArgument {
        what: "platform",
        value: s.to_string(),
        reason: reason.to_string(),
    };
    let parts: Vec<&str> = s.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
    {
        return Err(bad("expected os/arch[/variant], e.g. linux/arm64 or linux/arm/v7"));
    }
    let lower = |x: &str| x.to_ascii_lowercase();
    let p = match parts.as_slice() {
        [one] if matches!(lower(one).as_str(), "linux" | "windows" | "darwin" | "freebsd") => Platform {
            os: lower(one),
            ..berth_image::spec::host_platform()
        },
        [arch] => Platform {
            os: "linux".into(),
            architecture: lower(arch),
            os_version: None,
            variant: None,
        },
        [os, arch] => Platform {
            os: lower(os),
            architecture: lower(arch),
            os_version: None,
            variant: None,
        },
        [os, arch, variant] => Platform {
            os: lower(os),
            architecture: lower(arch),
            os_version: None,
            variant: Some(lower(variant)),
        },
        _ => return Err(bad("expected os/arch[/variant], e.g. linux/arm64 or linux/arm/v7")),
    };
    Ok(normalize(&p))
}

/// The canonical spelling of a platform (containerd's normalisation).
pub fn normalize(p: &Platform) -> Platform {
    let os = match p.os.to_ascii_lowercase().as_str() {
        "macos" => "darwin".to_string(),
        other => other.to_string(),
    };
    let variant = p
        .variant
        .as_deref()
        .map(str::to_ascii_lowercase)
        .filter(|v| !v.is_empty());
    let (architecture, variant) = match p.architecture.to_ascii_lowercase().as_str() {
        "i386" => ("386".to_string(), None),
        "x86_64" | "x86-64" | "amd64" => (
            "amd64".to_string(),
            match variant.as_deref() {
                None | Some("v1") => None,
                _ => variant,
            },
        ),
        "aarch64" | "arm64" => (
            "arm64".to_string(),
            match variant.as_deref() {
                None | Some("8") | Some("v8") => None,
                _ => variant,
            },
        ),
        "armhf" => ("arm".to_string(), Some("v7".to_string())),
        "armel" => ("arm".to_string(), Some("v6".to_string())),
        "arm" => (
            "arm".to_string(),
            match variant.as_deref() {
                None | Some("7") => Some("v7".to_string()),
                Some("5") | Some("6") | Some("8") => Some(format!("v{}", variant.unwrap_or_default())),
                _ => variant,
            },
        ),
        other => (other.to_string(), variant),
    };
    Platform {
        architecture,
        os,
        os_version: p.os_version.clone(),
        variant,
    }
}

/// The variants a wanted platform can run, best first (already normalised).
fn acceptable_variants(want: &Platform) -> Vec<Option<String>> {
    let v = want.variant.clone();
    let ladder = |levels: &[&str], none_is_lowest: bool| -> Vec<Option<String>> {
        // levels are ordered lowest to highest; accept the wanted one and everything below.
        let pos = levels.iter().position(|l| Some(*l) == v.as_deref());
        let mut out: Vec<Option<String>> = match pos {
            Some(i) => levels[..=i].iter().rev().map(|l| Some(l.to_string())).collect(),
            None => vec![v.clone()],
        };
        if none_is_lowest && v.is_some() && pos.is_some() {
            out.push(None);
        }
        out
    };
    match want.architecture.as_str() {
        "arm" => ladder(&["v5", "v6", "v7", "v8"], false),
        "amd64" => {
            if v.is_none() {
                vec![None]
            } else {
                ladder(&["v2", "v3", "v4"], true)
            }
        }
        _ => vec![v],
    }
}

/// True for index entries that are not runnable images (BuildKit attestations).
fn is_attestation(d: &Descriptor) -> bool {
    let unknown = d
        .platform
        .as_ref()
        .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown");
    let annotated = d
        .annotations
        .as_ref()
        .and_then(|a| a.get(REFERENCE_TYPE))
        .is_some_and(|t| t == "attestation-manifest");
    unknown || annotated
}

/// Picks the manifest for `want` from an index. Fails with a list of the platforms the
/// index offers when none can run on `want`.
pub fn select_manifest<'a>(index: &'a Index, want: &Platform) -> Result<&'a Descriptor> {
    let want = normalize(want);
    let ladder = acceptable_variants(&want);
    let mut best: Option<(usize, &Descriptor)> = None;
    for d in index.manifests.iter().filter(|d| !is_attestation(d)) {
        let Some(p) = d.platform.as_ref().map(normalize) else {
            continue;
        };
        if p.os != want.os || p.architecture != want.architecture {
            continue;
        }
        if let Some(rank) = ladder.iter().position(|v| *v == p.variant) {
            if best.is_none_or(|(r, _)| rank < r) {
                best = Some((rank, d));
            }
        }
    }
    match best {
        Some((_, d)) => Ok(d),
        None => Err(Error::NoMatchingPlatform {
            wanted: platform_string(&want),
            available: available_platforms(index),
        }),
    }
}

/// Parses index bytes and picks the manifest for `want` (see [`select_manifest`]).
pub fn select_manifest_from_bytes(index: &[u8], want: &Platform) -> Result<Descriptor> {
    let index: Index = serde_json::from_slice(index).map_err(|e| Error::InvalidArgument {
        what: "image index",
        value: String::from_utf8_lossy(&index[..index.len().min(80)]).into_owned(),
        reason: format!("not a valid OCI index or Docker manifest list: {e}"),
    })?;
    select_manifest(&index, want).cloned()
}

/// The platforms an index offers, as `os/arch[/variant]`, attestations left out.
pub fn available_platforms(index: &Index) -> Vec<String> {
    index
        .manifests
        .iter()
        .filter(|d| !is_attestation(d))
        .filter_map(|d| d.platform.as_ref().map(platform_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: berth_image::spec::media::OCI_MANIFEST.into(),
            digest: format!("sha256:{}", format!("{n:02x}").repeat(32)),
            size: 100,
            urls: None,
            annotations: None,
            platform: Some(Platform {
                architecture: arch.into(),
                os: os.into(),
                os_version: None,
                variant: variant.map(Into::into),
            }),
        }
    }

    fn index(entries: Vec<Descriptor>) -> Index {
        Index {
            schema_version: 2,
            media_type: Some(berth_image::spec::media::OCI_INDEX.into()),
            manifests: entries,
            annotations: None,
        }
    }

    fn pick(idx: &Index, want: &str) -> Result<u8> {
        let d = select_manifest(idx, &parse_platform(want)?)?;
        Ok(u8::from_str_radix(&d.digest[7..9], 16).unwrap())
    }

    #[test]
    fn picks_exact_and_normalised_matches() {
        let idx = index(vec![
            entry(1, "linux", "amd64", None),
            entry(2, "linux", "arm64", Some("v8")),
            entry(3, "linux", "arm", Some("v6")),
            entry(4, "linux", "arm", Some("v7")),
            entry(5, "linux", "386", None),
            entry(6, "windows", "amd64", None),
        ]);
        assert_eq!(pick(&idx, "linux/amd64").unwrap(), 1);
        assert_eq!(pick(&idx, "linux/x86_64").unwrap(), 1);
        assert_eq!(pick(&idx, "linux/amd64/v1").unwrap(), 1);
        assert_eq!(pick(&idx, "linux/arm64").unwrap(), 2);
        assert_eq!(pick(&idx, "linux/aarch64").unwrap(), 2);
        assert_eq!(pick(&idx, "linux/arm/v7").unwrap(), 4);
        assert_eq!(pick(&idx, "linux/arm").unwrap(), 4);
        assert_eq!(pick(&idx, "linux/arm/v6").unwrap(), 3);
        assert_eq!(pick(&idx, "linux/i386").unwrap(), 5);
        assert_eq!(pick(&idx, "windows/amd64").unwrap(), 6);
        assert_eq!(pick(&idx, "amd64").unwrap(), 1);
    }

    #[test]
    fn falls_back_to_older_variants() {
        let idx = index(vec![
            entry(3, "linux", "arm", Some("v6")),
            entry(7, "linux", "amd64", Some("v2")),
        ]);
        assert_eq!(pick(&idx, "linux/arm/v7").unwrap(), 3);
        assert!(pick(&idx, "linux/arm/v5").is_err());
        assert_eq!(pick(&idx, "linux/amd64/v3").unwrap(), 7);
        // A plain amd64 host cannot run a v2-only image.
        assert!(pick(&idx, "linux/amd64").is_err());
        let idx = index(vec![
            entry(1, "linux", "amd64", None),
            entry(7, "linux", "amd64", Some("v3")),
        ]);
        assert_eq!(pick(&idx, "linux/amd64/v3").unwrap(), 7);
        assert_eq!(pick(&idx, "linux/amd64/v2").unwrap(), 1);
    }

    #[test]
    fn arm64_with_and_without_v8() {
        let idx = index(vec![entry(2, "linux", "arm64", None)]);
        assert_eq!(pick(&idx, "linux/arm64/v8").unwrap(), 2);
        assert_eq!(
            select_manifest(&idx, &berth_image::spec::host_platform()).is_ok(),
            cfg!(target_arch = "aarch64")
        );
    }

    #[test]
    fn ignores_attestations_and_lists_platforms() {
        let mut att = entry(9, "unknown", "unknown", None);
        att.annotations = Some([(REFERENCE_TYPE.to_string(), "attestation-manifest".to_string())].into());
        let idx = index(vec![
            entry(2, "linux", "arm64", Some("v8")),
            att,
            entry(4, "linux", "arm", Some("v7")),
        ]);
        let err = pick(&idx, "linux/amd64").unwrap_err();
        assert!(matches!(&err, Error::NoMatchingPlatform { available, .. } if available.len() == 2));
        assert_eq!(
            err.to_string(),
            "no matching manifest for linux/amd64 in the manifest list entries (available: linux/arm64/v8, linux/arm/v7); pick one of them with --platform"
        );
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
        assert!(pick(&idx, "unknown/unknown").is_err());
    }

    #[test]
    fn parses_platforms() {
        assert_eq!(
            platform_string(&parse_platform("linux/arm/v7").unwrap()),
            "linux/arm/v7"
        );
        assert_eq!(platform_string(&parse_platform("linux/armhf").unwrap()), "linux/arm/v7");
        assert_eq!(platform_string(&parse_platform("Linux/AMD64").unwrap()), "linux/amd64");
        assert!(parse_platform("linux//v7").is_err());
        assert!(parse_platform("a/b/c/d").is_err());
        assert!(parse_platform("").is_err());
    }

    #[test]
    fn selects_from_bytes() {
        let idx = index(vec![entry(1, "linux", "amd64", None)]);
        let bytes = serde_json::to_vec(&idx).unwrap();
        let want = parse_platform("linux/amd64").unwrap();
        assert_eq!(
            select_manifest_from_bytes(&bytes, &want).unwrap().digest,
            idx.manifests[0].digest
        );
        assert!(select_manifest_from_bytes(b"{}", &want).is_err());
    }
}

//! Seccomp profiles in Docker's JSON format, converted to the OCI form for
//! one container: rules are kept or dropped by the container's capabilities,
//! the architecture and the running kernel, as dockerd does.
//!
//! Docker's default profile (moby/profiles) is embedded; `--security-opt
//! seccomp=<file>` profiles use the same format.

use std::path::Path;

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompArgBuilder, LinuxSeccompOperator, LinuxSyscall};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::Error;

/// Docker's default seccomp profile.
const DEFAULT_PROFILE: &str = include_str!("seccomp/docker-default.json");
const DEFAULT_PROFILE_NAME: &str = "builtin default profile";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    syscalls: Option<Vec<Syscall>>,
    #[serde(default)]
    flags: Option<Vec<String>>,
    #[serde(default)]
    listener_path: Option<String>,
    #[serde(default)]
    listener_metadata: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: usize,
    value: u64,
    #[serde(default)]
    value_two: Option<u64>,
    op: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// Docker's default profile for a container with capabilities `caps` (the
/// bounding set, "CAP_SYS_ADMIN" or "SYS_ADMIN") on `arch` (Rust's
/// `std::env::consts::ARCH` names, or Go's: "x86_64"/"amd64", "aarch64"/"arm64").
pub fn default_profile(caps: &[String], arch: &str) -> Result<LinuxSeccomp, Error> {
    convert_str(DEFAULT_PROFILE, DEFAULT_PROFILE_NAME, caps, arch, running_kernel())
}

/// Docker's default profile, for a given kernel version.
pub(crate) fn default_profile_for(caps: &[String], arch: &str, kernel: (u32, u32, u32)) -> Result<LinuxSeccomp, Error> {
    convert_str(DEFAULT_PROFILE, DEFAULT_PROFILE_NAME, caps, arch, kernel)
}

/// A user profile in Docker's format, read from `path`.
pub fn profile_from_file(path: &Path, caps: &[String], arch: &str) -> Result<LinuxSeccomp, Error> {
    let name = path.display().to_string();
    let text = std::fs::read(path).map_err(|e| Error::Seccomp {
        path: name.clone(),
        reason: e.to_string(),
    })?;
    let text = String::from_utf8(text).map_err(|_| Error::Seccomp {
        path: name.clone(),
        reason: "not UTF-8 text".to_string(),
    })?;
    convert_str(&text, &name, caps, arch, running_kernel())
}

/// The running kernel's version (major, minor, patch), from uname.
pub fn running_kernel() -> (u32, u32, u32) {
    let uname = rustix::system::uname();
    parse_kernel(&uname.release().to_string_lossy()).unwrap_or((0, 0, 0))
}

/// "6.18.44-fc" -> (6, 18, 44); "4.8" -> (4, 8, 0).
fn parse_kernel(release: &str) -> Option<(u32, u32, u32)> {
    let mut parts = [0u32; 3];
    let mut seen = 0;
    for (i, part) in release.split('.').take(3).enumerate() {
        let digits: String = part.chars().take_while(|c| c.is_ascii_digit()).collect();
        if digits.is_empty() {
            break;
        }
        parts[i] = digits.parse().ok()?;
        seen = i + 1;
        if digits.len() != part.len() {
            break;
        }
    }
    (seen >= 2).then_some((parts[0], parts[1], parts[2]))
}

/// Go's GOARCH name and libseccomp's name of the native architecture for `arch`.
/// Whether this kernel runs x32 system calls: an x32 getpid answers, an
/// unsupported ABI gives ENOSYS.
fn kernel_has_x32() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS_X32: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS_X32.get_or_init(|| {
            const X32_SYSCALL_BIT: libc::c_long = 0x4000_0000;
            // SAFETY: getpid takes no arguments and has no side effects.
            #[allow(unsafe_code)]
            let r = unsafe { libc::syscall(X32_SYSCALL_BIT | libc::SYS_getpid) };
            r >= 0
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn arch_names(arch: &str) -> (&str, Option<&'static str>) {
    match arch {
        "x86_64" | "amd64" => ("amd64", Some("SCMP_ARCH_X86_64")),
        "x86" | "i386" | "i686" | "386" => ("386", Some("SCMP_ARCH_X86")),
        "aarch64" | "arm64" => ("arm64", Some("SCMP_ARCH_AARCH64")),
        "arm" => ("arm", Some("SCMP_ARCH_ARM")),
        "s390x" => ("s390x", Some("SCMP_ARCH_S390X")),
        "powerpc64le" | "ppc64le" => ("ppc64le", Some("SCMP_ARCH_PPC64LE")),
        "powerpc64" | "ppc64" => {
            if cfg!(target_endian = "little") {
                ("ppc64le", Some("SCMP_ARCH_PPC64LE"))
            } else {
                ("ppc64", Some("SCMP_ARCH_PPC64"))
            }
        }
        "riscv64" => ("riscv64", Some("SCMP_ARCH_RISCV64")),
        "loongarch64" | "loong64" => ("loong64", Some("SCMP_ARCH_LOONGARCH64")),
        "mips64" => ("mips64", Some("SCMP_ARCH_MIPS64")),
        "mips64el" | "mips64le" => ("mips64le", Some("SCMP_ARCH_MIPSEL64")),
        other => (other, None),
    }
}

/// "sys_admin" -> "CAP_SYS_ADMIN"
fn normalize_cap(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// A JSON string value as one of oci-spec's enums (they serialize as libseccomp's names).
fn parse_enum<T: DeserializeOwned>(value: &str, what: &str, source: &str) -> Result<T, Error> {
    serde_json::from_value(serde_json::Value::String(value.to_string())).map_err(|_| Error::Seccomp {
        path: source.to_string(),
        reason: format!("unknown {what} {value:?}"),
    })
}

pub(crate) fn convert_str(
    text: &str,
    source: &str,
    caps: &[String],
    arch: &str,
    kernel: (u32, u32, u32),
) -> Result<LinuxSeccomp, Error> {
    let profile: Profile = serde_json::from_str(text).map_err(|e| Error::Seccomp {
        path: source.to_string(),
        reason: format!("decoding failed: {e}"),
    })?;
    convert(profile, source, caps, arch, kernel)
}

fn convert(
    profile: Profile,
    source: &str,
    caps: &[String],
    arch: &str,
    kernel: (u32, u32, u32),
) -> Result<LinuxSeccomp, Error> {
    let bad = |reason: String| Error::Seccomp {
        path: source.to_string(),
        reason,
    };
    let caps: Vec<String> = caps.iter().map(|c| normalize_cap(c)).collect();
    let (go_arch, native) = arch_names(arch);

    let explicit_arches = profile.architectures.as_deref().unwrap_or_default();
    let arch_map = profile.arch_map.as_deref().unwrap_or_default();
    if !explicit_arches.is_empty() && !arch_map.is_empty() {
        return Err(bad(
            "both 'architectures' and 'archMap' are specified, use either one".to_string()
        ));
    }
    let mut arch_names_out: Vec<String> = explicit_arches.to_vec();
    if let Some(native) = native {
        for entry in arch_map.iter().filter(|m| m.architecture == native) {
            arch_names_out.push(entry.architecture.clone());
            // The x32 ABI is off in most kernels (Debian's included); a filter
            // for it is dead weight that libseccomp still spends time compiling.
            arch_names_out.extend(
                entry
                    .sub_architectures
                    .iter()
                    .flatten()
                    .filter(|a| a.as_str() != "SCMP_ARCH_X32" || kernel_has_x32())
                    .cloned(),
            );
        }
    }
    let architectures: Vec<Arch> = arch_names_out
        .iter()
        .map(|a| parse_enum(a, "architecture", source))
        .collect::<Result<_, _>>()?;

    let syscalls_in = profile.syscalls.unwrap_or_default();
    let default_action = if profile.default_action.is_empty() {
        if !syscalls_in.is_empty() {
            return Err(bad("defaultAction is missing".to_string()));
        }
        // Docker: no default action and no rules means no filtering at all.
        oci_spec::runtime::LinuxSeccompAction::ScmpActAllow
    } else {
        parse_enum(&profile.default_action, "action", source)?
    };

    let mut rules = Vec::new();
    for (i, call) in syscalls_in.into_iter().enumerate() {
        let names = match (call.name, call.names) {
            (Some(_), Some(names)) if !names.is_empty() => {
                return Err(bad(format!("syscall rule {i}: use either 'name' or 'names'")))
            }
            (Some(name), _) => vec![name],
            (None, Some(names)) => names,
            (None, None) => Vec::new(),
        };
        if names.is_empty() || names.iter().any(|n| n.is_empty()) {
            return Err(bad(format!("syscall rule {i} names no syscall")));
        }
        if let Some(ex) = &call.excludes {
            if ex.arches.iter().flatten().any(|a| a == go_arch) {
                continue;
            }
            if ex.caps.iter().flatten().any(|c| caps.contains(&normalize_cap(c))) {
                continue;
            }
            if let Some(min) = &ex.min_kernel {
                if kernel >= min_kernel(min, i, source)? {
                    continue;
                }
            }
        }
        if let Some(inc) = &call.includes {
            if let Some(arches) = &inc.arches {
                if !arches.is_empty() && !arches.iter().any(|a| a == go_arch) {
                    continue;
                }
            }
            if !inc.caps.iter().flatten().all(|c| caps.contains(&normalize_cap(c))) {
                continue;
            }
            if let Some(min) = &inc.min_kernel {
                if kernel < min_kernel(min, i, source)? {
                    continue;
                }
            }
        }
        let mut rule = LinuxSyscall::default();
        rule.set_names(names);
        rule.set_action(parse_enum(&call.action, "action", source)?);
        rule.set_errno_ret(call.errno_ret);
        if let Some(args) = call.args.filter(|a| !a.is_empty()) {
            let mut out = Vec::with_capacity(args.len());
            for a in args {
                if a.index > 5 {
                    return Err(bad(format!(
                        "syscall rule {i}: argument index {} is out of range 0-5",
                        a.index
                    )));
                }
                let op: LinuxSeccompOperator = parse_enum(&a.op, "operator", source)?;
                let mut arg = LinuxSeccompArgBuilder::default().index(a.index).value(a.value).op(op);
                if let Some(two) = a.value_two {
                    arg = arg.value_two(two);
                }
                out.push(arg.build().map_err(|e| bad(format!("syscall rule {i}: {e}")))?);
            }
            rule.set_args(Some(out));
        }
        rules.push(rule);
    }

    let flags = match profile.flags {
        Some(flags) if !flags.is_empty() => Some(
            flags
                .iter()
                .map(|f| parse_enum(f, "flag", source))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        _ => None,
    };

    let mut out = LinuxSeccomp::default();
    out.set_default_action(default_action);
    out.set_default_errno_ret(profile.default_errno_ret);
    out.set_architectures((!architectures.is_empty()).then_some(architectures));
    out.set_flags(flags);
    out.set_listener_path(profile.listener_path.filter(|p| !p.is_empty()).map(Into::into));
    out.set_listener_metadata(profile.listener_metadata.filter(|m| !m.is_empty()));
    out.set_syscalls((!rules.is_empty()).then_some(rules));
    Ok(out)
}

fn min_kernel(text: &str, rule: usize, source: &str) -> Result<(u32, u32, u32), Error> {
    parse_kernel(text).ok_or_else(|| Error::Seccomp {
        path: source.to_string(),
        reason: format!("syscall rule {rule}: invalid minKernel {text:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxSeccompAction as Action;

    fn caps(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn default_caps() -> Vec<String> {
        crate::spec::default_capabilities()
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// What a call of `name` with arguments no rule looks at gets: the action of
    /// a matching rule without argument conditions, else the default action.
    fn action_for(profile: &LinuxSeccomp, name: &str) -> Action {
        profile
            .syscalls()
            .iter()
            .flatten()
            .filter(|r| r.names().iter().any(|n| n == name))
            .find(|r| r.args().as_ref().is_none_or(|a| a.is_empty()))
            .map(|r| r.action())
            .unwrap_or(profile.default_action())
    }

    fn mentions(profile: &LinuxSeccomp, name: &str) -> bool {
        profile
            .syscalls()
            .iter()
            .flatten()
            .any(|r| r.names().iter().any(|n| n == name))
    }

    #[test]
    fn default_profile_for_default_caps() {
        let p = default_profile(&default_caps(), "x86_64").unwrap();
        assert_eq!(p.default_action(), Action::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        // x32 only where the kernel runs it.
        let mut arches = vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86];
        if kernel_has_x32() {
            arches.push(Arch::ScmpArchX32);
        }
        assert_eq!(p.architectures().as_deref(), Some(&arches[..]));
        for allowed in [
            "read",
            "write",
            "openat",
            "execve",
            "exit_group",
            "arch_prctl",
            "modify_ldt",
        ] {
            assert_eq!(action_for(&p, allowed), Action::ScmpActAllow, "{allowed}");
        }
        for denied in ["mount", "umount2", "reboot", "init_module", "bpf", "unshare", "setns"] {
            assert_eq!(action_for(&p, denied), Action::ScmpActErrno, "{denied}");
        }
        assert!(!mentions(&p, "mount"));
        assert!(!mentions(&p, "reboot"));
        // aarch64-only and s390-only rules are left out on x86_64.
        assert!(!mentions(&p, "arm_fadvise64_64"));
        assert!(!mentions(&p, "s390_runtime_instr"));
        // clone is allowed only without namespace flags; clone3 returns ENOSYS so libc falls back.
        let clone = p
            .syscalls()
            .iter()
            .flatten()
            .find(|r| r.names() == &["clone".to_string()])
            .unwrap();
        let arg = clone.args().as_ref().unwrap()[0];
        assert_eq!(
            (arg.index(), arg.value(), arg.op()),
            (0, 2114060288, LinuxSeccompOperator::ScmpCmpMaskedEq)
        );
        let clone3 = p
            .syscalls()
            .iter()
            .flatten()
            .find(|r| r.names() == &["clone3".to_string()])
            .unwrap();
        assert_eq!((clone3.action(), clone3.errno_ret()), (Action::ScmpActErrno, Some(38)));
        // ptrace needs kernel 4.8+.
        assert_eq!(action_for(&p, "ptrace"), Action::ScmpActAllow);
    }

    #[test]
    fn capabilities_unlock_rules() {
        let mut with_admin = default_caps();
        with_admin.push("CAP_SYS_ADMIN".to_string());
        let p = default_profile(&with_admin, "x86_64").unwrap();
        for call in ["mount", "umount2", "unshare", "setns", "bpf", "clone3"] {
            assert_eq!(action_for(&p, call), Action::ScmpActAllow, "{call}");
        }
        // The restricted clone rule and clone3's ENOSYS go away with CAP_SYS_ADMIN.
        assert!(!p
            .syscalls()
            .iter()
            .flatten()
            .any(|r| r.action() == Action::ScmpActErrno));
        assert_eq!(action_for(&p, "reboot"), Action::ScmpActErrno);

        let p = default_profile(&caps(&["sys_boot", "SYS_PTRACE"]), "x86_64").unwrap();
        assert_eq!(action_for(&p, "reboot"), Action::ScmpActAllow);
        assert_eq!(action_for(&p, "kcmp"), Action::ScmpActAllow);
        assert_eq!(action_for(&p, "mount"), Action::ScmpActErrno);
    }

    #[test]
    fn arches_and_kernels() {
        let p = default_profile(&default_caps(), "aarch64").unwrap();
        assert_eq!(
            p.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
        assert!(mentions(&p, "arm_fadvise64_64"));
        assert!(!mentions(&p, "arch_prctl"));

        // Before 4.8, ptrace was left out of the default allow list.
        let old = convert_str(DEFAULT_PROFILE, "x", &default_caps(), "x86_64", (4, 4, 0)).unwrap();
        assert_eq!(action_for(&old, "ptrace"), Action::ScmpActErrno);
        assert_eq!(parse_kernel("6.18.44-fc-v595"), Some((6, 18, 44)));
        assert_eq!(parse_kernel("5.10"), Some((5, 10, 0)));
        assert_eq!(parse_kernel("5.4.0-rc1"), Some((5, 4, 0)));
        assert_eq!(parse_kernel("junk"), None);
    }

    #[test]
    fn user_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(
            &good,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
               "syscalls":[{"name":"chmod","action":"SCMP_ACT_ERRNO","errnoRet":13},
                           {"names":["personality"],"action":"SCMP_ACT_ERRNO",
                            "args":[{"index":0,"value":8,"valueTwo":0,"op":"SCMP_CMP_NE"}]},
                           {"names":["mount"],"action":"SCMP_ACT_LOG","includes":{"caps":["CAP_SYS_ADMIN"]}}],
               "flags":["SECCOMP_FILTER_FLAG_LOG"]}"#,
        )
        .unwrap();
        let p = profile_from_file(&good, &default_caps(), "x86_64").unwrap();
        assert_eq!(p.default_action(), Action::ScmpActAllow);
        assert_eq!(action_for(&p, "chmod"), Action::ScmpActErrno);
        assert_eq!(p.syscalls().as_ref().unwrap().len(), 2);
        assert_eq!(p.syscalls().as_ref().unwrap()[0].errno_ret(), Some(13));
        assert_eq!(p.architectures().as_deref(), Some(&[Arch::ScmpArchX86_64][..]));

        let check_err = |name: &str, body: &str, needle: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, body).unwrap();
            let err = profile_from_file(&path, &default_caps(), "x86_64").unwrap_err();
            assert!(matches!(err, Error::Seccomp { .. }), "{err}");
            let msg = err.to_string();
            assert!(msg.contains(name) && msg.contains(needle), "{msg}");
        };
        check_err("bad.json", "{ not json", "decoding failed");
        check_err("action.json", r#"{"defaultAction":"SCMP_ACT_NOPE"}"#, "SCMP_ACT_NOPE");
        check_err(
            "op.json",
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_WHAT"}]}]}"#,
            "operator",
        );
        check_err(
            "both.json",
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":null}]}"#,
            "archMap",
        );
        check_err(
            "names.json",
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}"#,
            "names no syscall",
        );
        check_err(
            "kernel.json",
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","includes":{"minKernel":"new"}}]}"#,
            "minKernel",
        );
        check_err("type.json", r#"{"defaultAction":42}"#, "decoding failed");

        let missing = dir.path().join("missing.json");
        let err = profile_from_file(&missing, &default_caps(), "x86_64").unwrap_err();
        assert!(err.to_string().contains("missing.json"), "{err}");
    }

    #[test]
    fn output_is_oci_json() {
        let p = default_profile(&default_caps(), "x86_64").unwrap();
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["defaultErrnoRet"], 1);
        assert_eq!(json["architectures"][0], "SCMP_ARCH_X86_64");
        let socket = json["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"][0] == "socket")
            .unwrap();
        assert_eq!(socket["args"][0]["op"], "SCMP_CMP_LT");
        let back: LinuxSeccomp = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
    }
}

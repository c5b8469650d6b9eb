//! The OCI runtime spec (config.json) for one container: what dockerd would
//! generate from the image config and the `run` flags, with Docker's
//! defaults for mounts, capabilities, device rules, masked paths and seccomp.
//!
//! Deliberate differences from Docker:
//! - `CAP_NET_RAW` is not in the default capability set (raw sockets are
//!   denied, as Podman does); `ping` keeps working through
//!   `net.ipv4.ping_group_range`, which is set whenever the container has its
//!   own network namespace, as Docker also does.
//! - RLIMIT_NOFILE defaults to min(1048576, this process's hard limit) so a
//!   container never asks for more than the host allows, and an explicit
//!   `--ulimit` above the host's hard limit is refused with a clear error
//!   instead of failing inside the runtime.
//! - For `--privileged` and `--cap-add ALL`, "all capabilities" means all
//!   capabilities berth itself holds in its bounding set.

mod devices;
mod host;
mod mounts;
mod namespaces;
mod process;
mod request;
mod resources;
mod rlimits;
mod security;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use oci_spec::runtime::{Capabilities, Linux, LinuxCapabilities, Process, Root, Spec, User};

use crate::{seccomp, user, Error};

pub(crate) use host::Host;
pub use request::{BindMount, Device, NetworkMode, Resources, RunSpec, SeccompMode, Ulimit, UserNamespace};
pub use resources::{parse_cpus, parse_memory, parse_memory_swap};
pub use rlimits::{host_hard_limit, parse_ulimit, ulimit};
pub use security::default_capabilities;

use devices::devices;
use mounts::mounts;
use namespaces::{namespaces, sysctls};
use process::{build_env, check_process};
use resources::resources;
use rlimits::rlimits;
use security::{capabilities, readonly_paths, ALL_CAPS, MASKED_PATHS};

/// Docker's PATH for containers whose image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The OCI runtime spec version written into config.json (the one dockerd 20.10 writes).
pub const OCI_VERSION: &str = "1.0.2-dev";
/// RLIMIT_NOFILE when no --ulimit nofile is given, lowered to the host's hard limit.
pub const DEFAULT_NOFILE: u64 = 1_048_576;
/// /dev/shm's size when --shm-size is not given (64 MiB).
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

/// Container ids 0..size as host ids base..base+size.
fn id_mapping(range: berth_types::IdRange) -> oci_spec::runtime::LinuxIdMapping {
    oci_spec::runtime::LinuxIdMappingBuilder::default()
        .container_id(0u32)
        .host_id(range.base)
        .size(range.size)
        .build()
        .unwrap_or_default()
}

/// The OCI runtime spec for `run`, as dockerd would write it (see the module docs for the differences).
pub fn build(run: &RunSpec) -> Result<Spec, Error> {
    build_with(run, &Host::probe())
}

pub(crate) fn build_with(run: &RunSpec, host: &Host) -> Result<Spec, Error> {
    check_process(run)?;
    let resolved = user::resolve(&run.rootfs, &run.user, &run.group_add)?;
    let env = build_env(run, &resolved.home);
    let caps = capabilities(run, host)?;
    let cap_names: Vec<String> = caps.iter().map(|&i| ALL_CAPS[i].0.to_string()).collect();
    let cap_set: Capabilities = caps.iter().map(|&i| ALL_CAPS[i].1).collect();

    let mut capabilities = LinuxCapabilities::default();
    capabilities.set_bounding(Some(cap_set.clone()));
    capabilities.set_effective(Some(cap_set.clone()));
    capabilities.set_permitted(Some(cap_set));
    capabilities.set_inheritable(Some(Capabilities::new()));
    capabilities.set_ambient(Some(Capabilities::new()));

    let mut user = User::default();
    user.set_uid(resolved.uid);
    user.set_gid(resolved.gid);
    user.set_additional_gids((!resolved.additional_gids.is_empty()).then(|| resolved.additional_gids.clone()));

    if let Some(adj) = run.oom_score_adj {
        if !(-1000..=1000).contains(&adj) {
            return Err(invalid(format!(
                "invalid value {adj}, range for oom score adj is [-1000, 1000]"
            )));
        }
    }

    let mut process = Process::default();
    process.set_terminal(Some(run.tty));
    process.set_console_size(None);
    process.set_user(user);
    process.set_args(Some(run.args.clone()));
    process.set_env(Some(env));
    process.set_cwd(PathBuf::from(if run.cwd.is_empty() { "/" } else { run.cwd.as_str() }));
    process.set_capabilities(Some(capabilities));
    process.set_rlimits(Some(rlimits(&run.ulimits, host)?));
    // Only `Some(true)`: libcontainer 0.7 reads any present value (even
    // false) as "no_new_privs is set" and then loads seccomp after dropping
    // CAP_SYS_ADMIN, which the kernel refuses.
    process.set_no_new_privileges(run.no_new_privileges.then_some(true));
    process.set_apparmor_profile(None);
    process.set_selinux_label(None);
    process.set_oom_score_adj(run.oom_score_adj);

    let mut root = Root::default();
    root.set_path(run.rootfs.clone());
    root.set_readonly(Some(run.read_only));

    let (devices, device_rules) = devices(run, host)?;
    let seccomp = match (&run.seccomp, run.privileged) {
        (_, true) | (SeccompMode::Unconfined, _) => None,
        (SeccompMode::Default, false) => Some(seccomp::default_profile_for(&cap_names, &host.arch, host.kernel)?),
        (SeccompMode::Profile(path), false) => Some(seccomp::profile_from_file(path, &cap_names, &host.arch)?),
    };

    let mut linux = Linux::default();
    let maps = run.user_namespace.as_ref().map(|ns| vec![id_mapping(ns.range)]);
    linux.set_uid_mappings(maps.clone());
    linux.set_gid_mappings(maps);
    linux.set_sysctl(Some(sysctls(run, host)?).filter(|s| !s.is_empty()));
    let resources = resources(run, host, device_rules)?;
    linux.set_resources((!run.without_cgroup_limits).then_some(resources));
    linux.set_cgroups_path((!run.cgroups_path.is_empty()).then(|| PathBuf::from(&run.cgroups_path)));
    linux.set_namespaces(Some(namespaces(run, host)?));
    linux.set_devices((!devices.is_empty()).then_some(devices));
    linux.set_seccomp(seccomp);
    linux.set_rootfs_propagation(None);
    if run.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    } else {
        linux.set_masked_paths(Some(MASKED_PATHS.iter().map(|p| p.to_string()).collect()));
        linux.set_readonly_paths(Some(readonly_paths(run, host)?));
    }

    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_string());
    spec.set_root(Some(root));
    spec.set_mounts(Some(mounts(run, host)?));
    spec.set_process(Some(process));
    spec.set_hostname((!run.hostname.is_empty()).then(|| run.hostname.clone()));
    spec.set_domainname(None);
    spec.set_hooks(None);
    spec.set_annotations(None);
    spec.set_linux(Some(linux));
    Ok(spec)
}

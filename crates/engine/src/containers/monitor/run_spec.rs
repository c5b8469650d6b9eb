//! The runtime's view of a run: the container's config turned into a run spec (mounts, volumes filled on
//! first use, security options, devices, limits).

use std::fs::{self, File};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use berth_runtime::spec::{self, NetworkMode, RunSpec, SeccompMode};

use super::etc_files::write_etc_files;
use super::idmapped;
use super::paths::cgroups_path;
use super::record::Monitor;
use crate::mounts::MountKind;
use crate::{Error, Result};

impl Monitor<'_> {
    /// `userns`: the container's own user namespace, through whose mapping its volumes are bound.
    pub(super) fn run_spec(&self, rootfs: &Path, userns: Option<BorrowedFd<'_>>) -> Result<RunSpec> {
        let c = &self.container.config;
        let h = &c.host;
        let id = &self.container.row.id;
        let dir = self.engine.container_dir(id);
        let endpoints = self.engine.container_endpoints(id)?;
        let linked = self.engine.linked(&self.container, &endpoints)?;
        let mut files = write_etc_files(&dir, c, &endpoints, &linked.hosts)?;
        if let Some(range) = h.id_range {
            for file in &files {
                crate::userns::give_to_root(&file.source, range)?;
            }
        }
        let ulimits = h.ulimits.iter().map(|u| u.to_runtime()).collect::<Result<Vec<_>>>()?;
        let mut tmpfs: Vec<(String, String)> = h.tmpfs.clone().into_iter().collect();
        for m in &c.mounts {
            let options: Vec<String> = (!m.propagation.is_empty())
                .then(|| m.propagation.clone())
                .into_iter()
                .collect();
            match m.kind {
                MountKind::Tmpfs => tmpfs.push((m.target.clone(), m.tmpfs_options.clone())),
                MountKind::Bind => files.push(spec::BindMount {
                    source: PathBuf::from(&m.source),
                    destination: m.target.clone(),
                    read_only: m.read_only,
                    options,
                }),
                MountKind::Volume => {
                    let volume = self.engine.volume(&m.source)?;
                    if volume.options.get("type").map(String::as_str) == Some("tmpfs") {
                        let o = volume.options.get("o").cloned().unwrap_or_default();
                        tmpfs.push((m.target.clone(), o));
                        continue;
                    }
                    let mut source = match (
                        volume.options.get("type").map(String::as_str),
                        volume.options.get("device"),
                    ) {
                        (Some("none"), Some(device)) => PathBuf::from(device),
                        _ => volume.mountpoint.clone(),
                    };
                    if !m.nocopy && copy_up(rootfs, &m.target, &source) {
                        if let Some(range) = h.id_range {
                            idmapped::unshift_tree(&source, range);
                        }
                    }
                    if let Some(userns) = userns {
                        source = idmapped::attach(self.engine, id, files.len(), &source, userns)?;
                    }
                    files.push(spec::BindMount {
                        source,
                        destination: m.target.clone(),
                        read_only: m.read_only,
                        options,
                    });
                }
            }
        }
        let mut seccomp = SeccompMode::Default;
        let mut no_new_privileges = false;
        for opt in &h.security_opt {
            let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
            match (key, value) {
                ("no-new-privileges", "" | "true") => no_new_privileges = true,
                ("no-new-privileges", "false") => no_new_privileges = false,
                ("seccomp", "unconfined") => seccomp = SeccompMode::Unconfined,
                ("seccomp", path) if !path.is_empty() => seccomp = SeccompMode::Profile(PathBuf::from(path)),
                ("label" | "apparmor", _) => {}
                _ => return Err(Error::InvalidArgument(format!("invalid --security-opt: {opt}"))),
            }
        }
        let devices = h
            .devices
            .iter()
            .map(|d| spec::Device {
                host: PathBuf::from(&d.path_on_host),
                container: d.path_in_container.clone(),
                permissions: d.cgroup_permissions.clone(),
            })
            .collect();
        Ok(RunSpec {
            rootfs: rootfs.to_path_buf(),
            args: self.container.args(),
            env: crate::containers::links::with_link_env(&c.env, &linked.env),
            cwd: c.working_dir.clone(),
            user: c.user.clone(),
            group_add: c.group_add.clone(),
            hostname: c.hostname.clone(),
            tty: c.tty,
            read_only: h.read_only,
            privileged: h.privileged,
            cap_add: h.cap_add.clone(),
            cap_drop: h.cap_drop.clone(),
            no_new_privileges,
            seccomp,
            // Set by the caller (network_mode), which may create a namespace.
            network: NetworkMode::None,
            // Set by the caller too, which makes it.
            user_namespace: None,
            resources: spec::Resources {
                memory: (h.memory > 0).then_some(h.memory),
                memory_swap: (h.memory_swap != 0).then_some(h.memory_swap),
                memory_reservation: (h.memory_reservation > 0).then_some(h.memory_reservation),
                nano_cpus: (h.nano_cpus > 0).then_some(h.nano_cpus),
                cpu_shares: (h.cpu_shares > 0).then_some(h.cpu_shares as u64),
                cpuset_cpus: (!h.cpuset_cpus.is_empty()).then(|| h.cpuset_cpus.clone()),
                pids_limit: (h.pids_limit != 0).then_some(h.pids_limit),
                oom_kill_disable: h.oom_kill_disable,
            },
            ulimits,
            shm_size: (h.shm_size > 0).then_some(h.shm_size as u64),
            tmpfs,
            binds: files,
            devices,
            cgroups_path: cgroups_path(id),
            without_cgroup_limits: self.without_cgroup_limits(),
            sysctls: Default::default(),
            oom_score_adj: None,
        })
    }
}

impl Monitor<'_> {
    /// Rootless on a host that delegates no cgroups: the container runs without limits, and says so
    /// (once per start, on the monitor's log or the attached terminal) when it asked for any.
    fn without_cgroup_limits(&self) -> bool {
        let Err(why) = crate::rootless::cgroup_limits() else {
            return false;
        };
        let h = &self.container.config.host;
        let asked =
            h.memory > 0 || h.nano_cpus > 0 || h.cpu_shares > 0 || h.pids_limit > 0 || !h.cpuset_cpus.is_empty();
        if asked {
            tracing::warn!(id = self.container.row.id, "{why}");
        }
        true
    }
}

/// Fills a new, empty volume with what the image has at `target`, keeping
/// owners and modes, as docker does on a volume's first use. The target is
/// resolved inside the container's root, so an image's symlinks never lead
/// the copy to host files. Whether it copied.
fn copy_up(rootfs: &Path, target: &str, volume: &Path) -> bool {
    if fs::read_dir(volume).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return false;
    }
    let Ok(root) = File::open(rootfs) else { return false };
    let Ok(dir) = rustix::fs::openat2(
        &root,
        target,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
        rustix::fs::ResolveFlags::IN_ROOT,
    ) else {
        return false;
    };
    // "/." makes the magic link resolve to the directory it names.
    let source = PathBuf::from(format!("/proc/self/fd/{}/.", std::os::fd::AsRawFd::as_raw_fd(&dir)));
    if let Err(e) = berth_image::layer::merge_overlay_dir(&source, volume) {
        tracing::warn!(error = %e, target, "copying the image's content into a new volume");
    }
    if let Ok(st) = rustix::fs::fstat(&dir) {
        let _ = rustix::fs::chown(
            volume,
            Some(rustix::fs::Uid::from_raw(st.st_uid)),
            Some(rustix::fs::Gid::from_raw(st.st_gid)),
        );
        let _ = rustix::fs::chmod(volume, rustix::fs::Mode::from_raw_mode(st.st_mode & 0o7777));
    }
    true
}

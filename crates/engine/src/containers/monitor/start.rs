//! One run of the container: its root mounted, its network set up, the runtime started with pipes or a
//! pty, and its output relayed until it ends or the monitor hands over to berth-shim.

use std::fs::{self, File};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_relay::{copy_window_size, Relay};
use berth_runtime::external::Runtime;
use berth_runtime::launch;
use berth_runtime::spec::{self, NetworkMode};
use berth_store::meta;

use super::executable::check_executable;
use super::paths::{bind_attach_socket, console_dir, log_path, size_file_path, stop_marker};
use super::record::Monitor;
use super::run::Status;
use super::shim::shim_path;
use super::signals::signal_pid;
use crate::containers::logs;
use crate::{Engine, Error, Result};

/// How long a monitor relays a non-interactive container itself before it hands over to the shim.
const HANDOVER_GRACE: Duration = Duration::from_millis(100);

impl Monitor<'_> {
    /// Starts the container once and waits for it. Ok(exit code), or
    /// Err((docker status, message)) if it could not start.
    pub(super) fn run_once(
        &mut self,
        status: &mut Status,
        first: bool,
        backoff: Duration,
        started_ms: i64,
    ) -> std::result::Result<i32, (i32, String)> {
        let engine = self.engine;
        let id = self.id();
        // Held until the runtime has joined them (by this process's fd path).
        let namespaces = self.user_namespaces().map_err(|e| (125, e.to_string()))?;
        let userns = namespaces.as_ref().map(|(ns, _)| ns.user.as_fd());
        let rootfs = self.mount_root(userns).map_err(|e| (125, e.to_string()))?;
        let own_net = namespaces
            .as_ref()
            .and_then(|(ns, _)| ns.net.as_ref())
            .map(|fd| fd.as_fd());
        let network = self.network_mode(own_net).map_err(|e| (125, e.to_string()))?;
        let mut run_spec = self.run_spec(&rootfs, userns).map_err(|e| (125, e.to_string()))?;
        run_spec.network = network;
        run_spec.user_namespace = namespaces.as_ref().map(|(ns, range)| spec::UserNamespace {
            path: berth_runtime::userns::path_of(&ns.user),
            range: *range,
        });
        ensure_workdir(&rootfs, &run_spec.cwd).map_err(|e| (125, e))?;
        check_executable(&rootfs, &run_spec.binds, &run_spec.args, &run_spec.env)?;
        if self.container.config.host.init {
            let init = init_binary(engine).map_err(|e| (125, e.to_string()))?;
            run_spec.binds.push(spec::BindMount {
                source: init,
                destination: "/sbin/docker-init".into(),
                read_only: true,
                options: Vec::new(),
            });
            let mut args = vec!["/sbin/docker-init".to_string(), "--".to_string()];
            args.append(&mut run_spec.args);
            run_spec.args = args;
        }
        let oci = spec::build(&run_spec).map_err(|e| (125, e.to_string()))?;
        let bundle = engine.container_run_dir(&id).join("bundle");
        fs::create_dir_all(&bundle).map_err(|e| (125, format!("{}: {e}", bundle.display())))?;
        let json = serde_json::to_vec_pretty(&oci).map_err(|e| (125, e.to_string()))?;
        fs::write(bundle.join("config.json"), json).map_err(|e| (125, format!("writing the runtime spec: {e}")))?;

        let launcher = Runtime::for_name(&self.container.config.host.runtime, engine.runroot())
            .map_err(|e| (125, e.to_string()))?;
        // A previous run of this container may have left runtime state.
        let _ = launcher.delete(&id);
        let mut log = self.log_writer();
        let attach = self.attach;
        let open_stdin = self.container.config.open_stdin;
        let listener = bind_attach_socket(engine, &id).map_err(|e| (125, e.to_string()))?;
        let tty = self.container.config.tty;
        let (pid, outputs, input) = if tty {
            let socket = launch::ConsoleSocket::bind(&console_dir(engine).join(format!("{}.sock", &id[..12])))
                .map_err(|e| (125, e.to_string()))?;
            let pid = launcher
                .start(&id, &bundle, socket.stdio())
                .map_err(|e| (125, e.to_string()))?;
            let master = socket
                .receive_master(Duration::from_secs(10))
                .map_err(|e| (125, e.to_string()))?;
            if attach {
                // SAFETY: fd 1 is this process's stdout, open for its lifetime.
                #[allow(unsafe_code)]
                let our_stdout = unsafe { BorrowedFd::borrow_raw(1) };
                copy_window_size(our_stdout, &master);
            }
            let input = rustix::io::dup(&master).map_err(|e| (125, format!("dup: {e}")))?;
            (pid, vec![(master, 0)], Some(input))
        } else {
            let (out_r, out_w) = rustix::pipe::pipe().map_err(|e| (125, format!("pipe: {e}")))?;
            let (err_r, err_w) = rustix::pipe::pipe().map_err(|e| (125, format!("pipe: {e}")))?;
            let (stdin_r, stdin_w) = if open_stdin {
                let (r, w) = rustix::pipe::pipe().map_err(|e| (125, format!("pipe: {e}")))?;
                (Some(r), Some(w))
            } else {
                (None, None)
            };
            let pid = launcher
                .start(
                    &id,
                    &bundle,
                    launch::Stdio::Pipes {
                        stdin: stdin_r,
                        stdout: out_w,
                        stderr: err_w,
                    },
                )
                .map_err(|e| (125, e.to_string()))?;
            (pid, vec![(out_r, 0), (err_r, 1)], stdin_w)
        };
        // Its mount namespace holds its own copies of the volumes' idmapped clones.
        super::idmapped::detach_all(engine, &id);
        self.mark_running(pid, status, first);
        if stop_marker(engine, &id).exists() {
            // A stop or kill came while this run was starting, too late for the check before it and too early
            // to find this process (see Engine::mark_stopping).
            let _ = signal_pid(pid, 9);
        }
        let mut outputs = outputs;
        let mut input = input;
        if let Some(shim) = shim_path() {
            // A container that needs nothing interactive is relayed here for a moment first: one that ends
            // within it (`run --rm IMG cmd`) is finished here, saving the shim's start and this monitor's
            // start again at the exit. Longer runs go to the small shim as before.
            if !tty && !open_stdin {
                let deadline = std::time::Instant::now() + HANDOVER_GRACE;
                let mut relay = Relay {
                    outputs,
                    input,
                    tty,
                    log: &mut log,
                    caller: attached_caller(attach, false),
                    listener: None,
                    detach_keys: Vec::new(),
                    size_file: None,
                };
                if relay.run_until(Some(deadline), &mut || {}) {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if let Some(exit) = launch::wait_exit_within(pid, left).map_err(|e| (125, e.to_string()))? {
                        return Ok(self.finish_run(exit.status()));
                    }
                }
                outputs = std::mem::take(&mut relay.outputs);
                input = relay.input.take();
            }
            let err = self.exec_shim(&shim, pid, &outputs, input.as_ref(), &listener, backoff, started_ms);
            tracing::warn!(error = %err, "could not hand over to berth-shim; relaying in the monitor");
        }
        Relay {
            outputs,
            input,
            tty,
            log: &mut log,
            caller: attached_caller(attach, open_stdin),
            listener: Some(listener),
            detach_keys: self.container.detach_keys(),
            size_file: Some(size_file_path(engine, &id)),
        }
        .run(&mut || status.say("detached"));
        let exit = launch::wait_exit(pid).map_err(|e| (125, e.to_string()))?;
        Ok(self.finish_run(exit.status()))
    }

    fn log_writer(&self) -> logs::Writer {
        let host = &self.container.config.host;
        if host.log_type == "none" {
            return logs::Writer::none();
        }
        let path = log_path(self.engine, &self.container.row.id);
        let max_size = host.log_opts.get("max-size").and_then(|s| logs::parse_size(s));
        let max_files = host.log_opts.get("max-file").and_then(|s| s.parse().ok()).unwrap_or(1);
        logs::Writer::open(&path, max_size, max_files)
            .map(|w| w.with_attrs(&logs::log_attrs(&self.container.config)))
            .unwrap_or_else(|_| logs::Writer::none())
    }

    /// The network namespace the container gets: its own one wired to its networks (with its ports
    /// published), the host's, an empty one, or another container's.
    fn network_mode(&mut self, own: Option<BorrowedFd<'_>>) -> Result<NetworkMode> {
        let mode = self.container.config.host.network_mode.clone();
        if mode == "host" {
            return Ok(NetworkMode::Host);
        }
        if mode == "none" {
            return Ok(NetworkMode::None);
        }
        if let Some(other) = mode.strip_prefix("container:") {
            let other = self.engine.container(other)?;
            if !other.is_running() || other.row.pid <= 0 {
                return Err(Error::Conflict(format!(
                    "cannot join network of a non running container: {}",
                    other.row.name
                )));
            }
            return Ok(NetworkMode::Path(PathBuf::from(format!(
                "/proc/{}/ns/net",
                other.row.pid
            ))));
        }
        self.held_ports.clear();
        let (path, attached) = self.engine.connect_namespace(&self.container, own)?;
        self.held_ports = attached.held_ports;
        Ok(NetworkMode::Path(path))
    }

    /// A `--userns=auto` container's user namespace over its range, and the network namespace it will
    /// own unless the container has none of berth's (`--network none`); made afresh for each run.
    fn user_namespaces(&self) -> Result<Option<(berth_runtime::userns::Namespaces, berth_store::IdRange)>> {
        let Some(range) = self.container.config.host.id_range else {
            return Ok(None);
        };
        let id = &self.container.row.id;
        for dir in [self.engine.container_dir(id), self.engine.container_run_dir(id)] {
            searchable_by_others(&dir)?;
        }
        let network = self.container.config.host.network_mode != "none";
        let made = berth_runtime::userns::create(range, network)
            .map_err(|e| Error::Internal(format!("making the container's user namespace: {e}")))?;
        Ok(Some((made, range)))
    }

    /// Mounts the overlay of the image's layers with the container's upper
    /// dir, unless it is still mounted from a previous run. With a user namespace, the layers are seen
    /// through its mapping (no copy), and the upper dir belongs to the range's root.
    fn mount_root(&self, userns: Option<BorrowedFd<'_>>) -> Result<PathBuf> {
        let dir = self.engine.container_dir(&self.container.row.id);
        let merged = dir.join("merged");
        if is_mountpoint(&merged) {
            return Ok(merged);
        }
        let image_id: berth_store::Digest = self.container.row.image_id.parse()?;
        let record = meta::get_image(&*self.engine.store().db()?, &image_id)?
            .ok_or_else(|| Error::NoSuchImage(self.container.config.image.clone()))?;
        let lowers: Vec<PathBuf> = record
            .layers
            .iter()
            .rev()
            .map(|c| self.engine.store().layer_diff(c))
            .collect();
        if berth_image::snapshot::overlay_supported() {
            // A --rm container's upper dir is thrown away with it: no need for overlayfs to sync it.
            let volatile = self.container.config.host.auto_remove;
            let work = dir.join("work");
            if volatile {
                // Left by a volatile mount that was never cleanly unmounted (a crash); the kernel refuses to
                // mount the upper again while it is there.
                let _ = fs::remove_dir_all(work.join("work/incompat"));
            }
            let upper = dir.join("upper");
            match (userns, self.container.config.host.id_range) {
                (Some(userns), Some(range)) => {
                    for d in [&upper, &work] {
                        crate::userns::give_to_root(d, range)?;
                    }
                    berth_image::idmap::mount_overlay_idmapped(&lowers, &upper, &work, &merged, volatile, userns)?;
                }
                _ => berth_image::snapshot::mount_overlay_with(&lowers, &upper, &work, &merged, volatile)?,
            }
        } else if userns.is_some() {
            return Err(Error::InvalidArgument(
                "--userns=auto needs overlayfs, which this host's data root cannot mount: use --userns=host".into(),
            ));
        } else if fs::read_dir(&merged).map(|mut d| d.next().is_none()).unwrap_or(true) {
            berth_image::snapshot::copy_view(&lowers, &merged)?;
        }
        Ok(merged)
    }
}

/// The runtime reaches the container's root and the files it binds in by path, as the container's
/// unprivileged root: every directory above them must let others search it (as Docker's userns-remap
/// needs of its data root).
fn searchable_by_others(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(ancestor) else { continue };
        if meta.permissions().mode() & 0o001 == 0 {
            return Err(Error::InvalidArgument(format!(
                "--userns=auto: the container's files are under {}, which only its owner may enter (mode {:o}), so \
                 the container's unprivileged root cannot reach them: let others search it (chmod o+x {}), or use \
                 --userns=host",
                ancestor.display(),
                meta.permissions().mode() & 0o7777,
                ancestor.display()
            )));
        }
    }
    Ok(())
}

/// Docker creates a missing working directory (root-owned, 0755). Each
/// component is made relative to its parent opened inside the root, so a
/// symlink in the image cannot send the mkdir outside it.
fn ensure_workdir(rootfs: &Path, cwd: &str) -> std::result::Result<(), String> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    if cwd.is_empty() || cwd == "/" {
        return Ok(());
    }
    let root = File::open(rootfs).map_err(|e| format!("{}: {e}", rootfs.display()))?;
    let mut parent = rustix::io::dup(&root).map_err(|e| e.to_string())?;
    for part in cwd.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let next = match rustix::fs::openat2(&parent, part, flags, Mode::empty(), ResolveFlags::IN_ROOT) {
            Err(rustix::io::Errno::NOENT) => {
                rustix::fs::mkdirat(&parent, part, Mode::from_raw_mode(0o755))
                    .map_err(|e| format!("creating the working directory {cwd}: {e}"))?;
                rustix::fs::openat2(&parent, part, flags, Mode::empty(), ResolveFlags::IN_ROOT)
            }
            other => other,
        }
        .map_err(|e| format!("working directory {cwd}: {e}"))?;
        parent = next;
    }
    Ok(())
}

/// berth-init, built static by build.rs: what `--init` runs as the
/// container's pid 1.
const INIT_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-init"));

/// Where the init binary lives on the host, written there on first use.
fn init_binary(engine: &Engine) -> Result<PathBuf> {
    let path = engine.layout().init_binary();
    if fs::metadata(&path)
        .map(|m| m.len() == INIT_BINARY.len() as u64)
        .unwrap_or(false)
    {
        return Ok(path);
    }
    fs::create_dir_all(engine.runroot()).map_err(|e| Error::Io {
        path: engine.runroot().to_path_buf(),
        source: e,
    })?;
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = fs::write(&temp, INIT_BINARY).and_then(|_| {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&temp, fs::Permissions::from_mode(0o755))?;
        fs::rename(&temp, &path)
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(Error::Io { path, source: e });
    }
    Ok(path)
}

/// Whether a file system is mounted on `path`: it is on another device than the directory around it (an
/// overlay always is). Unlike a search of mountinfo, this needs no unescaping of paths with spaces and does
/// not grow with the number of mounts.
fn is_mountpoint(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(path), path.parent().map(fs::metadata)) {
        (Ok(inner), Some(Ok(outer))) => inner.dev() != outer.dev(),
        _ => false,
    }
}

/// An attached run's caller: the monitor's own stdio, which the CLI that started it handed down.
fn attached_caller(attach: bool, input: bool) -> berth_relay::Caller {
    match attach {
        true => berth_relay::Caller::own_stdio(input).unwrap_or_default(),
        false => berth_relay::Caller::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_seen_whatever_their_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("merged with\ttab and space");
        fs::create_dir(&target).expect("mkdir");
        assert!(!is_mountpoint(&target));
        assert!(!is_mountpoint(&dir.path().join("missing")));
        if rustix::mount::mount("tmpfs", &target, "tmpfs", rustix::mount::MountFlags::empty(), None).is_err() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        let mounted = is_mountpoint(&target);
        let _ = rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH);
        assert!(mounted);
    }
}

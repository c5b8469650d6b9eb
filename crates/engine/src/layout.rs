//! Every path under the data root and the run root that the engine uses, named in one place
//! (the store names its own: blobs/, layers/, ingest/, berth.db). See docs/ARCHITECTURE.md.

use std::path::{Path, PathBuf};

/// Where things live under `$BERTH_ROOT` (`root`) and `$BERTH_RUNROOT` (`runroot`).
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
    runroot: PathBuf,
}

impl Layout {
    pub fn new(root: &Path, runroot: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
            runroot: runroot.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runroot(&self) -> &Path {
        &self.runroot
    }

    /// The metadata database (the store's; named here for messages).
    pub fn database(&self) -> PathBuf {
        self.root.join("berth.db")
    }

    /// One directory per container: upper/, work/, merged/, its /etc files, its log.
    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    pub fn container(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }

    /// One directory per volume, and `.trash` for removals in progress.
    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }

    pub fn volume(&self, name: &str) -> PathBuf {
        self.volumes().join(name)
    }

    pub fn volumes_lock(&self) -> PathBuf {
        self.root.join("volumes.lock")
    }

    /// Blobs a pull fetched but has not committed yet.
    pub fn downloads(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// RUN --mount=type=cache directories.
    pub fn build_cache_mounts(&self) -> PathBuf {
        self.root.join("build-cache-mounts")
    }

    /// This data root's identity, and the temporary file it is written through.
    pub fn root_id(&self) -> PathBuf {
        self.root.join("root-id")
    }

    pub fn events_log(&self) -> PathBuf {
        self.root.join("events.log")
    }

    pub fn events_lock(&self) -> PathBuf {
        self.root.join("events.lock")
    }

    /// `berth registry serve`'s content when no --root is given.
    pub fn registry(&self) -> PathBuf {
        self.root.join("registry")
    }

    /// One directory per container on the run root: start lock, monitor log, ports, bundle.
    pub fn run_containers(&self) -> PathBuf {
        self.runroot.join("containers")
    }

    pub fn run_container(&self, id: &str) -> PathBuf {
        self.run_containers().join(id)
    }

    /// libcontainer's state directories.
    pub fn runtime_state(&self) -> PathBuf {
        self.runroot.join("runtime")
    }

    /// Containers' network namespaces, bind-mounted.
    pub fn netns_dir(&self) -> PathBuf {
        self.runroot.join("netns")
    }

    pub fn netns(&self, id: &str) -> PathBuf {
        self.netns_dir().join(id)
    }

    /// Console and attach sockets.
    pub fn console(&self) -> PathBuf {
        self.runroot.join("console")
    }

    /// Builds' scratch directories.
    pub fn build_scratch(&self) -> PathBuf {
        self.runroot.join("build")
    }

    /// A scratch directory for one command of this process (`cp` unpacks there), made on demand.
    pub fn scratch(&self, purpose: &str) -> PathBuf {
        self.runroot.join(format!("{purpose}-{}", std::process::id()))
    }

    /// The static init for --init.
    pub fn init_binary(&self) -> PathBuf {
        self.runroot.join("berth-init")
    }
}

//! Seccomp filters compiled once and loaded as raw BPF.
//!
//! libcontainer compiles the spec's seccomp profile with libseccomp inside every container's init process:
//! about 5 ms of Docker's ~350-rule profile per start and per exec, on the critical path. Here the profile is
//! compiled once (libseccomp, in the monitor), cached by content, and the container's init loads the BPF program
//! with one seccomp(2) call right before it execs the workload.
//!
//! The load happens in libcontainer's executor, after it has dropped capabilities. Without no_new_privs the
//! kernel wants CAP_SYS_ADMIN for that, so [`prepare`] gives the process CAP_SYS_ADMIN (and CAP_SETPCAP, to drop
//! it from the bounding set again) when the spec did not, and [`FilterExecutor`] takes them away again after
//! loading the filter and before the exec. The workload starts with exactly the spec's capabilities and filter,
//! and without no_new_privs, as under runc or libcontainer's own path.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError};
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{
    Capability, LinuxCapabilities, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, Process, Spec,
};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// The spec file libcontainer runs, in its own directory inside the bundle: the bundle's spec minus the seccomp
/// profile (which [`FilterExecutor`] loads) and with the capabilities that loading needs.
pub const LAUNCH_DIR: &str = "libcontainer";
const FILTER_FILE: &str = "seccomp.bpf";

/// Bumped when the translation below changes, so cached programs from an older berth are not reused.
const FORMAT: &str = "berth-seccomp-1";

/// What [`prepare`] made of a bundle: the directory to hand libcontainer, and the executor to run with.
pub struct Prepared {
    pub bundle: PathBuf,
    pub executor: Option<FilterExecutor>,
    /// The spec's `linux.cgroupsPath`.
    pub cgroups_path: Option<PathBuf>,
}

/// Writes `<bundle>/libcontainer/config.json` for libcontainer when the spec has a seccomp profile this module can
/// load itself (no flags, no notify listener), with the compiled program beside it. Other specs run from the bundle
/// unchanged. `cache` is a directory shared by all containers (compiled programs by content hash).
pub fn prepare(bundle: &Path, cache: &Path) -> Result<Prepared, Error> {
    let config = bundle.join("config.json");
    let mut spec = Spec::load(&config).map_err(|e| Error::Runtime(format!("read {}: {e}", config.display())))?;
    let cgroups_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    let Some(seccomp) = seccomp.filter(loadable) else {
        return Ok(Prepared {
            bundle: bundle.to_path_buf(),
            executor: None,
            cgroups_path,
        });
    };
    let program = cached_program(&seccomp, cache)?;
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(None);
    }
    let added = match spec.process_mut() {
        Some(process) => grant_loading_caps(process),
        None => Vec::new(),
    };
    let dir = bundle.join(LAUNCH_DIR);
    fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    write_file(&dir.join(FILTER_FILE), &program)?;
    let json = serde_json::to_vec(&spec).map_err(|e| Error::Runtime(format!("encode the runtime spec: {e}")))?;
    write_file(&dir.join("config.json"), &json)?;
    Ok(Prepared {
        bundle: dir,
        executor: Some(FilterExecutor { program, added }),
        cgroups_path,
    })
}

/// For an exec into a container started from a prepared bundle (`launch_bundle` is the directory libcontainer
/// ran): the executor with the container's filter, and the process given the capabilities loading needs.
/// `None` when the container was started without a separate filter (libcontainer applies the spec's own).
pub fn prepare_exec(launch_bundle: &Path, process: &mut Process) -> Result<Option<FilterExecutor>, Error> {
    let path = launch_bundle.join(FILTER_FILE);
    let program = match fs::read(&path) {
        Ok(program) => program,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Io { path, source }),
    };
    let added = grant_loading_caps(process);
    Ok(Some(FilterExecutor { program, added }))
}

/// Profiles whose every feature a plain seccomp(SECCOMP_SET_MODE_FILTER, 0) load reproduces.
fn loadable(seccomp: &LinuxSeccomp) -> bool {
    seccomp.flags().as_ref().is_none_or(|f| f.is_empty())
        && seccomp.listener_path().is_none()
        && seccomp.default_action() != LinuxSeccompAction::ScmpActNotify
        && seccomp
            .syscalls()
            .iter()
            .flatten()
            .all(|rule| rule.action() != LinuxSeccompAction::ScmpActNotify)
}

/// The compiled program for a profile, from the cache or compiled and cached now.
fn cached_program(seccomp: &LinuxSeccomp, cache: &Path) -> Result<Vec<u8>, Error> {
    let json = serde_json::to_vec(seccomp).map_err(|e| Error::Runtime(format!("encode the seccomp profile: {e}")))?;
    let mut hash = Sha256::new();
    hash.update(FORMAT);
    hash.update(libseccomp_version());
    hash.update(std::env::consts::ARCH);
    hash.update(&json);
    let path = cache.join(format!("{}.bpf", hex::encode(hash.finalize())));
    if let Ok(program) = fs::read(&path) {
        if !program.is_empty() && program.len() % 8 == 0 {
            return Ok(program);
        }
    }
    let program = compile(seccomp)?;
    fs::create_dir_all(cache).map_err(|source| Error::Io {
        path: cache.to_path_buf(),
        source,
    })?;
    write_file(&path, &program)?;
    Ok(program)
}

fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default()
}

/// Written under a temporary name and renamed, so a reader never sees half a file.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    drop(file);
    fs::rename(&tmp, path).map_err(io)
}

/// Translates an OCI seccomp profile into a BPF program, with the OCI (and runc) semantics: the default action
/// for everything not listed, an errno of EPERM unless the profile says otherwise, syscalls this libseccomp does
/// not know skipped, rules that repeat the default action skipped, and conditions on the same argument twice
/// added as separate (alternative) rules since one libseccomp rule can test an argument only once.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Vec<u8>, Error> {
    let fail = |what: &str, e: libseccomp::error::SeccompError| Error::Seccomp {
        path: "(runtime spec)".into(),
        reason: format!("{what}: {e}"),
    };
    let default = action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| fail("create the filter", e))?;
    // The no_new_privs bit is the spec's business (process.noNewPrivileges), not the filter's.
    ctx.set_ctl_nnp(false).map_err(|e| fail("filter attribute", e))?;
    for arch in seccomp.architectures().iter().flatten() {
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let arch: ScmpArch = name.parse().map_err(|e| fail(&format!("architecture {name}"), e))?;
        if !ctx.is_arch_present(arch).map_err(|e| fail("architecture", e))? {
            ctx.add_arch(arch).map_err(|e| fail("add architecture", e))?;
        }
    }
    for rule in seccomp.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let conditions: Vec<ScmpArgCompare> = rule
            .args()
            .iter()
            .flatten()
            .map(|a| ScmpArgCompare::new(a.index() as u32, compare(a.op(), a.value_two()), a.value()))
            .collect();
        let mut indexes: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
        indexes.sort_unstable();
        let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
        for name in rule.names() {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let added = if conditions.is_empty() {
                ctx.add_rule(act, syscall)
            } else if repeated {
                conditions
                    .iter()
                    .try_for_each(|c| {
                        ctx.add_rule_conditional(act, syscall, std::slice::from_ref(c))
                            .map(|_| ())
                    })
                    .map(|_| &mut ctx)
            } else {
                ctx.add_rule_conditional(act, syscall, &conditions)
            };
            added.map_err(|e| fail(&format!("rule for {name}"), e))?;
        }
    }
    // The program goes out through an fd only (libseccomp 2.5): a memory file, read back.
    let memfd = rustix::fs::memfd_create("seccomp-bpf", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| Error::Runtime(format!("memfd_create: {e}")))?;
    ctx.export_bpf(&memfd).map_err(|e| fail("export the program", e))?;
    let mut file = fs::File::from(memfd);
    let mut program = Vec::new();
    std::io::Seek::rewind(&mut file)
        .and_then(|_| std::io::Read::read_to_end(&mut file, &mut program))
        .map_err(|e| Error::Runtime(format!("read the seccomp program back: {e}")))?;
    Ok(program)
}

fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, Error> {
    let errno = errno.map_or(libc::EPERM, |e| e as i32);
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(u16::try_from(errno).map_err(|_| Error::Seccomp {
            path: "(runtime spec)".into(),
            reason: format!("trace value {errno} is out of range"),
        })?),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn compare(op: LinuxSeccompOperator, value_two: Option<u64>) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // OCI: `value` is the mask, `valueTwo` what the masked argument must equal.
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value_two.unwrap_or(0)),
    }
}

/// The capabilities the init needs to load a filter without no_new_privs (CAP_SYS_ADMIN) and to drop
/// CAP_SYS_ADMIN from its bounding set afterwards (CAP_SETPCAP), added to the process where it lacks them.
/// Returns what was added, for the executor to take away.
fn grant_loading_caps(process: &mut Process) -> Vec<Capability> {
    if process.no_new_privileges() == Some(true) {
        return Vec::new();
    }
    let mut caps = process.capabilities().clone().unwrap_or_else(empty_caps);
    let mut added = Vec::new();
    for cap in [Capability::SysAdmin, Capability::Setpcap] {
        let bounding = caps.bounding().clone().unwrap_or_default();
        let effective = caps.effective().clone().unwrap_or_default();
        let permitted = caps.permitted().clone().unwrap_or_default();
        if bounding.contains(&cap) && effective.contains(&cap) && permitted.contains(&cap) {
            continue;
        }
        if bounding.contains(&cap) || effective.contains(&cap) || permitted.contains(&cap) {
            // Partly granted already: dropping it afterwards would take away what the spec gave. Leave this
            // process to libcontainer's own seccomp path.
            return Vec::new();
        }
        let with = |mut set: std::collections::HashSet<Capability>| {
            set.insert(cap);
            Some(set)
        };
        caps.set_bounding(with(bounding));
        caps.set_effective(with(effective));
        caps.set_permitted(with(permitted));
        added.push(cap);
    }
    process.set_capabilities(Some(caps));
    added
}

fn empty_caps() -> LinuxCapabilities {
    let mut caps = LinuxCapabilities::default();
    for set in [
        LinuxCapabilities::set_bounding,
        LinuxCapabilities::set_effective,
        LinuxCapabilities::set_permitted,
        LinuxCapabilities::set_inheritable,
        LinuxCapabilities::set_ambient,
    ] {
        set(&mut caps, Some(Default::default()));
    }
    caps
}

/// libcontainer's default executor, with the filter loaded and the borrowed capabilities dropped first.
#[derive(Clone)]
pub struct FilterExecutor {
    program: Vec<u8>,
    added: Vec<Capability>,
}

impl FilterExecutor {
    fn load(&self) -> Result<(), String> {
        let filter = libc::sock_fprog {
            len: u16::try_from(self.program.len() / 8).map_err(|_| "seccomp program too long".to_string())?,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `filter` points at `len` 8-byte sock_filter entries owned by `self.program`, alive for the
        // call; the kernel copies the program.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &filter as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(format!("load the seccomp filter: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Takes the borrowed capabilities away again: bounding set first (needs CAP_SETPCAP, so that one last),
    /// then the effective, permitted and inheritable sets.
    fn drop_added(&self) -> Result<(), String> {
        let mut order: Vec<_> = self.added.iter().filter(|c| **c != Capability::Setpcap).collect();
        order.extend(self.added.iter().filter(|c| **c == Capability::Setpcap));
        for cap in &order {
            let cap = caps_cap(**cap);
            caps::drop(None, caps::CapSet::Bounding, cap).map_err(|e| format!("drop {cap} (bounding): {e}"))?;
        }
        for cap in &order {
            let cap = caps_cap(**cap);
            for set in [
                caps::CapSet::Effective,
                caps::CapSet::Permitted,
                caps::CapSet::Inheritable,
            ] {
                caps::drop(None, set, cap).map_err(|e| format!("drop {cap}: {e}"))?;
            }
        }
        Ok(())
    }
}

fn caps_cap(cap: Capability) -> caps::Capability {
    match cap {
        Capability::Setpcap => caps::Capability::CAP_SETPCAP,
        _ => caps::Capability::CAP_SYS_ADMIN,
    }
}

impl Executor for FilterExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        self.load().map_err(ExecutorError::Other)?;
        self.drop_added().map_err(ExecutorError::Other)?;
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }

    fn setup_envs(&self, envs: std::collections::HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        DefaultExecutor {}.setup_envs(envs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker_default() -> LinuxSeccomp {
        let caps: Vec<String> = crate::spec::default_capabilities()
            .iter()
            .map(|c| c.to_string())
            .collect();
        crate::seccomp::default_profile_for(&caps, std::env::consts::ARCH, crate::seccomp::running_kernel())
            .expect("default profile")
    }

    #[test]
    fn compiles_docker_default_into_whole_instructions() {
        let program = compile(&docker_default()).expect("compile");
        assert!(program.len() > 8 * 100, "{} bytes", program.len());
        assert_eq!(program.len() % 8, 0);
    }

    #[test]
    fn repeated_argument_conditions_become_alternatives() {
        // personality(0) or personality(8): one rule could test argument 0 only once.
        let profile: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
                {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[
                    {"index":0,"value":0,"op":"SCMP_CMP_EQ"},{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
                {"names":["no_such_syscall","read"],"action":"SCMP_ACT_ALLOW"},
                {"names":["write"],"action":"SCMP_ACT_ERRNO"}]}"#,
        )
        .expect("profile");
        let program = compile(&profile).expect("compile");
        assert_eq!(program.len() % 8, 0);
    }

    #[test]
    fn prepared_bundle_drops_the_profile_and_caches_the_program() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bundle = tmp.path().join("bundle");
        fs::create_dir_all(&bundle).expect("mkdir");
        let mut spec = Spec::default();
        if let Some(linux) = spec.linux_mut() {
            linux.set_seccomp(Some(docker_default()));
        }
        // oci-spec's default process sets no_new_privileges, which needs no borrowed capabilities.
        if let Some(process) = spec.process_mut() {
            process.set_no_new_privileges(None);
        }
        spec.save(bundle.join("config.json")).expect("save");
        let cache = tmp.path().join("cache");
        let first = prepare(&bundle, &cache).expect("prepare");
        assert_eq!(first.bundle, bundle.join(LAUNCH_DIR));
        let launched = Spec::load(first.bundle.join("config.json")).expect("load");
        assert!(launched.linux().as_ref().and_then(|l| l.seccomp().as_ref()).is_none());
        let caps = launched
            .process()
            .as_ref()
            .and_then(|p| p.capabilities().clone())
            .expect("caps");
        for set in [caps.bounding(), caps.effective(), caps.permitted()] {
            let set = set.clone().unwrap_or_default();
            assert!(set.contains(&Capability::SysAdmin) && set.contains(&Capability::Setpcap));
        }
        let cached: Vec<_> = fs::read_dir(&cache).expect("cache").collect();
        assert_eq!(cached.len(), 1);
        // The same profile again comes from the cache: a program planted there is what gets loaded.
        let path = cached[0].as_ref().expect("entry").path();
        fs::write(&path, [0u8; 16]).expect("plant");
        prepare(&bundle, &cache).expect("prepare again");
        assert_eq!(
            fs::read(bundle.join(LAUNCH_DIR).join(FILTER_FILE)).expect("read"),
            vec![0u8; 16]
        );
    }

    #[test]
    fn specs_without_a_profile_run_unchanged() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut spec = Spec::default();
        if let Some(linux) = spec.linux_mut() {
            linux.set_seccomp(None);
        }
        spec.save(tmp.path().join("config.json")).expect("save");
        let prepared = prepare(tmp.path(), &tmp.path().join("cache")).expect("prepare");
        assert_eq!(prepared.bundle, tmp.path());
        assert!(prepared.executor.is_none());
    }
}

//! The container's process: checks of the command, working directory and hostname, and its environment.

use crate::{user, Error};

use super::{invalid, RunSpec, DEFAULT_PATH};

/// The longest hostname sethostname(2) accepts.
const MAX_HOSTNAME: usize = 64;

pub(super) fn check_process(run: &RunSpec) -> Result<(), Error> {
    if !run.rootfs.is_absolute() {
        return Err(invalid(format!(
            "container root {} must be an absolute path",
            run.rootfs.display()
        )));
    }
    if run.args.first().is_none_or(|a| a.is_empty()) {
        return Err(invalid("no command specified"));
    }
    if run.args.iter().chain(&run.env).any(|s| s.contains('\0')) {
        return Err(invalid("command and environment cannot contain NUL bytes"));
    }
    if !run.cwd.is_empty() && !run.cwd.starts_with('/') {
        return Err(invalid(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            run.cwd
        )));
    }
    if run.cwd.contains('\0') {
        return Err(invalid("the working directory cannot contain NUL bytes"));
    }
    if run.hostname.len() > MAX_HOSTNAME || run.hostname.contains('\0') {
        return Err(invalid(format!(
            "invalid hostname {:?}: at most {MAX_HOSTNAME} bytes",
            run.hostname
        )));
    }
    Ok(())
}

/// PATH, HOSTNAME and TERM (tty), overridden or extended by `run.env` as Docker's
/// ReplaceOrAppendEnvValues does, then HOME from the passwd entry if still unset.
pub(super) fn build_env(run: &RunSpec, home: &str) -> Vec<String> {
    let mut env = vec![format!("PATH={DEFAULT_PATH}")];
    if !run.hostname.is_empty() {
        env.push(format!("HOSTNAME={}", run.hostname));
    }
    if run.tty {
        env.push("TERM=xterm".to_string());
    }
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    let mut entries: Vec<Option<String>> = env.into_iter().map(Some).collect();
    for value in &run.env {
        let k = key(value);
        let existing = entries.iter().position(|e| e.as_deref().is_some_and(|e| key(e) == k));
        match (value.contains('='), existing) {
            (true, Some(i)) => entries[i] = Some(value.clone()),
            (true, None) => entries.push(Some(value.clone())),
            // "KEY" alone unsets KEY.
            (false, Some(i)) => entries[i] = None,
            (false, None) => {}
        }
    }
    let mut env: Vec<String> = entries.into_iter().flatten().collect();
    if let Some(home) = user::home_env(&env, home) {
        env.push(home);
    }
    env
}

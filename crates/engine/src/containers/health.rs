//! HEALTHCHECK: a small process per container with a health check (`berth container-health ID`, started
//! with the container) runs the check in the container every interval, as `exec` does, and keeps the state
//! Docker shows (`starting`, `healthy`, `unhealthy`, the failing streak and the last five results) in
//! `health.json` beside the container's runtime state. It ends when the container is gone or stopped for
//! good.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_runtime::launch;
use berth_store::FileLock;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ExecOptions;
use crate::ContainerState;
use crate::{time, Engine, Error, Result};

/// How many results inspect keeps, as Docker.
const KEPT_RESULTS: usize = 5;
/// Output kept per result, as Docker.
const KEPT_OUTPUT: usize = 4096;

/// Docker's `HealthConfig`: the check as the image and the `--health-*` flags give it. Durations are in
/// nanoseconds; a zero field (or an empty test) means "the image's, or Docker's default".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` no check, `["CMD", args...]`, `["CMD-SHELL", command]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl HealthConfig {
    /// An image's `Healthcheck`; one that does not read as Docker's type is no check, as if absent.
    pub fn from_image(value: &Value) -> Option<HealthConfig> {
        serde_json::from_value(value.clone()).ok()
    }

    /// A stored check: one a config of an older version kept in a shape that no longer reads is no check.
    pub(crate) fn stored<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Option<HealthConfig>, D::Error> {
        Ok(Option::<Value>::deserialize(d)?
            .as_ref()
            .and_then(HealthConfig::from_image))
    }

    /// These settings over `base` (the image's), field by field, as dockerd merges them.
    pub fn over(self, base: Option<HealthConfig>) -> HealthConfig {
        let Some(base) = base else { return self };
        let pick = |mine: i64, theirs: i64| if mine != 0 { mine } else { theirs };
        HealthConfig {
            test: if self.test.is_empty() { base.test } else { self.test },
            interval: pick(self.interval, base.interval),
            timeout: pick(self.timeout, base.timeout),
            start_period: pick(self.start_period, base.start_period),
            start_interval: pick(self.start_interval, base.start_interval),
            retries: pick(self.retries, base.retries),
        }
    }

    /// Docker's checks of the API's values.
    pub fn check(&self) -> Result<()> {
        let at_least_1ms = |name: &str, ns: i64| {
            if ns != 0 && ns < 1_000_000 {
                return Err(Error::InvalidArgument(format!(
                    "{name} in Healthcheck cannot be less than 1ms"
                )));
            }
            Ok(())
        };
        at_least_1ms("Interval", self.interval)?;
        at_least_1ms("Timeout", self.timeout)?;
        at_least_1ms("StartPeriod", self.start_period)?;
        at_least_1ms("StartInterval", self.start_interval)?;
        if self.retries < 0 {
            return Err(Error::InvalidArgument(
                "Retries in Healthcheck cannot be negative".into(),
            ));
        }
        Ok(())
    }
}

/// A container's health check as the checker runs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The command: `CMD args...` runs args, `CMD-SHELL cmd` runs `/bin/sh -c cmd`.
    pub args: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub retries: u32,
}

impl Check {
    /// None for no check or `NONE`; Docker's defaults for what is zero.
    pub fn from_config(config: &HealthConfig) -> Option<Check> {
        let args = match config.test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
            }
            _ => return None,
        };
        let duration = |ns: i64, default: Duration| match u64::try_from(ns) {
            Ok(ns) if ns > 0 => Duration::from_nanos(ns),
            _ => default,
        };
        Some(Check {
            args,
            interval: duration(config.interval, Duration::from_secs(30)),
            timeout: duration(config.timeout, Duration::from_secs(30)),
            start_period: duration(config.start_period, Duration::ZERO),
            retries: u32::try_from(config.retries).ok().filter(|r| *r > 0).unwrap_or(3),
        })
    }
}

/// What inspect shows as `State.Health` (Docker's `Health`), and what the checker records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<CheckResult>,
}

/// One check (Docker's `HealthcheckResult`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CheckResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

fn health_path(engine: &Engine, id: &str) -> PathBuf {
    engine.container_run_dir(id).join("health.json")
}

impl Engine {
    /// The container's health, if it has a check and it has started.
    pub fn container_health(&self, id: &str) -> Option<Health> {
        let bytes = std::fs::read(health_path(self, id)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Starts the health checker of a container that has a check (from a process about to exit, so the
    /// checker is adopted by init rather than left as a zombie of a long-lived process).
    pub(crate) fn start_health_checker(&self, c: &super::Container) {
        if c.config.healthcheck.as_ref().and_then(Check::from_config).is_none() {
            return;
        }
        let id = c.id();
        // A started container with a check is `starting` from the moment its start returns, as with
        // Docker (docker-compose reads a missing status as "no health check" and gives up), not only
        // once the checker process has come up; and a restart starts over.
        self.save_health(
            id,
            &Health {
                status: "starting".into(),
                ..Health::default()
            },
        );
        let Ok(exe) = crate::berth_executable() else { return };
        let mut command = std::process::Command::new(exe);
        command
            .arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot())
            .arg("container-health")
            .arg(id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: setsid is async-signal-safe; the child gets its own session, away from the terminal.
        #[allow(unsafe_code)]
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                let _ = rustix::process::setsid();
                Ok(())
            });
        }
        match command.spawn() {
            Ok(child) => crate::reap::release(child),
            Err(e) => tracing::warn!(id, error = %e, "starting the health checker"),
        }
    }

    /// `berth container-health ID`: checks until the container is gone or stopped.
    pub fn run_health_checks(&self, id: &str) -> Result<()> {
        let c = self.container(id)?;
        let Some(check) = c.config.healthcheck.as_ref().and_then(Check::from_config) else {
            return Ok(());
        };
        let dir = self.container_run_dir(id);
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            path: dir.clone(),
            source: e,
        })?;
        // One checker per container.
        let Some(_lock) = FileLock::try_exclusive(&dir.join("health.lock"))? else {
            return Ok(());
        };
        let started = Instant::now();
        let mut health = Health {
            status: "starting".into(),
            ..Health::default()
        };
        self.save_health(id, &health);
        loop {
            std::thread::sleep(check.interval);
            let c = match self.container(id) {
                Ok(c) => c,
                Err(_) => return Ok(()),
            };
            match c.row.state {
                ContainerState::Running => {}
                ContainerState::Paused | ContainerState::Restarting => continue,
                _ => return Ok(()),
            }
            let result = self.check_once(id, &check);
            let ok = result.exit_code == 0;
            health.log.push(result);
            if health.log.len() > KEPT_RESULTS {
                health.log.remove(0);
            }
            if ok {
                health.status = "healthy".into();
                health.failing_streak = 0;
            } else if started.elapsed() >= check.start_period || health.status != "starting" {
                // Failures in the start period do not count, as in Docker.
                health.failing_streak += 1;
                if health.failing_streak >= check.retries {
                    health.status = "unhealthy".into();
                }
            }
            self.save_health(id, &health);
        }
    }

    fn save_health(&self, id: &str, health: &Health) {
        let path = health_path(self, id);
        if let Ok(bytes) = serde_json::to_vec(health) {
            if let Err(e) = berth_store::write_file_atomic(&path, &bytes) {
                tracing::warn!(id, error = %e, "saving the health state");
            }
        }
    }

    /// Runs the check once in the container, with its timeout; exit code -1 when it could not run.
    fn check_once(&self, id: &str, check: &Check) -> CheckResult {
        let start = time::now();
        let finish = |code: i64, output: String| CheckResult {
            start: start.clone(),
            end: time::now(),
            exit_code: code,
            output,
        };
        let (read, write) = match rustix::pipe::pipe() {
            Ok(p) => p,
            Err(e) => return finish(-1, format!("pipe: {e}")),
        };
        let stderr = match rustix::io::dup(&write) {
            Ok(fd) => fd,
            Err(e) => return finish(-1, format!("dup: {e}")),
        };
        let pid = match self.exec_in_container(
            id,
            &ExecOptions {
                args: check.args.clone(),
                ..ExecOptions::default()
            },
            launch::Stdio::Pipes {
                stdin: None,
                stdout: write,
                stderr,
            },
        ) {
            Ok(pid) => pid,
            Err(e) => return finish(-1, e.to_string()),
        };
        let exit = match launch::wait_exit_within(pid, check.timeout) {
            Ok(Some(exit)) => exit.status() as i64,
            Ok(None) => {
                if let Some(p) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
                }
                let _ = launch::wait_exit(pid);
                return finish(
                    -1,
                    format!("Health check exceeded timeout ({}s)", check.timeout.as_secs()),
                );
            }
            Err(e) => return finish(-1, e.to_string()),
        };
        let mut output = Vec::new();
        let _ = std::fs::File::from(read)
            .take(KEPT_OUTPUT as u64)
            .read_to_end(&mut output);
        finish(exit, String::from_utf8_lossy(&output).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: Value) -> Option<Check> {
        Check::from_config(&HealthConfig::from_image(&value).unwrap())
    }

    #[test]
    fn checks_read_dockers_config() {
        let c = check(serde_json::json!({
            "Test": ["CMD-SHELL", "test -f /ok"],
            "Interval": 1_000_000_000u64,
            "Retries": 2
        }))
        .unwrap();
        assert_eq!(c.args, ["/bin/sh", "-c", "test -f /ok"]);
        assert_eq!(
            (c.interval, c.timeout, c.retries),
            (Duration::from_secs(1), Duration::from_secs(30), 2)
        );
        assert!(check(serde_json::json!({"Test": ["NONE"]})).is_none());
        assert_eq!(
            check(serde_json::json!({"Test": ["CMD", "true"]})).unwrap().args,
            ["true"]
        );
    }

    #[test]
    fn flags_change_only_what_they_name() {
        let image = HealthConfig::from_image(&serde_json::json!({
            "Test": ["CMD", "true"], "Interval": 5_000_000_000i64, "Retries": 4
        }));
        let flags = HealthConfig {
            interval: 1_000_000_000,
            ..HealthConfig::default()
        };
        let merged = flags.over(image);
        assert_eq!(merged.test, ["CMD", "true"]);
        assert_eq!((merged.interval, merged.retries), (1_000_000_000, 4));
        // Docker's JSON leaves zero fields out.
        assert_eq!(
            serde_json::to_string(&merged).unwrap(),
            r#"{"Test":["CMD","true"],"Interval":1000000000,"Retries":4}"#
        );
        let too_short = HealthConfig {
            timeout: 10,
            ..HealthConfig::default()
        };
        assert!(too_short.check().is_err());
        assert!(HealthConfig::from_image(&serde_json::json!({"Test": "not a list"})).is_none());
    }
}

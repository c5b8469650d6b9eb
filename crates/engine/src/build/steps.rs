//! The instructions that change only the image config (ARG, ENV, LABEL, WORKDIR, CMD, ...), and the
//! dispatch of every instruction to its step.

use std::collections::BTreeMap;

use berth_build::{InstructionKind, Source};
use berth_image::spec::History;

use super::cache::cache_key;
use super::download::is_url;
use super::{build_error, clean_path, BuildOptions, BuildOutput, Job, Stage};
use crate::{time, Engine, Error, Result};

impl Engine {
    pub(super) fn build_step(&self, job: &Job<'_>, kind: &InstructionKind, stage: &mut Stage) -> Result<()> {
        let (df, built, meta_args, options, out) = (job.df, &job.built, &job.meta_args, job.options, job.out);
        let escape = df.directives.escape;
        let expand = |stage: &Stage, word: &str| -> Result<String> {
            berth_build::expand(word, escape, &|n| stage.lookup(n)).map_err(build_error)
        };
        match kind {
            InstructionKind::Arg(args) => {
                for arg in args {
                    let value = match options.build_args.get(&arg.name) {
                        Some(v) => Some(v.clone()),
                        None => match &arg.default {
                            Some(d) => Some(expand(stage, d)?),
                            // Re-declaring a meta ARG gives its value to the stage.
                            None => meta_args.get(&arg.name).cloned(),
                        },
                    };
                    if let Some(v) = value {
                        stage.args.insert(arg.name.clone(), v);
                    }
                }
                let text = args
                    .iter()
                    .map(|a| match stage.args.get(&a.name) {
                        Some(v) => format!("{}={v}", a.name),
                        None => a.name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                self.config_step(stage, &format!("ARG {text}"), options, out, |_| Ok(()))
            }
            InstructionKind::Env(pairs) => {
                let mut expanded = Vec::new();
                for kv in pairs {
                    expanded.push((kv.key.clone(), expand(stage, &kv.value)?));
                }
                let text = expanded
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                self.config_step(stage, &format!("ENV {text}"), options, out, |run| {
                    let env = run.env.get_or_insert_with(Vec::new);
                    for (k, v) in &expanded {
                        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != k);
                        env.push(format!("{k}={v}"));
                    }
                    Ok(())
                })
            }
            InstructionKind::Label(pairs) => {
                let mut expanded = Vec::new();
                for kv in pairs {
                    expanded.push((expand(stage, &kv.key)?, expand(stage, &kv.value)?));
                }
                let text = expanded
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                self.config_step(stage, &format!("LABEL {text}"), options, out, |run| {
                    let labels = run.labels.get_or_insert_with(BTreeMap::new);
                    for (k, v) in &expanded {
                        labels.insert(k.clone(), v.clone());
                    }
                    Ok(())
                })
            }
            InstructionKind::Maintainer(name) => {
                let name = name.clone();
                stage.config.author = Some(name.clone());
                self.config_step(stage, &format!("MAINTAINER {name}"), options, out, |_| Ok(()))
            }
            InstructionKind::Expose(ports) => {
                let mut keys = Vec::new();
                for p in ports {
                    let spec = berth_build::parse_port_spec(&expand(stage, p)?).map_err(build_error)?;
                    keys.extend(spec.keys());
                }
                let text = keys.join(" ");
                self.config_step(stage, &format!("EXPOSE {text}"), options, out, |run| {
                    let exposed = run.exposed_ports.get_or_insert_with(BTreeMap::new);
                    for k in &keys {
                        exposed.insert(k.clone(), serde_json::json!({}));
                    }
                    Ok(())
                })
            }
            InstructionKind::Workdir(dir) => {
                let dir = expand(stage, dir)?;
                let current = stage
                    .config
                    .config
                    .as_ref()
                    .map(|c| c.working_dir.clone())
                    .unwrap_or_default();
                let joined = workdir(&current, &dir);
                self.config_step(stage, &format!("WORKDIR {joined}"), options, out, |run| {
                    run.working_dir = joined.clone();
                    Ok(())
                })
            }
            InstructionKind::User(user) => {
                let user = expand(stage, user)?;
                self.config_step(stage, &format!("USER {user}"), options, out, |run| {
                    run.user = user.clone();
                    Ok(())
                })
            }
            InstructionKind::Volume(paths) => {
                let mut expanded = Vec::new();
                for p in paths {
                    expanded.push(expand(stage, p)?);
                }
                let text = format!("VOLUME {expanded:?}");
                self.config_step(stage, &text, options, out, |run| {
                    let volumes = run.volumes.get_or_insert_with(BTreeMap::new);
                    for p in &expanded {
                        volumes.insert(p.clone(), serde_json::json!({}));
                    }
                    Ok(())
                })
            }
            InstructionKind::StopSignal(signal) => {
                let signal = expand(stage, signal)?;
                self.config_step(stage, &format!("STOPSIGNAL {signal}"), options, out, |run| {
                    run.stop_signal = signal.clone();
                    Ok(())
                })
            }
            InstructionKind::Shell(shell) => {
                let shell = shell.clone();
                self.config_step(stage, &format!("SHELL {}", go_quoted(&shell)), options, out, |run| {
                    run.shell = Some(shell.clone());
                    Ok(())
                })
            }
            InstructionKind::Cmd(command) => {
                let args = stage.command_args(command);
                self.config_step(stage, &format!("CMD {}", go_quoted(&args)), options, out, |run| {
                    run.cmd = Some(args.clone());
                    Ok(())
                })
            }
            InstructionKind::Entrypoint(command) => {
                let args = command.as_ref().map(|c| stage.command_args(c));
                let text = format!("ENTRYPOINT {}", go_quoted(args.as_deref().unwrap_or_default()));
                self.config_step(stage, &text, options, out, |run| {
                    run.entrypoint = args.clone();
                    // Docker: a new ENTRYPOINT drops the CMD inherited from the base.
                    run.cmd = None;
                    Ok(())
                })
            }
            InstructionKind::Onbuild(onbuild) => {
                let expression = onbuild.expression.clone();
                self.config_step(stage, &format!("ONBUILD {expression}"), options, out, |run| {
                    run.on_build.get_or_insert_with(Vec::new).push(expression.clone());
                    Ok(())
                })
            }
            InstructionKind::Healthcheck(check) => {
                let value = healthcheck_json(check);
                let text = format!("HEALTHCHECK {}", serde_json::to_string(&value).unwrap_or_default());
                self.config_step(stage, &text, options, out, |run| {
                    run.healthcheck = Some(value.clone());
                    Ok(())
                })
            }
            InstructionKind::Run(run) => self.run_step(job, stage, run),
            InstructionKind::Copy(copy) => {
                let from_image = match &copy.from {
                    None => None,
                    Some(from) => Some(self.copy_source_image(df, &expand(stage, from)?, built)?),
                };
                self.copy_step(job, stage, &copy.files, from_image.as_ref(), None, copy.parents)
            }
            InstructionKind::Add(add) => {
                let sources = &add.files.sources;
                if add.checksum.is_some() && !sources.iter().all(|s| matches!(s, Source::Path(p) if is_url(p))) {
                    return Err(Error::InvalidArgument(
                        "ADD --checksum works with URL sources only".into(),
                    ));
                }
                let checksum = match &add.checksum {
                    Some(c) => Some(expand(stage, c)?),
                    None => None,
                };
                self.copy_step(job, stage, &add.files, None, Some(checksum), false)
            }
        }
    }

    /// A step that changes only the image config (`text` is its history entry).
    fn config_step(
        &self,
        stage: &mut Stage,
        text: &str,
        options: &BuildOptions,
        out: &dyn BuildOutput,
        change: impl FnOnce(&mut berth_image::spec::ContainerConfig) -> Result<()>,
    ) -> Result<()> {
        let args = stage.args_in_effect(&options.build_args);
        // The change itself, applied to a copy first: its result (not just its text) keys the cache for
        // steps like MAINTAINER that change the config outside `config`.
        let mut config = stage.config.clone();
        change(config.config.get_or_insert_with(Default::default))?;
        let key = cache_key(
            stage,
            text,
            &args,
            &serde_json::to_string(&config.config).unwrap_or_default(),
        );
        if self.reuse_cached(stage, &key, options, out)? {
            return Ok(());
        }
        let now = time::now();
        config.created = Some(now.clone());
        config.history.push(History {
            created: Some(now),
            created_by: Some(format!("/bin/sh -c #(nop)  {text}")),
            author: None,
            comment: None,
            empty_layer: true,
        });
        let id = self.write_image(stage.image.as_ref(), None, &config, None)?;
        self.advance(stage, &key, id, out)
    }
}

/// WORKDIR `dir` (expanded) from the `current` working directory: absolute and clean.
fn workdir(current: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!(
            "{}/{dir}",
            if current.is_empty() {
                ""
            } else {
                current.trim_end_matches('/')
            }
        )
    };
    clean_path(&joined)
}

/// The image config's `Healthcheck`, as Docker writes it (durations in nanoseconds, zeros left out).
fn healthcheck_json(check: &berth_build::Healthcheck) -> serde_json::Value {
    let mut config = crate::containers::HealthConfig {
        test: check.test(),
        ..Default::default()
    };
    if let berth_build::Healthcheck::Cmd {
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
        ..
    } = check
    {
        let nanos = |d: &Option<std::time::Duration>| d.map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        config.interval = nanos(interval);
        config.timeout = nanos(timeout);
        config.start_period = nanos(start_period);
        config.start_interval = nanos(start_interval);
        config.retries = retries.map_or(0, i64::from);
    }
    serde_json::to_value(config).unwrap_or_default()
}

/// A command line as Docker's history shows it (Go's `%q` of a string list): `["ruby" "web.rb"]`.
fn go_quoted(args: &[String]) -> String {
    let quoted: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_quotes_command_lines_as_docker_does() {
        let args = vec![
            "ruby".to_string(),
            "/usr/src/app/web.rb".to_string(),
            "a \"b\"".to_string(),
        ];
        assert_eq!(go_quoted(&args), r#"["ruby" "/usr/src/app/web.rb" "a \"b\""]"#);
        assert_eq!(go_quoted(&[]), "[]");
    }

    #[test]
    fn workdirs_join_the_current_one() {
        assert_eq!(workdir("", "app"), "/app");
        assert_eq!(workdir("/", "app"), "/app");
        assert_eq!(workdir("/srv/", "app/../web/"), "/srv/web");
        assert_eq!(workdir("/srv", "/abs/./x"), "/abs/x");
        assert_eq!(workdir("/srv", ".."), "/");
    }

    fn healthcheck(line: &str) -> serde_json::Value {
        let df = berth_build::parse(&format!("FROM scratch\n{line}\n")).unwrap();
        match &df.stages[0].instructions[0].kind {
            InstructionKind::Healthcheck(check) => healthcheck_json(check),
            other => panic!("not a healthcheck: {other:?}"),
        }
    }

    #[test]
    fn healthchecks_are_written_as_docker_does() {
        assert_eq!(
            healthcheck("HEALTHCHECK --interval=5s --timeout=1500ms --retries=3 CMD curl -f http://localhost/"),
            serde_json::json!({
                "Test": ["CMD-SHELL", "curl -f http://localhost/"],
                "Interval": 5_000_000_000u64,
                "Timeout": 1_500_000_000u64,
                "Retries": 3,
            })
        );
        assert_eq!(
            healthcheck("HEALTHCHECK --start-period=1m CMD [\"/bin/check\", \"-q\"]"),
            serde_json::json!({ "Test": ["CMD", "/bin/check", "-q"], "StartPeriod": 60_000_000_000u64 })
        );
        assert_eq!(healthcheck("HEALTHCHECK NONE"), serde_json::json!({ "Test": ["NONE"] }));
    }
}

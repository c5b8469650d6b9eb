//! The RUN step: the command in a throwaway container on the engine, its `--mount`s, its changes as a layer.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use berth_build::CommandLine;
use berth_store::Digest;

use super::cache::{cache_key, tree_stamp};
use super::sources::resolve_sources;
use super::view::ImageView;
use super::{build_error, clean_path, rand_suffix, BuildOutput, Job, Stage};
use crate::containers::{Caller, ContainerConfig, CreateOptions, Ended, HostConfig, StartMode};
use crate::images::derive::NewLayer;
use crate::{Engine, Error, Result};

impl Engine {
    pub(super) fn run_step(&self, job: &Job<'_>, stage: &mut Stage, run: &berth_build::Run) -> Result<()> {
        let (options, out) = (job.options, job.out);
        let args = run_args(stage, run);
        let build_args = stage.args_in_effect(&options.build_args);
        let created_by = created_by(&build_args, &args);
        // RUN --mount: what each mount brings (and what of it keys the cache).
        let mut views = Vec::new();
        let mut mounts = RunMounts::default();
        for (n, m) in run.mounts.iter().enumerate() {
            self.plan_mount(job, stage, n, m, &mut views, &mut mounts)?;
        }
        let key = cache_key(stage, &format!("RUN {args:?}"), &build_args, &mounts.key);
        if self.reuse_cached(stage, &key, options, out)? {
            return Ok(());
        }
        let Some(image) = stage.image.clone() else {
            return Err(Error::InvalidArgument(
                "RUN needs a base image with a shell: FROM scratch has none".into(),
            ));
        };
        let env = run_env(stage, &build_args, &mounts.env);
        let run_config = stage.config.config.clone().unwrap_or_default();
        let network = run_network(run.network, options.network.as_deref());
        let container = self.create_container(CreateOptions {
            entrypoint: Some(Vec::new()),
            cmd: args.clone(),
            config: ContainerConfig {
                image: image.id.to_string(),
                env,
                working_dir: run_config.working_dir.clone(),
                user: run_config.user.clone(),
                host: HostConfig {
                    network_mode: network,
                    extra_hosts: options.add_hosts.clone(),
                    log_type: "none".into(),
                    tmpfs: mounts.tmpfs.clone(),
                    ..HostConfig::default()
                },
                // A killed build cannot remove its step's container: whoever notices will.
                owner: Some(crate::containers::monitor::Owner::this_process()),
                ..ContainerConfig::default()
            },
            volumes: mounts.binds.clone(),
            ..CreateOptions::default()
        })?;
        let cid = container.id().to_string();
        out.line(&format!(" ---> Running in {}", &cid[..12]));
        let result = (|| -> Result<Digest> {
            let code = if options.quiet {
                self.start_container(&cid, StartMode::Detached)?;
                self.wait_container(&cid)?
            } else {
                self.run_attached(&cid, out)?
            };
            if code != 0 {
                return Err(Error::StepFailed {
                    code,
                    message: format!("The command '{}' returned a non-zero code: {code}", args.join(" ")),
                });
            }
            let ingest = self.store().ingest()?;
            let (tar, written) = self.container_layer(&ingest, &container)?;
            let config = stage.config_with_layer(&written.diff_id, created_by.clone());
            self.write_image(Some(&image), Some(NewLayer { ingest: &ingest, tar }), &config, None)
        })();
        if let Err(e) = self.remove_container(&cid, true, true) {
            tracing::warn!(container = %cid, error = %e, "removing a build container");
        }
        out.line(&format!("Removing intermediate container {}", &cid[..12]));
        drop(views);
        for dir in &mounts.scratch {
            let _ = fs::remove_dir_all(dir);
        }
        let id = result?;
        self.advance(stage, &key, id, out)
    }

    /// Starts the step's container with its output going to the build's output, line by line, and
    /// waits for its exit code.
    fn run_attached(&self, cid: &str, out: &dyn BuildOutput) -> Result<i64> {
        let (read, write) = berth_relay::cloexec_pipe().map_err(|source| Error::Stream {
            context: "creating the RUN step's output pipe".into(),
            source,
        })?;
        let stderr = write.try_clone().map_err(|e| Error::Stream {
            context: "creating the RUN step's output pipe".into(),
            source: e,
        })?;
        let caller = Caller {
            stdin: None,
            stdout: Some(write),
            stderr: Some(stderr),
        };
        // The start takes our write ends along: the pipe ends when the container's monitor does.
        let started = self.start_container(cid, StartMode::Attached(caller))?;
        for line in BufReader::new(fs::File::from(read)).split(b'\n') {
            let Ok(line) = line else { break };
            out.line(&String::from_utf8_lossy(&line));
        }
        Ok(match started.wait_exit()? {
            Ended::Exited(code) => code as i64,
            Ended::Detached => self.wait_container(cid)?,
        })
    }

    /// Turns one `RUN --mount` into what the step's container gets: a bind (read-only from the context or
    /// another stage, or a private copy when writable), a tmpfs, or a cache directory kept across builds.
    fn plan_mount(
        &self,
        job: &Job<'_>,
        stage: &Stage,
        n: usize,
        mount: &berth_build::Mount,
        views: &mut Vec<ImageView>,
        out: &mut RunMounts,
    ) -> Result<()> {
        use berth_build::MountType;
        let expand =
            |w: &str| berth_build::expand(w, job.df.directives.escape, &|v| stage.lookup(v)).map_err(build_error);
        let target = match &mount.target {
            Some(t) => clean_path(&expand(t)?),
            // A secret given as a variable needs no file.
            None if mount.kind == MountType::Secret => String::new(),
            None => return Err(Error::InvalidArgument("RUN --mount needs a target".into())),
        };
        match mount.kind {
            MountType::Tmpfs => {
                let options = mount.size.map(|s| format!("size={s}")).unwrap_or_default();
                // The key's text is what earlier versions wrote, so their cached steps still hit.
                let size = mount.size.map(|s| format!(":size={s}")).unwrap_or_default();
                out.key.push_str(&format!("tmpfs {target}{size}\n"));
                out.tmpfs.insert(target, options);
            }
            MountType::Cache => {
                let id = match &mount.id {
                    Some(id) => expand(id)?,
                    None => target.clone(),
                };
                let dir = self
                    .root()
                    .join("build-cache-mounts")
                    .join(Digest::of(id.as_bytes()).hex());
                if !dir.exists() {
                    fs::create_dir_all(&dir).map_err(|e| Error::Io {
                        path: dir.clone(),
                        source: e,
                    })?;
                    let mode = mount.mode.unwrap_or(0o755);
                    let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(mode));
                    let _ = std::os::unix::fs::chown(&dir, Some(mount.uid.unwrap_or(0)), Some(mount.gid.unwrap_or(0)));
                }
                out.binds.push(format!("{}:{target}", dir.display()));
                // A cache's content is not part of the step's identity, as in BuildKit.
                out.key.push_str(&format!("cache {id} {target}\n"));
            }
            MountType::Bind => {
                let root = match &mount.from {
                    Some(from) => {
                        let image = self.copy_source_image(job.df, &expand(from)?, &job.built)?;
                        let view = ImageView::mount(self, &image)?;
                        let path = view.path.clone();
                        out.key.push_str(&format!("from {}\n", image.id));
                        views.push(view);
                        path
                    }
                    None => job.context.clone(),
                };
                let source = expand(mount.source.as_deref().unwrap_or("."))?;
                let matched = resolve_sources(&root, &source, None)?;
                let Some((_, full)) = matched.into_iter().next() else {
                    return Err(Error::InvalidArgument(format!("RUN --mount source {source} not found")));
                };
                out.key
                    .push_str(&format!("bind {source} {target} {}\n", tree_stamp(&full)));
                let host = if mount.readonly {
                    full
                } else {
                    // Writes to a writable bind stay in the step, as in BuildKit: the container gets a copy.
                    let copy = self.layout().build_scratch().join(format!(
                        "mount-{}-{n}-{}",
                        std::process::id(),
                        rand_suffix()
                    ));
                    fs::create_dir_all(copy.parent().unwrap_or(&copy)).map_err(|e| Error::Io {
                        path: copy.clone(),
                        source: e,
                    })?;
                    let status = std::process::Command::new("cp")
                        .arg("-a")
                        .arg(&full)
                        .arg(&copy)
                        .status()
                        .map_err(|e| Error::Io {
                            path: copy.clone(),
                            source: e,
                        })?;
                    if !status.success() {
                        return Err(Error::InvalidArgument(format!(
                            "copying {} for a writable RUN --mount failed",
                            full.display()
                        )));
                    }
                    out.scratch.push(copy.clone());
                    copy
                };
                let ro = if mount.readonly { ":ro" } else { "" };
                out.binds.push(format!("{}:{target}{ro}", host.display()));
            }
            MountType::Secret => {
                let id = match &mount.id {
                    Some(id) => expand(id)?,
                    None => target.rsplit('/').next().unwrap_or_default().to_string(),
                };
                let target = if target.is_empty() {
                    format!("/run/secrets/{id}")
                } else {
                    target
                };
                let Some(secret) = job.options.secrets.get(&id) else {
                    if mount.required {
                        return Err(Error::InvalidArgument(format!(
                            "secret {id} is required: give it with --secret id={id},src=FILE"
                        )));
                    }
                    return Ok(());
                };
                // Secrets never key the cache and never reach a layer (a file is bind-mounted read-only).
                out.key.push_str(&format!("secret {id} {target}\n"));
                match &mount.env {
                    Some(var) => out.env.push(format!("{var}={}", String::from_utf8_lossy(secret))),
                    None => {
                        let dir = self.layout().build_scratch().join(format!(
                            "secret-{}-{n}-{}",
                            std::process::id(),
                            rand_suffix()
                        ));
                        fs::create_dir_all(&dir).map_err(|e| Error::Io {
                            path: dir.clone(),
                            source: e,
                        })?;
                        let file = dir.join("secret");
                        fs::write(&file, secret).map_err(|e| Error::Io {
                            path: file.clone(),
                            source: e,
                        })?;
                        let _ = fs::set_permissions(&file, fs::Permissions::from_mode(mount.mode.unwrap_or(0o400)));
                        let _ =
                            std::os::unix::fs::chown(&file, Some(mount.uid.unwrap_or(0)), Some(mount.gid.unwrap_or(0)));
                        out.binds.push(format!("{}:{target}:ro", file.display()));
                        out.scratch.push(dir);
                    }
                }
            }
            MountType::Ssh => {
                return Err(Error::InvalidArgument(
                    "RUN --mount=type=ssh is not supported by berth build yet".into(),
                ))
            }
        }
        Ok(())
    }
}

/// What a RUN step runs: its command through the stage's SHELL (exec form as is), or for `RUN <<EOF` the
/// here-document as the shell's script.
fn run_args(stage: &Stage, run: &berth_build::Run) -> Vec<String> {
    match (&run.command, run.heredocs.first()) {
        // `RUN <<EOF`: the here-document is the script.
        (CommandLine::Shell(line), Some(doc))
            if line.trim() == format!("<<{}", doc.name) || line.trim().starts_with("<<") =>
        {
            let mut shell = stage.command_args(&CommandLine::Shell(String::new()));
            shell.pop();
            shell.push(doc.content.clone());
            shell
        }
        (command, _) => stage.command_args(command),
    }
}

/// A RUN step's history entry, as Docker's classic builder writes it: `|N K=V... ARGS` when build args
/// are in effect.
fn created_by(build_args: &[(String, String)], args: &[String]) -> String {
    if build_args.is_empty() {
        args.join(" ")
    } else {
        let list: Vec<String> = build_args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("|{} {} {}", list.len(), list.join(" "), args.join(" "))
    }
}

/// A RUN container's environment: the stage's ENV, the build args in effect that ENV does not set, then
/// what the mounts add (secrets given as variables).
fn run_env(stage: &Stage, build_args: &[(String, String)], mount_env: &[String]) -> Vec<String> {
    let mut env = stage.env();
    for (k, v) in build_args {
        if !env.iter().any(|e| e.starts_with(&format!("{k}="))) {
            env.push(format!("{k}={v}"));
        }
    }
    env.extend(mount_env.iter().cloned());
    env
}

/// The network of a RUN container: `RUN --network`, else `build --network`, else the default bridge
/// (for a rootless berth, which has no bridge yet, the user's own network).
fn run_network(mode: Option<berth_build::NetworkMode>, build_network: Option<&str>) -> String {
    match mode {
        Some(berth_build::NetworkMode::None) => "none".to_string(),
        Some(berth_build::NetworkMode::Host) => "host".to_string(),
        _ => build_network
            .map(str::to_string)
            .unwrap_or_else(|| match crate::rootless::is_rootless() {
                true => "host".into(),
                false => "default".into(),
            }),
    }
}

/// What a RUN step's `--mount`s give its container.
#[derive(Default)]
struct RunMounts {
    /// `-v` style binds.
    binds: Vec<String>,
    /// Mount point to tmpfs options.
    tmpfs: std::collections::BTreeMap<String, String>,
    /// Private copies for writable binds, removed after the step.
    scratch: Vec<PathBuf>,
    /// What of the mounts goes into the step's cache key.
    key: String,
    /// Environment for the step (secrets given as variables).
    env: Vec<String>,
}

#[cfg(test)]
mod tests {
    use berth_build::{InstructionKind, NetworkMode};

    use super::super::tests::stage;
    use super::*;

    fn run(line: &str) -> berth_build::Run {
        let df = berth_build::parse(&format!("FROM scratch\n{line}\n")).unwrap();
        match &df.stages[0].instructions[0].kind {
            InstructionKind::Run(run) => run.clone(),
            other => panic!("not a RUN: {other:?}"),
        }
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn run_goes_through_the_shell_unless_in_exec_form() {
        let sh = stage(&[], &[], None);
        assert_eq!(run_args(&sh, &run("RUN echo $HOME")), ["/bin/sh", "-c", "echo $HOME"]);
        assert_eq!(run_args(&sh, &run("RUN [\"echo\", \"$HOME\"]")), ["echo", "$HOME"]);
        let bash = stage(&[], &[], Some(&["/bin/bash", "-c"]));
        assert_eq!(run_args(&bash, &run("RUN echo hi")), ["/bin/bash", "-c", "echo hi"]);
    }

    #[test]
    fn a_run_of_only_a_here_document_runs_it_as_the_script() {
        let bash = stage(&[], &[], Some(&["/bin/bash", "-c"]));
        let step = run("RUN <<EOF\necho one\necho two\nEOF");
        assert_eq!(run_args(&bash, &step), ["/bin/bash", "-c", "echo one\necho two\n"]);
        // A command that feeds a here-document to a program stays the command.
        let step = run("RUN cat <<EOF > /greeting\nhello\nEOF");
        assert_eq!(run_args(&bash, &step), ["/bin/bash", "-c", "cat <<EOF > /greeting"]);
    }

    #[test]
    fn history_shows_the_build_args_in_effect() {
        let args = strings(&["/bin/sh", "-c", "make"]);
        assert_eq!(created_by(&[], &args), "/bin/sh -c make");
        let build_args = [("A".to_string(), "1".to_string()), ("B".to_string(), "x y".to_string())];
        assert_eq!(created_by(&build_args, &args), "|2 A=1 B=x y /bin/sh -c make");
    }

    #[test]
    fn env_is_the_stage_then_unset_build_args_then_mounts() {
        let with_env = stage(&["PATH=/bin", "A=env"], &[], None);
        let build_args = [
            ("A".to_string(), "arg".to_string()),
            ("B".to_string(), "arg".to_string()),
        ];
        assert_eq!(
            run_env(&with_env, &build_args, &strings(&["TOKEN=secret"])),
            ["PATH=/bin", "A=env", "B=arg", "TOKEN=secret"]
        );
    }

    #[test]
    fn the_network_is_the_step_then_the_build_then_the_default() {
        assert_eq!(run_network(Some(NetworkMode::None), Some("custom")), "none");
        assert_eq!(run_network(Some(NetworkMode::Host), None), "host");
        assert_eq!(run_network(Some(NetworkMode::Default), Some("custom")), "custom");
        assert_eq!(run_network(None, Some("custom")), "custom");
        assert_eq!(run_network(None, None), "default");
    }
}

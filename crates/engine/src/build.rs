//! `build`: runs a Dockerfile as Docker's classic builder does. Every step makes an image on top of the
//! previous one: RUN through a container on the engine (its changes become a layer), COPY by writing a
//! layer straight from the context, and the other instructions by changing only the config. Each step's
//! image is remembered under a cache key (parent image, instruction as expanded, build args in effect,
//! and for COPY the content of the files it copies), so a build that changed nothing is all cache hits.
//!
//! The parsing, substitution and `.dockerignore` rules are `berth-build`'s; this module does what needs
//! the engine.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use berth_build::{CommandLine, Dockerfile, Ignore, InstructionKind, Source};
use berth_image::spec::{History, ImageConfig, RootFs};
use berth_store::{meta, Digest, Hasher};

use crate::containers::{ContainerConfig, CreateOptions, Ended, HostConfig, StartMode};
use crate::images::derive::NewLayer;
use crate::{time, Engine, Error, Result};

/// What `build` is asked for.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// The context directory.
    pub context: PathBuf,
    /// `-f`: the Dockerfile (default: `Dockerfile` in the context).
    pub dockerfile: Option<PathBuf>,
    /// `-f -`: the Dockerfile's text itself.
    pub dockerfile_text: Option<String>,
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub labels: BTreeMap<String, String>,
    /// `--network` for RUN steps (default: the default bridge, as Docker).
    pub network: Option<String>,
    /// `-q`: RUN output is not shown.
    pub quiet: bool,
    /// `--add-host NAME:IP` for RUN steps.
    pub add_hosts: Vec<String>,
    /// `--secret id=...`: what `RUN --mount=type=secret` can see, by id (never stored in an image).
    pub secrets: BTreeMap<String, Vec<u8>>,
}

/// Where the builder's lines go (Docker's classic output).
pub trait BuildOutput: Sync {
    fn line(&self, text: &str);
}

/// Build args Docker predefines (usable without an ARG, never persisted).
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn step_failed(message: String) -> Error {
    Error::InvalidArgument(message)
}

/// The state of the stage being built.
struct Stage {
    /// The image the last step made (None while a `scratch` stage has no step yet).
    image: Option<meta::Image>,
    config: ImageConfig,
    /// ARGs declared in this stage, with their values.
    args: BTreeMap<String, String>,
}

impl Stage {
    fn env(&self) -> Vec<String> {
        self.config
            .config
            .as_ref()
            .and_then(|c| c.env.clone())
            .unwrap_or_default()
    }

    /// What `$NAME` means at this step: the stage's ENV, then its ARGs.
    fn lookup(&self, name: &str) -> Option<String> {
        for e in self.env().iter().rev() {
            if let Some((k, v)) = e.split_once('=') {
                if k == name {
                    return Some(v.to_string());
                }
            }
        }
        self.args.get(name).cloned()
    }
}

/// What every step of one build shares.
struct Job<'a> {
    df: &'a Dockerfile,
    /// The image each finished stage made.
    built: HashMap<usize, meta::Image>,
    /// ARGs before the first FROM, with their values.
    meta_args: BTreeMap<String, String>,
    options: &'a BuildOptions,
    context: PathBuf,
    ignore: Ignore,
    out: &'a dyn BuildOutput,
}

impl Engine {
    /// `build`: returns the image ID; tags it as asked.
    pub fn build(&self, options: &BuildOptions, out: &dyn BuildOutput) -> Result<Digest> {
        let context = fs::canonicalize(&options.context).map_err(|e| {
            Error::InvalidArgument(format!(
                "unable to prepare context: path {:?} not found: {e}",
                options.context.display().to_string()
            ))
        })?;
        if !context.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "unable to prepare context: {} is not a directory",
                context.display()
            )));
        }
        let (name, text) = match (&options.dockerfile_text, &options.dockerfile) {
            (Some(text), _) => ("Dockerfile".to_string(), text.clone()),
            (None, path) => {
                let path = path.clone().unwrap_or_else(|| context.join("Dockerfile"));
                let text = fs::read_to_string(&path).map_err(|e| {
                    Error::InvalidArgument(format!("failed to read dockerfile {}: {e}", path.display()))
                })?;
                let name = path
                    .file_name()
                    .map_or("Dockerfile".into(), |n| n.to_string_lossy().into_owned());
                (name, text)
            }
        };
        let df = berth_build::parse_named(&name, &text).map_err(build_error)?;
        let ignore = match berth_build::find_dockerignore(&context, options.dockerfile.as_deref()) {
            Some(path) => {
                let text = fs::read_to_string(&path).unwrap_or_default();
                Ignore::parse(&text).map_err(build_error)?
            }
            None => Ignore::parse("").map_err(build_error)?,
        };

        // ARGs before the first FROM: usable in FROM lines, and (re-declared) in stages.
        // The automatic platform args (this machine builds for itself), then the ARGs before FROM.
        let host = berth_image::spec::host_platform();
        let platform = format!("{}/{}", host.os, host.architecture);
        let mut meta_args: BTreeMap<String, String> = BTreeMap::new();
        for prefix in ["BUILD", "TARGET"] {
            meta_args.insert(format!("{prefix}PLATFORM"), platform.clone());
            meta_args.insert(format!("{prefix}OS"), host.os.clone());
            meta_args.insert(format!("{prefix}ARCH"), host.architecture.clone());
        }
        for arg in &df.args_before_from {
            let lookup = |n: &str| meta_args.get(n).cloned();
            let value = match options.build_args.get(&arg.name) {
                Some(v) => Some(v.clone()),
                None => arg
                    .default
                    .as_deref()
                    .map(|d| berth_build::expand(d, df.directives.escape, &lookup))
                    .transpose()
                    .map_err(build_error)?,
            };
            if let Some(v) = value {
                meta_args.insert(arg.name.clone(), v);
            }
        }
        let lookup = |n: &str| meta_args.get(n).cloned();
        let target = berth_build::resolve_target(&df, options.target.as_deref()).map_err(build_error)?;
        let graph = berth_build::StageGraph::new(&df, &lookup).map_err(build_error)?;
        let order = graph.needed(target);
        let total: usize = order.iter().map(|&i| 1 + df.stages[i].instructions.len()).sum();

        let mut job = Job {
            df: &df,
            built: HashMap::new(),
            meta_args,
            options,
            context,
            ignore,
            out,
        };
        // Step numbers follow the file; stages whose dependencies are built run side by side.
        let mut first_step = HashMap::new();
        let mut next = 0;
        for &index in &order {
            first_step.insert(index, next);
            next += 1 + df.stages[index].instructions.len();
        }
        let mut waiting = order.clone();
        while !waiting.is_empty() {
            let (ready, later): (Vec<usize>, Vec<usize>) = waiting
                .iter()
                .partition(|&&i| graph.deps(i).iter().all(|d| job.built.contains_key(d)));
            if ready.is_empty() {
                return Err(Error::InvalidArgument(
                    "the build stages depend on each other in a cycle".into(),
                ));
            }
            let results: Vec<(usize, Result<meta::Image>)> = if ready.len() == 1 {
                let mut step = first_step[&ready[0]];
                vec![(ready[0], self.build_stage(&job, ready[0], &mut step, total))]
            } else {
                let job = &job;
                std::thread::scope(|scope| {
                    let handles: Vec<_> = ready
                        .iter()
                        .map(|&i| {
                            let mut step = first_step[&i];
                            (i, scope.spawn(move || self.build_stage(job, i, &mut step, total)))
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|(i, h)| {
                            let result = h
                                .join()
                                .unwrap_or_else(|_| Err(Error::InvalidArgument("a build stage panicked".into())));
                            (i, result)
                        })
                        .collect()
                })
            };
            for (index, result) in results {
                job.built.insert(index, result?);
            }
            waiting = later;
        }
        let image = job
            .built
            .remove(&target)
            .ok_or_else(|| Error::InvalidArgument("the target stage was not built".into()))?;
        let id = image.id.clone();
        if !options.labels.is_empty() {
            // --label: applied to the final image only, as Docker does.
            return self.finish_with_labels(image, options, out);
        }
        self.tag_result(&id, options, out)?;
        Ok(id)
    }

    fn finish_with_labels(&self, image: meta::Image, options: &BuildOptions, out: &dyn BuildOutput) -> Result<Digest> {
        let mut config = self.image(&image.id.to_string())?.config;
        let run = config.config.get_or_insert_with(Default::default);
        let labels = run.labels.get_or_insert_with(Default::default);
        for (k, v) in &options.labels {
            labels.insert(k.clone(), v.clone());
        }
        config.created = Some(time::now());
        let id = self.write_image(Some(&image), None, &config, None)?;
        self.tag_result(&id, options, out)?;
        Ok(id)
    }

    fn tag_result(&self, id: &Digest, options: &BuildOptions, out: &dyn BuildOutput) -> Result<()> {
        out.line(&format!("Successfully built {}", id.short()));
        for tag in &options.tags {
            self.tag(&id.to_string(), tag)?;
            let shown = berth_reference::Reference::parse_docker(tag).map_or(tag.clone(), |r| r.familiar_string());
            out.line(&format!("Successfully tagged {shown}"));
        }
        Ok(())
    }

    fn build_stage(&self, job: &Job<'_>, index: usize, step: &mut usize, total: usize) -> Result<meta::Image> {
        let (df, built, meta_args, options, out) = (job.df, &job.built, &job.meta_args, job.options, job.out);
        let spec = &df.stages[index];
        let escape = df.directives.escape;
        *step += 1;
        out.line(&format!("Step {step}/{total} : {}", spec.original));
        let lookup = |n: &str| meta_args.get(n).cloned();
        let base = berth_build::expand(&spec.base, escape, &lookup).map_err(build_error)?;
        if let Some(platform) = &spec.platform {
            let platform = berth_build::expand(platform, escape, &lookup).map_err(build_error)?;
            let wanted = &meta_args["TARGETPLATFORM"];
            if !platform.is_empty() && platform.trim_end_matches("/v1") != wanted {
                return Err(Error::InvalidArgument(format!(
                    "FROM --platform={platform}: berth builds for {wanted} only (no emulation)"
                )));
            }
        }
        let mut stage = self.stage_from(df, &base, built, options)?;
        match &stage.image {
            Some(image) => out.line(&format!(" ---> {}", image.id.short())),
            None => out.line(" ---> "),
        }
        // The base image's ONBUILD triggers run first, in this build's context; the child does not
        // inherit them.
        let triggers = stage
            .config
            .config
            .as_mut()
            .and_then(|c| c.on_build.take())
            .unwrap_or_default();
        if !triggers.is_empty() {
            out.line(&format!(
                "# Executing {} build trigger{}",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            ));
            for trigger in &triggers {
                let parsed =
                    berth_build::parse_named("ONBUILD", &format!("FROM scratch\n{trigger}\n")).map_err(build_error)?;
                for instruction in parsed.stages.iter().flat_map(|s| &s.instructions) {
                    self.build_step(job, &instruction.kind, &mut stage)?;
                }
            }
        }
        for instruction in &spec.instructions {
            *step += 1;
            out.line(&format!("Step {step}/{total} : {}", instruction.original));
            self.build_step(job, &instruction.kind, &mut stage)?;
        }
        match stage.image {
            Some(image) => Ok(image),
            // A stage that is only `FROM scratch`: an image with nothing in it.
            None => {
                let id = self.write_image(None, None, &stage.config, None)?;
                meta::get_image(&*self.store().db()?, &id)?.ok_or_else(|| Error::NoSuchImage(id.to_string()))
            }
        }
    }

    /// The starting point of a stage: a previous stage, `scratch`, or an image (pulled if missing).
    fn stage_from(
        &self,
        df: &Dockerfile,
        base: &str,
        built: &HashMap<usize, meta::Image>,
        options: &BuildOptions,
    ) -> Result<Stage> {
        let args = BTreeMap::new();
        if base == "scratch" {
            let host = berth_image::spec::host_platform();
            let config = ImageConfig {
                architecture: host.architecture,
                os: host.os,
                rootfs: RootFs {
                    kind: "layers".into(),
                    diff_ids: Vec::new(),
                },
                ..ImageConfig::default()
            };
            return Ok(Stage {
                image: None,
                config,
                args,
            });
        }
        let by_stage = df
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(&base.to_lowercase()))
            .or_else(|| base.parse::<usize>().ok().filter(|i| *i < df.stages.len()));
        let image = match by_stage.and_then(|i| built.get(&i)) {
            Some(image) => image.clone(),
            None => {
                let id = match self.resolve_image_id(base) {
                    Ok(id) if !options.pull => id,
                    _ => {
                        self.pull(base, &Default::default(), &crate::registry::Quiet)
                            .map_err(|e| {
                                Error::InvalidArgument(format!(
                                    "pull access denied for {base}, repository does not exist or may require 'docker login': {e}"
                                ))
                            })?;
                        self.resolve_image_id(base)?
                    }
                };
                meta::get_image(&*self.store().db()?, &id)?.ok_or_else(|| Error::NoSuchImage(base.to_string()))?
            }
        };
        let config = self.image(&image.id.to_string())?.config;
        Ok(Stage {
            image: Some(image),
            config,
            args,
        })
    }

    fn build_step(&self, job: &Job<'_>, kind: &InstructionKind, stage: &mut Stage) -> Result<()> {
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
                let joined = if dir.starts_with('/') {
                    dir.clone()
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
                let joined = clean_path(&joined);
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
                let args = self.command_args(stage, command);
                self.config_step(stage, &format!("CMD {}", go_quoted(&args)), options, out, |run| {
                    run.cmd = Some(args.clone());
                    Ok(())
                })
            }
            InstructionKind::Entrypoint(command) => {
                let args = command.as_ref().map(|c| self.command_args(stage, c));
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

    /// CMD/ENTRYPOINT/RUN arguments: exec form as is, shell form through the stage's SHELL.
    fn command_args(&self, stage: &Stage, command: &CommandLine) -> Vec<String> {
        match command {
            CommandLine::Exec(args) => args.clone(),
            CommandLine::Shell(line) => {
                let mut shell = stage
                    .config
                    .config
                    .as_ref()
                    .and_then(|c| c.shell.clone())
                    .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                shell.push(line.clone());
                shell
            }
        }
    }

    /// Build args in effect for RUN: declared ARGs and the predefined proxy args given with --build-arg.
    fn args_in_effect(&self, stage: &Stage, options: &BuildOptions) -> Vec<(String, String)> {
        let mut args: Vec<(String, String)> = stage.args.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for name in PREDEFINED_ARGS {
            if let Some(v) = options.build_args.get(*name) {
                args.push((name.to_string(), v.clone()));
            }
        }
        args
    }

    /// The cache key of a step: parent image, the step as expanded, build args in effect, extra content.
    fn cache_key(&self, stage: &Stage, text: &str, args: &[(String, String)], content: &str) -> String {
        let mut h = Hasher::new();
        let parent = stage
            .image
            .as_ref()
            .map_or_else(|| "scratch".to_string(), |i| i.id.to_string());
        h.update(parent.as_bytes());
        h.update(b"\n");
        if stage.image.is_none() {
            // A scratch stage's config is part of its identity.
            h.update(
                serde_json::to_string(&stage.config.config)
                    .unwrap_or_default()
                    .as_bytes(),
            );
        }
        h.update(text.as_bytes());
        for (k, v) in args {
            h.update(format!("\n{k}={v}").as_bytes());
        }
        h.update(b"\n");
        h.update(content.as_bytes());
        h.finish().to_string()
    }

    /// Looks a step up in the cache; on a hit, moves the stage on to the cached image.
    fn reuse_cached(
        &self,
        stage: &mut Stage,
        key: &str,
        options: &BuildOptions,
        out: &dyn BuildOutput,
    ) -> Result<bool> {
        if options.no_cache {
            return Ok(false);
        }
        let Some(id) = meta::cached_step(&*self.store().db()?, key)? else {
            return Ok(false);
        };
        let Some(image) = meta::get_image(&*self.store().db()?, &id)? else {
            return Ok(false);
        };
        if !image.layers.iter().all(|l| self.store().layer_path(l).exists()) {
            return Ok(false);
        }
        out.line(" ---> Using cache");
        out.line(&format!(" ---> {}", id.short()));
        stage.config = self.image(&id.to_string())?.config;
        stage.image = Some(image);
        Ok(true)
    }

    /// Records a step's image in the cache and moves the stage on to it.
    fn advance(&self, stage: &mut Stage, key: &str, id: Digest, out: &dyn BuildOutput) -> Result<()> {
        let now = time::now();
        self.store().write(|tx| {
            meta::cache_step(tx, key, &id, &now)?;
            Ok::<_, Error>(())
        })?;
        out.line(&format!(" ---> {}", id.short()));
        stage.config = self.image(&id.to_string())?.config;
        stage.image = meta::get_image(&*self.store().db()?, &id)?;
        Ok(())
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
        let args = self.args_in_effect(stage, options);
        // The change itself, applied to a copy first: its result (not just its text) keys the cache for
        // steps like MAINTAINER that change the config outside `config`.
        let mut config = stage.config.clone();
        change(config.config.get_or_insert_with(Default::default))?;
        let key = self.cache_key(
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

    fn run_step(&self, job: &Job<'_>, stage: &mut Stage, run: &berth_build::Run) -> Result<()> {
        let (options, out) = (job.options, job.out);
        let args = match (&run.command, run.heredocs.first()) {
            // `RUN <<EOF`: the here-document is the script.
            (CommandLine::Shell(line), Some(doc))
                if line.trim() == format!("<<{}", doc.name) || line.trim().starts_with("<<") =>
            {
                let mut shell = self.command_args(stage, &CommandLine::Shell(String::new()));
                shell.pop();
                shell.push(doc.content.clone());
                shell
            }
            (command, _) => self.command_args(stage, command),
        };
        let build_args = self.args_in_effect(stage, options);
        let created_by = if build_args.is_empty() {
            args.join(" ")
        } else {
            let list: Vec<String> = build_args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("|{} {} {}", list.len(), list.join(" "), args.join(" "))
        };
        // RUN --mount: what each mount brings (and what of it keys the cache).
        let mut views = Vec::new();
        let mut mounts = RunMounts::default();
        for (n, m) in run.mounts.iter().enumerate() {
            self.plan_mount(job, stage, n, m, &mut views, &mut mounts)?;
        }
        let key = self.cache_key(stage, &format!("RUN {args:?}"), &build_args, &mounts.key);
        if self.reuse_cached(stage, &key, options, out)? {
            return Ok(());
        }
        let Some(image) = stage.image.clone() else {
            return Err(Error::InvalidArgument(
                "RUN needs a base image with a shell: FROM scratch has none".into(),
            ));
        };
        let mut env = stage.env();
        for (k, v) in &build_args {
            if !env.iter().any(|e| e.starts_with(&format!("{k}="))) {
                env.push(format!("{k}={v}"));
            }
        }
        env.extend(mounts.env.iter().cloned());
        let run_config = stage.config.config.clone().unwrap_or_default();
        let network = match run.network {
            Some(berth_build::NetworkMode::None) => "none".to_string(),
            Some(berth_build::NetworkMode::Host) => "host".to_string(),
            _ => options.network.clone().unwrap_or_else(|| "default".into()),
        };
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
                match self.start_container(&cid, StartMode::Attached)?.wait_exit()? {
                    Ended::Exited(code) => code as i64,
                    Ended::Detached => self.wait_container(&cid)?,
                }
            };
            if code != 0 {
                return Err(step_failed(format!(
                    "The command '{}' returned a non-zero code: {code}",
                    args.join(" ")
                )));
            }
            let ingest = self.store().ingest()?;
            let (tar, written) = self.container_layer(&ingest, &cid)?;
            let mut config = stage.config.clone();
            let now = time::now();
            config.created = Some(now.clone());
            config.rootfs.diff_ids.push(written.diff_id.to_string());
            config.history.push(History {
                created: Some(now),
                created_by: Some(created_by.clone()),
                author: None,
                comment: None,
                empty_layer: false,
            });
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
                let size = mount.size.map(|s| format!(":size={s}")).unwrap_or_default();
                out.tmpfs.push(format!("{target}{size}"));
                out.key.push_str(&format!("tmpfs {target}{size}\n"));
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
                    let copy = self.runroot().join("build").join(format!(
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
                        let dir = self.runroot().join("build").join(format!(
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

    /// `--chown=NAME[:GROUP]` resolved in the stage's files; a user alone means its uid for the group too,
    /// as in Docker.
    fn owner_by_name(&self, stage: &Stage, spec: &str) -> Result<(u64, u64)> {
        let Some(image) = &stage.image else {
            return Err(Error::InvalidArgument(format!(
                "--chown={spec}: a stage from scratch has no /etc/passwd to look names up in: use numeric ids"
            )));
        };
        let view = ImageView::mount(self, image)?;
        let user = berth_runtime::user::resolve(&view.path, spec, &[])
            .map_err(|e| Error::InvalidArgument(format!("--chown={spec}: {e}")))?;
        Ok(if spec.contains(':') {
            (user.uid as u64, user.gid as u64)
        } else {
            (user.uid as u64, user.uid as u64)
        })
    }

    /// The image a `COPY --from` names: a stage (by name or index) or an image.
    fn copy_source_image(
        &self,
        df: &Dockerfile,
        from: &str,
        built: &HashMap<usize, meta::Image>,
    ) -> Result<meta::Image> {
        let by_stage = df
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(&from.to_lowercase()))
            .or_else(|| from.parse::<usize>().ok());
        if let Some(i) = by_stage {
            return built
                .get(&i)
                .cloned()
                .ok_or_else(|| Error::InvalidArgument(format!("COPY --from={from}: that stage is not built yet")));
        }
        let id = match self.resolve_image_id(from) {
            Ok(id) => id,
            Err(_) => {
                self.pull(from, &Default::default(), &crate::registry::Quiet)
                    .map_err(|e| Error::InvalidArgument(format!("COPY --from={from}: no such stage or image: {e}")))?;
                self.resolve_image_id(from)?
            }
        };
        meta::get_image(&*self.store().db()?, &id)?.ok_or_else(|| Error::NoSuchImage(from.to_string()))
    }

    /// COPY, or ADD when `add` is Some (with its --checksum).
    fn copy_step(
        &self,
        job: &Job<'_>,
        stage: &mut Stage,
        files: &berth_build::Files,
        from: Option<&meta::Image>,
        add: Option<Option<String>>,
        // --parents: sources keep their paths under the destination.
        parents: bool,
    ) -> Result<()> {
        let (context, ignore, options, out) = (job.context.as_path(), &job.ignore, job.options, job.out);
        let escape = job.df.directives.escape;
        let checksum = add.clone().flatten();
        let add = add.is_some();
        // (--link changes only how BuildKit reuses the layer, not what is in it.)
        let expand = |word: &str| berth_build::expand(word, escape, &|n| stage.lookup(n)).map_err(build_error);
        let workdir = stage
            .config
            .config
            .as_ref()
            .map(|c| c.working_dir.clone())
            .unwrap_or_default();
        let dest_word = expand(&files.dest)?;
        let dest_is_dir = dest_word.ends_with('/') || files.sources.len() > 1;
        let dest = if dest_word.starts_with('/') {
            dest_word.clone()
        } else {
            format!("{}/{dest_word}", if workdir.is_empty() { "" } else { workdir.as_str() })
        };
        let dest = clean_path(&dest);
        let owner = match &files.chown {
            None => (0, 0),
            Some(spec) => {
                let spec = expand(spec)?;
                match parse_owner(&spec) {
                    Ok(ids) => ids,
                    // Names come from the stage's own /etc/passwd and /etc/group.
                    Err(_) => self.owner_by_name(stage, &spec)?,
                }
            }
        };
        let mode = files
            .chmod
            .as_deref()
            .map(|m| {
                u32::from_str_radix(m, 8).map_err(|_| Error::InvalidArgument(format!("invalid --chmod {m}: use octal")))
            })
            .transpose()?;

        // Where the sources come from: the context, or another image's files (mounted read-only).
        let view = match from {
            Some(image) => Some(ImageView::mount(self, image)?),
            None => None,
        };
        let root = view.as_ref().map_or(context.to_path_buf(), |v| v.path.clone());
        let filter = if view.is_some() { None } else { Some(ignore) };

        let ingest = self.store().ingest()?;
        let tar_path = ingest.new_dir()?.join("layer.tar");
        let mut entries: Vec<Entry> = Vec::new();
        for source in &files.sources {
            match source {
                Source::Heredoc(doc) => {
                    let content = if doc.expand {
                        expand(&doc.content)?
                    } else {
                        doc.content.clone()
                    };
                    let target = if dest_is_dir || dest_word.ends_with('/') {
                        format!("{}/{}", dest.trim_end_matches('/'), doc.name)
                    } else {
                        dest.clone()
                    };
                    entries.push(Entry::Inline {
                        target,
                        content: content.into_bytes(),
                    });
                }
                Source::Path(p) if add && is_url(p) => {
                    // ADD URL: downloaded, not extracted, mode 0600 (as Docker).
                    let url = expand(p)?;
                    let name = url
                        .split(['?', '#'])
                        .next()
                        .and_then(|u| u.rsplit('/').next())
                        .filter(|n| !n.is_empty())
                        .unwrap_or("download")
                        .to_string();
                    let target = if dest_is_dir || dest_word.ends_with('/') {
                        format!("{}/{name}", dest.trim_end_matches('/'))
                    } else {
                        dest.clone()
                    };
                    entries.push(Entry::Download {
                        target,
                        url,
                        checksum: checksum.clone(),
                    });
                }
                Source::Path(p) => {
                    let p = expand(p)?;
                    let matched = resolve_sources(&root, &p, filter)?;
                    let several = matched.len() > 1 || dest_is_dir;
                    for (rel, full) in matched {
                        let meta = fs::symlink_metadata(&full).map_err(|e| Error::Io {
                            path: full.clone(),
                            source: e,
                        })?;
                        if meta.is_dir() {
                            // A directory's contents go into the destination.
                            let under = if parents {
                                format!("{}/{rel}", dest.trim_end_matches('/'))
                            } else {
                                dest.clone()
                            };
                            collect_dir(&full, &rel, &under, &root, filter, &mut entries)?;
                        } else if add && meta.is_file() && is_archive(&full) {
                            // ADD of a local archive: its contents land in the destination directory.
                            entries.push(Entry::Archive {
                                target: dest.clone(),
                                source: full,
                            });
                        } else {
                            let name = Path::new(&rel)
                                .file_name()
                                .map_or(rel.clone(), |n| n.to_string_lossy().into_owned());
                            let target = if parents {
                                format!("{}/{rel}", dest.trim_end_matches('/'))
                            } else if several || dest_word.ends_with('/') {
                                format!("{}/{name}", dest.trim_end_matches('/'))
                            } else {
                                dest.clone()
                            };
                            entries.push(Entry::File { target, source: full });
                        }
                    }
                }
            }
        }
        if !files.excludes.is_empty() {
            // --exclude: .dockerignore patterns, matched against the paths as they land under the destination.
            let patterns = files.excludes.iter().map(|p| expand(p)).collect::<Result<Vec<_>>>()?;
            let exclude = Ignore::parse(&patterns.join("\n")).map_err(build_error)?;
            let base = dest.trim_end_matches('/').to_string();
            entries.retain(|e| {
                let (target, is_dir) = match e {
                    Entry::File { target, .. } => (target, false),
                    Entry::Dir { target, .. } => (target, true),
                    _ => return true,
                };
                let rel = target.strip_prefix(&base).unwrap_or(target).trim_start_matches('/');
                rel.is_empty() || !exclude.is_excluded(rel, is_dir)
            });
        }
        let written = write_entries(&tar_path, &dest, &entries, owner, mode)?;
        drop(view);
        let text = format!(
            "{} {}:{} in {dest}",
            if add { "ADD" } else { "COPY" },
            if from.is_some() { "dir" } else { "file" },
            written.content_hash
        );
        let args = self.args_in_effect(stage, options);
        let key = self.cache_key(
            stage,
            &text,
            &args,
            &format!("{:?}{:?}{:?}", owner, mode, from.map(|i| &i.id)),
        );
        if self.reuse_cached(stage, &key, options, out)? {
            return Ok(());
        }
        let tar = berth_store::TempBlob {
            path: tar_path,
            digest: written.diff_id.clone(),
            size: written.size,
        };
        let mut config = stage.config.clone();
        let now = time::now();
        config.created = Some(now.clone());
        config.rootfs.diff_ids.push(written.diff_id.to_string());
        config.history.push(History {
            created: Some(now),
            created_by: Some(format!("/bin/sh -c #(nop) {text} ")),
            author: None,
            comment: None,
            empty_layer: false,
        });
        let id = self.write_image(
            stage.image.as_ref(),
            Some(NewLayer { ingest: &ingest, tar }),
            &config,
            None,
        )?;
        self.advance(stage, &key, id, out)
    }

    /// Images only the build cache keeps (no tag, no repo digest).
    pub fn build_cache_images(&self) -> Result<std::collections::HashSet<Digest>> {
        Ok(meta::cache_only_images(&*self.store().db()?)?.into_iter().collect())
    }

    /// `system df`'s build cache: how many step images only the cache keeps, and the bytes of their layers
    /// that no other image uses plus the RUN cache mounts.
    pub fn build_cache_usage(&self) -> Result<(usize, u64)> {
        let cache_only = self.build_cache_images()?;
        let conn = self.store().db()?;
        let images = meta::list_images(&conn)?;
        let kept: std::collections::HashSet<&Digest> = images
            .iter()
            .filter(|i| !cache_only.contains(&i.id))
            .flat_map(|i| &i.layers)
            .collect();
        let exclusive: std::collections::HashSet<&Digest> = images
            .iter()
            .filter(|i| cache_only.contains(&i.id))
            .flat_map(|i| &i.layers)
            .filter(|l| !kept.contains(l))
            .collect();
        let sizes: HashMap<Digest, u64> = meta::layer_sizes(&conn)?.into_iter().collect();
        let bytes: u64 = exclusive.iter().filter_map(|l| sizes.get(*l)).sum();
        let mounts = crate::volumes::dir_size(&self.root().join("build-cache-mounts"));
        Ok((cache_only.len(), bytes + mounts))
    }

    /// `builder prune`: forgets the build cache and removes the images only it kept; returns bytes freed.
    pub fn prune_build_cache(&self) -> Result<(usize, u64)> {
        let ids = meta::cache_only_images(&*self.store().db()?)?;
        let steps = self
            .store()
            .write(|tx| meta::clear_build_cache(tx).map_err(Error::from))?;
        let mut freed = 0;
        for id in ids {
            if let Ok(removed) = self.remove_image(&id.to_string(), false) {
                if !removed.is_empty() {
                    freed += 1;
                }
            }
        }
        let collected = self.store().collect_garbage()?;
        // RUN --mount=type=cache directories go too, as with Docker's builder prune.
        let mounts = self.root().join("build-cache-mounts");
        let mount_bytes = crate::volumes::dir_size(&mounts);
        let _ = fs::remove_dir_all(&mounts);
        Ok((steps.max(freed), collected.bytes + mount_bytes))
    }
}

/// The image config's `Healthcheck`, as Docker writes it (durations in nanoseconds).
fn healthcheck_json(check: &berth_build::Healthcheck) -> serde_json::Value {
    let mut value = serde_json::json!({ "Test": check.test() });
    if let berth_build::Healthcheck::Cmd {
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
        ..
    } = check
    {
        for (name, d) in [
            ("Interval", interval),
            ("Timeout", timeout),
            ("StartPeriod", start_period),
            ("StartInterval", start_interval),
        ] {
            if let Some(d) = d {
                value[name] = serde_json::json!(d.as_nanos() as u64);
            }
        }
        if let Some(r) = retries {
            value["Retries"] = serde_json::json!(r);
        }
    }
    value
}

fn build_error(e: berth_build::Error) -> Error {
    Error::InvalidArgument(e.to_string())
}

/// `a/./b/../c` -> `/a/c`, always absolute.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `--chown=UID[:GID]` in numbers (or `root`); names are looked up by [`Engine::owner_by_name`].
fn parse_owner(spec: &str) -> Result<(u64, u64)> {
    let id = |s: &str| -> Result<u64> {
        match s {
            "root" => Ok(0),
            n => n
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("--chown={spec}: {n} is not a number"))),
        }
    };
    match spec.split_once(':') {
        Some((u, g)) => Ok((id(u)?, id(g)?)),
        None => {
            let u = id(spec)?;
            Ok((u, u))
        }
    }
}

/// The files a COPY source names in `root`: a path, or a pattern with `*`, `?` or `[...]` in its last
/// part. Paths outside the root are refused, as Docker does.
fn resolve_sources(root: &Path, source: &str, ignore: Option<&Ignore>) -> Result<Vec<(String, PathBuf)>> {
    let rel = source.trim_start_matches('/');
    let mut depth = 0i32;
    for c in Path::new(rel).components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(Error::InvalidArgument(format!(
                "forbidden path outside the build context: {source}"
            )));
        }
    }
    let clean = clean_path(rel).trim_start_matches('/').to_string();
    let excluded = |rel: &str, dir: bool| ignore.is_some_and(|i| i.is_excluded(rel, dir));
    let (dir, last) = match clean.rsplit_once('/') {
        Some((d, l)) => (d.to_string(), l.to_string()),
        None => (String::new(), clean.clone()),
    };
    if last.contains(['*', '?', '[']) {
        let mut found = Vec::new();
        let base = root.join(&dir);
        let mut names: Vec<String> = fs::read_dir(&base)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for name in names {
            let rel = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            let full = root.join(&rel);
            if wildcard(&last, &name) && !excluded(&rel, full.is_dir()) {
                found.push((rel, full));
            }
        }
        if found.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "no source files were specified: {source} matched nothing"
            )));
        }
        return Ok(found);
    }
    let full = if clean.is_empty() {
        root.to_path_buf()
    } else {
        root.join(&clean)
    };
    if fs::symlink_metadata(&full).is_err() || (!clean.is_empty() && excluded(&clean, full.is_dir())) {
        return Err(Error::InvalidArgument(format!(
            "COPY failed: file not found in build context or excluded by .dockerignore: stat {source}: file does not exist"
        )));
    }
    Ok(vec![(clean, full)])
}

/// `*`, `?` and `[...]` as filepath.Match does for one path element.
fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|c| *c == ']') else {
                    return false;
                };
                let Some(&c) = n.first() else { return false };
                let class = &p[1..end];
                let (negate, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != negate && go(&p[end + 1..], &n[1..])
            }
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// What a RUN step's `--mount`s give its container.
#[derive(Default)]
struct RunMounts {
    /// `-v` style binds.
    binds: Vec<String>,
    /// `--tmpfs` style mounts.
    tmpfs: Vec<String>,
    /// Private copies for writable binds, removed after the step.
    scratch: Vec<PathBuf>,
    /// What of the mounts goes into the step's cache key.
    key: String,
    /// Environment for the step (secrets given as variables).
    env: Vec<String>,
}

/// A cheap fingerprint of a file tree (names, sizes, modification times): a bind-mounted source that
/// changed makes the step run again.
fn tree_stamp(path: &Path) -> String {
    let mut h = Hasher::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&p) else { continue };
        h.update(
            format!(
                "{} {} {} {}\n",
                p.display(),
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec()
            )
            .as_bytes(),
        );
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&p) {
                let mut children: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                children.sort();
                stack.extend(children.into_iter().rev());
            }
        }
    }
    h.finish().hex().to_string()
}

/// One thing a COPY or ADD writes.
enum Entry {
    File {
        target: String,
        source: PathBuf,
    },
    Dir {
        target: String,
        source: PathBuf,
    },
    Inline {
        target: String,
        content: Vec<u8>,
    },
    /// ADD of a local tar (plain, gzip or zstd): extracted under `target`.
    Archive {
        target: String,
        source: PathBuf,
    },
    /// ADD of a URL, with the sha256 it must have (`--checksum`).
    Download {
        target: String,
        url: String,
        checksum: Option<String>,
    },
}

fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Whether a file is a tar archive ADD extracts: gzip or zstd (assumed tar inside), or a plain tar.
fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(n) = fs::File::open(path).and_then(|mut f| f.read(&mut head)) else {
        return false;
    };
    let head = &head[..n];
    berth_image::layer::sniff_compression(head) != berth_image::layer::Compression::None
        || (n >= 262 && &head[257..262] == b"ustar")
}

/// The contents of `dir` under `dest`, minus what .dockerignore excludes.
fn collect_dir(
    dir: &Path,
    rel: &str,
    dest: &str,
    root: &Path,
    ignore: Option<&Ignore>,
    entries: &mut Vec<Entry>,
) -> Result<()> {
    entries.push(Entry::Dir {
        target: dest.to_string(),
        source: dir.to_path_buf(),
    });
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            source: e,
        })?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let full = root.join(&child_rel);
        let is_dir = fs::symlink_metadata(&full).map(|m| m.is_dir()).unwrap_or(false);
        let target = format!("{}/{name}", dest.trim_end_matches('/'));
        let excluded = ignore.is_some_and(|i| i.is_excluded(&child_rel, is_dir));
        if is_dir {
            if excluded && !ignore.is_some_and(|i| i.may_include_below(&child_rel)) {
                continue;
            }
            collect_dir(&full, &child_rel, &target, root, ignore, entries)?;
        } else if !excluded {
            entries.push(Entry::File { target, source: full });
        }
    }
    Ok(())
}

struct WrittenLayer {
    diff_id: Digest,
    size: u64,
    /// sha256 over names, modes, owners and contents (not times): what the cache key uses.
    content_hash: String,
}

/// Writes the COPY layer: missing parent directories of `dest`, then the entries.
fn write_entries(
    path: &Path,
    dest: &str,
    entries: &[Entry],
    owner: (u64, u64),
    mode: Option<u32>,
) -> Result<WrittenLayer> {
    let io = |p: &Path, e: std::io::Error| Error::Io {
        path: p.to_path_buf(),
        source: e,
    };
    let file = fs::File::create(path).map_err(|e| io(path, e))?;
    let mut builder = tar::Builder::new(berth_store::HashingWriter::new(std::io::BufWriter::new(file)));
    let mut content = Hasher::new();
    let mut dirs_written: Vec<String> = Vec::new();
    let mut add_dir = |builder: &mut tar::Builder<_>, target: &str, mode: u32, mtime: u64| -> Result<()> {
        let name = target.trim_start_matches('/');
        if name.is_empty() || dirs_written.iter().any(|d| d == name) {
            return Ok(());
        }
        dirs_written.push(name.to_string());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        h.set_mtime(mtime);
        h.set_size(0);
        builder
            .append_data(&mut h, format!("{name}/"), std::io::empty())
            .map_err(|e| io(path, e))
    };
    // Parents of the destination (created as Docker does when missing).
    let mut parent = String::new();
    let dest_parts: Vec<&str> = dest.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
    let dest_is_file = entries.len() == 1
        && matches!(entries[0], Entry::File { ref target, .. } | Entry::Inline { ref target, .. } | Entry::Download { ref target, .. } if target == dest);
    let keep = if dest_is_file {
        dest_parts.len().saturating_sub(1)
    } else {
        0
    };
    for part in dest_parts.iter().take(keep) {
        parent = format!("{parent}/{part}");
        add_dir(&mut builder, &parent, 0o755, 0)?;
    }
    for entry in entries {
        match entry {
            Entry::Dir { target, source } => {
                let meta = fs::metadata(source).map_err(|e| io(source, e))?;
                let m = mode.unwrap_or(meta.permissions().mode() & 0o7777);
                content.update(format!("D {target} {m:o} {owner:?}\n").as_bytes());
                add_dir(&mut builder, target, m, meta.mtime().max(0) as u64)?;
            }
            Entry::Inline { target, content: bytes } => {
                let m = mode.unwrap_or(0o644);
                content.update(format!("F {target} {m:o} {owner:?} {}\n", bytes.len()).as_bytes());
                content.update(bytes);
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(m);
                h.set_uid(owner.0);
                h.set_gid(owner.1);
                h.set_size(bytes.len() as u64);
                h.set_mtime(0);
                builder
                    .append_data(&mut h, target.trim_start_matches('/'), &bytes[..])
                    .map_err(|e| io(path, e))?;
            }
            Entry::Download { target, url, checksum } => {
                let bytes = download(url)?;
                if let Some(want) = checksum {
                    let got = Digest::of(&bytes).to_string();
                    if *want != got {
                        return Err(Error::InvalidArgument(format!(
                            "ADD {url}: the content has digest {got}, not the {want} --checksum asks for"
                        )));
                    }
                }
                content.update(format!("U {target} {url} {owner:?} {}\n", bytes.len()).as_bytes());
                content.update(&bytes);
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(mode.unwrap_or(0o600));
                h.set_uid(owner.0);
                h.set_gid(owner.1);
                h.set_size(bytes.len() as u64);
                h.set_mtime(0);
                builder
                    .append_data(&mut h, target.trim_start_matches('/'), &bytes[..])
                    .map_err(|e| io(path, e))?;
            }
            Entry::Archive { target, source } => {
                append_archive(&mut builder, &mut content, target, source, owner)?;
            }
            Entry::File { target, source } => {
                let meta = fs::symlink_metadata(source).map_err(|e| io(source, e))?;
                let name = target.trim_start_matches('/');
                let mut h = tar::Header::new_gnu();
                h.set_uid(owner.0);
                h.set_gid(owner.1);
                h.set_mtime(meta.mtime().max(0) as u64);
                if meta.file_type().is_symlink() {
                    let link = fs::read_link(source).map_err(|e| io(source, e))?;
                    content.update(format!("L {target} {} {owner:?}\n", link.display()).as_bytes());
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    builder.append_link(&mut h, name, &link).map_err(|e| io(path, e))?;
                    continue;
                }
                let m = mode.unwrap_or(meta.permissions().mode() & 0o7777);
                let mut bytes = Vec::new();
                fs::File::open(source)
                    .and_then(|mut f| f.read_to_end(&mut bytes))
                    .map_err(|e| io(source, e))?;
                content.update(format!("F {target} {m:o} {owner:?} {}\n", bytes.len()).as_bytes());
                content.update(&bytes);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(m);
                h.set_size(bytes.len() as u64);
                builder.append_data(&mut h, name, &bytes[..]).map_err(|e| io(path, e))?;
            }
        }
    }
    let hashing = builder.into_inner().map_err(|e| io(path, e))?;
    let (buffered, diff_id, size) = hashing.finish();
    buffered.into_inner().map_err(|e| io(path, e.into_error()))?;
    Ok(WrittenLayer {
        diff_id,
        size,
        content_hash: content.finish().hex().to_string(),
    })
}

/// Copies a local tar's members under `target` (ADD's auto-extraction); members that climb out are refused.
fn append_archive<W: std::io::Write>(
    builder: &mut tar::Builder<W>,
    content: &mut Hasher,
    target: &str,
    source: &Path,
    owner: (u64, u64),
) -> Result<()> {
    let bad = |e: std::io::Error| {
        Error::InvalidArgument(format!("ADD {}: not a readable tar archive: {e}", source.display()))
    };
    let file = fs::File::open(source).map_err(bad)?;
    let stream = berth_image::layer::decompressed(file).map_err(bad)?;
    let mut archive = tar::Archive::new(stream);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let inner = entry.path().map_err(bad)?.into_owned();
        let mut rel = PathBuf::new();
        for c in inner.components() {
            match c {
                Component::Normal(p) => rel.push(p),
                Component::ParentDir => {
                    return Err(Error::InvalidArgument(format!(
                        "ADD {}: archive member {} leaves the destination",
                        source.display(),
                        inner.display()
                    )))
                }
                _ => {}
            }
        }
        if rel.as_os_str().is_empty() {
            continue;
        }
        let name = format!("{}/{}", target.trim_matches('/'), rel.display())
            .trim_start_matches('/')
            .to_string();
        let mut header = entry.header().clone();
        if owner != (0, 0) {
            // --chown applies to extracted files too; otherwise they keep the archive's owners.
            header.set_uid(owner.0);
            header.set_gid(owner.1);
        }
        let link = entry.link_name().map_err(bad)?.map(|l| l.into_owned());
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(bad)?;
        content.update(format!("A {name} {:?} {}\n", header.mode().ok(), bytes.len()).as_bytes());
        content.update(&bytes);
        let written = match (header.entry_type(), link) {
            (tar::EntryType::Link, Some(link)) => {
                // Hard links point at members, which moved under the destination too.
                let moved = format!("{}/{}", target.trim_matches('/'), link.display());
                builder.append_link(&mut header, &name, moved.trim_start_matches('/'))
            }
            (tar::EntryType::Symlink, Some(link)) => builder.append_link(&mut header, &name, &link),
            _ => builder.append_data(&mut header, &name, &bytes[..]),
        };
        written.map_err(|e| Error::Io {
            path: source.to_path_buf(),
            source: e,
        })?;
    }
    Ok(())
}

/// The bytes at an ADD URL.
fn download(url: &str) -> Result<Vec<u8>> {
    let response = ureq::get(url)
        .timeout(std::time::Duration::from_secs(600))
        .call()
        .map_err(|e| Error::InvalidArgument(format!("ADD {url}: {e}")))?;
    let mut bytes = Vec::new();
    response
        .into_reader()
        .read_to_end(&mut bytes)
        .map_err(|e| Error::InvalidArgument(format!("ADD {url}: {e}")))?;
    Ok(bytes)
}

/// An image's files, mounted read-only for `COPY --from`; unmounted on drop.
struct ImageView {
    path: PathBuf,
}

impl ImageView {
    fn mount(engine: &Engine, image: &meta::Image) -> Result<ImageView> {
        let path = engine
            .runroot()
            .join("build")
            .join(format!("view-{}-{}", std::process::id(), rand_suffix()));
        fs::create_dir_all(&path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        let lowers: Vec<PathBuf> = image
            .layers
            .iter()
            .rev()
            .map(|l| engine.store().layer_diff(l))
            .collect();
        if lowers.is_empty() {
            return Ok(ImageView { path });
        }
        if lowers.len() == 1 {
            // overlayfs needs two layers for a read-only mount; one layer is read directly.
            let _ = fs::remove_dir(&path);
            return Ok(ImageView {
                path: lowers[0].clone(),
            });
        }
        berth_image::snapshot::mount_overlay_readonly(&lowers, &path)?;
        Ok(ImageView { path })
    }
}

impl Drop for ImageView {
    fn drop(&mut self) {
        if self.path.starts_with("/") && self.path.to_string_lossy().contains("/build/view-") {
            let _ = berth_image::snapshot::unmount(&self.path);
            let _ = fs::remove_dir(&self.path);
        }
    }
}

fn rand_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
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
    fn paths_are_cleaned() {
        assert_eq!(clean_path("a/./b/../c/"), "/a/c");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(clean_path("../../x"), "/x");
    }

    #[test]
    fn wildcards_match_like_go() {
        assert!(wildcard("*.txt", "a.txt"));
        assert!(!wildcard("*.txt", "a.txt.bak"));
        assert!(wildcard("f?le", "file"));
        assert!(wildcard("[a-c]x", "bx"));
        assert!(!wildcard("[!a-c]x", "bx"));
    }

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
    fn owners_are_numeric_or_root() {
        assert_eq!(parse_owner("1000:100").unwrap(), (1000, 100));
        assert_eq!(parse_owner("root").unwrap(), (0, 0));
        assert!(parse_owner("alice").is_err());
    }
}

//! `build`: runs a Dockerfile as Docker's classic builder does. Every step makes an image on top of the
//! previous one: RUN through a container on the engine (its changes become a layer), COPY by writing a
//! layer straight from the context, and the other instructions by changing only the config. Each step's
//! image is remembered under a cache key (parent image, instruction as expanded, build args in effect,
//! and for COPY the content of the files it copies), so a build that changed nothing is all cache hits.
//!
//! The parsing, substitution and `.dockerignore` rules are `berth-build`'s; this module does what needs
//! the engine.
//!
//! This file runs the stages; each other file does one job: `steps` dispatches every instruction and runs
//! the config-only ones, `run` the RUN step, `copy` the COPY and ADD steps, `sources` resolves what they
//! name, `layer` writes their tar, `download` fetches ADD's URLs, `owner` resolves `--chown`, `cache`
//! keys and records steps, and `view` mounts an image's files read-only.

mod cache;
mod copy;
mod download;
mod layer;
mod owner;
mod run;
mod sources;
mod steps;
mod view;

pub use cache::BuildCachePruned;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::PathBuf;

use berth_build::{CommandLine, Dockerfile, Ignore};
use berth_image::spec::{ImageConfig, Platform, RootFs};
use berth_store::{meta, Digest};

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
    /// The built image's ID, once, before "Successfully built" (the API's `aux` message).
    fn image_id(&self, _id: &Digest) {}
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

/// The state of the stage being built.
struct Stage {
    /// The image the last step made (None while a `scratch` stage has no step yet).
    image: Option<meta::Image>,
    config: ImageConfig,
    /// ARGs declared in this stage, with their values.
    args: BTreeMap<String, String>,
}

impl Stage {
    /// The stage's image config with one more layer, made now by the step `created_by` (COPY, ADD
    /// and RUN steps).
    fn config_with_layer(&self, diff_id: &Digest, created_by: String) -> ImageConfig {
        let mut config = self.config.clone();
        let now = time::now();
        config.created = Some(now.clone());
        config.rootfs.diff_ids.push(diff_id.to_string());
        config.history.push(berth_image::spec::History {
            created: Some(now),
            created_by: Some(created_by),
            author: None,
            comment: None,
            empty_layer: false,
        });
        config
    }

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

    /// CMD/ENTRYPOINT/RUN arguments: exec form as is, shell form through the stage's SHELL.
    fn command_args(&self, command: &CommandLine) -> Vec<String> {
        match command {
            CommandLine::Exec(args) => args.clone(),
            CommandLine::Shell(line) => {
                let mut shell = self
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
    fn args_in_effect(&self, build_args: &BTreeMap<String, String>) -> Vec<(String, String)> {
        let mut args: Vec<(String, String)> = self.args.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for name in PREDEFINED_ARGS {
            if let Some(v) = build_args.get(*name) {
                args.push((name.to_string(), v.clone()));
            }
        }
        args
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
        let meta_args = meta_args(&df, &berth_image::spec::host_platform(), &options.build_args)?;
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
        out.image_id(id);
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
}

/// The ARGs before the first FROM, with their values: usable in FROM lines, and (re-declared) in stages.
/// `host` is the platform this machine builds for (there is no emulation); `build_args` are `--build-arg`s.
fn meta_args(
    df: &Dockerfile,
    host: &Platform,
    build_args: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    // The automatic platform args (this machine builds for itself), then the ARGs before FROM.
    let platform = format!("{}/{}", host.os, host.architecture);
    let mut meta_args: BTreeMap<String, String> = BTreeMap::new();
    for prefix in ["BUILD", "TARGET"] {
        meta_args.insert(format!("{prefix}PLATFORM"), platform.clone());
        meta_args.insert(format!("{prefix}OS"), host.os.clone());
        meta_args.insert(format!("{prefix}ARCH"), host.architecture.clone());
    }
    for arg in &df.args_before_from {
        let lookup = |n: &str| meta_args.get(n).cloned();
        let value = match build_args.get(&arg.name) {
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
    Ok(meta_args)
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

fn rand_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use berth_image::spec::ContainerConfig;

    use super::*;

    /// A stage above no image, with `env` (`K=V`), declared `args` and a SHELL when given.
    pub(super) fn stage(env: &[&str], args: &[(&str, &str)], shell: Option<&[&str]>) -> Stage {
        let run = ContainerConfig {
            env: Some(env.iter().map(|e| e.to_string()).collect()),
            shell: shell.map(|s| s.iter().map(|a| a.to_string()).collect()),
            ..ContainerConfig::default()
        };
        Stage {
            image: None,
            config: ImageConfig {
                config: Some(run),
                ..ImageConfig::default()
            },
            args: args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn paths_are_cleaned() {
        assert_eq!(clean_path("a/./b/../c/"), "/a/c");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(clean_path("../../x"), "/x");
    }

    #[test]
    fn variables_are_env_first_then_args() {
        let both = stage(
            &["A=env", "PATH=/bin", "A=later", "EMPTY="],
            &[("A", "arg"), ("B", "arg")],
            None,
        );
        assert_eq!(both.lookup("A").as_deref(), Some("later"));
        assert_eq!(both.lookup("B").as_deref(), Some("arg"));
        assert_eq!(both.lookup("EMPTY").as_deref(), Some(""));
        assert_eq!(both.lookup("NONE"), None);
        // A value with `=` in it is kept whole.
        let url = stage(&["URL=a=b"], &[], None);
        assert_eq!(url.lookup("URL").as_deref(), Some("a=b"));
    }

    #[test]
    fn shell_forms_go_through_the_stage_shell() {
        let default = stage(&[], &[], None);
        assert_eq!(
            default.command_args(&CommandLine::Shell("echo hi".into())),
            ["/bin/sh", "-c", "echo hi"]
        );
        let exec = CommandLine::Exec(vec!["ls".into(), "-l".into()]);
        assert_eq!(default.command_args(&exec), ["ls", "-l"]);
        let bash = stage(&[], &[], Some(&["bash", "-eo", "pipefail", "-c"]));
        assert_eq!(
            bash.command_args(&CommandLine::Shell("make".into())),
            ["bash", "-eo", "pipefail", "-c", "make"]
        );
        assert_eq!(bash.command_args(&exec), ["ls", "-l"]);
    }

    #[test]
    fn args_in_effect_are_declared_then_given_proxies_in_their_fixed_order() {
        let declared = stage(&[], &[("VERSION", "1"), ("A", "x")], None);
        let given = map(&[
            ("http_proxy", "http://p:3128"),
            ("UNDECLARED", "no"),
            ("NO_PROXY", "local"),
        ]);
        assert_eq!(
            declared.args_in_effect(&given),
            [
                ("A".to_string(), "x".to_string()),
                ("VERSION".to_string(), "1".to_string()),
                ("http_proxy".to_string(), "http://p:3128".to_string()),
                ("NO_PROXY".to_string(), "local".to_string()),
            ]
        );
    }

    fn linux_amd64() -> Platform {
        Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Platform::default()
        }
    }

    #[test]
    fn meta_args_start_with_the_platform() {
        let df = berth_build::parse("FROM scratch\n").unwrap();
        let args = meta_args(&df, &linux_amd64(), &BTreeMap::new()).unwrap();
        assert_eq!(
            args,
            map(&[
                ("BUILDARCH", "amd64"),
                ("BUILDOS", "linux"),
                ("BUILDPLATFORM", "linux/amd64"),
                ("TARGETARCH", "amd64"),
                ("TARGETOS", "linux"),
                ("TARGETPLATFORM", "linux/amd64"),
            ])
        );
    }

    #[test]
    fn meta_args_take_build_args_then_defaults_in_order() {
        let text = "ARG BASE=alpine\nARG TAG=${BASE}-$TARGETARCH\nARG LATER=$UNSET\nARG NODEFAULT\nARG GIVEN\nFROM $BASE:$TAG\n";
        let df = berth_build::parse(text).unwrap();
        let args = meta_args(&df, &linux_amd64(), &map(&[("GIVEN", "g"), ("BASE", "debian")])).unwrap();
        assert_eq!(args["BASE"], "debian");
        assert_eq!(args["TAG"], "debian-amd64");
        assert_eq!(args["LATER"], "");
        assert_eq!(args["GIVEN"], "g");
        assert!(!args.contains_key("NODEFAULT"));
        // A build arg no ARG declares is not a meta arg.
        let args = meta_args(&df, &linux_amd64(), &map(&[("OTHER", "o")])).unwrap();
        assert!(!args.contains_key("OTHER"));
        assert_eq!(args["TAG"], "alpine-amd64");
    }
}

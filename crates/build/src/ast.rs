//! The parsed Dockerfile. Arguments are kept as written (unexpanded, quotes
//! intact where Docker removes them only at expansion time), so the builder
//! expands them with [`crate::shell::expand`] at each step.

use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    pub directives: Directives,
    /// `ARG`s before the first `FROM` (the "meta args" usable in FROM lines).
    pub args_before_from: Vec<Arg>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directives {
    pub syntax: Option<String>,
    /// `\` (default) or `` ` ``.
    pub escape: char,
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// The `AS` name, lower-cased as BuildKit does.
    pub name: Option<String>,
    /// The base image or stage, unexpanded.
    pub base: String,
    pub platform: Option<String>,
    /// Line of the FROM instruction and its text.
    pub line: usize,
    pub original: String,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instruction {
    /// First and last source line (1-based; heredoc bodies included).
    pub line: usize,
    pub end_line: usize,
    /// The instruction as BuildKit keeps it: continuation lines joined
    /// (escape characters and comment lines removed), heredoc bodies not
    /// included.
    pub original: String,
    pub kind: InstructionKind,
}

impl Instruction {
    /// The keyword in upper case (`RUN`, `COPY`, ...).
    pub fn keyword(&self) -> &'static str {
        self.kind.keyword()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum InstructionKind {
    Run(Run),
    Cmd(CommandLine),
    /// `None` for an empty `ENTRYPOINT`, which resets it.
    Entrypoint(Option<CommandLine>),
    Shell(Vec<String>),
    Env(Vec<KeyValue>),
    Arg(Vec<Arg>),
    Label(Vec<KeyValue>),
    Maintainer(String),
    /// Port specs as written (`80`, `8000-8010/udp`, `$PORT`); see
    /// [`crate::parse_port_spec`].
    Expose(Vec<String>),
    Workdir(String),
    User(String),
    Volume(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    Onbuild(Onbuild),
    Copy(Copy),
    Add(Add),
}

impl InstructionKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            InstructionKind::Run(_) => "RUN",
            InstructionKind::Cmd(_) => "CMD",
            InstructionKind::Entrypoint(_) => "ENTRYPOINT",
            InstructionKind::Shell(_) => "SHELL",
            InstructionKind::Env(_) => "ENV",
            InstructionKind::Arg(_) => "ARG",
            InstructionKind::Label(_) => "LABEL",
            InstructionKind::Maintainer(_) => "MAINTAINER",
            InstructionKind::Expose(_) => "EXPOSE",
            InstructionKind::Workdir(_) => "WORKDIR",
            InstructionKind::User(_) => "USER",
            InstructionKind::Volume(_) => "VOLUME",
            InstructionKind::StopSignal(_) => "STOPSIGNAL",
            InstructionKind::Healthcheck(_) => "HEALTHCHECK",
            InstructionKind::Onbuild(_) => "ONBUILD",
            InstructionKind::Copy(_) => "COPY",
            InstructionKind::Add(_) => "ADD",
        }
    }
}

/// Exec form (a JSON array of strings) or shell form (the text as written,
/// run by the stage's SHELL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CommandLine {
    Exec(Vec<String>),
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub command: CommandLine,
    /// Here-documents named on the line, in order. When the command is just
    /// `<<EOF` the first one is the script; otherwise they are fed to the
    /// shell as here-documents of the command.
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<Mount>,
    pub network: Option<NetworkMode>,
    pub security: Option<SecurityMode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The delimiter, quotes removed.
    pub name: String,
    /// The body: every line up to the delimiter, each ending in `\n`; with
    /// `<<-` leading tabs are already stripped.
    pub content: String,
    /// False when the delimiter was quoted: the body is used verbatim.
    pub expand: bool,
    /// `<<-`: leading tabs stripped from the body and the delimiter line.
    pub chomp: bool,
    /// `2<<EOF` names a file descriptor (0 when absent).
    pub fd: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NetworkMode {
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SecurityMode {
    Sandbox,
    Insecure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// A `RUN --mount=...` flag, with BuildKit's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub kind: MountType,
    pub target: Option<String>,
    pub source: Option<String>,
    /// Stage name, stage index or image the bind/cache source comes from.
    pub from: Option<String>,
    pub readonly: bool,
    /// Cache id, secret id or ssh id.
    pub id: Option<String>,
    pub sharing: Sharing,
    pub required: bool,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// tmpfs size in bytes.
    pub size: Option<u64>,
    /// Secret exposed as this environment variable.
    pub env: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arg {
    pub name: String,
    /// The default as written (quotes intact); expand it before use.
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Healthcheck {
    None,
    Cmd {
        command: CommandLine,
        /// `None` when not given or zero (inherit the default).
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<u32>,
    },
}

impl Healthcheck {
    /// The image config's `Healthcheck.Test`: `["NONE"]`, `["CMD", ...]` or
    /// `["CMD-SHELL", "cmd"]`.
    pub fn test(&self) -> Vec<String> {
        match self {
            Healthcheck::None => vec!["NONE".to_string()],
            Healthcheck::Cmd {
                command: CommandLine::Exec(args),
                ..
            } => std::iter::once("CMD".to_string()).chain(args.iter().cloned()).collect(),
            Healthcheck::Cmd {
                command: CommandLine::Shell(s),
                ..
            } => vec!["CMD-SHELL".to_string(), s.clone()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Onbuild {
    /// The trigger as stored in the image config (`ONBUILD` removed, heredoc
    /// bodies appended).
    pub expression: String,
    pub trigger: Box<InstructionKind>,
}

/// A COPY or ADD source: a path in the context (or stage) or an inline
/// here-document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Source {
    Path(String),
    Heredoc(Heredoc),
}

/// What COPY and ADD share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Files {
    pub sources: Vec<Source>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub excludes: Vec<String>,
    /// Written in JSON form.
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copy {
    pub files: Files,
    pub from: Option<String>,
    pub parents: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Add {
    pub files: Files,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
}

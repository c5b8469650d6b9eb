//! Exec: `POST /containers/{id}/exec` records what to run, `POST /exec/{id}/start` runs it (over a
//! hijacked connection, or detached), `GET /exec/{id}/json` says how it is doing and how it ended,
//! `POST /exec/{id}/resize` sizes its terminal.
//!
//! Exec instances live in this server's memory, keyed by a random 64-hex ID, as dockerd keeps
//! them: they are not containers, nothing else needs them, and a restarted server forgets them
//! (processes they started run on). An exited one is kept for an hour, so clients can read its
//! exit code; the process itself is made by the engine's exec helper, which works from a
//! multi-threaded caller such as this one.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_engine::containers::{ExecOptions, ExecProcess, ExecStdio, ExecTerminal};
use berth_engine::relay::{parse_detach_keys, DetachScanner, DEFAULT_DETACH_KEYS};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::containers::create::StrSlice;
use crate::error::{ApiError, ApiResult};
use crate::hijack::{self, Detach, Fd, Out, Session, Sink, Source};
use crate::params::{parse_json, JsonBody, Params};
use crate::reply;
use crate::router::ApiVersion;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

/// How long an exited exec instance is kept for clients to inspect.
const KEEP_EXITED: Duration = Duration::from_secs(3600);

/// Docker's `ExecConfig`; every field may be null.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ExecConfig {
    attach_stdin: Option<bool>,
    attach_stdout: Option<bool>,
    attach_stderr: Option<bool>,
    detach_keys: Option<String>,
    tty: Option<bool>,
    env: Option<Vec<String>>,
    cmd: Option<StrSlice>,
    privileged: Option<bool>,
    user: Option<String>,
    working_dir: Option<String>,
}

/// Docker's `ExecStartConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartConfig {
    detach: Option<bool>,
    /// `[height, width]` of the client's terminal.
    console_size: Option<Vec<u16>>,
}

/// Where an exec instance is in its life.
enum Progress {
    Created,
    Running { pid: i32, terminal: Option<ExecTerminal> },
    Exited { pid: i32, code: i32, at: Instant },
}

/// One exec instance.
pub struct ExecRecord {
    id: String,
    container_id: String,
    args: Vec<String>,
    options: ExecOptions,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    detach_keys: String,
    progress: Mutex<Progress>,
    /// The exit code, once the process has ended.
    exit: watch::Sender<Option<i32>>,
}

impl ExecRecord {
    fn set(&self, progress: Progress) {
        if let Ok(mut p) = self.progress.lock() {
            *p = progress;
        }
    }

    fn exited(&self, pid: i32, code: i32) {
        self.set(Progress::Exited {
            pid,
            code,
            at: Instant::now(),
        });
        self.exit.send_replace(Some(code));
    }

    /// Resolves once the process has ended and its exit code is recorded.
    async fn ended(&self) {
        let mut exit = self.exit.subscribe();
        let _ = exit.wait_for(Option::is_some).await;
    }
}

/// The server's exec instances.
#[derive(Default)]
pub struct Execs(Mutex<HashMap<String, Arc<ExecRecord>>>);

impl Execs {
    fn get(&self, id: &str) -> ApiResult<Arc<ExecRecord>> {
        let map = self
            .0
            .lock()
            .map_err(|_| ApiError::internal("the exec table is poisoned"))?;
        map.get(id)
            .cloned()
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("No such exec instance: {id}")))
    }

    fn insert(&self, record: ExecRecord) -> ApiResult<()> {
        let mut map = self
            .0
            .lock()
            .map_err(|_| ApiError::internal("the exec table is poisoned"))?;
        map.retain(|_, r| {
            !matches!(r.progress.lock().as_deref(), Ok(Progress::Exited { at, .. }) if at.elapsed() > KEEP_EXITED)
        });
        map.insert(record.id.clone(), Arc::new(record));
        Ok(())
    }

    /// Marks `record` as started; refused when it was started already.
    fn claim(record: &ExecRecord) -> ApiResult<()> {
        let mut progress = record
            .progress
            .lock()
            .map_err(|_| ApiError::internal("the exec table is poisoned"))?;
        if !matches!(*progress, Progress::Created) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("exec {} has already been started", record.id),
            ));
        }
        *progress = Progress::Running { pid: 0, terminal: None };
        Ok(())
    }
}

fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize)]
struct IdResponse {
    #[serde(rename = "Id")]
    id: String,
}

async fn create(
    State(state): State<AppState>,
    Path(container): Path<String>,
    JsonBody(config): JsonBody<ExecConfig>,
) -> ApiResult<Response> {
    let args = config.cmd.map(|c| c.into_vec()).unwrap_or_default();
    if args.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let detach_keys = config.detach_keys.unwrap_or_default();
    if !detach_keys.is_empty() {
        parse_detach_keys(&detach_keys).map_err(ApiError::bad_request)?;
    }
    let c = state.call(move |engine| engine.container(&container)).await?;
    if !c.row.state.is_live() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Container {} is not running", c.id()),
        ));
    }
    if !c.row.state.can_exec() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Container {} is paused, unpause the container before exec", c.id()),
        ));
    }
    let id = new_id();
    let record = ExecRecord {
        id: id.clone(),
        container_id: c.id().to_string(),
        options: ExecOptions {
            args: args.clone(),
            env: config.env.unwrap_or_default(),
            working_dir: config.working_dir.filter(|w| !w.is_empty()),
            user: config.user.filter(|u| !u.is_empty()),
            privileged: config.privileged.unwrap_or(false),
        },
        args,
        tty: config.tty.unwrap_or(false),
        stdin: config.attach_stdin.unwrap_or(false),
        stdout: config.attach_stdout.unwrap_or(false),
        stderr: config.attach_stderr.unwrap_or(false),
        detach_keys,
        progress: Mutex::new(Progress::Created),
        exit: watch::Sender::new(None),
    };
    state.execs.insert(record)?;
    Ok(reply::created(&IdResponse { id }))
}

/// Starts the process; the engine's errors are kept whole (a failed start has Docker's status).
async fn start_process(
    state: &AppState,
    record: &Arc<ExecRecord>,
    stdio: ExecStdio,
) -> ApiResult<berth_engine::Result<ExecProcess>> {
    let (container, options) = (record.container_id.clone(), record.options.clone());
    state
        .call(move |engine| Ok(engine.exec_start(&container, &options, stdio)))
        .await
}

/// Waits for the process on the blocking pool (a thread for as long as it runs) and records how
/// it ended.
fn watch_exit(record: Arc<ExecRecord>, process: ExecProcess) {
    let pid = process.pid();
    tokio::task::spawn_blocking(move || {
        let code = match process.wait() {
            Ok(code) => code,
            Err(e) => {
                tracing::warn!(error = %e, exec = %record.id, "lost an exec'd process's exit status");
                -1
            }
        };
        record.exited(pid, code);
    });
}

async fn start(State(state): State<AppState>, Path(id): Path<String>, mut req: Request) -> ApiResult<Response> {
    let version = req
        .extensions()
        .get::<ApiVersion>()
        .copied()
        .unwrap_or(crate::MAX_VERSION);
    let record = state.execs.get(&id)?;
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 64 * 1024)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    let config: StartConfig = parse_json(&body)?;
    if config.detach.unwrap_or(false) {
        Execs::claim(&record)?;
        let null = || -> ApiResult<OwnedFd> {
            std::fs::File::options()
                .write(true)
                .open("/dev/null")
                .map(OwnedFd::from)
                .map_err(|e| ApiError::internal(format!("/dev/null: {e}")))
        };
        let stdio = ExecStdio::Into {
            stdout: null()?,
            stderr: null()?,
        };
        let process = match start_process(&state, &record, stdio).await? {
            Ok(process) => process,
            Err(e) => {
                record.exited(0, start_failure_code(&e));
                return Err(e.into());
            }
        };
        record.set(Progress::Running {
            pid: process.pid(),
            terminal: None,
        });
        watch_exit(record, process);
        return Ok(reply::empty(StatusCode::OK));
    }
    let (client, response) = hijack::take(&mut req, version, record.tty);
    // A container that stopped since the create is the request's 409; later failures can only be
    // told on the stream.
    let container = record.container_id.clone();
    let live = state
        .call(move |engine| Ok(engine.container(&container)?.row.state.can_exec()))
        .await?;
    if !live {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Container {} is not running", record.container_id),
        ));
    }
    Execs::claim(&record)?;
    let tty = record.tty;
    // As dockerd, the process starts once the connection is taken: a client that reads the 101's
    // headers through a buffered reader (the Python SDK) would lose output sent with them.
    tokio::spawn(async move {
        let client = match client.connect().await {
            Ok(client) => client,
            Err(e) => {
                tracing::debug!(error = %e, "exec: the connection was not upgraded");
                record.exited(0, 126);
                return;
            }
        };
        let stdio = match tty {
            true => ExecStdio::Tty,
            false => ExecStdio::Pipes { stdin: record.stdin },
        };
        let started = match start_process(&state, &record, stdio).await {
            Ok(started) => started.map_err(ApiError::from_start),
            Err(e) => Err((126, e)),
        };
        let session = match started {
            Ok(mut process) => match attach_session(&record, &mut process, config.console_size.as_deref()) {
                Ok(session) => {
                    watch_exit(record.clone(), process);
                    session
                }
                Err(e) => {
                    watch_exit(record.clone(), process);
                    failure_session(tty, &e.message)
                }
            },
            Err((code, e)) => {
                // The reason is the stream's only output, and the exit code (126, 127) the
                // instance's, as dockerd has them.
                record.exited(0, code);
                failure_session(tty, &e.message)
            }
        };
        let ended = session.run_then(client, record.ended()).await;
        tracing::debug!(exec = %record.id, ?ended, "exec session ended");
    });
    Ok(response)
}

/// A session that only tells the client why the process did not run.
fn failure_session(tty: bool, message: &str) -> Session {
    let message = format!("{message}\r\n");
    Session {
        prelude: match tty {
            true => message.into_bytes(),
            false => hijack::frame(2, message.as_bytes()),
        },
        sources: Vec::new(),
        input: None,
        detach: None,
    }
}

impl ApiError {
    /// A failed exec start: Docker's exit code for it, and the error.
    fn from_start(e: berth_engine::Error) -> (i32, ApiError) {
        (start_failure_code(&e), ApiError::from(e))
    }
}

/// The exit code Docker gives an exec that could not start.
fn start_failure_code(e: &berth_engine::Error) -> i32 {
    match e {
        berth_engine::Error::StartFailed { code, .. } => *code,
        _ => 126,
    }
}

/// The session relaying the started process's streams, and the record marked running.
fn attach_session(record: &ExecRecord, process: &mut ExecProcess, size: Option<&[u16]>) -> ApiResult<Session> {
    let io = |e: std::io::Error| ApiError::internal(format!("exec streams: {e}"));
    let terminal = process.terminal_handle()?;
    if let (Some(t), Some([rows, cols])) = (&terminal, size) {
        if *rows > 0 && *cols > 0 {
            t.resize(*rows, *cols)?;
        }
    }
    let mut session = Session {
        prelude: Vec::new(),
        sources: Vec::new(),
        input: None,
        detach: None,
    };
    if let Some(master) = &process.terminal {
        // Copies of the master: the process keeps the original (its terminal stays up after a detach).
        let copy = || rustix::io::fcntl_dupfd_cloexec(master, 3).map_err(|e| io(e.into()));
        session.sources.push(Source::Fd {
            fd: Fd::new(copy()?).map_err(io)?,
            out: Out::Raw,
        });
        if record.stdin {
            session.input = Some(Sink::Fd(Fd::new(copy()?).map_err(io)?));
        }
    } else {
        for (fd, stream, wanted) in [
            (process.stdout.take(), 1, record.stdout),
            (process.stderr.take(), 2, record.stderr),
        ] {
            // Output nobody asked for is read and dropped, so the process never blocks on it.
            if let Some(fd) = fd {
                session.sources.push(Source::Fd {
                    fd: Fd::new(fd).map_err(io)?,
                    out: if wanted { Out::Frame(stream) } else { Out::Drop },
                });
            }
        }
        if let Some(stdin) = process.stdin.take() {
            session.input = Some(Sink::Fd(Fd::new(stdin).map_err(io)?));
        }
    }
    if session.input.is_some() {
        let keys = match record.detach_keys.as_str() {
            "" => DEFAULT_DETACH_KEYS.to_vec(),
            text => parse_detach_keys(text).map_err(ApiError::bad_request)?,
        };
        session.detach = Some(Detach {
            scanner: DetachScanner::new(&keys),
            tell: Vec::new(),
        });
    }
    record.set(Progress::Running {
        pid: process.pid(),
        terminal,
    });
    Ok(session)
}

/// Docker's `ProcessConfig` of an exec instance.
#[derive(Serialize)]
struct ProcessConfig {
    arguments: Vec<String>,
    entrypoint: String,
    privileged: bool,
    tty: bool,
    user: String,
}

/// Docker's `ExecInspectResponse`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ExecInspect {
    can_remove: bool,
    #[serde(rename = "ContainerID")]
    container_id: String,
    detach_keys: String,
    exit_code: Option<i32>,
    #[serde(rename = "ID")]
    id: String,
    open_stderr: bool,
    open_stdin: bool,
    open_stdout: bool,
    process_config: ProcessConfig,
    running: bool,
    pid: i32,
}

async fn inspect(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let record = state.execs.get(&id)?;
    let (running, exit_code, pid) = match record.progress.lock().as_deref() {
        Ok(Progress::Created) => (false, None, 0),
        Ok(Progress::Running { pid, .. }) => (true, None, *pid),
        Ok(Progress::Exited { pid, code, .. }) => (false, Some(*code), *pid),
        Err(_) => return Err(ApiError::internal("the exec table is poisoned")),
    };
    Ok(reply::json(&ExecInspect {
        can_remove: false,
        container_id: record.container_id.clone(),
        detach_keys: record.detach_keys.clone(),
        exit_code,
        id: record.id.clone(),
        open_stderr: record.stderr,
        open_stdin: record.stdin,
        open_stdout: record.stdout,
        process_config: ProcessConfig {
            arguments: record.args.iter().skip(1).cloned().collect(),
            entrypoint: record.args.first().cloned().unwrap_or_default(),
            privileged: record.options.privileged,
            tty: record.tty,
            user: record.options.user.clone().unwrap_or_default(),
        },
        running,
        pid,
    }))
}

/// `h` and `w` of a resize, as terminal rows and columns.
pub fn size(params: &Params) -> ApiResult<(u16, u16)> {
    let dimension = |key: &str| -> ApiResult<u16> {
        let value = params.int(key)?.unwrap_or(0);
        u16::try_from(value).map_err(|_| ApiError::bad_request(format!("invalid {key}: {value} is out of range")))
    };
    Ok((dimension("h")?, dimension("w")?))
}

async fn resize(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let (rows, cols) = size(&params)?;
    let record = state.execs.get(&id)?;
    let progress = record
        .progress
        .lock()
        .map_err(|_| ApiError::internal("the exec table is poisoned"))?;
    match &*progress {
        Progress::Running {
            terminal: Some(terminal),
            ..
        } => terminal.resize(rows, cols)?,
        Progress::Running { terminal: None, .. } if record.tty => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("exec {id} is starting: resize it again"),
            ))
        }
        Progress::Running { .. } => {
            return Err(ApiError::bad_request(format!("exec {id} has no terminal to resize")));
        }
        _ => return Err(ApiError::new(StatusCode::CONFLICT, format!("exec {id} is not running"))),
    }
    Ok(reply::empty(StatusCode::OK))
}

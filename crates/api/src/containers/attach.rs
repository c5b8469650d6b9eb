//! `POST /containers/{id}/attach` and `GET /containers/{id}/attach/ws`: the container's streams
//! over a hijacked connection or a websocket.
//!
//! A running container's monitor serves attach clients on a unix socket, in Docker's stream format
//! already: the server splices the connection to it. The docker CLI's `run` attaches *before* it
//! starts the container, though, and a short-lived container's output would be gone by the time
//! the monitor's socket exists. So an attach to a container that is not running leaves its streams
//! (pipes) with the server, in memory, and the start that follows from this server hands them to
//! the monitor as the caller's streams, as `berth run` hands its terminal. If someone else starts
//! the container, or it is removed, first, the waiting attach ends.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use berth_engine::containers::logs::{LogNext, LogsRequest};
use berth_engine::containers::{Caller, Container};
use berth_engine::relay::{parse_detach_keys, DetachScanner};
use berth_engine::Engine;

use crate::error::{ApiError, ApiResult};
use crate::hijack::{self, Detach, Fd, Out, Session, Sink, Source};
use crate::params::Params;
use crate::router::ApiVersion;
use crate::state::AppState;

/// Streams of attach clients waiting for their container to start, by container ID (at most one
/// each). Kept in memory only: a restarted server has no clients waiting.
#[derive(Default)]
pub struct Waiting(Mutex<HashMap<String, Caller>>);

impl Waiting {
    /// The streams waiting for container `id`, if any, for its start.
    pub fn take(&self, id: &str) -> Option<Caller> {
        self.0.lock().ok()?.remove(id)
    }

    fn put(&self, id: &str, caller: Caller) -> bool {
        let Ok(mut map) = self.0.lock() else {
            return false;
        };
        if map.contains_key(id) {
            return false;
        }
        map.insert(id.to_string(), caller);
        true
    }

    fn contains(&self, id: &str) -> bool {
        self.0.lock().is_ok_and(|m| m.contains_key(id))
    }
}

/// What the client asked to attach to.
struct Wanted {
    stream: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    logs: bool,
    detach_keys: Option<Vec<u8>>,
}

impl Wanted {
    fn from(params: &Params) -> ApiResult<Wanted> {
        let detach_keys = match params.text("detachKeys") {
            Some(text) => Some(parse_detach_keys(&text).map_err(ApiError::bad_request)?),
            None => None,
        };
        Ok(Wanted {
            stream: params.flag("stream"),
            stdin: params.flag("stdin"),
            stdout: params.flag("stdout"),
            stderr: params.flag("stderr"),
            logs: params.flag("logs"),
            detach_keys,
        })
    }

    /// The keys the client detaches with, and the container's own (what the monitor listens for).
    fn detach(&self, container: &Container) -> Detach {
        let own = container.detach_keys();
        let keys = self.detach_keys.clone().unwrap_or_else(|| own.clone());
        Detach {
            scanner: DetachScanner::new(&keys),
            tell: own,
        }
    }
}

/// `POST /containers/{id}/attach`: hijacked (or, without an `Upgrade` header, the output as the
/// response's body), Docker's stream multiplexed unless the container has a terminal.
pub async fn attach(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
    mut req: Request,
) -> ApiResult<Response> {
    let wanted = Wanted::from(&params)?;
    let version = version_of(&req);
    let container = state.call(move |engine| engine.container(&id)).await?;
    let (client, response) = hijack::take(&mut req, version, container.config.tty);
    let multiplexed = !container.config.tty;
    serve(state, container, wanted, multiplexed, client).await?;
    Ok(response)
}

/// `GET /containers/{id}/attach/ws`: the same session over a websocket, the output raw (dockerd
/// never multiplexes it: one frame is one piece of one stream). Before API 1.42 dockerd attached
/// every stream whatever the query said.
pub async fn attach_ws(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
    mut req: Request,
) -> ApiResult<Response> {
    let mut wanted = Wanted::from(&params)?;
    let version = version_of(&req);
    if version < (ApiVersion { major: 1, minor: 42 }) {
        (wanted.stdin, wanted.stdout, wanted.stderr) = (true, true, true);
    }
    let container = state.call(move |engine| engine.container(&id)).await?;
    let (client, response) = match hijack::take_websocket(&mut req, version) {
        Ok(taken) => taken,
        Err(refusal) => return Ok(refusal.into_response()),
    };
    serve(state, container, wanted, false, client).await?;
    Ok(response)
}

fn version_of(req: &Request) -> ApiVersion {
    req.extensions()
        .get::<ApiVersion>()
        .copied()
        .unwrap_or(crate::MAX_VERSION)
}

/// Sets up the session `wanted` asks for and runs it, in a task of its own, once the client is
/// reached.
async fn serve(
    state: AppState,
    container: Container,
    wanted: Wanted,
    multiplexed: bool,
    client: hijack::Pending,
) -> ApiResult<()> {
    let prelude = match wanted.logs {
        true => {
            let (id, wanted_streams) = (container.id().to_string(), [wanted.stdout, wanted.stderr]);
            state
                .call(move |engine| replay(engine, &id, multiplexed, wanted_streams))
                .await?
        }
        false => Vec::new(),
    };
    let mut session = Session {
        prelude,
        sources: Vec::new(),
        input: None,
        detach: None,
    };
    let mut waiting_for_start = false;
    if wanted.stream {
        let running = container.row.state.is_live();
        if running {
            let name = container.id().to_string();
            let (_, socket) = state.call(move |engine| engine.attach_container(&name)).await?;
            connect_monitor(&mut session, socket, &wanted, &container, multiplexed)?;
        } else {
            let caller = pipes_for_start(&mut session, &wanted, &container, multiplexed)?;
            if !state.attaches.put(container.id(), caller) {
                return Err(ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    format!(
                        "another client is already attached to container {}, waiting for it to start",
                        container.short_id()
                    ),
                ));
            }
            tracing::debug!(container = %container.id(), "attach waits for the container's start");
            waiting_for_start = true;
        }
    }
    let id = container.id().to_string();
    tokio::spawn(async move {
        let client = match client.connect().await {
            Ok(client) => client,
            Err(e) => {
                tracing::debug!(error = %e, "attach: the connection was not upgraded");
                state.attaches.take(&id);
                return;
            }
        };
        let ended = match waiting_for_start {
            true => {
                tokio::select! {
                    ended = session.run(client) => ended,
                    _ = started_elsewhere(&state, &id) => hijack::Ended::Output,
                }
            }
            false => session.run(client).await,
        };
        // Its start never came: the streams it left are dropped.
        state.attaches.take(&id);
        tracing::debug!(container = %id, ?ended, "attach ended");
    });
    Ok(())
}

/// Resolves once the container's waiting streams can no longer be used: it was started by another
/// front door, or removed, while they waited here.
async fn started_elsewhere(state: &AppState, id: &str) {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let name = id.to_string();
        let live = state
            .call(move |engine| Ok(engine.container(&name)?.row.state.is_live()))
            .await;
        if !state.attaches.contains(id) {
            // Taken by a start (looked at after the container, which that start may have just
            // started): the session goes on with the monitor on the other end.
            return std::future::pending::<()>().await;
        }
        if !matches!(live, Ok(false)) {
            return;
        }
    }
}

/// Splices the session to the monitor's attach socket.
fn connect_monitor(
    session: &mut Session,
    socket: std::os::unix::net::UnixStream,
    wanted: &Wanted,
    container: &Container,
    multiplexed: bool,
) -> ApiResult<()> {
    socket
        .set_nonblocking(true)
        .map_err(|e| ApiError::internal(format!("attach socket: {e}")))?;
    let socket =
        tokio::net::UnixStream::from_std(socket).map_err(|e| ApiError::internal(format!("attach socket: {e}")))?;
    let (read, write) = socket.into_split();
    session.sources.push(Source::Monitor {
        socket: read,
        tty: container.config.tty,
        wanted: [wanted.stdout, wanted.stderr],
        multiplexed,
    });
    if wanted.stdin && container.config.open_stdin {
        session.input = Some(Sink::Monitor(write));
        session.detach = Some(wanted.detach(container));
    } else {
        // Kept open for the session: dropping it would shut the socket's write side, and the
        // monitor would take that for a client that left.
        write.forget();
    }
    Ok(())
}

/// Pipes for a start to hand the monitor: the server's ends go into the session, the monitor's
/// into the returned caller.
fn pipes_for_start(
    session: &mut Session,
    wanted: &Wanted,
    container: &Container,
    multiplexed: bool,
) -> ApiResult<Caller> {
    let pipe = || -> ApiResult<(OwnedFd, OwnedFd)> {
        berth_engine::relay::cloexec_pipe().map_err(|e| ApiError::internal(format!("attach pipes: {e}")))
    };
    let fd = |fd: OwnedFd| Fd::new(fd).map_err(|e| ApiError::internal(format!("attach pipes: {e}")));
    let tty = container.config.tty;
    let mut caller = Caller::default();
    if wanted.stdout {
        let (read, write) = pipe()?;
        session.sources.push(Source::Fd {
            fd: fd(read)?,
            out: if multiplexed { Out::Frame(1) } else { Out::Raw },
        });
        caller.stdout = Some(write);
    }
    // A terminal has one output, all on stdout.
    if wanted.stderr && !tty {
        let (read, write) = pipe()?;
        session.sources.push(Source::Fd {
            fd: fd(read)?,
            out: if multiplexed { Out::Frame(2) } else { Out::Raw },
        });
        caller.stderr = Some(write);
    }
    if wanted.stdin && container.config.open_stdin {
        let (read, write) = pipe()?;
        session.input = Some(Sink::Fd(fd(write)?));
        session.detach = Some(wanted.detach(container));
        caller.stdin = Some(read);
    }
    Ok(caller)
}

/// The container's log so far, as the attach stream carries it (`logs=1`).
fn replay(engine: &Engine, id: &str, multiplexed: bool, wanted: [bool; 2]) -> berth_engine::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut stream = match engine.container_log_stream(id, LogsRequest::default()) {
        Ok(stream) => stream,
        // A container that keeps no log has nothing to replay.
        Err(berth_engine::Error::InvalidArgument(_)) => return Ok(out),
        Err(e) => return Err(e),
    };
    while let LogNext::Entry(entry) = stream.poll_next(engine)? {
        let index = usize::from(entry.stream == "stderr");
        if !wanted[index] {
            continue;
        }
        match multiplexed {
            true => out.extend(hijack::frame(index as u8 + 1, entry.log.as_bytes())),
            false => out.extend_from_slice(entry.log.as_bytes()),
        }
    }
    Ok(out)
}

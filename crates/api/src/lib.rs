//! `berth serve`: the Docker Engine API over unix sockets, in front of the same engine the `berth`
//! CLI calls. Handlers only parse a request into an engine call (run on the blocking pool) and write
//! its typed result as Docker's JSON; the server keeps no state the data root does not, so both front
//! doors see and control the same containers, images, volumes and networks.

mod activation;
mod auth;
mod body;
mod build;
mod container_archive;
mod container_data;
mod containers;
mod error;
mod events;
mod exec;
mod hijack;
mod image_archive;
mod images;
mod listen;
mod networks;
mod params;
mod progress;
mod reply;
mod router;
mod state;
mod stream;
mod system;
mod transfer;
mod volumes;
mod websocket;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::ServiceExt as _;
use berth_engine::{Engine, Options};
use tokio::sync::watch;
use tower_layer::Layer as _;

pub use error::{status_of, ApiError};
pub use listen::{parse_host, Bound, Host, SetupError, TlsFiles};
pub use router::{MAX_VERSION, MIN_VERSION};

/// What `berth serve` was asked.
#[derive(Clone, Debug)]
pub struct Config {
    /// The data root and run root, as the CLI's `--root` and `--runroot`.
    pub options: Options,
    /// `--host` addresses (`unix:///run/berth/berth.sock`); at least one.
    pub hosts: Vec<String>,
    /// `--group`: the group the sockets belong to (a name or id), so its members need no sudo.
    pub group: Option<String>,
    /// `--tlsverify` with its files: what TCP listeners need.
    pub tls: Option<TlsFiles>,
}

/// A server with its engine open and its sockets bound, not yet serving.
pub struct Server {
    engine: Engine,
    listeners: Vec<(Host, Bound)>,
    tls: Option<Arc<berth_tls::ServerConfig>>,
}

/// Checks every host, opens the engine and binds the sockets, so every configuration error shows
/// before anything is served.
pub fn bind(config: Config) -> Result<Server, SetupError> {
    let hosts = config
        .hosts
        .iter()
        .map(|h| parse_host(h))
        .collect::<Result<Vec<_>, _>>()?;
    let gid = config.group.as_deref().map(listen::resolve_group).transpose()?;
    let tls = match &config.tls {
        Some(files) => Some(berth_tls::load(&files.cert, &files.key, Some(&files.ca))?),
        None => None,
    };
    let engine = Engine::open(config.options)?;
    let mut listeners = Vec::new();
    for host in hosts {
        let bound = match &host {
            Host::Unix(path) => listen::bind_unix(path, gid).map(|l| vec![Bound::Unix(l)]),
            Host::Tcp(address) => listen::bind_tcp(address, config.tls.as_ref()).map(|l| vec![Bound::Tcp(l)]),
            Host::Fd(wanted) => activation::take(*wanted),
        };
        match bound {
            Ok(bound) => {
                for b in bound {
                    if matches!(b, Bound::Tcp(_)) && tls.is_none() {
                        remove_sockets(&listeners);
                        return Err(SetupError::Activation(format!(
                            "{host}: systemd passed a TCP socket, which needs --tlsverify with its certificates"
                        )));
                    }
                    listeners.push((host.clone(), b));
                }
            }
            Err(e) => {
                remove_sockets(&listeners);
                return Err(e);
            }
        }
    }
    Ok(Server { engine, listeners, tls })
}

/// `bind` then `run`: serves until SIGTERM or SIGINT.
pub fn serve(config: Config) -> Result<(), SetupError> {
    bind(config)?.run()
}

/// How long open connections (event streams) get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

impl Server {
    /// The addresses being served, as given.
    pub fn hosts(&self) -> Vec<String> {
        self.listeners.iter().map(|(h, _)| h.to_string()).collect()
    }

    /// Serves every socket until SIGTERM or SIGINT, then removes the socket files.
    pub fn run(self) -> Result<(), SetupError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("berth-api")
            .build()
            .map_err(SetupError::Runtime)?;
        let paths = made_sockets(&self.listeners);
        let served = runtime.block_on(self.serve_until_signal());
        for path in &paths {
            let _ = std::fs::remove_file(path);
        }
        // Blocking engine calls still running (an events reader sees its client gone within one
        // poll) are not waited for past this.
        runtime.shutdown_timeout(Duration::from_millis(500));
        served
    }

    async fn serve_until_signal(self) -> Result<(), SetupError> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(SetupError::Runtime)?;
        let mut int = signal(SignalKind::interrupt()).map_err(SetupError::Runtime)?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let routes = router::routes(state::AppState::new(self.engine));
        let app = axum::middleware::from_fn(router::versioned).layer(routes);
        let mut servers = tokio::task::JoinSet::new();
        for (host, listener) in self.listeners {
            let mut stop = stop_rx.clone();
            let until_stopped = async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            };
            let service = app.clone().into_make_service();
            tracing::info!("listening on {host}");
            match listener {
                Bound::Unix(listener) | Bound::ActivatedUnix(listener) => {
                    let listener = tokio::net::UnixListener::from_std(listener).map_err(SetupError::Runtime)?;
                    servers.spawn(async move {
                        axum::serve(listener, service)
                            .with_graceful_shutdown(until_stopped)
                            .await
                    });
                }
                Bound::Tcp(listener) => {
                    let listener = tokio::net::TcpListener::from_std(listener).map_err(SetupError::Runtime)?;
                    // bind refused TCP without TLS.
                    let Some(config) = self.tls.clone() else { continue };
                    let listener = berth_tls::TlsListener::new(listener, config).map_err(SetupError::Runtime)?;
                    servers.spawn(async move {
                        axum::serve(listener, service)
                            .with_graceful_shutdown(until_stopped)
                            .await
                    });
                }
            }
        }
        let failed = tokio::select! {
            _ = term.recv() => None,
            _ = int.recv() => None,
            Some(done) = servers.join_next() => Some(done),
        };
        let _ = stop_tx.send(true);
        if let Some(done) = failed {
            return match done {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(SetupError::Serve(e)),
                Err(e) => Err(SetupError::Serve(std::io::Error::other(e))),
            };
        }
        tracing::info!("shutting down");
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async { while servers.join_next().await.is_some() {} }).await;
        Ok(())
    }
}

/// The socket files this server made: removed when it stops (systemd's are systemd's).
fn made_sockets(listeners: &[(Host, Bound)]) -> Vec<PathBuf> {
    listeners
        .iter()
        .filter_map(|(host, bound)| match (host, bound) {
            (Host::Unix(path), Bound::Unix(_)) => Some(path.clone()),
            _ => None,
        })
        .collect()
}

fn remove_sockets(listeners: &[(Host, Bound)]) {
    for path in made_sockets(listeners) {
        let _ = std::fs::remove_file(path);
    }
}

//! An OCI distribution (v1.1) registry, Docker registry v2 compatible: the
//! server behind `berth registry serve`. Blobs and manifests live as files
//! under a root directory (layout in `storage.rs`); see docs/ARCHITECTURE.md.
//!
//! ```no_run
//! let config = berth_registry_server::Config::new("/var/lib/berth-registry");
//! berth_registry_server::serve_blocking(config)?; // until SIGTERM or SIGINT
//! # Ok::<(), berth_registry_server::Error>(())
//! ```

mod auth;
mod error;
mod handlers;
mod manifest;
mod names;
mod purge;
mod storage;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use error::{Error, Result};
pub use names::{check_name, check_tag};

use handlers::AppState;
use storage::Storage;
use tokio::sync::{oneshot, watch};

/// How long a shutdown waits for requests in flight (a long upload) before
/// the server stops anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What `berth registry serve` is given.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port (see `Server::local_addr`).
    pub addr: SocketAddr,
    /// Where blobs, manifests, tags and upload sessions are kept.
    pub root: PathBuf,
    /// Require basic auth against this htpasswd file (bcrypt entries).
    pub htpasswd: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain and private key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// An upload session untouched this long is abandoned and removed.
    pub upload_max_age: Duration,
    /// How often abandoned upload sessions are looked for while serving.
    pub upload_purge_interval: Duration,
    /// At most this many upload sessions may be open at once; a client
    /// starting one more gets 429 TOOMANYREQUESTS.
    pub max_upload_sessions: usize,
}

/// Docker's registry keeps abandoned uploads for a week and looks once a
/// day; a day and an hour bound the disk an abandoning client can fill.
pub const DEFAULT_UPLOAD_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_UPLOAD_PURGE_INTERVAL: Duration = Duration::from_secs(3600);
pub const DEFAULT_MAX_UPLOAD_SESSIONS: usize = 1000;

impl Config {
    /// Plain HTTP on 127.0.0.1:5000, no authentication.
    pub fn new(root: impl Into<PathBuf>) -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 5000)),
            root: root.into(),
            htpasswd: None,
            tls: None,
            upload_max_age: DEFAULT_UPLOAD_MAX_AGE,
            upload_purge_interval: DEFAULT_UPLOAD_PURGE_INTERVAL,
            max_upload_sessions: DEFAULT_MAX_UPLOAD_SESSIONS,
        }
    }
}

/// Binds the address and serves until SIGTERM or SIGINT, then finishes the
/// requests in flight (for up to 10 s). Builds its own tokio runtime.
pub fn serve_blocking(config: Config) -> Result<()> {
    bind(config)?.run()
}

/// A registry bound to its address, not yet serving.
pub struct Server {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    state: Arc<AppState>,
    tls: Option<Arc<berth_tls::ServerConfig>>,
    upload_max_age: Duration,
    upload_purge_interval: Duration,
}

/// Opens the root, loads the htpasswd file and TLS certificate, and binds
/// the listening socket, so every configuration error shows before serving.
pub fn bind(config: Config) -> Result<Server> {
    if config.upload_purge_interval.is_zero() {
        return Err(Error::Config(
            "the upload purge interval is zero: give it a positive duration".into(),
        ));
    }
    let storage = Storage::open(&config.root)?;
    let auth = config.htpasswd.as_deref().map(auth::Htpasswd::load).transpose()?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(berth_tls::load(cert, key, None).map_err(|e| Error::Tls(e.to_string()))?),
        None => None,
    };
    let bind_err = |source| Error::Bind {
        addr: config.addr,
        source,
    };
    let listener = std::net::TcpListener::bind(config.addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let local_addr = listener.local_addr().map_err(bind_err)?;
    let state = Arc::new(AppState::new(storage, auth, config.max_upload_sessions));
    // Sessions abandoned while the server was down go first.
    state.purge_abandoned_uploads(config.upload_max_age);
    Ok(Server {
        listener,
        local_addr,
        state,
        tls,
        upload_max_age: config.upload_max_age,
        upload_purge_interval: config.upload_purge_interval,
    })
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether this server speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until SIGTERM or SIGINT.
    pub fn run(self) -> Result<()> {
        let runtime = runtime()?;
        runtime.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(Error::Runtime)?;
            let signal = async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                tracing::info!("shutting down");
            };
            self.serve(signal).await
        })
    }

    /// Serves from a thread of its own until the handle is shut down or
    /// dropped: for tests and for embedding.
    pub fn spawn(self) -> Result<ServerHandle> {
        let addr = self.local_addr;
        let runtime = runtime()?;
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("berth-registry".into())
            .spawn(move || {
                runtime.block_on(self.serve(async move {
                    let _ = rx.await;
                }))
            })
            .map_err(Error::Runtime)?;
        Ok(ServerHandle {
            addr,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let listener = tokio::net::TcpListener::from_std(self.listener).map_err(Error::Serve)?;
        let purger = tokio::spawn(purge::purge_loop(
            self.state.clone(),
            self.upload_purge_interval,
            self.upload_max_age,
        ));
        let app = handlers::router(self.state);
        let (stopping_tx, mut stopping) = watch::channel(false);
        let graceful = async move {
            shutdown.await;
            let _ = stopping_tx.send(true);
        };
        let deadline = async move {
            if stopping.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        tracing::info!("registry listening on {scheme}://{}", self.local_addr);
        let served = match self.tls {
            Some(config) => {
                let listener = berth_tls::TlsListener::new(listener, config).map_err(Error::Serve)?;
                tokio::select! {
                    r = axum::serve(listener, app).with_graceful_shutdown(graceful) => r,
                    _ = deadline => Ok(()),
                }
            }
            None => {
                tokio::select! {
                    r = axum::serve(listener, app).with_graceful_shutdown(graceful) => r,
                    _ = deadline => Ok(()),
                }
            }
        };
        purger.abort();
        served.map_err(Error::Serve)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("berth-registry")
        .build()
        .map_err(Error::Runtime)
}

/// A server running in its own thread. Dropping it stops the server.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, finishes requests in flight, and waits for the end.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| Error::Task("registry server thread panicked".into()))?,
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

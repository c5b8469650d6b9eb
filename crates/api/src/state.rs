//! What every handler shares: one engine, opened once, and the way to call it; and the only state
//! the server keeps itself, in memory, as dockerd does: exec instances, and attach clients waiting
//! for their container's start.

use std::sync::Arc;

use berth_engine::Engine;

use crate::containers::attach::Waiting;
use crate::error::{ApiError, ApiResult};
use crate::exec::Execs;
use crate::stream::{Format, Sink};

/// The server's shared state. The engine is `Send + Sync` (its database connection sits behind a
/// mutex), so one is opened at start and every request uses it.
#[derive(Clone)]
pub struct AppState {
    engine: Arc<Engine>,
    pub attaches: Arc<Waiting>,
    pub execs: Arc<Execs>,
}

impl AppState {
    pub fn new(engine: Engine) -> AppState {
        AppState {
            engine: Arc::new(engine),
            attaches: Arc::default(),
            execs: Arc::default(),
        }
    }

    /// The engine, for a blocking task that outlives the request (a followed stream).
    pub fn engine(&self) -> Arc<Engine> {
        self.engine.clone()
    }

    /// Runs `f` on the blocking pool: engine calls read files, take locks and wait on processes, which
    /// must never stall the threads that serve other clients.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> berth_engine::Result<T> + Send + 'static,
    ) -> ApiResult<T> {
        let engine = self.engine.clone();
        match tokio::task::spawn_blocking(move || f(&engine)).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(e) => Err(ApiError::internal(format!("engine call failed: {e}"))),
        }
    }

    /// Runs `f` on the blocking pool with a [`Sink`] its output streams to the client through
    /// (see `stream.rs`): pulls, pushes, builds, loads and saves.
    pub async fn stream(
        &self,
        format: Format,
        f: impl FnOnce(&Engine, &Sink) -> berth_engine::Result<()> + Send + 'static,
    ) -> axum::response::Response {
        let engine = self.engine.clone();
        crate::stream::respond(format, move |sink| f(&engine, sink)).await
    }
}

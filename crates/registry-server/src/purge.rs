//! Removal of abandoned upload sessions: at start-up, and every
//! `upload_purge_interval` while serving, so a client that starts uploads and
//! never finishes them cannot fill the disk. A session counts as abandoned
//! when its data saw no chunk for `upload_max_age`; one with a request in
//! flight is never touched.

use std::sync::Arc;
use std::time::Duration;

use crate::handlers::AppState;

impl AppState {
    /// Removes upload sessions idle for longer than `max_age`; returns how
    /// many. Blocking: call it off the async workers.
    pub fn purge_abandoned_uploads(&self, max_age: Duration) -> usize {
        let mut removed = 0;
        for name in self.storage.upload_entries() {
            if !self.storage.upload_idle(&name, max_age) {
                continue;
            }
            // The session's lock is what its requests hold: if one holds it
            // now, the upload is in use whatever its mtime says.
            let session = self.session(&name);
            let Ok(guard) = session.try_lock() else { continue };
            // Checked again under the lock: a chunk may have landed between.
            if !self.storage.upload_idle(&name, max_age) {
                continue;
            }
            match self.storage.remove_upload(&name) {
                Ok(()) => {
                    tracing::info!("removed upload {name}: no activity for {max_age:?}");
                    removed += 1;
                }
                Err(e) => tracing::warn!("cannot remove abandoned upload {name}: {e}"),
            }
            drop(guard);
            self.forget_session(&name);
        }
        removed
    }
}

/// Purges abandoned uploads every `interval` until the task is aborted.
pub async fn purge_loop(state: Arc<AppState>, interval: Duration, max_age: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the start-up purge has just run.
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let state = state.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || state.purge_abandoned_uploads(max_age)).await {
            tracing::error!("purging abandoned uploads failed: {e}");
        }
    }
}

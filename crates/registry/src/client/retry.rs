//! Retries: which failures are worth another try, and how long to wait before it.

use super::Client;

impl Client {
    pub(super) fn sleep_backoff(&self, attempt: u32, retry_after: Option<String>) {
        let mut wait = self.opts.retry.backoff(attempt);
        if let Some(secs) = retry_after.and_then(|s| s.parse::<u64>().ok()) {
            // Honour the registry's wish, within our own bound.
            wait = wait
                .max(std::time::Duration::from_secs(secs))
                .min(self.opts.retry.max_backoff.max(self.opts.retry.initial_backoff));
        }
        std::thread::sleep(wait);
    }
}

/// Network failures worth another try: not DNS or URL mistakes, not TLS trust failures.
pub(super) fn transient_transport(t: &ureq::Transport) -> bool {
    match t.kind() {
        ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Io => {
            let text = format!("{t} {:?}", std::error::Error::source(t));
            !crate::error::is_tls_trust_failure(&text) && !crate::error::is_definite_failure(&text)
        }
        _ => false,
    }
}

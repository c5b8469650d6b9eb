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

#[cfg(test)]
mod tests {
    use super::*;

    fn transport_error(url: &str) -> ureq::Transport {
        match ureq::get(url).timeout(std::time::Duration::from_secs(5)).call() {
            Err(ureq::Error::Transport(t)) => t,
            other => panic!("expected a transport error from {url}, got {other:?}"),
        }
    }

    #[test]
    fn retries_dropped_connections_only() {
        // Dropped after accepting, before any answer: worth another try.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || drop(listener.accept().unwrap()));
        let dropped = transport_error(&format!("http://{addr}/v2/"));
        server.join().unwrap();
        assert!(transient_transport(&dropped), "{dropped}");
        // Nothing listening any more: an answer, not a hiccup.
        let refused = transport_error(&format!("http://{addr}/v2/"));
        assert!(!transient_transport(&refused), "{refused}");
        // A URL mistake.
        assert!(!transient_transport(&transport_error("http://[::1/v2/")));
    }
}

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::credentials::CredentialsProvider;

/// Bounded exponential backoff for 5xx, 429 and network failures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = no retries).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles each time, up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // Docker retries a layer download five times.
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based), with jitter so parallel downloads
    /// do not hammer a recovering registry in step.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX));
        let base = exp.min(self.max_backoff);
        let jitter = rand::random::<f64>() * 0.25;
        base.mul_f64(1.0 + jitter)
            .min(self.max_backoff.max(self.initial_backoff))
    }
}

/// How a [`crate::Client`] talks to its registry.
#[derive(Clone)]
pub struct ClientOptions {
    /// Where credentials come from; `None` means anonymous.
    pub credentials: Option<Arc<dyn CredentialsProvider>>,
    /// Registries that may use plain HTTP or unverified TLS, as Docker's
    /// `insecure-registries`: `host[:port]` entries, or CIDRs matched against IP-address
    /// hosts. Loopback registries (localhost, 127.0.0.0/8, ::1) are always insecure.
    pub insecure_registries: Vec<String>,
    /// Directories of per-registry certificates (`<dir>/<host[:port]>/*.crt` CAs,
    /// `*.cert` + `*.key` client certificates), searched in order.
    pub certs_dirs: Vec<PathBuf>,
    /// CA bundle to trust instead of the system's (`None`: `SSL_CERT_FILE`, then the
    /// distribution's bundle, then the built-in Mozilla roots).
    pub ca_bundle: Option<PathBuf>,
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// A request fails when no byte arrives (or can be sent) for this long.
    pub stall_timeout: Duration,
    pub retry: RetryPolicy,
    /// Fixed addresses for host names, like curl's `--resolve` (tests, split DNS).
    pub resolve: Vec<(String, IpAddr)>,
    /// Largest manifest accepted, in bytes (distribution's own limit is 4 MiB).
    pub max_manifest_size: u64,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("credentials", &self.credentials.as_ref().map(|_| "<provider>"))
            .field("insecure_registries", &self.insecure_registries)
            .field("certs_dirs", &self.certs_dirs)
            .field("ca_bundle", &self.ca_bundle)
            .field("user_agent", &self.user_agent)
            .field("connect_timeout", &self.connect_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("retry", &self.retry)
            .field("resolve", &self.resolve)
            .field("max_manifest_size", &self.max_manifest_size)
            .finish()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            credentials: None,
            insecure_registries: Vec::new(),
            certs_dirs: vec![
                PathBuf::from("/etc/berth/certs.d"),
                PathBuf::from("/etc/docker/certs.d"),
            ],
            ca_bundle: None,
            user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
            connect_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            resolve: Vec::new(),
            max_manifest_size: 4 << 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        let b1 = p.backoff(1);
        assert!(
            b1 >= Duration::from_millis(100) && b1 <= Duration::from_millis(125),
            "{b1:?}"
        );
        let b3 = p.backoff(3);
        assert!(
            b3 >= Duration::from_millis(400) && b3 <= Duration::from_millis(500),
            "{b3:?}"
        );
        assert!(p.backoff(40) <= Duration::from_secs(1));
    }
}

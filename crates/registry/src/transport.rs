//! HTTP agents: TLS trust (system CAs, certs.d), Docker's insecure-registry rules, timeouts.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, Result};
use crate::options::ClientOptions;

/// CA bundles of the common distributions, first found wins.
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Splits `host[:port]` (IPv6 in brackets) into host and port.
pub(crate) fn split_host_port(registry: &str) -> (&str, Option<&str>) {
    if let Some(rest) = registry.strip_prefix('[') {
        if let Some((h, after)) = rest.split_once(']') {
            return (h, after.strip_prefix(':'));
        }
    }
    match registry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (registry, None),
    }
}

/// Loopback registries are insecure by default in Docker: plain HTTP allowed.
pub(crate) fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `registry` (host[:port]) may use plain HTTP and unverified TLS.
pub(crate) fn is_insecure(registry: &str, insecure: &[String]) -> bool {
    let (host, _) = split_host_port(registry);
    if is_loopback(host) {
        return true;
    }
    let ip = host.parse::<IpAddr>().ok();
    insecure.iter().any(|entry| {
        let entry = entry
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        if entry == registry || entry == host {
            return true;
        }
        match (entry.split_once('/'), ip) {
            (Some((net, bits)), Some(ip)) => cidr_contains(net, bits, ip),
            _ => false,
        }
    })
}

fn cidr_contains(net: &str, bits: &str, ip: IpAddr) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(registry: &str, reason: String) -> Error {
    Error::Tls {
        registry: registry.to_string(),
        reason,
    }
}

/// The trusted roots: the configured or system bundle, else the built-in Mozilla roots.
fn system_roots(registry: &str, opts: &ClientOptions) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let explicit = opts
        .ca_bundle
        .clone()
        .or_else(|| std::env::var_os("SSL_CERT_FILE").map(PathBuf::from));
    let file = match explicit {
        Some(f) => Some(f),
        None => SYSTEM_CA_FILES.iter().map(PathBuf::from).find(|p| p.is_file()),
    };
    if let Some(file) = file {
        let certs = CertificateDer::pem_file_iter(&file)
            .map_err(|e| tls_err(registry, format!("cannot read CA bundle {}: {e}", file.display())))?;
        // Bundles hold odd certificates now and then; skip those rather than fail.
        let (added, _ignored) = roots.add_parsable_certificates(certs.filter_map(|c| c.ok()));
        if added == 0 && opts.ca_bundle.is_some() {
            return Err(tls_err(
                registry,
                format!("no usable certificate in CA bundle {}", file.display()),
            ));
        }
    }
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    Ok(roots)
}

/// Files in `<certs_dir>/<registry>/` with the given extension, sorted.
fn certs_d_files(opts: &ClientOptions, registry: &str, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in &opts.certs_dirs {
        let Ok(rd) = std::fs::read_dir(dir.join(registry)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

fn read_certs(registry: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs: std::result::Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_err(registry, format!("cannot read {}: {e}", path.display())))?
        .collect();
    certs.map_err(|e| tls_err(registry, format!("{}: not a PEM certificate file: {e}", path.display())))
}

/// Builds the rustls configuration for `registry`. With `skip_verify` (insecure
/// registries, as Docker's `InsecureSkipVerify`) the server certificate is not checked.
pub(crate) fn tls_config(registry: &str, opts: &ClientOptions, skip_verify: bool) -> Result<rustls::ClientConfig> {
    let mut roots = system_roots(registry, opts)?;
    for ca in certs_d_files(opts, registry, "crt") {
        for cert in read_certs(registry, &ca)? {
            roots
                .add(cert)
                .map_err(|e| tls_err(registry, format!("{}: unusable CA certificate: {e}", ca.display())))?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(registry, e.to_string()))?;
    let builder = if skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
    } else {
        builder.with_root_certificates(roots)
    };
    // A client certificate: `name.cert` with its `name.key`, as Docker pairs them.
    if let Some(cert) = certs_d_files(opts, registry, "cert").into_iter().next() {
        let key = cert.with_extension("key");
        if !key.is_file() {
            return Err(tls_err(
                registry,
                format!(
                    "client certificate {} has no {} beside it",
                    cert.display(),
                    key.display()
                ),
            ));
        }
        let chain = read_certs(registry, &cert)?;
        let key = PrivateKeyDer::from_pem_file(&key)
            .map_err(|e| tls_err(registry, format!("{}: not a PEM private key: {e}", key.display())))?;
        return builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_err(registry, format!("client certificate {}: {e}", cert.display())));
    }
    Ok(builder.with_no_client_auth())
}

/// Accepts any server certificate (signatures still checked): insecure registries only.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// An agent with our timeouts, no automatic redirects (we follow them ourselves to
/// control which headers go where) and the `--resolve` overrides.
pub(crate) fn agent(opts: &ClientOptions, tls: rustls::ClientConfig) -> ureq::Agent {
    let overrides = opts.resolve.clone();
    ureq::AgentBuilder::new()
        .tls_config(Arc::new(tls))
        .timeout_connect(opts.connect_timeout)
        .timeout_read(opts.stall_timeout)
        .timeout_write(opts.stall_timeout)
        .redirects(0)
        .user_agent(&opts.user_agent)
        .resolver(move |netloc: &str| -> io::Result<Vec<SocketAddr>> {
            let (host, port) = split_host_port(netloc);
            if let Some((_, ip)) = overrides.iter().find(|(h, _)| h == host) {
                let port = port.and_then(|p| p.parse().ok()).unwrap_or(443);
                return Ok(vec![SocketAddr::new(*ip, port)]);
            }
            netloc.to_socket_addrs().map(Iterator::collect)
        })
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_hosts_and_ports() {
        assert_eq!(split_host_port("localhost:5000"), ("localhost", Some("5000")));
        assert_eq!(split_host_port("reg.example"), ("reg.example", None));
        assert_eq!(split_host_port("[::1]:5000"), ("::1", Some("5000")));
        assert_eq!(split_host_port("::1"), ("::1", None));
    }

    #[test]
    fn insecure_rules() {
        assert!(is_insecure("localhost:5000", &[]));
        assert!(is_insecure("127.0.0.2:80", &[]));
        assert!(is_insecure("[::1]:5000", &[]));
        assert!(!is_insecure("reg.example:5000", &[]));
        assert!(is_insecure("reg.example:5000", &["reg.example:5000".into()]));
        assert!(is_insecure("reg.example:5000", &["reg.example".into()]));
        assert!(!is_insecure("reg.example:5000", &["reg.example:6000".into()]));
        assert!(is_insecure("10.1.2.3:5000", &["10.0.0.0/8".into()]));
        assert!(!is_insecure("11.1.2.3:5000", &["10.0.0.0/8".into()]));
        assert!(is_insecure("reg.example", &["http://reg.example/".into()]));
    }

    #[test]
    fn builds_tls_configs() {
        let opts = ClientOptions::default();
        tls_config("reg.example", &opts, false).unwrap();
        tls_config("reg.example", &opts, true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("reg.example")).unwrap();
        std::fs::write(dir.path().join("reg.example/ca.crt"), "not pem").unwrap();
        let opts = ClientOptions {
            certs_dirs: vec![dir.path().into()],
            ..Default::default()
        };
        // Garbage without PEM markers holds no certificates: nothing added, not fatal.
        tls_config("reg.example", &opts, false).unwrap();
        std::fs::write(dir.path().join("reg.example/client.cert"), "").unwrap();
        let e = tls_config("reg.example", &opts, false).unwrap_err();
        assert!(e.to_string().contains("client.key"), "{e}");
    }
}

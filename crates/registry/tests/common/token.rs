//! A token server for the bearer-token flow: it signs ES256 JWTs with the certificate in `x5c`, the
//! format distribution's token authenticator verifies against its `rootcertbundle`. Shared by the
//! registry client's tests and berth's end-to-end tests.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use super::{respond, HttpServer};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "wonderland";
pub const ISSUER: &str = "berth-test-issuer";
pub const SERVICE: &str = "berth-test-registry";

/// Signs registry tokens: ES256 JWTs with the certificate in `x5c`, the format
/// distribution's token authenticator verifies against its `rootcertbundle`.
pub struct TokenSigner {
    key: ring::signature::EcdsaKeyPair,
    cert_der: Vec<u8>,
    pub cert_pem: String,
}

impl TokenSigner {
    pub fn new() -> TokenSigner {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["token.test".to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "berth test token signer");
        let cert = params.self_signed(&kp).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &kp.serialize_der(),
            &rng,
        )
        .unwrap();
        TokenSigner {
            key,
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
        }
    }

    pub fn sign(&self, subject: &str, access: serde_json::Value, ttl: u64) -> String {
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.cert_der)],
        });
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + ttl,
            "nbf": now - 10,
            "iat": now,
            "jti": format!("{:x}", rand::random::<u64>()),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = ring::rand::SystemRandom::new();
        let sig = self.key.sign(&rng, signing_input.as_bytes()).unwrap();
        format!("{signing_input}.{}", b64(sig.as_ref()))
    }
}

/// The token server: grants what is asked to alice, pull only to anonymous users,
/// refuses wrong passwords.
pub fn token_server(signer: Arc<TokenSigner>) -> HttpServer {
    HttpServer::start(move |req, stream| {
        if req.path() != "/token" {
            return respond(stream, 404, &[], b"");
        }
        assert_eq!(req.query_all("service"), vec![SERVICE.to_string()]);
        let user = match req.header("authorization") {
            None => None,
            Some(a) => {
                let creds = a
                    .strip_prefix("Basic ")
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_default();
                if creds != format!("{USER}:{PASSWORD}") {
                    return respond(
                        stream,
                        401,
                        &[("Content-Type", "application/json")],
                        br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#,
                    );
                }
                Some(USER)
            }
        };
        let mut access = Vec::new();
        for scope in req.query_all("scope") {
            let parts: Vec<&str> = scope.split(':').collect();
            if let [kind, name, actions] = parts[..] {
                let actions: Vec<&str> = actions.split(',').filter(|a| user.is_some() || *a == "pull").collect();
                access.push(serde_json::json!({"type": kind, "name": name, "actions": actions}));
            }
        }
        let token = signer.sign(user.unwrap_or(""), serde_json::Value::Array(access), 300);
        let body = serde_json::json!({"token": token, "expires_in": 300});
        respond(
            stream,
            200,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    })
}

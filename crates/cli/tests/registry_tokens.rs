//! The bearer-token flow end to end, as Docker Hub uses it: Debian's docker-registry trusts tokens that
//! a token server the test runs signs, and berth's login, push, pull and logout go through it.

mod common;
#[path = "../../registry/tests/common/mod.rs"]
mod peers;

use std::sync::Arc;

use common::*;
use peers::token::{token_server, TokenSigner, ISSUER, PASSWORD, SERVICE, USER};
use peers::{Registry, RegistryConfig, REGISTRY_BIN};

#[test]
fn login_push_pull_with_bearer_tokens() {
    let Some(berth) = with_busybox() else { return };
    if !std::path::Path::new(REGISTRY_BIN).exists() {
        eprintln!("skipping: {REGISTRY_BIN} is not installed (apt-get install docker-registry)");
        return;
    }
    let signer = Arc::new(TokenSigner::new());
    let tokens = token_server(signer.clone());
    let bundle = berth.path("token-ca.pem");
    std::fs::write(&bundle, &signer.cert_pem).expect("bundle");
    let registry = Registry::start(RegistryConfig {
        auth: Some(format!(
            "  token:\n    realm: {}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}",
            tokens.url(),
            bundle.display()
        )),
        ..Default::default()
    });
    let name = format!("{}/team/busybox:1", registry.host());
    berth.ok(&["tag", "busybox", &name]);
    // Anonymous users get pull-only tokens: a push is refused, and nothing is stored locally either.
    let err = berth.fails(&["push", &name]);
    assert!(
        err.to_lowercase().contains("denied") || err.to_lowercase().contains("auth"),
        "{err}"
    );
    // A wrong password is refused by the token server.
    let wrong = berth.run_stdin(&["login", "-u", USER, "--password-stdin", &registry.host()], b"nope\n");
    assert_eq!(code(&wrong), 1);
    let ok = berth.run_stdin(
        &["login", "-u", USER, "--password-stdin", &registry.host()],
        format!("{PASSWORD}\n").as_bytes(),
    );
    assert_eq!(code(&ok), 0, "{}", String::from_utf8_lossy(&ok.stderr));
    let before = tokens.count(|r| r.path() == "/token");
    berth.ok(&["push", &name]);
    // The push asked for one token with pull and push on the repository.
    let scopes: Vec<String> = tokens
        .requests
        .lock()
        .map(|r| r[before..].iter().flat_map(|q| q.query_all("scope")).collect())
        .unwrap_or_default();
    assert!(
        scopes.contains(&"repository:team/busybox:pull,push".to_string()),
        "{scopes:?}"
    );
    let id = berth.ok(&["image", "inspect", "-f", "{{.Id}}", &name]);
    berth.ok(&["rmi", &name, "busybox"]);
    berth.ok(&["pull", &name]);
    assert_eq!(berth.ok(&["image", "inspect", "-f", "{{.Id}}", &name]), id);
    berth.ok(&["logout", &registry.host()]);
    // Anonymous pulls still work (the token server grants pull to anyone).
    berth.ok(&["rmi", &name]);
    berth.ok(&["pull", &name]);
}

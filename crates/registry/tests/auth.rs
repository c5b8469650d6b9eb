//! Authentication against real registries: htpasswd basic auth and the bearer-token flow
//! with docker-registry trusting JWTs our test token server signs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use berth_registry::{
    BlobRef, Client, ClientOptions, Credentials, DockerConfig, Error, ErrorKind, StaticCredentials, MANIFEST_ACCEPT,
};
use common::token::*;
use common::*;

const HTPASSWD_BIN: &str = "/usr/bin/htpasswd";

fn with_creds(creds: Option<Credentials>) -> ClientOptions {
    ClientOptions {
        credentials: creds.map(|c| Arc::new(StaticCredentials(c)) as _),
        ..options()
    }
}

fn htpasswd_registry() -> Registry {
    let out = std::process::Command::new(HTPASSWD_BIN)
        .args(["-Bbn", USER, PASSWORD])
        .output()
        .unwrap();
    assert!(out.status.success());
    Registry::start(RegistryConfig {
        auth: Some("  htpasswd:\n    realm: berth-test\n    path: {dir}/htpasswd".into()),
        files: vec![("htpasswd".into(), out.stdout)],
        ..Default::default()
    })
}

#[test]
fn basic_auth_with_htpasswd() {
    require!(REGISTRY_BIN, "docker-registry");
    require!(HTPASSWD_BIN, "apache2-utils");
    let reg = htpasswd_registry();

    // Anonymous: the registry answers, but refuses content with a clear message.
    let anon = Client::new(&reg.host(), options()).unwrap();
    anon.ping().unwrap();
    let e = anon.get_manifest("app", "latest", MANIFEST_ACCEPT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(e.to_string().contains("log in with `berth login 127.0.0.1:"), "{e}");

    let wrong = Client::new(&reg.host(), with_creds(Some(Credentials::basic(USER, "nope")))).unwrap();
    let e = wrong.check_login().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(
        e.to_string().contains("incorrect username or password for alice"),
        "{e}"
    );
    assert_eq!(e.status(), Some(401));

    // Credentials from a config.json in a temporary DOCKER_CONFIG, as `login` writes it.
    let cfg_dir = tempfile::tempdir().unwrap();
    let path = DockerConfig::path_from(Some(cfg_dir.path().into()), None).unwrap();
    let mut cfg = DockerConfig::load(&path).unwrap();
    let good = Client::new(&reg.host(), with_creds(Some(Credentials::basic(USER, PASSWORD)))).unwrap();
    let info = good.check_login().unwrap();
    assert_eq!(info.identity_token, None);
    cfg.store(&reg.host(), &Credentials::basic(USER, PASSWORD)).unwrap();

    // This test owns its process under nextest; the variable is what users set.
    std::env::set_var("DOCKER_CONFIG", cfg_dir.path());
    let provider = DockerConfig::load_default().unwrap();
    assert_eq!(provider.path(), path);
    let client = Client::new(
        &reg.host(),
        ClientOptions {
            credentials: Some(Arc::new(provider)),
            ..options()
        },
    )
    .unwrap();
    client.check_login().unwrap();
    let img = TestImage::new(1, 20_000);
    img.push(&client, "private/app", "v1");
    let m = client.get_manifest("private/app", "v1", MANIFEST_ACCEPT).unwrap();
    assert_eq!(m.bytes, img.manifest);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("layer");
    client
        .fetch_blob(
            "private/app",
            &BlobRef::new(img.layer_digest(), Some(img.layer.len() as u64)),
            &dest,
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), img.layer);

    // Logout: the entry is gone, and with it access.
    let mut cfg = DockerConfig::load(&path).unwrap();
    assert!(cfg.erase(&reg.host()).unwrap());
    let after = Client::new(
        &reg.host(),
        ClientOptions {
            credentials: Some(Arc::new(DockerConfig::load(&path).unwrap())),
            ..options()
        },
    )
    .unwrap();
    let e = after.check_login().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
}

#[test]
fn bearer_tokens_from_a_token_server_with_real_distribution() {
    require!(REGISTRY_BIN, "docker-registry");
    let signer = Arc::new(TokenSigner::new());
    let tokens = token_server(signer.clone());
    let bundle = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bundle.path(), &signer.cert_pem).unwrap();
    let reg = Registry::start(RegistryConfig {
        auth: Some(format!(
            "  token:\n    realm: {}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}",
            tokens.url(),
            bundle.path().display()
        )),
        ..Default::default()
    });
    let token_requests = || tokens.count(|r| r.path() == "/token");

    let client = Client::new(&reg.host(), with_creds(Some(Credentials::basic(USER, PASSWORD)))).unwrap();
    let login = client.check_login().unwrap();
    assert_eq!(login.identity_token, None);
    assert_eq!(token_requests(), 1);
    {
        let reqs = tokens.requests.lock().unwrap();
        // Login asks for no scope, and for a refresh token as docker does.
        assert!(reqs[0].query_all("scope").is_empty());
        assert_eq!(reqs[0].query_all("offline_token"), vec!["true".to_string()]);
    }

    let img = TestImage::new(2, 30_000);
    img.push(&client, "team/app", "v1");
    // One token for everything the push did (HEADs, uploads, manifest).
    assert_eq!(token_requests(), 2, "{:?}", tokens.requests.lock().unwrap());
    assert_eq!(
        tokens.requests.lock().unwrap()[1].query_all("scope"),
        vec!["repository:team/app:pull,push".to_string()]
    );

    // Pulls use a pull-scoped token, fetched once and shared by threads.
    let dir = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        for i in 0..4 {
            let client = &client;
            let img = &img;
            let dest = dir.path().join(format!("layer{i}"));
            s.spawn(move || {
                client.get_manifest("team/app", "v1", MANIFEST_ACCEPT).unwrap();
                client
                    .fetch_blob(
                        "team/app",
                        &BlobRef::new(img.layer_digest(), Some(img.layer.len() as u64)),
                        &dest,
                        &mut |_| {},
                    )
                    .unwrap();
                assert_eq!(std::fs::read(&dest).unwrap(), img.layer);
            });
        }
    });
    assert_eq!(token_requests(), 3);
    assert_eq!(
        tokens.requests.lock().unwrap()[2].query_all("scope"),
        vec!["repository:team/app:pull".to_string()]
    );

    // A mount asks for push on the target and pull on the source in one token.
    assert!(client.mount_blob("other/app", &img.layer_digest(), "team/app").unwrap());
    assert_eq!(token_requests(), 4);
    let mut scopes = tokens.requests.lock().unwrap()[3].query_all("scope");
    scopes.sort();
    assert_eq!(
        scopes,
        vec![
            "repository:other/app:pull,push".to_string(),
            "repository:team/app:pull".to_string()
        ]
    );

    // The catalog has its own scope.
    assert_eq!(client.catalog(None).unwrap(), vec!["other/app", "team/app"]);
    assert_eq!(
        tokens.requests.lock().unwrap()[4].query_all("scope"),
        vec!["registry:catalog:*".to_string()]
    );

    // Anonymous users may pull but not push.
    let anon = Client::new(&reg.host(), options()).unwrap();
    assert_eq!(
        anon.get_manifest("team/app", "v1", MANIFEST_ACCEPT).unwrap().bytes,
        img.manifest
    );
    assert!(tokens
        .requests
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .header("authorization")
        .is_none());
    let e = anon
        .put_manifest(
            "team/app",
            "v2",
            "application/vnd.oci.image.manifest.v1+json",
            &img.manifest,
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(e.to_string().contains("refused access"), "{e}");

    // A wrong password fails at the token server, with a message saying so.
    let wrong = Client::new(&reg.host(), with_creds(Some(Credentials::basic(USER, "x")))).unwrap();
    let e = wrong.get_manifest("team/app", "v1", MANIFEST_ACCEPT).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    assert!(
        e.to_string().contains("incorrect username or password for alice"),
        "{e}"
    );
    assert!(e.to_string().contains("bad credentials"), "{e}");
}

/// A registry (in front of nothing) that accepts only the newest token: shows that a
/// cached token the registry stops accepting is replaced once, and that `access_token`
/// and identity tokens work.
#[test]
fn refused_cached_token_is_refreshed_once() {
    let issued = Arc::new(AtomicUsize::new(0));
    let tokens = {
        let issued = issued.clone();
        HttpServer::start(move |req, stream| {
            if req.method == "POST" {
                // OAuth2 refresh-token grant (identity tokens).
                let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body).into_owned().collect();
                let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                assert_eq!(get("grant_type").as_deref(), Some("refresh_token"));
                if get("refresh_token").as_deref() != Some("idtok") {
                    return respond(stream, 401, &[], b"");
                }
            }
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            let body = format!(r#"{{"access_token":"tok{n}","expires_in":3600}}"#);
            respond(stream, 200, &[("Content-Type", "application/json")], body.as_bytes())
        })
    };
    let realm = format!("{}/token", tokens.url());
    let current = issued.clone();
    let registry = HttpServer::start(move |req, stream| {
        let want = format!("Bearer tok{}", current.load(Ordering::SeqCst));
        if req.header("authorization") != Some(want.as_str()) {
            let challenge = format!(r#"Bearer realm="{realm}",service="fake""#);
            return respond(stream, 401, &[("WWW-Authenticate", challenge.as_str())], b"");
        }
        respond(
            stream,
            200,
            &[("Content-Type", "application/json")],
            br#"{"tags":["a"]}"#,
        )
    });
    let client = Client::new(&registry.host(), options()).unwrap();
    assert_eq!(client.tags("app").unwrap(), vec!["a"]);
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    assert_eq!(client.tags("app").unwrap(), vec!["a"]);
    assert_eq!(issued.load(Ordering::SeqCst), 1, "the token is cached");
    // The registry stops accepting tok1 (as if it expired early or was revoked).
    issued.fetch_add(1, Ordering::SeqCst);
    assert_eq!(client.tags("app").unwrap(), vec!["a"]);
    assert_eq!(issued.load(Ordering::SeqCst), 3, "one new token after the 401");

    // An identity token goes to the token server as an OAuth2 refresh-token grant.
    let with_id = Client::new(
        &registry.host(),
        with_creds(Some(Credentials {
            identity_token: Some("idtok".into()),
            ..Default::default()
        })),
    )
    .unwrap();
    assert_eq!(with_id.tags("app").unwrap(), vec!["a"]);
    assert_eq!(tokens.count(|r| r.method == "POST"), 1);
    let bad_id = Client::new(
        &registry.host(),
        with_creds(Some(Credentials {
            identity_token: Some("wrong".into()),
            ..Default::default()
        })),
    )
    .unwrap();
    let e = bad_id.tags("app").unwrap_err();
    assert!(e.to_string().contains("identity token was refused"), "{e}");
}

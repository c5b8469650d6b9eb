//! Hardening against hostile clients: user names cannot be told apart by
//! how long a refusal takes, abandoned uploads are removed while the server
//! runs, and the number of open uploads is bounded.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// A wrong password for a known user and any password for an unknown user
/// take the same work (a bcrypt verification), so timing does not reveal
/// which user names exist. Requests alternate so that load on the machine
/// affects both alike; the ratio of medians is what is asserted.
#[test]
fn unknown_users_take_as_long_as_wrong_passwords() {
    let dir = tempfile::tempdir().unwrap();
    // Cost 5, as `htpasswd -B` writes by default.
    let hash = bcrypt::hash("s3cret", 5).unwrap().replacen("$2b$", "$2y$", 1);
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let reg = Registry::start_with(|c| c.htpasswd = Some(htpasswd));

    let timed = |user: &str, password: &str| {
        let start = Instant::now();
        let r = call(reg.req("GET", "/v2/").set("Authorization", &basic(user, password)));
        let took = start.elapsed();
        assert_eq!(r.status(), 401);
        took
    };
    // Warm up the connection and the server's blocking threads.
    timed("alice", "warm");
    timed("nobody", "warm");
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..20 {
        known.push(timed("alice", &format!("wrong{i}")));
        unknown.push(timed(&format!("mallory{i}"), &format!("wrong{i}")));
    }
    let (known, unknown) = (median(known), median(unknown));
    eprintln!("median refusal: known user {known:?}, unknown user {unknown:?}");
    assert!(
        unknown * 2 >= known,
        "an unknown user is refused in {unknown:?}, a known one with a wrong password in {known:?}: \
         user names can be enumerated by timing"
    );
    // The right password still works.
    let r = call(reg.req("GET", "/v2/").set("Authorization", &basic("alice", "s3cret")));
    assert_eq!(r.status(), 200);
}

/// Starts a chunked upload; returns its location.
fn start_upload(reg: &Registry, repo: &str) -> String {
    let r = send(reg.req("POST", &format!("/v2/{repo}/blobs/uploads/")), b"");
    assert_eq!(r.status(), 202);
    r.header("Location").unwrap().to_string()
}

/// Appends a chunk at `offset`; returns the new size.
fn patch(reg: &Registry, location: &str, offset: usize, chunk: &[u8]) -> usize {
    let end = offset + chunk.len() - 1;
    let r = send(
        reg.req("PATCH", location)
            .set("Content-Type", "application/octet-stream")
            .set("Content-Range", &format!("{offset}-{end}")),
        chunk,
    );
    assert_eq!(r.status(), 202, "{}", body(r));
    end + 1
}

fn session_dir(data: &Path, location: &str) -> std::path::PathBuf {
    data.join("uploads").join(location.rsplit('/').next().unwrap())
}

#[test]
fn abandoned_uploads_are_purged_while_serving() {
    let reg = Registry::start_with(|c| {
        c.upload_max_age = Duration::from_secs(1);
        c.upload_purge_interval = Duration::from_millis(200);
    });
    let abandoned = start_upload(&reg, "app");
    patch(&reg, &abandoned, 0, b"never finished");
    let abandoned_dir = session_dir(&reg.data(), &abandoned);
    assert!(abandoned_dir.is_dir());

    // Meanwhile an upload that sends a chunk every 300 ms stays alive well
    // past the age limit.
    let live = start_upload(&reg, "app");
    let mut content = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut chunks = 0;
    while abandoned_dir.exists() || chunks < 10 {
        assert!(Instant::now() < deadline, "the abandoned upload was never purged");
        let chunk = format!("chunk {chunks};").into_bytes();
        patch(&reg, &live, content.len(), &chunk);
        content.extend_from_slice(&chunk);
        chunks += 1;
        std::thread::sleep(Duration::from_millis(300));
    }

    let r = call(reg.req("GET", &abandoned));
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UPLOAD_UNKNOWN");
    let r = send(reg.req("PATCH", &abandoned), b"more");
    assert_eq!(r.status(), 404);
    assert!(!abandoned_dir.exists());

    let r = call(reg.req("GET", &live));
    assert_eq!(r.status(), 204);
    let digest = sha256(&content);
    let r = send(reg.req("PUT", &format!("{live}?digest={digest}")), b"");
    assert_eq!(r.status(), 201, "{}", body(r));
    assert_eq!(bytes(call(reg.req("GET", &format!("/v2/app/blobs/{digest}")))), content);
    assert!(!session_dir(&reg.data(), &live).exists());
}

#[test]
fn open_uploads_are_bounded() {
    let reg = Registry::start_with(|c| c.max_upload_sessions = 3);
    let open: Vec<String> = (0..3).map(|_| start_upload(&reg, "app")).collect();
    let r = send(reg.req("POST", "/v2/app/blobs/uploads/"), b"");
    assert_eq!(r.status(), 429);
    assert_eq!(error_code(r), "TOOMANYREQUESTS");
    assert_eq!(std::fs::read_dir(reg.data().join("uploads")).unwrap().count(), 3);

    // A monolithic upload opens no session and still works.
    reg.push_blob("app", b"whole");
    // Finishing or cancelling an upload frees its place.
    assert_eq!(call(reg.req("DELETE", &open[0])).status(), 204);
    let again = start_upload(&reg, "app");
    let digest = sha256(b"done");
    let r = send(reg.req("PUT", &format!("{}?digest={digest}", open[1])), b"done");
    assert_eq!(r.status(), 201, "{}", body(r));
    start_upload(&reg, "app");
    let r = send(reg.req("POST", "/v2/app/blobs/uploads/"), b"");
    assert_eq!(r.status(), 429);
    drop(again);
}

/// At start-up, sessions left idle past the age by the last run are removed
/// (judged by their data, not by the directory), and recent ones are kept.
#[test]
fn start_up_purges_by_last_activity() {
    let old = "00000000-0000-0000-0000-000000000001";
    let recent = "00000000-0000-0000-0000-000000000002";
    let reg = Registry::start_with(|c| {
        for uuid in [old, recent] {
            let dir = c.root.join("uploads").join(uuid);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("repo"), "app").unwrap();
            std::fs::write(dir.join("data"), "partial").unwrap();
        }
        // Two days without a chunk: past the default age of a day.
        let data = std::fs::File::options()
            .append(true)
            .open(c.root.join("uploads").join(old).join("data"))
            .unwrap();
        data.set_modified(std::time::SystemTime::now() - Duration::from_secs(2 * 24 * 3600))
            .unwrap();
    });
    assert!(!reg.data().join("uploads").join(old).exists());
    let r = call(reg.req("GET", &format!("/v2/app/blobs/uploads/{old}")));
    assert_eq!(r.status(), 404);
    let r = call(reg.req("GET", &format!("/v2/app/blobs/uploads/{recent}")));
    assert_eq!(r.status(), 204);
    assert_eq!(r.header("Range"), Some("0-6"));
}

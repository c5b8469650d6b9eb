//! Pulls that go wrong: a corrupt blob, and a pull killed half-way behind a proxy that holds one
//! blob back, which the next pull resumes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::{client, image_id, Registry};

#[test]
fn a_corrupt_blob_never_enters_the_store() {
    let Some(berth) = with_busybox() else { return };
    let Some(registry) = Registry::start(None) else { return };
    let name = format!("{}/bad/busybox:1", registry.host());
    berth.ok(&["tag", "busybox", &name]);
    berth.ok(&["push", &name]);
    let layer = berth
        .ok(&["image", "inspect", "-f", "{{index .RootFS.Layers 0}}", &name])
        .trim()
        .to_string();
    berth.ok(&["rmi", &name, "busybox"]);
    // The registry now serves other bytes under the layer's digest.
    let layer_blob = std::fs::read_dir(registry.dir.path().join("data/docker/registry/v2/blobs/sha256"))
        .expect("blobs")
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .map(|d| d.path().join("data"))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a blob");
    let mut bytes = std::fs::read(&layer_blob).expect("blob");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&layer_blob, &bytes).expect("corrupt");
    assert!(!layer.is_empty());
    let before = berth.store_state();
    let err = berth.fails(&["pull", &name]);
    assert!(err.contains("digest"), "{err}");
    assert_eq!(berth.store_state(), before, "nothing of the pull was kept");
    berth.assert_consistent();
}

/// A proxy in front of the registry that closes every connection after one answer (so it sees each
/// request) and can hold back the answer for one blob until released.
struct Proxy {
    port: u16,
    hold: Arc<Mutex<Option<String>>>,
    held: Arc<AtomicBool>,
    /// Blob GETs answered in full, by digest.
    served: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy");
        let port = listener.local_addr().expect("addr").port();
        let proxy = Proxy {
            port,
            hold: Arc::new(Mutex::new(None)),
            held: Arc::new(AtomicBool::new(false)),
            served: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (hold, held, served, stop) = (
            proxy.hold.clone(),
            proxy.held.clone(),
            proxy.served.clone(),
            proxy.stop.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (hold, held, served) = (hold.clone(), held.clone(), served.clone());
                std::thread::spawn(move || relay(client, upstream, &hold, &held, &served));
            }
        });
        proxy
    }

    fn served(&self) -> Vec<String> {
        self.served.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Ok(mut h) = self.hold.lock() {
            *h = None;
        }
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn relay(
    client: TcpStream,
    upstream: u16,
    hold: &Mutex<Option<String>>,
    held: &AtomicBool,
    served: &Mutex<Vec<String>>,
) {
    let mut reader = BufReader::new(client.try_clone().expect("clone"));
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let end = line == "\r\n";
        if !line.to_ascii_lowercase().starts_with("connection:") {
            head.push_str(&line);
        }
        if end {
            break;
        }
    }
    let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let blob = target
        .split("/blobs/")
        .nth(1)
        .filter(|_| head.starts_with("GET "))
        .map(str::to_owned);
    if let Some(b) = &blob {
        if hold.lock().map(|h| h.as_deref() == Some(b.as_str())).unwrap_or(false) {
            // Held until the test lets go; then this connection is dropped unanswered (its client was killed).
            held.store(true, Ordering::Relaxed);
            while hold.lock().map(|h| h.as_deref() == Some(b.as_str())).unwrap_or(false) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
    }
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let head = head.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1);
    let head = if head.ends_with("\r\n\r\n") {
        head
    } else {
        format!("{}Connection: close\r\n\r\n", head.trim_end_matches("\r\n"))
    };
    if up.write_all(head.as_bytes()).and_then(|_| up.write_all(&body)).is_err() {
        return;
    }
    let mut answer = Vec::new();
    if up.read_to_end(&mut answer).is_err() {
        return;
    }
    let mut client = client;
    if client.write_all(&answer).is_ok() {
        if let Some(b) = blob {
            if answer.starts_with(b"HTTP/1.1 200") {
                if let Ok(mut s) = served.lock() {
                    s.push(b);
                }
            }
        }
    }
}

#[test]
fn a_killed_pull_resumes_with_the_layers_it_finished() {
    let Some(berth) = with_busybox() else { return };
    let Some(registry) = Registry::start(None) else { return };
    // A 10-layer image: busybox plus nine commits of a file each.
    berth.ok(&["run", "--name", "layers", "busybox", "true"]);
    let mut image = "busybox".to_string();
    for i in 1..10 {
        berth.ok(&["rm", "-f", "layers"]);
        berth.ok(&[
            "run",
            "--name",
            "layers",
            &image,
            "sh",
            "-c",
            &format!("head -c {} /dev/urandom > /layer{i}", 200_000 + i * 1000),
        ]);
        image = format!("ten:{i}");
        berth.ok(&["commit", "layers", &image]);
    }
    berth.ok(&["rm", "-f", "layers"]);
    let layers: Vec<String> =
        serde_json::from_str(&berth.ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", "ten:9"]))
            .expect("layers");
    assert_eq!(layers.len(), 10);
    let direct = format!("{}/ten/image:1", registry.host());
    berth.ok(&["tag", "ten:9", &direct]);
    berth.ok(&["push", &direct]);

    // Through the proxy, holding back the top layer's blob.
    let proxy = Proxy::start(registry.port);
    let name = format!("127.0.0.1:{}/ten/image:1", proxy.port);
    let fresh = Berth::new();
    let manifest = client(&registry.host())
        .get_manifest("ten/image", "1", berth_registry::MANIFEST_ACCEPT)
        .expect("manifest");
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.bytes).expect("json");
    let blobs: Vec<String> = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|l| l["digest"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(blobs.len(), 10);
    let top = blobs[9].clone();
    *proxy.hold.lock().expect("hold") = Some(top.clone());
    let before = {
        fresh.ok(&["images"]);
        fresh.store_state()
    };
    let mut pull = fresh
        .cmd(&["pull", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pull");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let served = proxy.served();
        let others = blobs[..9].iter().all(|b| served.contains(b));
        if others && proxy.held.load(Ordering::Relaxed) {
            break;
        }
        assert!(Instant::now() < deadline, "the pull did not get that far: {served:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Give the unpacking of the last finished layers a moment, then kill the pull outright.
    std::thread::sleep(Duration::from_millis(300));
    let _ = pull.kill();
    let _ = pull.wait();
    assert_eq!(fresh.store_state(), before, "a killed pull stores nothing");
    let first_round = proxy.served().len();

    *proxy.hold.lock().expect("hold") = None;
    let again = fresh.ok(&["pull", &name]);
    assert!(again.contains("Status: Downloaded newer image"), "{again}");
    let second: Vec<String> = proxy.served()[first_round..].to_vec();
    assert_eq!(second, vec![top], "only the held-back layer was downloaded again");
    assert_eq!(image_id(&fresh, &name), image_id(&berth, "ten:9"));
    assert_eq!(
        fresh
            .ok(&["run", "--rm", &name, "sh", "-c", "ls /layer* | wc -l"])
            .trim(),
        "9"
    );
    // What the pulls left in downloads/ (lock files) goes with `system prune`; the image stays.
    fresh.ok(&["system", "prune", "-f"]);
    let left: Vec<_> = std::fs::read_dir(fresh.root().join("downloads"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(image_id(&fresh, &name), image_id(&berth, "ten:9"));
}

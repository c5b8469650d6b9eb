//! glibc's stub resolver (through `getent`) against the server. glibc only
//! talks to port 53 and reads /etc/resolv.conf, so the server runs in a
//! private network namespace on 127.0.0.1:53 and getent runs in a private
//! mount namespace with a resolv.conf bind-mounted over the real one. Needs
//! root, `unshare` and `ip`; skipped otherwise. Nothing leaves the namespace.

mod common;

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Arc;
use std::thread;

use berth_dns::{Config, Server, Table};
use common::have;

#[test]
#[allow(unsafe_code)]
fn getent_resolves_names_addresses_and_survives_aaaa() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !have("unshare") || !have("ip") || !have("getent") {
        eprintln!("SKIPPED: needs root, unshare, ip and getent");
        return;
    }
    let dir = std::env::temp_dir().join(format!("berth-dns-glibc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let resolv = dir.join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n").unwrap();

    // Network namespaces are per thread: only this thread (and what it
    // spawns) moves; the test harness's threads stay where they are.
    let resolv_path = resolv.clone();
    let outcome = thread::spawn(move || -> Result<String, String> {
        // SAFETY: plain syscall; affects only the calling thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error()));
        }
        // getaddrinfo's AI_ADDRCONFIG (getent ahosts uses it) sends no query
        // unless some non-loopback address of the family is configured.
        for args in [
            &["link", "set", "lo", "up"][..],
            &["addr", "add", "10.88.0.1/24", "dev", "lo"],
            &["addr", "add", "fd00:88::1/64", "dev", "lo"],
        ] {
            let ok = Command::new("ip").args(args).status().is_ok_and(|s| s.success());
            if !ok {
                return Err(format!("ip {args:?} failed"));
            }
        }
        let names = Arc::new(Table::new());
        names.insert("web", Ipv4Addr::new(10, 88, 0, 2));
        names.insert("web", Ipv4Addr::new(10, 88, 0, 3));
        names.insert("db", Ipv4Addr::new(10, 88, 0, 9));
        let server = Server::bind(
            Config {
                listen: vec!["127.0.0.1:53".parse().unwrap()],
                ..Config::default()
            },
            names,
        )
        .map_err(|e| e.to_string())?;
        let stop = server.shutdown_handle();
        let runner = thread::spawn(move || server.run());
        // ahosts asks A and AAAA in parallel on one socket (glibc style);
        // NXDOMAIN for AAAA would fail the whole lookup, NODATA must not.
        // nothere.example is forwarded; no upstreams, so SERVFAIL.
        let script = format!(
            "mount --bind {} /etc/resolv.conf && getent ahosts web && getent ahosts db && getent hosts 10.88.0.9 && ! getent hosts nothere.example",
            resolv_path.display()
        );
        let out = Command::new("unshare").args(["--mount", "sh", "-c", &script]).output();
        stop.trigger();
        runner.join().unwrap().map_err(|e| e.to_string())?;
        let out = out.map_err(|e| e.to_string())?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!("getent failed: {text}"))
        }
    })
    .join()
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let text = match outcome {
        Ok(text) => text,
        // Containers without CAP_SYS_ADMIN and the like: not a failure of ours.
        Err(e) if e.contains("unshare(CLONE_NEWNET)") => {
            eprintln!("SKIPPED: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert!(text.contains("10.88.0.2") && text.contains("10.88.0.3"), "{text}");
    assert!(text.contains("10.88.0.9"), "{text}");
    // Reverse lookup through PTR.
    assert!(
        text.lines()
            .any(|l| l.starts_with("10.88.0.9") && l.split_whitespace().any(|w| w == "db")),
        "{text}"
    );
}

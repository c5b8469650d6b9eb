//! `serve_blocking` stops cleanly on SIGTERM and SIGINT. The server runs in
//! a child process (this test binary again), so the signal hits only it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "BERTH_REGISTRY_TEST_SERVE_ADDR";

/// Kills the child if the test fails before it exits.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn serve_blocking_stops_on_signals() {
    if let Ok(addr) = std::env::var(CHILD) {
        let root = std::env::var("BERTH_REGISTRY_TEST_ROOT").unwrap();
        let mut config = berth_registry_server::Config::new(root);
        config.addr = addr.parse().unwrap();
        berth_registry_server::serve_blocking(config).unwrap();
        return;
    }
    for signal in ["TERM", "INT"] {
        let root = tempfile::tempdir().unwrap();
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let mut child = Guard(
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "serve_blocking_stops_on_signals", "--nocapture"])
                .env(CHILD, &addr)
                .env("BERTH_REGISTRY_TEST_ROOT", root.path())
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let start = Instant::now();
        while ureq::get(&format!("http://{addr}/v2/")).call().is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let killed = Command::new("kill")
            .args([&format!("-{signal}"), &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "server ignored SIG{signal}");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "SIG{signal}: {status}");
    }
}

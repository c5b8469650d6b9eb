//! `berth serve`'s container endpoints driven by real clients: the stock `docker` CLI (the
//! machine's 28 and Debian's 20.10 where installed) through pipes and a pty, the Python SDK (also
//! over a websocket), and curl or a raw socket for what clients should not send. Each test serves
//! its own data root on its own socket; the server is stopped and the containers removed when it
//! ends.

#[path = "../common/mod.rs"]
mod common;

mod compose;
mod hostile;
mod plain_attach;
mod python;
mod run;
mod spawner;
mod terminals;
mod websocket;

use std::process::Output;

use common::served::Served;
use common::Berth;

/// A data root with busybox and a server on it; None (the test skips, saying why) without the
/// docker client, curl or busybox.
fn serve_busybox() -> Option<(Berth, Served)> {
    if !common::need("docker") || !common::need("curl") {
        return None;
    }
    let berth = common::with_busybox()?;
    let server = Served::start(&berth);
    Some((berth, server))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a finished docker command said, for assertion messages.
fn said(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

//! Runs the registry by hand: `cargo run -p berth-registry-server --example serve -- ROOT [ADDR]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let root = args.next().expect("usage: serve ROOT [ADDR]");
    let mut config = berth_registry_server::Config::new(root);
    if let Some(addr) = args.next() {
        config.addr = addr.parse().expect("ADDR is host:port");
    }
    if let Err(e) = berth_registry_server::serve_blocking(config) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

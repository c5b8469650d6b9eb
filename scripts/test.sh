#!/usr/bin/env bash
# The whole test suite: installs what the tests need, checks formatting and
# lints, builds once, runs unit and end-to-end tests. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/vm-kernel.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Every binary first: the end-to-end tests run berth-shim (the relay crate's binary) from beside
# berth, and cargo builds for tests only the binaries of the package under test.
cargo build --workspace --bins --locked
# Tests run in parallel; each uses its own data root and run root.
if command -v cargo-nextest >/dev/null || cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi
# The README's first command, end to end: the talk's demo on real Debian software.
scripts/demo.sh

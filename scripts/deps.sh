#!/usr/bin/env bash
# Installs the Debian packages berth's demo and tests use. Needs root.
set -euo pipefail
packages=(
  busybox-static   # the demo image's root filesystem, and test images
  skopeo umoci     # compatibility tests: berth's archives read by real OCI tools and vice versa
  docker.io        # compatibility tests against the real Docker engine (dockerd 20.10)
  runc             # --runtime runc tests
  tar gzip zstd procps  # test fixtures; ps for berth top
  pkg-config libseccomp-dev  # libcontainer's seccomp support (the runtime crate)
  nftables iproute2 # container networking: NAT and published ports (nft), test namespaces (ip)
  bind9-dnsutils    # dig and nslookup: real DNS clients for the per-network DNS server's tests
  curl python3      # the demo and the networking tests fetch pages through published ports
  python3-docker    # the Docker SDK for Python, a client of `berth serve` in its tests
  docker-compose    # compose 1.29 (on the Python SDK) brings up the demo's app through `berth serve`
  docker-registry apache2-utils # registry tests: the CNCF distribution registry as a peer, htpasswd for its basic auth
  debootstrap       # a Debian base image for the build test that runs apt-get through the build network
  git               # build contexts from git repositories (and git daemon for their test)
  gcc libc6-dev     # the security tests' static attacker programs (libc.a), and the Rust toolchain's linker
  python3-websocket # websocket-client, which the Python SDK's attach over a websocket (ws=True) uses
  uidmap            # newuidmap/newgidmap: rootless berth maps a user's subordinate ids with them
  slirp4netns       # rootless berth's networks reach out (and -p reaches in) through it
)
"$(dirname "$0")/install-packages.sh" "${packages[@]}"
if ! command -v cargo >/dev/null; then
  echo "berth needs a Rust toolchain (cargo 1.80 or newer): install it with rustup, then run this again" >&2
  exit 1
fi

//! `--read-only` covers the files berth binds into the container (/etc/hosts, /etc/hostname,
//! /etc/resolv.conf), as Docker's does; without it they stay writable, as with Docker.

use crate::common::*;

const SCRIPT: &str = "for f in /etc/hosts /etc/hostname /etc/resolv.conf; do \
                      if echo x >> $f 2>/dev/null; then echo \"wrote $f\"; else echo \"refused $f\"; fi; done";

#[test]
fn read_only_root_covers_the_bound_etc_files() {
    let Some(berth) = with_busybox() else { return };
    let out = berth.ok(&["run", "--rm", "--read-only", "busybox", "sh", "-c", SCRIPT]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "refused /etc/hosts",
            "refused /etc/hostname",
            "refused /etc/resolv.conf"
        ],
        "{out}"
    );
    let out = berth.ok(&["run", "--rm", "busybox", "sh", "-c", SCRIPT]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["wrote /etc/hosts", "wrote /etc/hostname", "wrote /etc/resolv.conf"],
        "{out}"
    );
}

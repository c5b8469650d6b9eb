//! berth-init: the tiny init `run --init` puts at /sbin/docker-init in a
//! container (`docker-init -- CMD...`, as Docker does with tini). It starts
//! the command, forwards the signals it gets to it, reaps every zombie the
//! container's orphans leave behind, and exits with the command's status
//! (128+N when a signal ended it).
//!
//! Built by crates/engine/build.rs as a static executable with nothing but std,
//! so it runs in any image, even one without a libc.

use std::os::raw::c_int;
use std::process::{Command, ExitCode};

#[repr(C)]
struct SigSet {
    bits: [u64; 16],
}

#[repr(C)]
struct SigInfo {
    signo: c_int,
    rest: [c_int; 31],
}

extern "C" {
    fn sigfillset(set: *mut SigSet) -> c_int;
    fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn sigwaitinfo(set: *const SigSet, info: *mut SigInfo) -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
}

const SIG_BLOCK: c_int = 0;
const SIG_SETMASK: c_int = 2;
const SIGCHLD: c_int = 17;
const WNOHANG: c_int = 1;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => &args[..],
    };
    let Some((program, rest)) = command.split_first() else {
        eprintln!("berth-init: usage: berth-init -- COMMAND [ARG...]");
        return ExitCode::from(2);
    };
    let mut all = SigSet { bits: [0; 16] };
    let mut old = SigSet { bits: [0; 16] };
    // SAFETY: both sets are valid, writable, and sized like the C sigset_t (128 bytes).
    #[allow(unsafe_code)]
    unsafe {
        sigfillset(&mut all);
        sigprocmask(SIG_BLOCK, &all, &mut old);
    }
    // The command starts with the signal mask we were given, not ours.
    let child = {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(program);
        cmd.args(rest);
        let old_bits = old.bits;
        // SAFETY: only async-signal-safe sigprocmask runs between fork and exec.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                let restore = SigSet { bits: old_bits };
                sigprocmask(SIG_SETMASK, &restore, std::ptr::null_mut());
                Ok(())
            });
        }
        cmd.spawn()
    };
    let child = match child {
        Ok(c) => c.id() as c_int,
        Err(e) => {
            eprintln!("berth-init: exec {program} failed: {e}");
            return ExitCode::from(if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 });
        }
    };
    loop {
        let mut info = SigInfo { signo: 0, rest: [0; 31] };
        // SAFETY: `all` is a valid set and `info` is large enough for siginfo_t (128 bytes).
        #[allow(unsafe_code)]
        let signal = unsafe { sigwaitinfo(&all, &mut info) };
        if signal < 0 {
            continue;
        }
        if signal != SIGCHLD {
            // SAFETY: plain kill(2) of our child.
            #[allow(unsafe_code)]
            unsafe {
                kill(child, signal);
            }
            continue;
        }
        loop {
            let mut status: c_int = 0;
            // SAFETY: waitpid with a valid status pointer.
            #[allow(unsafe_code)]
            let pid = unsafe { waitpid(-1, &mut status, WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == child {
                let code = if status & 0x7f == 0 { (status >> 8) & 0xff } else { 128 + (status & 0x7f) };
                return ExitCode::from(code as u8);
            }
        }
    }
}

//! Signals: the names and numbers docker accepts, and sending one to a process.

use crate::{Error, Result};

/// Signal names and numbers as docker accepts them: KILL, SIGKILL, 9.
pub fn parse_signal(text: &str) -> Result<i32> {
    let t = text.trim().to_ascii_uppercase();
    if let Ok(n) = t.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let name = t.strip_prefix("SIG").unwrap_or(&t);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => return Err(Error::InvalidArgument(format!("invalid signal: {text}"))),
    };
    Ok(n)
}

pub(crate) fn signal_pid(pid: i32, signal: i32) -> Result<()> {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return Err(Error::InvalidArgument("the container has no process".into()));
    };
    let signal = rustix::process::Signal::from_named_raw(signal)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid signal: {signal}")))?;
    match rustix::process::kill_process(pid, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(Error::Stream {
            context: "signalling the container".into(),
            source: e.into(),
        }),
    }
}

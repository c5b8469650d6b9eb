//! A pseudo-terminal for tests that drive interactive commands (`run -it`, `attach`, `exec -it`)
//! as a user at a terminal would.

use std::process::Command;
use std::time::{Duration, Instant};

use super::Berth;

/// A pseudo-terminal for driving `run -it` and `attach` as a user would.
pub struct Pty {
    pub master: std::fs::File,
}

impl Pty {
    /// Spawns berth with its stdin, stdout and stderr on a new pty's slave.
    pub fn spawn(berth: &Berth, args: &[&str]) -> (Pty, std::process::Child) {
        Pty::spawn_sized(berth, args, 24, 80)
    }

    /// The same, with a terminal of `rows` x `cols`.
    pub fn spawn_sized(berth: &Berth, args: &[&str], rows: u16, cols: u16) -> (Pty, std::process::Child) {
        Pty::spawn_command(&mut berth.cmd(args), rows, cols)
    }

    /// Spawns `command` with its stdin, stdout and stderr on a new `rows` x `cols` pty's slave.
    pub fn spawn_command(command: &mut Command, rows: u16, cols: u16) -> (Pty, std::process::Child) {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let size = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&master, size).expect("window size");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().expect("utf-8 pts name"))
            .expect("open slave");
        let child = command
            .stdin(slave.try_clone().expect("dup"))
            .stdout(slave.try_clone().expect("dup"))
            .stderr(slave)
            .spawn()
            .expect("spawn");
        let master = std::fs::File::from(master);
        rustix::fs::fcntl_setfl(&master, rustix::fs::OFlags::NONBLOCK).expect("nonblock");
        (Pty { master }, child)
    }

    /// Reads until `want` shows up (or fails after 10 s); returns all read.
    pub fn expect(&mut self, want: &str) -> String {
        use std::io::Read;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.master.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if String::from_utf8_lossy(&seen).contains(want) {
                        return String::from_utf8_lossy(&seen).into_owned();
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        panic!(
            "never saw {want:?} on the terminal; got {:?}",
            String::from_utf8_lossy(&seen)
        );
    }

    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.master.write_all(bytes).expect("write to pty");
    }
}

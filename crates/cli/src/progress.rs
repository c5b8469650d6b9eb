//! Pull and push progress as Docker's client shows it: on a terminal, one line per layer redrawn in
//! place with a progress bar; otherwise a plain line for each change of state (no byte counts).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_engine::registry::{LayerState, Progress, Status};

use crate::format::human_size;

/// How often a layer's bar is redrawn at most.
const REDRAW: Duration = Duration::from_millis(100);

pub struct Printer {
    terminal: bool,
    /// Everything goes to stderr instead of stdout (the pull before `run`).
    to_stderr: bool,
    quiet: bool,
    block: Mutex<Block>,
}

/// The layer lines drawn since the last message, bottom line last.
#[derive(Default)]
struct Block {
    order: Vec<String>,
    shown: HashMap<String, (String, Instant)>,
    /// When each layer's transfer began (for its speed).
    started: HashMap<String, Instant>,
}

impl Printer {
    pub fn new(terminal: bool, to_stderr: bool, quiet: bool) -> Printer {
        Printer {
            terminal,
            to_stderr,
            quiet,
            block: Mutex::new(Block::default()),
        }
    }

    fn out(&self) -> Box<dyn Write> {
        if self.to_stderr {
            Box::new(std::io::stderr())
        } else {
            // A closed stdout is noted (`main` ends with its status); the transfer goes on.
            Box::new(crate::out::stdout())
        }
    }
}

/// Docker's words for a state, with its progress bar if it has one, and whether it has.
fn describe(state: &LayerState) -> (String, bool) {
    match state.bar() {
        Some(bar) => (format!("{} {bar}", state.status()), true),
        // Docker shows extraction with a bar only: plain output leaves it out.
        None => (state.status(), *state == LayerState::Extracting),
    }
}

impl Progress for Printer {
    fn layer(&self, id: &str, state: LayerState) {
        if self.quiet {
            return;
        }
        let (mut text, has_bar) = describe(&state);
        let mut block = self.block.lock().unwrap_or_else(|p| p.into_inner());
        if let LayerState::Downloading { done, .. } | LayerState::Pushing { done, .. } = state {
            let began = *block.started.entry(id.to_string()).or_insert_with(Instant::now);
            let secs = began.elapsed().as_secs_f64();
            if secs > 0.2 {
                text.push_str(&format!("  {}/s", human_size((done as f64 / secs) as u64, 3)));
            }
        }
        let mut out = self.out();
        if !self.terminal {
            // Plain output: each state once, no bars.
            if has_bar {
                return;
            }
            let _ = writeln!(out, "{id}: {text}");
            return;
        }
        let now = Instant::now();
        match block.order.iter().position(|i| i == id) {
            None => {
                block.order.push(id.to_string());
                let _ = writeln!(out, "{id}: {text}");
            }
            Some(index) => {
                if let Some((old, at)) = block.shown.get(id) {
                    if *old == text || (has_bar && now.duration_since(*at) < REDRAW) {
                        return;
                    }
                }
                let up = block.order.len() - index;
                let _ = write!(out, "\x1b[{up}A\r\x1b[2K{id}: {text}\r\x1b[{up}B");
            }
        }
        block.shown.insert(id.to_string(), (text, now));
        let _ = out.flush();
    }

    fn status(&self, status: &Status) {
        self.line(&status.to_string());
    }
}

impl Printer {
    /// A line of the CLI's own among the progress (ends the block of layer lines).
    pub fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        let mut block = self.block.lock().unwrap_or_else(|p| p.into_inner());
        *block = Block::default();
        let _ = writeln!(self.out(), "{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_with_their_bars() {
        let (text, has_bar) = describe(&LayerState::Downloading {
            done: 1_200_000,
            total: 3_400_000,
        });
        assert!(has_bar);
        assert!(
            text.starts_with("Downloading [=") && text.ends_with("]  1.2MB/3.4MB"),
            "{text}"
        );
        assert_eq!(describe(&LayerState::AlreadyExists).0, "Already exists");
    }
}

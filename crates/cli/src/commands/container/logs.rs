//! `logs`.

use super::*;
use berth_engine::containers::logs::{LogNext, LogsRequest};

#[derive(Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    details: bool,
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs before a timestamp
    #[arg(long)]
    until: Option<String>,
    container: String,
}

/// A `--since`/`--until` value in ns since the epoch, read by the engine's one parser of them (Go
/// durations back from now, RFC 3339 and shorter dates, Unix seconds).
fn parse_when(text: &str) -> anyhow::Result<i64> {
    Ok(berth_engine::when::parse_when(text, chrono::Utc::now())?)
}

pub fn logs(options: &Options, args: LogsArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let tail: Option<usize> = if args.tail == "all" {
        None
    } else {
        Some(
            args.tail
                .parse()
                .with_context(|| format!("invalid --tail value {:?}", args.tail))?,
        )
    };
    let request = LogsRequest {
        tail,
        follow: args.follow,
        since: args.since.as_deref().map(parse_when).transpose()?,
        until: args.until.as_deref().map(parse_when).transpose()?,
    };
    let mut out = Output {
        stdout: io::BufWriter::with_capacity(64 * 1024, crate::out::stdout()),
        stderr: io::stderr(),
    };
    // The engine streams the entries as it parses them: memory stays flat whatever the log's size.
    let mut stream = engine.container_log_stream(&args.container, request)?;
    loop {
        match stream.poll_next(&engine)? {
            LogNext::Entry(e) => {
                // As docker prints it, on the stream it came from.
                let line = e.line(args.timestamps, args.details);
                out.write(e.stream == "stderr", line.as_bytes())?;
            }
            LogNext::Pending => {
                out.stdout.flush()?;
                std::thread::sleep(Duration::from_millis(100));
            }
            LogNext::End => break,
        }
    }
    out.stdout.flush()?;
    Ok(())
}

/// Where `logs` prints: stdout buffered (a big log is many small entries), stderr not; stdout is
/// flushed before each stderr entry, so the two streams keep their order on a shared terminal.
struct Output {
    stdout: io::BufWriter<crate::out::Stdout>,
    stderr: io::Stderr,
}

impl Output {
    fn write(&mut self, to_stderr: bool, bytes: &[u8]) -> io::Result<()> {
        if to_stderr {
            self.stdout.flush()?;
            self.stderr.lock().write_all(bytes)
        } else {
            self.stdout.write_all(bytes)
        }
    }
}

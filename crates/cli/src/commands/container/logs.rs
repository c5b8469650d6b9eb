//! `logs`.

use super::*;

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

/// A `--since`/`--until` value as a UTC time, read by the engine's one parser of them (Go
/// durations back from now, RFC 3339 and shorter dates, Unix seconds).
fn parse_when(text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    let nanos = berth_engine::when::parse_when(text, chrono::Utc::now())?;
    Ok(chrono::DateTime::from_timestamp_nanos(nanos))
}

pub fn logs(options: &Options, args: LogsArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let container = engine.container(&args.container)?;
    if container.config.host.log_type == "none" {
        bail!("configured logging driver does not support reading");
    }
    let since = args.since.as_deref().map(parse_when).transpose()?;
    let until = args.until.as_deref().map(parse_when).transpose()?;
    let tail: Option<usize> = if args.tail == "all" {
        None
    } else {
        Some(
            args.tail
                .parse()
                .with_context(|| format!("invalid --tail value {:?}", args.tail))?,
        )
    };
    let mut out = Output {
        stdout: io::BufWriter::with_capacity(64 * 1024, crate::out::stdout()),
        stderr: io::stderr(),
    };
    // One entry as docker prints it: [time ][details ]line, on the stream it came from.
    let emit = |out: &mut Output, e: &berth_engine::containers::logs::Entry| -> io::Result<()> {
        if since.is_some() || until.is_some() {
            let t = parse_time(&e.time);
            if since.is_some_and(|s| t.is_some_and(|t| t < s)) || until.is_some_and(|u| t.is_some_and(|t| t > u)) {
                return Ok(());
            }
        }
        let mut text = String::new();
        if args.timestamps {
            text.push_str(&e.time);
            text.push(' ');
        }
        if args.details {
            text.push_str(&e.details());
        }
        text.push_str(&e.log);
        out.write(e.stream == "stderr", text.as_bytes())
    };
    // The engine streams the entries as it parses them: memory stays flat whatever the log's size.
    let mut reader = engine.container_logs(container.id(), tail, args.follow)?;
    loop {
        while let Some(e) = reader.next_entry()? {
            emit(&mut out, &e)?;
        }
        if !args.follow {
            break;
        }
        out.stdout.flush()?;
        if !engine.container(container.id())?.is_running() {
            // One last read for what arrived while it stopped.
            while let Some(e) = reader.next_entry()? {
                emit(&mut out, &e)?;
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
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

//! The monitor: one small process per started container (`berth
//! container-monitor ID`), in its own session so it outlives the CLI. It
//! mounts the container's root, starts the container through the runtime,
//! relays and logs its output, reaps it, records the exit, applies the
//! restart policy, and tears the runtime state down.
//!
//! Status protocol on the inherited `--status-fd` pipe, one line each:
//! `started PID`, or `error CODE MESSAGE` (CODE is the docker exit status:
//! 125, 126 or 127), then `exit CODE` when the container is gone for good.

mod cleanup;
mod etc_files;
mod executable;
mod idmapped;
mod paths;
mod process;
mod record;
mod run;
mod run_spec;
mod shim;
mod signals;
mod start;

pub(crate) use cleanup::{cleanup_runtime, cleanup_runtime_then};
pub(crate) use etc_files::point_resolver_at;
pub(crate) use executable::check_executable;
pub(crate) use paths::{attach_socket_path, cgroups_path, last_words, log_path, size_file_path, write_stop_marker};
pub use paths::{log_file_path, open_log};
pub(crate) use process::monitor_alive;
pub use process::{process_start, Owner};
pub use run::{run, Resume};
pub use signals::parse_signal;
pub(crate) use signals::signal_pid;

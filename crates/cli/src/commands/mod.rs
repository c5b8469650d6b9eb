pub mod build;
pub mod container;
pub mod events;
pub mod image;
pub mod network;
pub mod registry;
pub mod serve;
pub mod system;
pub mod volume;

use berth_engine::{Engine, Options};

use crate::out::{out, outln};
use crate::Exit;

pub fn engine(options: &Options) -> anyhow::Result<Engine> {
    Ok(Engine::open(options.clone())?)
}

/// Asks docker's "Are you sure you want to continue? [y/N]" after `warning`.
pub fn confirm(warning: &str) -> anyhow::Result<bool> {
    out!("{warning}\nAre you sure you want to continue? [y/N] ")?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Runs `op` on each name, reporting failures as docker's client does, and
/// exits 1 once all have been tried if any failed.
pub fn for_each_name(names: &[String], mut op: impl FnMut(&str) -> berth_engine::Result<()>) -> anyhow::Result<()> {
    let mut failed = None;
    for name in names {
        if let Err(e) = op(name) {
            eprintln!("Error response from daemon: {e}");
            failed = Some(Exit::for_error(&e));
        }
    }
    match failed {
        Some(exit) => Err(exit.into()),
        None => Ok(()),
    }
}

/// [`for_each_name`] that echoes each name that succeeded (stop, kill, rm...).
pub fn each(names: &[String], mut op: impl FnMut(&str) -> berth_engine::Result<()>) -> anyhow::Result<()> {
    for_each_name(names, |name| {
        op(name)?;
        // A closed stdout is noted (`main` ends with its status); the other names are still done.
        let _ = outln!("{name}");
        Ok(())
    })
}

/// `--label`/`--opt` style `key=value` flags (a bare key means an empty value).
pub fn key_values(items: &[String], what: &str) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut map = std::collections::BTreeMap::new();
    for item in items {
        let (k, v) = item.split_once('=').unwrap_or((item.as_str(), ""));
        if k.is_empty() {
            anyhow::bail!("invalid {what} {item:?}: use key=value");
        }
        map.insert(k.to_string(), v.to_string());
    }
    Ok(map)
}

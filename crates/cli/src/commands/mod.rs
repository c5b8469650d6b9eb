pub mod container;
pub mod image;
pub mod system;
pub mod volume;

use berth_engine::{Engine, Options};

pub fn engine(options: &Options) -> anyhow::Result<Engine> {
    Ok(Engine::open(options.clone())?)
}

/// Asks docker's "Are you sure you want to continue? [y/N]" after `warning`.
pub fn confirm(warning: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

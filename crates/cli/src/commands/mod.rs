pub mod container;
pub mod image;
pub mod system;
pub mod volume;

use berth_engine::{Engine, Options};

pub fn engine(options: &Options) -> anyhow::Result<Engine> {
    Ok(Engine::open(options.clone())?)
}

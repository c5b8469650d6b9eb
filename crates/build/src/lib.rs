//! The Dockerfile front end of `berth build`: a parser that follows
//! BuildKit's dockerfile frontend, variable substitution, `.dockerignore`
//! matching and the stage graph. Pure: no I/O except the ignore-file lookup.

pub mod ast;
pub mod dockerignore;
pub mod error;
mod flags;
pub mod graph;
mod parser;
pub mod shell;

pub use ast::*;
pub use dockerignore::{find_dockerignore, Ignore};
pub use error::{Error, Result};
pub use flags::parse_go_duration;
pub use graph::{resolve_target, StageGraph};
pub use parser::{parse, parse_named, parse_port_spec, PortSpec};
pub use shell::{expand, expand_words, expands_variables, split_words};

#[cfg(test)]
mod parser_tests;

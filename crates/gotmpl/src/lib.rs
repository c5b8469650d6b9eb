//! Go `text/template` subset for docker-style `--format` flags, over
//! [`serde_json::Value`] data.
//!
//! Docker renders its structs through Go templates; berth renders the JSON form
//! of the same data, so field names are the JSON keys (`{{.Config.Env}}`).
//!
//! Supported: text and `{{ }}` actions with `{{-`/`-}}` trimming and
//! `{{/* */}}` comments; `.`, `.A.B`, `$`, `$x.A`, `(pipeline).A`; string (with
//! escapes and raw), character, integer, float, bool and `nil` literals;
//! pipelines, parenthesised pipelines, `$x := ...` / `$x = ...`;
//! `if`/`else if`/`else`, `range` (arrays, objects in sorted key order,
//! integers, `$i, $v :=`, `else`, `break`, `continue`), `with`/`else with`;
//! Go's builtins (`and or not len index slice print printf println eq ne lt le
//! gt ge html js urlquery`) and docker/cli's (`json split join title lower upper
//! pad truncate`). Not supported: `define`, `template`, `block`, `call`, custom
//! delimiters and custom functions.
//!
//! [`align_columns`] lays out `\t`-separated tables like docker's
//! `text/tabwriter` configuration.

mod exec;
mod float;
mod funcs;
mod lex;
mod parse;
mod printf;
mod tabwriter;
mod value;

use std::str::FromStr;

pub use funcs::query_escape;
pub use tabwriter::align_columns;

/// Template errors, formatted like Go's `text/template` messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The template text is malformed.
    #[error("template: :{line}: {message}")]
    Parse {
        /// 1-based line of the problem.
        line: usize,
        /// 0-based byte column of the problem within its line.
        col: usize,
        message: String,
    },
    /// Rendering failed (wrong types, bad arguments, ...).
    #[error("template: :{line}:{col}: executing \"\" at <{context}>: {message}")]
    Exec {
        /// 1-based line of the failing node.
        line: usize,
        /// 0-based byte column of the failing node within its line.
        col: usize,
        /// Source text of the failing node (shortened to 20 characters).
        context: String,
        message: String,
    },
}

/// 1-based line and 0-based byte column of `offset` in `src`.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.as_bytes().get(..offset).unwrap_or(&[]);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(nl) => offset - nl - 1,
        None => offset,
    };
    (line, col)
}

pub(crate) fn parse_error(src: &str, offset: usize, message: String) -> Error {
    let (line, col) = line_col(src, offset);
    Error::Parse { line, col, message }
}

/// A parsed template, ready to render any number of values.
#[derive(Debug, Clone)]
pub struct Template {
    src: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses template text.
    pub fn parse(src: &str) -> Result<Template, Error> {
        let nodes = parse::parse(src)?;
        Ok(Template {
            src: src.to_string(),
            nodes,
        })
    }

    /// Renders the template with `data` as dot (and `$`).
    pub fn render(&self, data: &serde_json::Value) -> Result<String, Error> {
        exec::execute(&self.nodes, data).map_err(|e| {
            let (line, col) = line_col(&self.src, e.span.start);
            let text = self.src.get(e.span.start..e.span.end).unwrap_or("");
            let context = if text.chars().count() > 20 {
                format!("{}...", text.chars().take(20).collect::<String>())
            } else {
                text.to_string()
            };
            Error::Exec {
                line,
                col,
                context,
                message: e.msg,
            }
        })
    }

    /// The template text this was parsed from.
    pub fn source(&self) -> &str {
        &self.src
    }
}

impl FromStr for Template {
    type Err = Error;

    fn from_str(src: &str) -> Result<Template, Error> {
        Template::parse(src)
    }
}

/// Parses and renders in one step.
pub fn render(src: &str, data: &serde_json::Value) -> Result<String, Error> {
    Template::parse(src)?.render(data)
}

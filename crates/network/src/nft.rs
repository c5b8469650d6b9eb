//! Running the `nft` binary with JSON in and out, and building the JSON.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Where `nft` lives: PATH first, then the sbin directories a non-root
/// PATH often lacks.
fn nft_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let from_path = std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).map(|d| d.join("nft")).find(|c| c.is_file()));
        from_path
            .or_else(|| {
                ["/usr/sbin/nft", "/sbin/nft", "/usr/local/sbin/nft"]
                    .iter()
                    .map(PathBuf::from)
                    .find(|c| c.is_file())
            })
            .unwrap_or_else(|| PathBuf::from("nft"))
    })
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(nft_bin());
    cmd.args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Applies a batch of commands atomically (`nft -j -f -`). On refusal,
/// returns nft's error text so the caller can decide.
pub(crate) fn apply_raw(cmds: &[Value], op: &str) -> Result<std::result::Result<(), String>> {
    if cmds.is_empty() {
        return Ok(Ok(()));
    }
    let input = json!({ "nftables": cmds }).to_string();
    tracing::debug!(op, %input, "nft -j -f -");
    let mut child = crate::host::on_host_side(|| {
        command(&["-j", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|source| Error::NftMissing { source })
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error means nft died early; its stderr says why.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|source| Error::NftMissing { source })?;
    if out.status.success() {
        Ok(Ok(()))
    } else {
        Ok(Err(clean_stderr(&out.stderr, &out.status)))
    }
}

pub(crate) fn apply(cmds: &[Value], op: &str) -> Result<()> {
    apply_raw(cmds, op)?.map_err(|stderr| nft_error(op, stderr))
}

pub(crate) fn nft_error(op: &str, stderr: String) -> Error {
    let stderr = if stderr.contains("No such file or directory") {
        format!("{stderr} (is the firewall set up? call ensure_base and add_network first)")
    } else {
        stderr
    };
    Error::Nft {
        op: op.to_string(),
        stderr,
    }
}

/// Lists a table with rule handles; `None` when the table does not exist.
pub(crate) fn list_table(table: &str, op: &str) -> Result<Option<Vec<Value>>> {
    let out = crate::host::on_host_side(|| {
        command(&["-j", "-a", "list", "table", "ip", table])
            .output()
            .map_err(|source| Error::NftMissing { source })
    })?;
    if !out.status.success() {
        let stderr = clean_stderr(&out.stderr, &out.status);
        if stderr.contains("No such file or directory") {
            return Ok(None);
        }
        return Err(Error::Nft {
            op: op.to_string(),
            stderr,
        });
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| Error::NftOutput {
        op: op.to_string(),
        reason: format!("not JSON: {e}"),
    })?;
    match v.get("nftables").and_then(Value::as_array) {
        Some(items) => Ok(Some(items.clone())),
        None => Err(Error::NftOutput {
            op: op.to_string(),
            reason: "no \"nftables\" array".into(),
        }),
    }
}

fn clean_stderr(stderr: &[u8], status: &std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        format!("nft exited with {status}")
    } else {
        lines.join("; ")
    }
}

// ---- expression builders ----

pub(crate) fn meta(key: &str) -> Value {
    json!({ "meta": { "key": key } })
}

pub(crate) fn payload(protocol: &str, field: &str) -> Value {
    json!({ "payload": { "protocol": protocol, "field": field } })
}

pub(crate) fn prefix(addr: std::net::Ipv4Addr, len: u8) -> Value {
    json!({ "prefix": { "addr": addr.to_string(), "len": len } })
}

pub(crate) fn ct(key: &str) -> Value {
    json!({ "ct": { "key": key } })
}

pub(crate) fn matches(op: &str, left: Value, right: Value) -> Value {
    json!({ "match": { "op": op, "left": left, "right": right } })
}

pub(crate) fn eq(left: Value, right: impl Into<Value>) -> Value {
    matches("==", left, right.into())
}

pub(crate) fn ne(left: Value, right: impl Into<Value>) -> Value {
    matches("!=", left, right.into())
}

pub(crate) fn fib_daddr_local() -> Value {
    eq(json!({ "fib": { "result": "type", "flags": ["daddr"] } }), "local")
}

pub(crate) fn verdict(v: &str) -> Value {
    json!({ v: null })
}

pub(crate) fn jump(target: &str) -> Value {
    json!({ "jump": { "target": target } })
}

/// A rule as listed by nft: where it is, its handle and comment.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInfo {
    pub chain: String,
    pub handle: u64,
    pub comment: Option<String>,
    /// The rule's expressions in nft's JSON form.
    pub expr: Value,
}

pub(crate) fn rules_of(items: &[Value]) -> Vec<RuleInfo> {
    items
        .iter()
        .filter_map(|item| {
            let r = item.get("rule")?;
            Some(RuleInfo {
                chain: r.get("chain")?.as_str()?.to_string(),
                handle: r.get("handle")?.as_u64()?,
                comment: r.get("comment").and_then(Value::as_str).map(str::to_string),
                expr: r.get("expr").cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

pub(crate) fn chains_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| Some(item.get("chain")?.get("name")?.as_str()?.to_string()))
        .collect()
}

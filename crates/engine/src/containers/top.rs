//! `top`: the processes of a container, as the host's `ps` shows them (Docker's `ContainerTopResponse`).

use std::fs;

use serde::{Deserialize, Serialize};

use super::monitor;
use crate::{Engine, Error, Result};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerTop {
    #[serde(rename = "Titles")]
    pub titles: Vec<String>,
    #[serde(rename = "Processes")]
    pub processes: Vec<Vec<String>>,
}

impl Engine {
    /// The host pids of every process in the container's cgroup.
    pub fn container_pids(&self, name: &str) -> Result<Vec<i32>> {
        let c = self.running(name)?;
        let cg = monitor::cgroups_path(c.id());
        for file in [
            format!("/sys/fs/cgroup/pids{cg}/cgroup.procs"),
            format!("/sys/fs/cgroup/memory{cg}/cgroup.procs"),
            format!("/sys/fs/cgroup{cg}/cgroup.procs"),
        ] {
            if let Ok(text) = fs::read_to_string(&file) {
                return Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect());
            }
        }
        Ok(vec![c.pid()])
    }

    /// Runs the host's `ps` with `ps_args` (Docker's default `-ef` when empty) and keeps the rows of the
    /// container's processes.
    pub fn top_container(&self, name: &str, ps_args: &[String]) -> Result<ContainerTop> {
        let pids = self.container_pids(name)?;
        let default = ["-ef".to_string()];
        let args = if ps_args.is_empty() { &default[..] } else { ps_args };
        let out = std::process::Command::new("ps")
            .args(args)
            .output()
            .map_err(|e| Error::Internal(format!("running ps (install procps): {e}")))?;
        if !out.status.success() {
            return Err(Error::InvalidArgument(format!(
                "ps {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

/// `ps` output kept to the rows of `pids`; the last column (the command) may hold spaces.
fn parse_ps(text: &str, pids: &[i32]) -> Result<ContainerTop> {
    let mut lines = text.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let pid_column = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::InvalidArgument("Couldn't find PID field in ps output".into()))?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_column).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let split = titles.len().saturating_sub(1).min(fields.len());
        let (head, tail) = fields.split_at(split);
        let mut row: Vec<String> = head.iter().map(|f| f.to_string()).collect();
        row.push(tail.join(" "));
        processes.push(row);
    }
    Ok(ContainerTop { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_of_the_containers_pids_with_whole_commands() {
        let text = "UID PID PPID C STIME TTY TIME CMD\n\
                    root 10 1 0 10:00 ? 00:00:00 sh -c sleep 100\n\
                    root 11 10 0 10:00 ? 00:00:00 sleep 100\n\
                    root 99 1 0 10:00 ? 00:00:00 not-ours\n";
        let top = parse_ps(text, &[10, 11]).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(top.processes.len(), 2);
        assert_eq!(top.processes[0][7], "sh -c sleep 100");
        assert!(parse_ps("USER COMMAND\nroot x\n", &[1]).is_err());
        assert_eq!(
            serde_json::to_value(&top).unwrap()["Titles"][1],
            serde_json::json!("PID")
        );
    }
}

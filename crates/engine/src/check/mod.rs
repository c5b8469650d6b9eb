//! `berth system check`: what killed commands, crashes and hand edits left inconsistent in a data root
//! and on the host, and, with `repair`, the fixes for what can be fixed.
//!
//! One file per area: `store.rs` (berth.db, blobs, layers, images, the store's pending work),
//! `leftovers.rs` (ingest sessions, downloads, temporary files), `volumes.rs`, `containers.rs`, and
//! `host.rs` (mounts, cgroups, network plumbing, monitors). Each area is looked at under the lock the
//! commands that change it take, so a command's work in progress is not reported; those locks are
//! taken "as is" (the store's and the volumes' locks otherwise finish or sweep leftovers first, which
//! would hide them), so a check without `repair` changes nothing. Repairs run in the same locked
//! section, and each looks at its object again before it changes anything.

mod containers;
mod host;
mod leftovers;
mod mountinfo;
mod store;
mod volumes;

use serde::Serialize;

use crate::{Engine, Result};

/// What `system check` is asked to do.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckOptions {
    /// Fix what can be fixed; without it the check changes nothing.
    pub repair: bool,
}

/// The kind of object a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// berth.db itself, or rows that belong to no object below.
    Database,
    Blob,
    Layer,
    Image,
    /// A tag or a repo digest.
    Tag,
    Container,
    Volume,
    /// A blob a pull fetched into downloads/ and never committed.
    Download,
    /// A process's staging area under ingest/.
    Ingest,
    /// Files a removal moved aside to delete and did not.
    Trash,
    /// A temporary file a writer did not rename into place or remove.
    Temp,
    Mount,
    Cgroup,
    Bridge,
    Veth,
    FirewallRule,
    Monitor,
    Netns,
}

impl FindingKind {
    /// The name JSON uses (snake_case).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Database => "database",
            FindingKind::Blob => "blob",
            FindingKind::Layer => "layer",
            FindingKind::Image => "image",
            FindingKind::Tag => "tag",
            FindingKind::Container => "container",
            FindingKind::Volume => "volume",
            FindingKind::Download => "download",
            FindingKind::Ingest => "ingest",
            FindingKind::Trash => "trash",
            FindingKind::Temp => "temp",
            FindingKind::Mount => "mount",
            FindingKind::Cgroup => "cgroup",
            FindingKind::Bridge => "bridge",
            FindingKind::Veth => "veth",
            FindingKind::FirewallRule => "firewall_rule",
            FindingKind::Monitor => "monitor",
            FindingKind::Netns => "netns",
        }
    }
}

/// What `repair` did about a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum Repair {
    /// Fixed; says how ("removed").
    Done(String),
    /// Tried and failed; says why.
    Failed(String),
    /// Nothing berth can do alone; says what the user should do.
    NotPossible(String),
}

/// One thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// What it is about: a digest, a name, a path.
    pub object: String,
    pub problem: String,
    /// None when the check did not repair.
    pub repair: Option<Repair>,
}

/// Everything a check found, in the order it looked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// Nothing was found wrong.
    pub fn is_consistent(&self) -> bool {
        self.findings.is_empty()
    }

    /// Every finding was repaired (true when there were none).
    pub fn all_repaired(&self) -> bool {
        self.findings.iter().all(|f| matches!(f.repair, Some(Repair::Done(_))))
    }
}

impl Engine {
    /// `system check`: looks at the data root and at what this root set up on the host. Open the engine
    /// with `Engine::open_as_is`, or `open` will have finished some leftovers before they are looked at.
    pub fn check(&self, options: &CheckOptions) -> Result<CheckReport> {
        let mut findings = Vec::new();
        // Repairs write to berth.db: none while SQLite finds it damaged.
        let options = match store::database(self, options, &mut findings)? {
            true => options,
            false => &CheckOptions { repair: false },
        };
        store::check(self, options, &mut findings)?;
        leftovers::check(self, options, &mut findings)?;
        volumes::check(self, options, &mut findings)?;
        // The host first: its repair unmounts what keeps a container directory without a row in place.
        host::check(self, options, &mut findings)?;
        containers::check(self, options, &mut findings)?;
        Ok(CheckReport { findings })
    }
}

/// Records a finding. With `repair`, runs `fix` first and records its answer (what it did, or why it
/// could not); an error from `fix` is a failed repair. Without `repair`, `fix` never runs.
fn found(
    findings: &mut Vec<Finding>,
    options: &CheckOptions,
    kind: FindingKind,
    object: impl Into<String>,
    problem: impl Into<String>,
    fix: impl FnOnce() -> Result<Repair>,
) {
    let repair = options
        .repair
        .then(|| fix().unwrap_or_else(|e| Repair::Failed(e.to_string())));
    findings.push(Finding {
        kind,
        object: object.into(),
        problem: problem.into(),
        repair,
    });
}

/// Done when `fixed`, else Failed with `otherwise`: for repairs that look again afterwards.
fn done_if(fixed: bool, done: &str, otherwise: &str) -> Repair {
    if fixed {
        Repair::Done(done.to_string())
    } else {
        Repair::Failed(otherwise.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(repair: Option<Repair>) -> Finding {
        Finding {
            kind: FindingKind::Blob,
            object: "sha256:ab".into(),
            problem: "content does not match its digest".into(),
            repair,
        }
    }

    #[test]
    fn a_repair_runs_only_when_asked() {
        let mut findings = Vec::new();
        let mut ran = false;
        found(
            &mut findings,
            &CheckOptions { repair: false },
            FindingKind::Temp,
            "x",
            "left over",
            || {
                ran = true;
                Ok(Repair::Done("removed".into()))
            },
        );
        assert!(!ran);
        assert_eq!(findings[0].repair, None);
        found(
            &mut findings,
            &CheckOptions { repair: true },
            FindingKind::Temp,
            "y",
            "left over",
            || Err(crate::Error::InvalidArgument("busy".into())),
        );
        assert_eq!(findings[1].repair, Some(Repair::Failed("busy".into())));
    }

    #[test]
    fn reports_sum_up_and_serialize_in_snake_case() {
        assert!(CheckReport::default().is_consistent());
        assert!(CheckReport::default().all_repaired());
        let report = CheckReport {
            findings: vec![finding(Some(Repair::Done("removed".into())))],
        };
        assert!(!report.is_consistent());
        assert!(report.all_repaired());
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["findings"][0]["kind"], "blob");
        assert_eq!(json["findings"][0]["repair"]["outcome"], "done");
        assert_eq!(json["findings"][0]["repair"]["detail"], "removed");
        let report = CheckReport {
            findings: vec![finding(None), finding(Some(Repair::NotPossible("rmi it".into())))],
        };
        assert!(!report.all_repaired());
        let json = serde_json::to_value(&report).expect("json");
        assert!(json["findings"][0]["repair"].is_null());
        assert_eq!(json["findings"][1]["repair"]["outcome"], "not_possible");
        assert_eq!(
            serde_json::to_value(FindingKind::FirewallRule).expect("json"),
            FindingKind::FirewallRule.as_str()
        );
    }
}

//! The host's side of `system check`: what this data root set up outside itself and a killed command
//! left behind. Leaked mounts (container roots, netns files), cgroups of containers that are gone,
//! bridges and veths of networks and containers that have no record, berth's firewall rules for them,
//! and monitors of containers that are gone go here, each reported with `found` under a
//! `FindingKind` of its own (Mount, Cgroup, Bridge, Veth, FirewallRule, Monitor, Netns) and repaired
//! under the host network lock where it touches the network. The data root's checks run first: a
//! container directory that is still mounted is left for this half (reported as not repairable there).

use super::{CheckOptions, Finding};
use crate::{Engine, Result};

/// Host checks; none yet.
pub(super) fn check(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) -> Result<()> {
    let _ = (engine, options, findings);
    Ok(())
}

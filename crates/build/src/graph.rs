//! Which stages a build needs: `--target` resolution and the dependencies
//! between stages (FROM <stage>, COPY --from, RUN --mount from=).

use crate::ast::{Dockerfile, InstructionKind, Stage};
use crate::error::{Error, Result};
use crate::shell::expand;

/// The stage `--target` names (case-insensitive), or the last stage.
pub fn resolve_target(df: &Dockerfile, target: Option<&str>) -> Result<usize> {
    match target {
        None => df
            .stages
            .len()
            .checked_sub(1)
            .ok_or_else(|| Error::StageGraph("dockerfile contains no stages to build".to_string())),
        Some(t) => df
            .stages
            .iter()
            .position(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t)))
            .ok_or_else(|| Error::TargetNotFound(t.to_string())),
    }
}

/// The dependency graph of a Dockerfile's stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageGraph {
    /// Per stage: the stage its FROM names, if it names one.
    bases: Vec<Option<usize>>,
    /// Per stage: every stage it needs (base included), without repeats.
    deps: Vec<Vec<usize>>,
}

impl StageGraph {
    /// Builds the graph. References are expanded with `lookup` (the meta
    /// args and build args); a reference that names no stage is an image.
    /// Errors: FROM naming a later stage, a stage index that does not exist,
    /// and cycles.
    pub fn new(df: &Dockerfile, lookup: &dyn Fn(&str) -> Option<String>) -> Result<StageGraph> {
        let escape = df.directives.escape;
        let ex = |word: &str| expand(word, escape, lookup);
        let mut bases = Vec::new();
        let mut deps = Vec::new();
        for (i, stage) in df.stages.iter().enumerate() {
            let base = ex(&stage.base)?;
            let base_idx = match find_by_name(&df.stages, &base) {
                Some(j) if j < i => Some(j),
                Some(j) if j > i => {
                    return Err(Error::StageGraph(format!(
                        "{}: FROM {base} refers to stage {j} defined later in the Dockerfile; move that stage above this one",
                        stage_label(stage, i)
                    )))
                }
                // A stage named like its own base image (`FROM node AS node`) uses the image.
                _ => None,
            };
            let mut mine: Vec<usize> = base_idx.into_iter().collect();
            for ins in &stage.instructions {
                for reference in references(&ins.kind) {
                    let reference = ex(&reference)?;
                    let target = if let Ok(n) = reference.parse::<usize>() {
                        if n >= df.stages.len() {
                            return Err(Error::StageGraph(format!(
                                "line {}: invalid stage index {n}: the Dockerfile has {} stages",
                                ins.line,
                                df.stages.len()
                            )));
                        }
                        Some(n)
                    } else {
                        find_by_name(&df.stages, &reference)
                    };
                    if let Some(t) = target {
                        if !mine.contains(&t) {
                            mine.push(t);
                        }
                    }
                }
            }
            bases.push(base_idx);
            deps.push(mine);
        }
        let graph = StageGraph { bases, deps };
        graph.check_cycles(df)?;
        Ok(graph)
    }

    /// The stage a stage's FROM names, if any.
    pub fn base(&self, stage: usize) -> Option<usize> {
        self.bases.get(stage).copied().flatten()
    }

    /// The stages `stage` needs directly.
    pub fn deps(&self, stage: usize) -> &[usize] {
        self.deps.get(stage).map_or(&[], Vec::as_slice)
    }

    /// Every stage needed to build `target`, dependencies before their
    /// dependents, `target` last.
    pub fn build_order(&self, target: usize) -> Vec<usize> {
        let mut order = Vec::new();
        let mut seen = vec![false; self.deps.len()];
        self.visit(target, &mut seen, &mut order);
        order
    }

    /// Every stage needed to build `target`, in Dockerfile order.
    pub fn needed(&self, target: usize) -> Vec<usize> {
        let mut v = self.build_order(target);
        v.sort_unstable();
        v
    }

    fn visit(&self, i: usize, seen: &mut [bool], order: &mut Vec<usize>) {
        if i >= seen.len() || seen[i] {
            return;
        }
        seen[i] = true;
        for &d in self.deps(i) {
            self.visit(d, seen, order);
        }
        order.push(i);
    }

    fn check_cycles(&self, df: &Dockerfile) -> Result<()> {
        // 0 unvisited, 1 on the current path, 2 done.
        fn dfs(g: &StageGraph, i: usize, state: &mut [u8]) -> Option<usize> {
            state[i] = 1;
            for &d in g.deps(i) {
                match state[d] {
                    1 => return Some(d),
                    0 => {
                        if let Some(c) = dfs(g, d, state) {
                            return Some(c);
                        }
                    }
                    _ => {}
                }
            }
            state[i] = 2;
            None
        }
        let mut state = vec![0u8; self.deps.len()];
        for i in 0..self.deps.len() {
            if state[i] == 0 {
                if let Some(c) = dfs(self, i, &mut state) {
                    let name = df.stages[c].name.clone().unwrap_or_else(|| c.to_string());
                    return Err(Error::StageGraph(format!(
                        "circular dependency detected on stage: {name}"
                    )));
                }
            }
        }
        Ok(())
    }
}

fn find_by_name(stages: &[Stage], name: &str) -> Option<usize> {
    stages
        .iter()
        .position(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
}

fn stage_label(stage: &Stage, i: usize) -> String {
    match &stage.name {
        Some(n) => format!("line {}: stage {n:?}", stage.line),
        None => format!("line {}: stage {i}", stage.line),
    }
}

/// Stage references an instruction makes (unexpanded).
fn references(kind: &InstructionKind) -> Vec<String> {
    match kind {
        InstructionKind::Copy(c) => c.from.iter().cloned().collect(),
        InstructionKind::Run(r) => r.mounts.iter().filter_map(|m| m.from.clone()).collect(),
        _ => Vec::new(),
    }
}

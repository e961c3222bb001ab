//! Human overrides applied to a judgement: the units of a branch with overrides are judged
//! with its caps raised, and its `paths.protected` flags on allowed paths become notes that
//! name the override; every override in effect is told as an `overrides.applied` note, so it
//! shows in the output, the report and the audit record of the push or deploy.
//!
//! Used by the receive door (each ref update on its own branch) and the deploy door (the range
//! since the deployed commit, on the deploy branch). Reads override records; writes nothing.

use anyhow::Result;

use crate::engine;
use crate::engine::changes::Unit;
use crate::engine::identity::Actor;
use crate::engine::policy::{PathPatterns, Policy};
use crate::engine::verdict::{AGENTS_DISABLED, Finding, Severity, Verdict};

use super::*;

/// The rule id of the note telling an override in effect.
pub const OVERRIDE_APPLIED: &str = "overrides.applied";

/// Judge `units` as [`engine::judge_units`] does, each ref update under the overrides of its
/// branch (none for other refs).
pub fn judge_units_with_overrides(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    units: Vec<Unit>,
) -> Result<Verdict> {
    let active: Vec<StoredOverride> = list_overrides(repo, policy)?
        .into_iter()
        .filter(|s| s.record.kind == OverrideKind::Allow && s.status == Status::Valid)
        .collect();
    if active.is_empty() {
        return Ok(engine::judge_units(policy, actor, units));
    }
    let mut plain = Vec::new();
    let mut special = Vec::new();
    for u in units {
        let branch = u.refname().map(str::to_string);
        let ovs: Vec<&StoredOverride> = match &branch {
            Some(b) => active.iter().filter(|s| &s.record.branch == b).collect(),
            None => Vec::new(),
        };
        match branch {
            Some(b) if !ovs.is_empty() => special.push((u, b, ovs)),
            _ => plain.push(u),
        }
    }
    let mut verdict = engine::judge_units(policy, actor, plain);
    for (u, branch, ovs) in special {
        let v = judge_on_branch(policy, actor, u, &branch, &ovs);
        merge(&mut verdict, v);
    }
    Ok(verdict)
}

/// Judge one unit that is not a ref update (a range) as the branch `branch` (a full ref name)
/// would be, under that branch's overrides: what the deploy door re-checks.
pub fn judge_unit_as_branch(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    unit: Unit,
    branch: &str,
) -> Result<Verdict> {
    let ovs = overrides_for(repo, policy, branch)?;
    if ovs.is_empty() {
        return Ok(engine::judge_units(policy, actor, vec![unit]));
    }
    let refs: Vec<&StoredOverride> = ovs.iter().collect();
    Ok(judge_on_branch(policy, actor, unit, branch, &refs))
}

fn judge_on_branch(
    policy: &Policy,
    actor: &Actor,
    unit: Unit,
    branch: &str,
    ovs: &[&StoredOverride],
) -> Verdict {
    let mut raised = policy.clone();
    for o in ovs {
        if let Some(n) = o.record.max_files {
            raised.caps.max_files = raised.caps.max_files.max(n);
        }
        if let Some(n) = o.record.max_lines {
            raised.caps.max_lines = raised.caps.max_lines.max(n);
        }
    }
    let mut v = engine::judge_units(&raised, actor, vec![unit]);
    // The source stays the policy's: what was raised is told by the notes.
    v.policy = policy.source.to_string();
    let allowed: Vec<(PathPatterns, &StoredOverride)> = ovs
        .iter()
        .filter(|o| !o.record.paths.is_empty())
        .filter_map(|o| {
            PathPatterns::new(&o.record.paths, policy.paths.case_insensitive)
                .ok()
                .map(|p| (p, *o))
        })
        .collect();
    for f in v
        .findings
        .iter_mut()
        .filter(|f| f.rule == "paths.protected" && f.severity == Severity::Flag)
    {
        let Some(path) = f.path.clone() else { continue };
        if let Some((_, o)) = allowed.iter().find(|(p, _)| p.is_match(&path)) {
            f.severity = Severity::Note;
            f.message = format!(
                "allowed on {branch} by override {} of {}: {}",
                o.short_id(),
                o.record.approver,
                f.message
            );
            f.hint = String::new();
        }
    }
    for o in ovs {
        v.findings.push(
            Finding::note(
                OVERRIDE_APPLIED,
                format!(
                    "override {} by {} at {} for {branch}: {}{} ({})",
                    o.short_id(),
                    o.record.approver,
                    o.record.at,
                    o.record.describe(),
                    if o.signature.is_some() {
                        ", signed"
                    } else {
                        ""
                    },
                    o.record.why
                ),
                "",
            )
            .at_ref(Some(branch)),
        );
    }
    v
}

/// Whether `f` is a `paths.protected` flag on a path that an override of `branch` allows: the
/// deploy gate, which judges each commit on its own, asks this of every flag it finds.
pub fn allowed_by_override(
    repo: &gix::Repository,
    policy: &Policy,
    branch: &str,
    f: &Finding,
) -> Result<bool> {
    if f.rule != "paths.protected" || f.severity != Severity::Flag {
        return Ok(false);
    }
    let Some(path) = f.path.as_deref() else {
        return Ok(false);
    };
    Ok(overrides_for(repo, policy, branch)?
        .iter()
        .filter(|o| !o.record.paths.is_empty())
        .filter_map(|o| PathPatterns::new(&o.record.paths, policy.paths.case_insensitive).ok())
        .any(|p| p.is_match(path)))
}

/// Add the findings, risk and units of `other` to `into`, telling the kill switch once.
fn merge(into: &mut Verdict, other: Verdict) {
    let told_off = into.findings.iter().any(|f| f.rule == AGENTS_DISABLED);
    into.findings.extend(
        other
            .findings
            .into_iter()
            .filter(|f| !(told_off && f.rule == AGENTS_DISABLED)),
    );
    if other.risk.score > into.risk.score
        || (other.risk.score == into.risk.score && into.risk.reasons.is_empty())
    {
        into.risk = other.risk;
    }
    into.units.extend(other.units);
}

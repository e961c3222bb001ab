//! Judge a CI job's subject with the engine, as the server hooks do: a pushed ref update is
//! one unit built like a received push (the kind of update, the commits it brings that the
//! base branch does not hold, the cumulative change); a review is the range from the base
//! branch to the head. Then each flag is looked up among the approvals.
//!
//! A revision the subject names that the clone does not hold is an error (exit 2): a check
//! that cannot see the change must not pass it.

use anyhow::{Context as _, Result, anyhow, bail};
use gix::ObjectId;

use super::gate::{self, FlagState};
use super::policy::{self, CiPolicy, resolve_commit};
use super::subject::{Change, Subject};
use super::{Outcome, actor};
use crate::engine;
use crate::engine::changes::{RefUpdate, Unit};
use crate::engine::model::{self, ModelOptions};
use crate::engine::policy::{Mode, Policy};
use crate::engine::verdict::Severity;

/// Judge `subject` in `repo` by the policy of its base branch (or `explicit`).
pub fn judge(
    repo: &gix::Repository,
    subject: Subject,
    explicit: Option<&std::path::Path>,
) -> Result<Outcome> {
    let CiPolicy { policy, base, .. } = &policy::load(repo, explicit, &subject.policy_at)?;
    let judged = actor::judged(&subject, policy)?;
    let (units, head) = units(repo, &subject.change, policy)?;
    let mut verdict = engine::judge_units(policy, &judged.actor, units);
    add_commit_flags(policy, &mut verdict);
    let flags: Vec<_> = verdict.flags().cloned().collect();
    let flags = gate::flag_states(repo, policy, head, &judged.pushers, &flags)
        .context("cannot read the approvals (refs/guard/approvals/)")?;
    let unapproved = flags.iter().filter(|f| !f.approved()).count();
    let blocked = verdict.blocked() || (policy.mode == Mode::Enforce && unapproved > 0);
    Ok(Outcome {
        subject,
        policy_base: *base,
        verdict,
        flags,
        blocked,
    })
}

/// Each commit's own flags, as `git guard flags` and the deploy gate count them: the engine
/// tells a protected path once per change, but an approval binds one commit, so a later
/// commit changing the same path again needs its own.
fn add_commit_flags(policy: &Policy, verdict: &mut crate::engine::verdict::Verdict) {
    let mut extra = Vec::new();
    for unit in &verdict.units {
        for c in &unit.commits {
            for f in crate::approvals::commit_findings(policy, c) {
                let known = verdict.findings.iter().chain(&extra).any(|g| {
                    g.severity == Severity::Flag
                        && g.commit == f.commit
                        && g.flag_id() == f.flag_id()
                });
                if !known {
                    extra.push(f);
                }
            }
        }
    }
    verdict.findings.extend(extra);
}

fn model_options(policy: &Policy) -> ModelOptions {
    ModelOptions::for_policy(policy)
}

/// The units of a change and the head whose approvals count.
fn units(
    repo: &gix::Repository,
    change: &Change,
    policy: &Policy,
) -> Result<(Vec<Unit>, Option<ObjectId>)> {
    match change {
        Change::Review { base, head } => {
            let Some(base_id) = base.iter().find_map(|r| resolve_commit(repo, r)) else {
                bail!(
                    "the base branch is not in this clone (looked for {}); hint: fetch the whole \
                     history (actions/checkout with `fetch-depth: 0`, GitLab `GIT_DEPTH: 0`)",
                    base.join(", ")
                );
            };
            let head_id = resolve_commit(repo, head).ok_or_else(|| {
                anyhow!("the head {head} is not in this clone; hint: check out the change with its history")
            })?;
            let unit = model::range(
                repo,
                &format!("{base_id}..{head_id}"),
                model_options(policy),
            )
            .with_context(|| format!("cannot read the changes of {base_id}..{head_id}"))?;
            Ok((vec![unit], Some(head_id)))
        }
        Change::Push {
            refname,
            before,
            after,
            known,
        } => {
            let hash = repo.object_hash();
            let parse = |id: &Option<String>, what: &str| -> Result<ObjectId> {
                match id {
                    None => Ok(ObjectId::null(hash)),
                    Some(hex) => ObjectId::from_hex(hex.as_bytes())
                        .with_context(|| format!("the {what} id {hex:?} is not an object id")),
                }
            };
            let old = parse(before, "old")?;
            let new = parse(after, "new")?;
            if !new.is_null() && !repo.has_object(new) {
                bail!(
                    "the pushed commit {new} is not in this clone; hint: check out the commit \
                     the CI built, with its history"
                );
            }
            let known: Vec<ObjectId> = known
                .iter()
                .filter_map(|r| resolve_commit(repo, r))
                .filter(|k| *k != new)
                .collect();
            let update = RefUpdate {
                old,
                new,
                name: refname.clone(),
            };
            let units = model::updates(repo, &[update], &known, model_options(policy))
                .with_context(|| format!("cannot read the push to {refname}"))?;
            Ok((units, (!new.is_null()).then_some(new)))
        }
    }
}

/// Whether a finding stops the check: a violation in enforce mode, or an unapproved flag.
pub fn blocks(outcome: &Outcome, f: &crate::engine::verdict::Finding) -> bool {
    if outcome.verdict.mode != Mode::Enforce {
        return false;
    }
    match f.severity {
        Severity::Violation => true,
        Severity::Flag => !flag_of(outcome, f).is_some_and(FlagState::approved),
        Severity::Note => false,
    }
}

/// The approval state of a flag finding.
pub fn flag_of<'a>(
    outcome: &'a Outcome,
    f: &crate::engine::verdict::Finding,
) -> Option<&'a FlagState> {
    outcome.flags.iter().find(|s| s.finding == *f)
}

//! The deploy gate: which flags of the commits about to be deployed no approval of exactly the
//! commit that raised them clears.
//!
//! What guard-deploy asks through its `Gate`. An approval covers what its approver saw: one
//! commit and its tree. So every commit since the deployed one is judged alone (as
//! [`super::flags`] judges it for `git guard flags`), and each of its flags needs an approval of
//! that very commit; an approval of an earlier commit changing the same path, or of the deploy
//! target, does not carry over. Reads approvals and push records; writes nothing.

use std::collections::{HashMap, HashSet};

use anyhow::{Context as _, Result, anyhow};
use gix::ObjectId;

use crate::engine::changes::CommitChanges;
use crate::engine::policy::Policy;
use crate::engine::verdict::Finding;

use super::*;

/// What guard-deploy is about to ship.
pub struct Deploying<'a> {
    /// The commit to deploy.
    pub target: ObjectId,
    /// The commits since the deployed one, as the deploy's policy check built them (with
    /// content); with nothing deployed yet, the target alone.
    pub commits: &'a [CommitChanges],
    /// Whether a release is deployed already. With none, every ancestor of the target that a
    /// push record names (it came in through the guarded receive door) is judged too.
    pub deployed: bool,
    /// The flags of the deploy's own verdict over the whole range.
    pub flags: &'a [Finding],
}

/// The flags of `d` that no valid approval clears, each with the commit that raised it:
/// what guard-deploy refuses on. Empty when every commit's every flag is approved for exactly
/// that commit and its tree.
///
/// The deploy verdict's own flags count too: one raised by a commit needs an approval of that
/// commit; one found only on the cumulative change (no commit) is cleared when every commit
/// raising the same flag id is approved, or when an approval of the target names it.
pub fn unapproved_for_deploy(
    repo: &gix::Repository,
    policy: &Policy,
    d: &Deploying<'_>,
) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let mut told: HashSet<(Option<ObjectId>, String)> = HashSet::new();
    // (flag id) -> whether every commit raising it is approved.
    let mut by_id: HashMap<String, bool> = HashMap::new();
    let mut note = |cf: &CommitFlags, out: &mut Vec<Finding>| {
        for f in &cf.flags {
            let ok = f.approved();
            let all = by_id.entry(f.id.clone()).or_insert(true);
            *all &= ok;
            if !ok && told.insert((f.finding.commit, f.id.clone())) {
                out.push(f.finding.clone());
            }
        }
    };
    let mut judged: HashSet<ObjectId> = HashSet::new();
    for c in d.commits {
        let cf = flags_of_changes(repo, policy, c)?;
        judged.extend(c.id);
        note(&cf, &mut out);
    }
    if !d.deployed {
        for id in pushed_ancestors(repo, d.target)? {
            if judged.insert(id) {
                let cf = flags_of_commit(repo, policy, id)?;
                note(&cf, &mut out);
            }
        }
    }

    let left = among(repo, policy, d.target, d.flags, &by_id)?;
    out.extend(
        left.into_iter()
            .filter(|f| told.insert((f.commit, f.flag_id()))),
    );
    // A protected path a human allowed on the deploy branch needs no approval per commit.
    let branch = format!("refs/heads/{}", policy.deploy.branch);
    let mut kept = Vec::with_capacity(out.len());
    for f in out {
        if !allowed_by_override(repo, policy, &branch, &f)? {
            kept.push(f);
        }
    }
    Ok(kept)
}

/// Which of `flags` no approval clears: one raised by a commit needs an approval of that
/// commit naming its id; one without a commit is cleared when `by_id` says every commit
/// raising the same id is approved, or when an approval of `target` names it.
fn among(
    repo: &gix::Repository,
    policy: &Policy,
    target: ObjectId,
    flags: &[Finding],
    by_id: &HashMap<String, bool>,
) -> Result<Vec<Finding>> {
    let mut cache: HashMap<ObjectId, Vec<Stored>> = HashMap::new();
    let mut approved_on = |commit: ObjectId, id: &str| -> Result<bool> {
        if let std::collections::hash_map::Entry::Vacant(e) = cache.entry(commit) {
            let valid = match tree_of(repo, commit)? {
                Some(tree) => valid_approvals(repo, policy, commit, tree)?,
                None => Vec::new(),
            };
            e.insert(valid);
        }
        Ok(cache[&commit]
            .iter()
            .any(|a| a.record.flags.iter().any(|f| f == id)))
    };
    let mut out = Vec::new();
    for f in flags {
        let id = f.flag_id();
        let ok = match f.commit {
            Some(c) => approved_on(c, &id)?,
            None => by_id.get(&id).copied().unwrap_or(false) || approved_on(target, &id)?,
        };
        if !ok {
            out.push(f.clone());
        }
    }
    Ok(out)
}

/// The ancestors of `target` (itself included) that a push record names, oldest first.
fn pushed_ancestors(repo: &gix::Repository, target: ObjectId) -> Result<Vec<ObjectId>> {
    let log = push_log(repo)?;
    if log.records().is_empty() {
        return Ok(Vec::new());
    }
    let walk = repo
        .rev_walk([target])
        .all()
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("cannot walk the history of {target}"))?;
    let mut out = Vec::new();
    for info in walk {
        let info = info
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("cannot walk the history of {target}"))?;
        if log.names(info.id) {
            out.push(info.id);
        }
    }
    out.reverse();
    Ok(out)
}

/// [`unapproved_for_deploy`] for flags alone, as a caller holding no commits asks: which of
/// `flags` no approval clears. A flag raised by a commit needs an approval of that commit (an
/// approval of `target` does not carry over to the commits before it); a flag without a commit
/// is cleared when every flag of `flags` with the same id and a commit is approved, or when an
/// approval of `target` names it.
pub fn unapproved_among(
    repo: &gix::Repository,
    policy: &Policy,
    target: ObjectId,
    flags: &[Finding],
) -> Result<Vec<Finding>> {
    let raised: Vec<Finding> = flags
        .iter()
        .filter(|f| f.commit.is_some())
        .cloned()
        .collect();
    let left = among(repo, policy, target, &raised, &HashMap::new())?;
    let mut by_id: HashMap<String, bool> = HashMap::new();
    for f in &raised {
        let ok = !left.contains(f);
        *by_id.entry(f.flag_id()).or_insert(true) &= ok;
    }
    among(repo, policy, target, flags, &by_id)
}

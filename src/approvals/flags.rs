//! Flags: which findings of a commit need a person, and which of them valid approvals clear.
//!
//! What guard-deploy and `git guard flags` ask. Reads approvals through [`super::status`];
//! writes nothing.

use anyhow::{Context as _, Result, anyhow};
use gix::ObjectId;
use serde::Serialize;

use crate::engine::changes::{CommitChanges, Unit};
use crate::engine::identity::Actor;
use crate::engine::model::{self, ModelOptions};
use crate::engine::policy::{Policy, Role};
use crate::engine::verdict::{Finding, Severity};

use super::*;

/// One flag of a commit and the approvals that clear it.
#[derive(Debug, Clone, Serialize)]
pub struct FlagStatus {
    pub id: String,
    #[serde(flatten)]
    pub finding: Finding,
    /// Ids of the valid approvals naming this flag (empty: outstanding).
    pub approved_by: Vec<String>,
}

impl FlagStatus {
    pub fn approved(&self) -> bool {
        !self.approved_by.is_empty()
    }

    /// The approvals clearing this flag, by their short ids (`3f2a9c1b7d4e, 91c0...`).
    pub fn approved_by_short(&self) -> String {
        self.approved_by
            .iter()
            .map(|a| &a[..12.min(a.len())])
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A commit, what it changes in short, and its flags.
#[derive(Debug, Clone, Serialize)]
pub struct CommitFlags {
    pub commit: String,
    pub tree: String,
    pub summary: String,
    pub files: usize,
    pub added: u64,
    pub removed: u64,
    pub paths: Vec<String>,
    /// Who pushed the commit, when the repository recorded it.
    pub pusher: Option<String>,
    pub flags: Vec<FlagStatus>,
}

impl CommitFlags {
    pub fn outstanding(&self) -> impl Iterator<Item = &FlagStatus> {
        self.flags.iter().filter(|f| !f.approved())
    }
}

/// The flags the rules raise on one commit, judged alone against its first parent.
///
/// The actor is the strictest there is (an agent): flags do not depend on who asks.
pub fn commit_findings(policy: &Policy, changes: &CommitChanges) -> Vec<Finding> {
    let actor = Actor {
        name: "(flags)".into(),
        role: Role::Agent,
        source: "git-guard flags".into(),
    };
    let unit = Unit {
        update: None,
        kind: None,
        base: changes.parents.first().copied(),
        commits: vec![changes.clone()],
        cumulative: changes.files.clone(),
        tags: Vec::new(),
        ..Default::default()
    };
    let verdict = crate::engine::judge_units(policy, &actor, vec![unit]);
    let mut flags: Vec<Finding> = verdict
        .findings
        .into_iter()
        .filter(|f| f.severity == Severity::Flag)
        .map(|mut f| {
            f.commit = changes.id;
            f
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    flags.retain(|f| seen.insert(f.flag_id()));
    flags
}

pub(super) fn model_opts(policy: &Policy) -> ModelOptions {
    ModelOptions {
        content: true,
        max_blob_scan_bytes: policy.hooks.max_blob_scan_bytes,
    }
}

/// The flags of one commit and which are approved.
pub fn flags_of_commit(
    repo: &gix::Repository,
    policy: &Policy,
    commit: ObjectId,
) -> Result<CommitFlags> {
    let changes = model::commit(repo, commit, model_opts(policy))
        .with_context(|| format!("cannot build the changes of {commit}"))?;
    flags_of_changes(repo, policy, &changes)
}

/// [`flags_of_commit`] for changes already built.
pub fn flags_of_changes(
    repo: &gix::Repository,
    policy: &Policy,
    changes: &CommitChanges,
) -> Result<CommitFlags> {
    let commit = changes
        .id
        .ok_or_else(|| anyhow!("the staged index is not a commit: flags need a commit"))?;
    let tree = match changes.tree {
        Some(t) => t,
        None => tree_of(repo, commit)?.ok_or_else(|| anyhow!("commit {commit} not found"))?,
    };
    let findings = commit_findings(policy, changes);
    let valid = valid_approvals(repo, policy, commit, tree)?;
    let flags = findings
        .into_iter()
        .map(|f| {
            let id = f.flag_id();
            let approved_by = valid
                .iter()
                .filter(|a| a.record.flags.contains(&id))
                .map(|a| a.id.to_string())
                .collect();
            FlagStatus {
                id,
                finding: f,
                approved_by,
            }
        })
        .collect();
    let mut paths: Vec<String> = changes
        .files
        .iter()
        .flat_map(|f| f.paths().map(str::to_string))
        .collect();
    paths.dedup();
    Ok(CommitFlags {
        commit: commit.to_string(),
        tree: tree.to_string(),
        summary: changes.summary.clone(),
        files: changes.files.len(),
        added: changes.files.iter().map(|f| u64::from(f.added)).sum(),
        removed: changes.files.iter().map(|f| u64::from(f.removed)).sum(),
        paths,
        pusher: pusher_of(repo, commit)?.map(|p| p.pusher),
        flags,
    })
}

/// The flags of every commit of `spec` (`REV` or `A..B`), oldest first.
pub fn flags_of_range(
    repo: &gix::Repository,
    policy: &Policy,
    spec: &str,
) -> Result<Vec<CommitFlags>> {
    let unit = model::range(repo, spec, model_opts(policy))
        .with_context(|| format!("cannot read the commits of {spec:?}"))?;
    unit.commits
        .iter()
        .map(|c| flags_of_changes(repo, policy, c))
        .collect()
}

/// The flags of `commit` no valid approval clears: what guard-deploy refuses on. Empty when
/// everything that needed a person was approved for exactly this commit and tree.
pub fn unapproved_flags(
    repo: &gix::Repository,
    policy: &Policy,
    commit: ObjectId,
) -> Result<Vec<Finding>> {
    Ok(flags_of_commit(repo, policy, commit)?
        .flags
        .into_iter()
        .filter(|f| !f.approved())
        .map(|f| f.finding)
        .collect())
}

/// [`unapproved_flags`] over every commit of `spec` (`A..B`: the commits since the deployed one).
pub fn unapproved_flags_in_range(
    repo: &gix::Repository,
    policy: &Policy,
    spec: &str,
) -> Result<Vec<Finding>> {
    Ok(flags_of_range(repo, policy, spec)?
        .into_iter()
        .flat_map(|c| c.flags.into_iter().filter(|f| !f.approved()))
        .map(|f| f.finding)
        .collect())
}

/// The gate guard-deploy asks: which of `flags` (found over the commits it is about to deploy)
/// no valid approval clears. A flag counts as approved when an approval of the commit that
/// raised it (`Finding::commit`), or of `target` itself, names its id for that commit's
/// current tree. A flag without a commit (found on the cumulative change) counts as approved
/// when the same flag id raised by a commit is approved.
pub fn unapproved_among(
    repo: &gix::Repository,
    policy: &Policy,
    target: ObjectId,
    flags: &[Finding],
) -> Result<Vec<Finding>> {
    let mut cache: std::collections::HashMap<ObjectId, Vec<Stored>> = Default::default();
    let mut approved_on = |commit: ObjectId, id: &str| -> Result<bool> {
        let valid = match cache.entry(commit) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let valid = match tree_of(repo, commit)? {
                    Some(tree) => valid_approvals(repo, policy, commit, tree)?,
                    None => Vec::new(),
                };
                e.insert(valid)
            }
        };
        Ok(valid.iter().any(|a| a.record.flags.iter().any(|f| f == id)))
    };
    let mut approved = vec![false; flags.len()];
    for (i, f) in flags.iter().enumerate() {
        let id = f.flag_id();
        let mut ok = approved_on(target, &id)?;
        if !ok && let Some(c) = f.commit {
            ok = approved_on(c, &id)?;
        }
        approved[i] = ok;
    }
    for (i, f) in flags.iter().enumerate() {
        if !approved[i] && f.commit.is_none() {
            let id = f.flag_id();
            approved[i] = flags
                .iter()
                .enumerate()
                .any(|(j, g)| approved[j] && g.commit.is_some() && g.flag_id() == id);
        }
    }
    Ok(flags
        .iter()
        .zip(approved)
        .filter(|(_, ok)| !ok)
        .map(|(f, _)| f.clone())
        .collect())
}

/// The default range of `git guard flags`: the commits of HEAD not on the protected base
/// (`origin/<deploy branch>` when the clone has it, else `<deploy branch>`).
pub fn default_range(repo: &gix::Repository, policy: &Policy) -> String {
    let branch = &policy.deploy.branch;
    let remote = format!("refs/remotes/origin/{branch}");
    if repo.rev_parse_single(remote.as_str()).is_ok() {
        format!("{remote}..HEAD")
    } else {
        format!("refs/heads/{branch}..HEAD")
    }
}

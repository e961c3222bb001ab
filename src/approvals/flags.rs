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
    commit_findings_as(policy, changes, Role::Agent)
}

/// [`commit_findings`] judged as `role` wrote the commit: the role of its recorded pusher
/// ([`pusher_role`]), so a human's secret allow marker allows while an agent's is a flag.
pub fn commit_findings_as(policy: &Policy, changes: &CommitChanges, role: Role) -> Vec<Finding> {
    let actor = Actor {
        name: "(flags)".into(),
        role,
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

/// The role a commit's changes are judged as: its recorded pusher's, when both the record and
/// the policy now name a human or an admin; otherwise an agent's (no record, an agent, or an
/// identity the policy no longer lists as a person). Never an author or committer field.
pub fn pusher_role(policy: &Policy, pusher: Option<&Pusher>) -> Role {
    let person = |r: Role| matches!(r, Role::Human | Role::Admin);
    match pusher {
        Some(p) if person(p.role) && person(policy.actors.role_of(&p.pusher)) => {
            policy.actors.role_of(&p.pusher)
        }
        _ => Role::Agent,
    }
}

pub(super) fn model_opts(policy: &Policy) -> ModelOptions {
    ModelOptions::for_policy(policy)
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
    let pusher = pusher_of(repo, commit)?;
    let findings = commit_findings_as(policy, changes, pusher_role(policy, pusher.as_ref()));
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
        pusher: pusher.map(|p| p.pusher),
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

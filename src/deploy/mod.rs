//! The deploy door: `guard-deploy deploy REV | status | list | rollback [RELEASE] | unlock`.
//!
//! A deploy re-checks everything itself before anything runs, because whatever reached the
//! repository may have skipped a hook: lock -> no cooldown holding -> policy over every commit
//! since the deployed one -> every flag of every one of those commits approved for exactly the
//! commit that raised it -> tests, contained, in a clean checkout
//! -> keep the current release as the backup -> materialise the new release -> build it,
//! contained -> switch `current` atomically -> reload -> health check (on failure, switch
//! back to the backup) -> prune -> optionally push. `status.json` and the audit log are written at every step.
//!
//! Root layout:
//!
//! ```text
//! <root>/releases/<id>/       one materialised tree per release (id: <UTC stamp>-<commit>)
//! <root>/releases/<id>.json   what the release is: commit, tree, previous release, state
//! <root>/current              symlink -> releases/<id>
//! <root>/status.json          the last run: action, state, step, release, previous, error
//! <root>/lock                 the deploy lock: owner pid, host, start time, token
//! <root>/audit.log            one record per step (unless the policy names another log)
//! ```
//!
//! The truth about what runs is the `current` link and the release records; `status.json`
//! tells what the last run was doing, and `status` compares the two with the lock.
//!
//! Files: `steps` (the pipeline), `lock`, `cooldown` (no deploy after a rollback or a failed
//! deploy until `limits.cooldown_hours` have passed), `records` (status, release records,
//! `current`), `health` (reload and health check), `rollback`, `status` (status and list),
//! `shell` (commands with a time limit), `util`.

mod cooldown;
mod health;
mod lock;
mod records;
mod rollback;
mod shell;
mod status;
mod steps;
mod util;

use std::path::PathBuf;

use anyhow::Result;
use gix::ObjectId;

use crate::contain::testrun::TestRun;
use crate::engine::identity::Actor;
use crate::engine::policy::Policy;
use crate::engine::verdict::Finding;

pub use health::validate;
pub use lock::{Lock, LockError, LockOwner, LockState, acquire_lock, inspect_lock, unlock};
pub use records::{
    ReleaseMeta, Status, backup_of, materialise_rev, policy_at_deployed, prune, read_current,
    read_meta, read_status, release_ids,
};
pub use status::{list, status};
pub use steps::policy_check;

/// Every point a run reports, in order. Each is recorded in `status.json` and the audit log
/// when it starts; the test hook can stop the process at any of them.
pub const STEPS: &[&str] = &[
    "lock-wait",
    "lock",
    "check",
    "approvals",
    "tests",
    "materialise",
    "materialise-rename",
    "build",
    "switch",
    "switch-rename",
    "reload",
    "health",
    "rollback",
    "prune",
    "push",
    "done",
];

/// The checks that live outside the deploy door: approvals and recorded test runs. A trait so
/// the pipeline can be driven with other stores; [`RepoGate`] is the one guard-deploy uses.
pub trait Gate {
    /// The flags of the commits about to be deployed that no approval of exactly the commit
    /// that raised them (and its tree) clears: each commit judged alone, and the deploy
    /// verdict's own flags.
    fn unapproved(
        &self,
        repo: &gix::Repository,
        deploying: &crate::approvals::Deploying<'_>,
    ) -> Result<Vec<Finding>>;

    /// The latest recorded passing test run of exactly `tree`; the pipeline checks its
    /// command, materialiser and isolation before it accepts it.
    fn recorded_pass(&self, repo: &gix::Repository, tree: ObjectId) -> Result<Option<TestRun>>;

    /// Whether `commit` has the consent (approvals of the tip) its risk needs under the
    /// policy's consent levels.
    fn consent(
        &self,
        repo: &gix::Repository,
        policy: &Policy,
        commit: ObjectId,
        tree: ObjectId,
        risk: u8,
    ) -> Result<crate::approvals::Consent> {
        crate::approvals::consent(repo, policy, commit, tree, risk)
    }
}

/// Approvals and test runs as `git guard approve` and `git guard test` record them in the
/// repository itself.
pub struct RepoGate<'a> {
    pub policy: &'a Policy,
}

impl Gate for RepoGate<'_> {
    fn unapproved(
        &self,
        repo: &gix::Repository,
        deploying: &crate::approvals::Deploying<'_>,
    ) -> Result<Vec<Finding>> {
        crate::approvals::unapproved_for_deploy(repo, self.policy, deploying)
    }

    fn recorded_pass(&self, repo: &gix::Repository, tree: ObjectId) -> Result<Option<TestRun>> {
        crate::contain::testrun::recorded_pass(repo, tree)
    }
}

/// Where everything of one deploy root lives.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }
    pub fn releases(&self) -> PathBuf {
        self.root.join("releases")
    }
    pub fn release(&self, id: &str) -> PathBuf {
        self.releases().join(id)
    }
    pub fn meta(&self, id: &str) -> PathBuf {
        self.releases().join(format!("{id}.json"))
    }
    pub fn current(&self) -> PathBuf {
        self.root.join("current")
    }
    pub fn status(&self) -> PathBuf {
        self.root.join("status.json")
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }
    /// The policy's audit log, else `<root>/audit.log`.
    pub fn audit(&self, policy: &Policy) -> PathBuf {
        policy
            .audit
            .log
            .clone()
            .unwrap_or_else(|| self.root.join("audit.log"))
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The release is current, reloaded and healthy.
    Done { release: String },
    /// Refused before `current` changed (policy, approvals, tests, build).
    Refused { reason: String },
    /// Switched, failed reload or health, switched back to the backup.
    RolledBack { reason: String },
    /// Could not finish; `current` is where the error says.
    Failed { reason: String },
}

impl Outcome {
    /// 0 deployed, 1 refused or rolled back, 2 could not run.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Done { .. } => 0,
            Outcome::Refused { .. } | Outcome::RolledBack { .. } => 1,
            Outcome::Failed { .. } => 2,
        }
    }
}

/// Everything one run needs.
pub struct Deployer<'a> {
    pub repo: &'a gix::Repository,
    pub policy: &'a Policy,
    pub actor: &'a Actor,
    pub layout: Layout,
    pub gate: &'a dyn Gate,
    /// Called at every step after it is recorded (a test hook; a no-op otherwise).
    pub pause: &'a dyn Fn(&str),
}

#[cfg(test)]
mod tests;

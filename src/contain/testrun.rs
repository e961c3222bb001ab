//! `git guard test REV`: run the policy's test command in a clean checkout of a commit and
//! record the result for that commit's tree.
//!
//! The checkout is written from git objects into a fresh temporary directory by the release
//! materialiser ([`release::materialise`], the one guard-deploy writes releases with), so
//! nothing in a working tree (untracked files, local edits, build output) can make a test
//! pass, and no attribute of the judged tree (`export-ignore`, `export-subst`, filters,
//! `eol`) can make the tested files differ from the deployed ones. The command runs contained
//! ([`super::sandbox`]): it cannot reach the repository, the caller's home or credentials,
//! and every process it started ends at the time limit. The result (exit code, duration, the
//! tail of the output, what contained it, which materialiser wrote the checkout) is stored as
//! a blob that `refs/guard/tests/<tree-id>` points at: a later run of the same tree replaces
//! it. guard-deploy reads it back with [`recorded_pass`].
//!
//! Test records are written only where the tests ran: the receive guard refuses any push under
//! `refs/guard/`, so a record cannot be forged from a clone.

use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use gix::ObjectId;
use serde::{Deserialize, Serialize};

use super::release;
use super::sandbox::{self, Spec};
use crate::approvals::{self, read_blob, resolve_commit, set_ref};
use crate::engine::policy::Policy;

/// Where test results live: `refs/guard/tests/<tree-id>`.
pub const TESTS_PREFIX: &str = "refs/guard/tests/";

/// How much of the output is kept.
pub const OUTPUT_TAIL_BYTES: usize = 8 * 1024;

/// One test run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRun {
    pub commit: String,
    pub tree: String,
    pub command: String,
    /// `None` when the process was killed (by the time limit or a signal).
    pub exit_code: Option<i32>,
    pub passed: bool,
    pub timed_out: bool,
    pub timeout_secs: u64,
    pub duration_ms: u64,
    pub at: String,
    /// Who ran it.
    pub actor: String,
    /// The last [`OUTPUT_TAIL_BYTES`] of standard output and error, interleaved.
    pub output_tail: String,
    /// What contained the run: `bwrap` or `none` (empty in records made before it was kept).
    #[serde(default)]
    pub isolation: String,
    /// Which materialiser wrote the checkout the run saw (empty in records made before it
    /// was kept: such a run is not accepted in place of running the tests).
    #[serde(default)]
    pub materialiser: String,
}

impl TestRun {
    /// One line: what ran, how it ended, when and by whom.
    pub fn describe(&self) -> String {
        let how = if self.passed {
            "passed".to_string()
        } else if self.timed_out {
            format!("timed out after {} s", self.timeout_secs)
        } else {
            match self.exit_code {
                Some(c) => format!("failed (exit {c})"),
                None => "killed".to_string(),
            }
        };
        format!(
            "`{}` {how} on tree {} at {} by {} in {} ms",
            self.command,
            &self.tree[..12.min(self.tree.len())],
            self.at,
            self.actor,
            self.duration_ms
        )
    }
}

/// Run `command` on `rev`, contained as `policy` says (`tests.isolation`, `tests.network`,
/// `tests.readable`) within `timeout`, without recording anything. `Err` when the checkout
/// cannot be written or the command cannot be contained: then nothing ran.
pub fn run(
    repo: &gix::Repository,
    policy: &Policy,
    rev: &str,
    command: &str,
    timeout: Duration,
    actor: &str,
) -> Result<TestRun> {
    let (commit, tree) = resolve_commit(repo, rev)?;
    let dir = tempfile::Builder::new()
        .prefix("git-guard-test-")
        .tempdir()
        .context("cannot create a temporary directory for the checkout")?;
    // The same materialiser as a release: what is tested is what would be deployed.
    let checkout = dir.path().join("checkout");
    release::materialise(repo, commit, &checkout, &mut || {})?;
    let mut spec = Spec::from_policy(policy, command, &checkout)
        .with_env("GIT_GUARD_TEST_COMMIT", commit.to_string())
        .with_env("GIT_GUARD_TEST_TREE", tree.to_string());
    spec.timeout = timeout;
    let mut ran = sandbox::run(&spec)?;
    let output_tail = ran.tail_bytes(OUTPUT_TAIL_BYTES)?;
    Ok(TestRun {
        commit: commit.to_string(),
        tree: tree.to_string(),
        command: command.to_string(),
        exit_code: ran.exit_code,
        passed: ran.ok(),
        timed_out: ran.timed_out,
        timeout_secs: timeout.as_secs(),
        duration_ms: ran.duration.as_millis() as u64,
        at: approvals::now().1,
        actor: actor.to_string(),
        output_tail,
        isolation: ran.isolation.to_string(),
        materialiser: release::MATERIALISER.to_string(),
    })
}

/// Run the policy's `tests.command` on `rev` and record the result.
pub fn run_and_record(
    repo: &gix::Repository,
    policy: &Policy,
    rev: &str,
    actor: &str,
) -> Result<TestRun> {
    let command = policy.tests.command.as_deref().ok_or_else(|| {
        anyhow!("the policy has no test command (hint: set tests.command in policy.toml)")
    })?;
    let run = run(
        repo,
        policy,
        rev,
        command,
        Duration::from_secs(policy.tests.timeout_secs),
        actor,
    )?;
    record(repo, &run)?;
    Ok(run)
}

/// Store `run` as the latest result for its tree.
pub fn record(repo: &gix::Repository, run: &TestRun) -> Result<()> {
    let mut data = serde_json::to_vec(run)?;
    data.push(b'\n');
    let blob = repo
        .write_blob(&data)
        .context("cannot write the test record")?
        .detach();
    set_ref(repo, &format!("{TESTS_PREFIX}{}", run.tree), blob)
}

/// The latest recorded run of `tree`, passing or not.
pub fn recorded(repo: &gix::Repository, tree: ObjectId) -> Result<Option<TestRun>> {
    let refname = format!("{TESTS_PREFIX}{tree}");
    let Some(mut r) = repo
        .try_find_reference(refname.as_str())
        .with_context(|| format!("cannot read {refname}"))?
    else {
        return Ok(None);
    };
    let id = r
        .peel_to_id()
        .with_context(|| format!("cannot read {refname}"))?
        .detach();
    let data = read_blob(repo, id)?;
    let run: TestRun = serde_json::from_slice(&data)
        .with_context(|| format!("{refname} does not hold a test record"))?;
    if !approvals::is_id(&run.tree, &tree) {
        bail!("{refname} holds a record of tree {}, not {tree}", run.tree);
    }
    Ok(Some(run))
}

/// The latest recorded run of `tree` if it passed: what guard-deploy may accept instead of
/// running the tests again (check that its `command` is the one it would run, its
/// `materialiser` is [`release::MATERIALISER`] and its `isolation` is the policy's).
pub fn recorded_pass(repo: &gix::Repository, tree: ObjectId) -> Result<Option<TestRun>> {
    Ok(recorded(repo, tree)?.filter(|r| r.passed))
}

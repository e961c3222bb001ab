//! `git guard test REV`: run the policy's test command in a clean checkout of a commit and
//! record the result for that commit's tree.
//!
//! The checkout is materialised from git objects into a fresh temporary directory
//! (`git archive | tar -x`), so nothing in a working tree (untracked files, local edits, build
//! output) can make a test pass. The command runs with `sh -c` in its own process group; at
//! the time limit the whole group is killed. The result (exit code, duration, the tail of the
//! output) is stored as a blob that `refs/guard/tests/<tree-id>` points at: a later run of the
//! same tree replaces it. guard-deploy reads it back with [`recorded_pass`].
//!
//! Test records are written only where the tests ran: the receive guard refuses any push under
//! `refs/guard/`, so a record cannot be forged from a clone.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use gix::ObjectId;
use serde::{Deserialize, Serialize};

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

/// Run `command` on `rev` with a time limit, without recording anything.
pub fn run(
    repo: &gix::Repository,
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
    materialise(repo, commit, dir.path())?;
    let mut log = tempfile::tempfile().context("cannot create a temporary output file")?;
    let started = Instant::now();
    let mut child = {
        use std::os::unix::process::CommandExt as _;
        Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(dir.path())
            .env("GIT_GUARD_TEST_COMMIT", commit.to_string())
            .env("GIT_GUARD_TEST_TREE", tree.to_string())
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?)
            // Its own process group, so the time limit kills whatever the command started.
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot run the test command {command:?}"))?
    };
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= timeout {
            timed_out = true;
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Whatever the command left running in the background dies with its checkout.
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    let duration_ms = started.elapsed().as_millis() as u64;
    let output_tail = tail(&mut log)?;
    let exit_code = status.code();
    Ok(TestRun {
        commit: commit.to_string(),
        tree: tree.to_string(),
        command: command.to_string(),
        exit_code,
        passed: !timed_out && exit_code == Some(0),
        timed_out,
        timeout_secs: timeout.as_secs(),
        duration_ms,
        at: approvals::now().1,
        actor: actor.to_string(),
        output_tail,
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
/// running the tests again (check that its `command` is the one it would run).
pub fn recorded_pass(repo: &gix::Repository, tree: ObjectId) -> Result<Option<TestRun>> {
    Ok(recorded(repo, tree)?.filter(|r| r.passed))
}

/// Write the tree of `commit` into `dir` (which must exist and be empty).
pub fn materialise(repo: &gix::Repository, commit: ObjectId, dir: &Path) -> Result<()> {
    let mut archive = Command::new("git")
        .arg("--git-dir")
        .arg(repo.git_dir())
        .args(["archive", "--format=tar", &commit.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .context("cannot run git archive")?;
    let tar_in = archive
        .stdout
        .take()
        .ok_or_else(|| anyhow!("git archive has no stdout"))?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir)
        .stdin(tar_in)
        .stderr(Stdio::piped())
        .output()
        .context("cannot run tar")?;
    let archive = archive.wait_with_output()?;
    if !archive.status.success() {
        bail!(
            "git archive {commit} failed: {}",
            String::from_utf8_lossy(&archive.stderr).trim()
        );
    }
    if !tar.status.success() {
        bail!(
            "cannot unpack {commit} into {}: {}",
            dir.display(),
            String::from_utf8_lossy(&tar.stderr).trim()
        );
    }
    Ok(())
}

fn tail(f: &mut std::fs::File) -> Result<String> {
    let len = f.seek(SeekFrom::End(0))?;
    let start = len.saturating_sub(OUTPUT_TAIL_BYTES as u64);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let mut s = String::from_utf8_lossy(&buf).into_owned();
    if start > 0 {
        // Start at a line boundary so the tail does not open mid-line.
        if let Some(nl) = s.find('\n') {
            s = s[nl + 1..].to_string();
        }
        s.insert_str(0, &format!("[... {start} earlier bytes not kept]\n"));
    }
    Ok(s)
}

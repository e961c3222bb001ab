//! The agent workspace: a dedicated clone of the upstream for the agent to work in.
//!
//! ```text
//! DIR/code-repo     the clone: objects borrowed from the upstream (alternates, as
//!                   `git clone --shared`), the agent's branch checked out; agent-writable
//! DIR/sandbox       scratch space; agent-writable
//! DIR/hooks         client hook shims (the clone's core.hooksPath), git-guard.toml (their
//!                   configuration, naming the policy) and policy.toml, the policy they and
//!                   guard-exec use; not agent-writable
//! DIR/deployments   for the deploy user; not agent-writable
//! DIR/logs          guard-exec's audit log; not agent-writable
//! DIR/agent.env     the environment for the agent's harness
//! DIR/workspace.json  what this workspace was made from
//! ```
//!
//! **Shared objects and upstream pruning.** The clone borrows every object that the upstream
//! had when it was made or fetched since; only objects the agent creates are the clone's own.
//! If the upstream dropped a branch and pruned (`git gc --prune=now`), a borrowed commit would
//! vanish and the clone would be corrupt. The workspace therefore keeps what it borrows alive
//! in the upstream with refs under `refs/guard/workspaces/<id>/`: `base` (the commit the
//! agent's branch started from) and `remotes/<name>` for every remote-tracking branch of the
//! clone. They are written at `create`, refreshed by `status` and `reset`, and deleted by
//! `remove`. The honest limit: a branch the agent fetches is protected from the next
//! `status` or `reset` on; until then it is protected only by the upstream's own ref.
//!
//! Commands that read the clone run git as the agent user when the workspace has one and this
//! process is root: the clone's configuration belongs to the agent, and git run as root in it
//! could be made to run the agent's programs (hooks, `core.fsmonitor`).

pub mod doctor;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

pub use crate::site::workspace::AgentUser;
use crate::site::workspace::{KEEPALIVE_PREFIX, Record};

mod clone;
mod inspect;
mod keepalive;
mod make;
#[cfg(test)]
mod tests;

use clone::*;
pub use inspect::*;
pub use keepalive::*;
pub use make::*;

/// How the clone's working files were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilesMode {
    /// Cloned block by block from the upstream's working tree (`FICLONE`): no data copied.
    Reflinked,
    /// Copied from the upstream's working tree (the file system cannot reflink).
    Copied,
    /// Written by `git checkout` from the shared objects (the upstream has no clean working
    /// tree at the base commit to copy from).
    CheckedOut,
}

impl std::fmt::Display for FilesMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FilesMode::Reflinked => "reflinked",
            FilesMode::Copied => "copied",
            FilesMode::CheckedOut => "checked out",
        })
    }
}

/// Options of `workspace create`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub upstream: PathBuf,
    pub root: PathBuf,
    pub topic: Option<String>,
    pub agent_user: Option<String>,
    /// The upstream branch to start from (default: the upstream's HEAD).
    pub base: Option<String>,
    /// The policy file to record (default: `policy.toml` at the base commit, else built-in).
    pub policy: Option<PathBuf>,
    /// `Name <email>` to commit with (default: from the agent user or the topic).
    pub identity: Option<String>,
    /// The `guard-hook` the client hooks run (default: next to this program, else on `PATH`).
    pub guard_hook: Option<PathBuf>,
    /// Agent harnesses to set up with the harness door ([`crate::harness::install`]).
    pub harnesses: Vec<crate::harness::Harness>,
    /// Also write the harnesses' managed or system settings under this root (`/`).
    pub harness_system_root: Option<PathBuf>,
    /// The `guard-harness` the harness hooks run (default: next to this program, else on
    /// `PATH`).
    pub guard_harness: Option<PathBuf>,
}

/// What `create` and `reset` did.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub root: PathBuf,
    pub code_repo: PathBuf,
    pub branch: String,
    pub base_commit: String,
    pub files: FilesMode,
    pub files_note: String,
    pub file_count: usize,
    pub env_file: PathBuf,
    pub policy: PathBuf,
    pub policy_source: String,
    /// The `guard-hook` the client hook shims in `DIR/hooks` run.
    pub guard_hook: PathBuf,
    pub agent_user: Option<String>,
    pub keepalive_refs: usize,
    /// Local commits dropped (reset only).
    pub discarded_commits: usize,
    /// The harnesses set up with the harness door.
    pub harnesses: Vec<crate::harness::install::Installed>,
    pub elapsed: Duration,
}

impl std::fmt::Display for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "workspace {}", self.root.display())?;
        writeln!(
            f,
            "  code-repo   {} (branch {} at {})",
            self.code_repo.display(),
            self.branch,
            short(&self.base_commit)
        )?;
        writeln!(
            f,
            "  files       {} ({} files{})",
            self.files,
            self.file_count,
            if self.files_note.is_empty() {
                String::new()
            } else {
                format!(": {}", self.files_note)
            }
        )?;
        writeln!(f, "  objects     shared with the upstream (alternates)")?;
        writeln!(
            f,
            "  keep-alive  {} ref(s) under {KEEPALIVE_PREFIX} in the upstream",
            self.keepalive_refs
        )?;
        writeln!(
            f,
            "  policy      {} (from {})",
            self.policy.display(),
            self.policy_source
        )?;
        writeln!(
            f,
            "  hooks       {} (client shims running {})",
            self.root.join("hooks").display(),
            self.guard_hook.display()
        )?;
        writeln!(f, "  env file    {}", self.env_file.display())?;
        if let Some(u) = &self.agent_user {
            writeln!(f, "  agent user  {u} (owns code-repo and sandbox only)")?;
        }
        for h in &self.harnesses {
            writeln!(
                f,
                "  harness     {} (start it with: {})",
                h.harness, h.launch
            )?;
            for p in &h.system_files {
                writeln!(f, "              managed settings {}", p.display())?;
            }
            for n in &h.notes {
                writeln!(f, "              note: {n}")?;
            }
        }
        if self.discarded_commits > 0 {
            writeln!(
                f,
                "  discarded   {} local commit(s) not in the upstream",
                self.discarded_commits
            )?;
        }
        write!(f, "  took        {} ms", self.elapsed.as_millis())
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

// ----------------------------------------------------------------------------------------
// git subprocesses (workspace management is not a hot path)
// ----------------------------------------------------------------------------------------

/// A git command in `dir`, run as `user` (uid, gid, home) when given.
fn git_cmd(dir: &Path, user: Option<&AgentUser>) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir);
    if let Some(u) = user {
        use std::os::unix::process::CommandExt as _;
        c.uid(u.uid).gid(u.gid).env("HOME", &u.home);
        // std drops the supplementary groups when it changes the uid from root.
    }
    c
}

fn run_git(mut c: Command, what: &str) -> Result<String> {
    let out = c
        .output()
        .with_context(|| format!("cannot run git ({what})"))?;
    if !out.status.success() {
        bail!(
            "git failed ({what}): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let mut c = git_cmd(dir, None);
    c.args(args);
    run_git(c, &format!("git {} in {}", args.join(" "), dir.display()))
}

/// The user git should run as in the clone: the agent, when we are root and there is one.
fn clone_user(record: &Record) -> Result<Option<AgentUser>> {
    match &record.agent_user {
        Some(name) if nix::unistd::geteuid().is_root() => Ok(Some(AgentUser::lookup(name)?)),
        _ => Ok(None),
    }
}

fn clone_git(root: &Path, record: &Record, args: &[&str]) -> Result<String> {
    let user = clone_user(record)?;
    let mut c = git_cmd(&root.join("code-repo"), user.as_ref());
    c.args(args);
    run_git(
        c,
        &format!("git {} in the workspace's clone", args.join(" ")),
    )
}

// ----------------------------------------------------------------------------------------
// create
// ----------------------------------------------------------------------------------------

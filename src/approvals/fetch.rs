//! The records a reviewer's clone reads, brought from the server: the branch under review
//! found among the remote's branches when the clone has no local branch of that name, and
//! `refs/guard/*` (pushes, approvals, overrides) fetched, since `git clone` and a plain
//! `git fetch` never bring them.
//!
//! Runs `git fetch` in the repository; prints nothing (the caller says what happened).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};

/// The refspec that brings the server's records (forced: the server's are the ones that count).
pub const GUARD_REFSPEC: &str = "+refs/guard/*:refs/guard/*";

/// A branch name as the reviewer typed it, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewedBranch {
    /// What to read: the name itself when it resolves here, else `refs/remotes/REMOTE/NAME`.
    pub rev: String,
    /// The remote whose branch it is, when it was found only there.
    pub remote: Option<String>,
}

/// `name` as a revision of `repo`; a name that does not resolve here but is a branch of a
/// remote (`origin` first, then the others in their order) is that remote's branch, as
/// `git switch NAME` would take it.
pub fn resolve_reviewed(repo: &gix::Repository, name: &str) -> ReviewedBranch {
    let here = ReviewedBranch {
        rev: name.to_string(),
        remote: None,
    };
    if repo.rev_parse_single(name).is_ok() || name.contains("..") {
        return here;
    }
    let mut remotes: Vec<String> = repo
        .remote_names()
        .into_iter()
        .map(|n| n.to_string())
        .collect();
    remotes.sort_by_key(|r| r != "origin");
    for remote in remotes {
        let full = format!("refs/remotes/{remote}/{name}");
        if repo
            .try_find_reference(full.as_str())
            .ok()
            .flatten()
            .is_some()
        {
            return ReviewedBranch {
                rev: full,
                remote: Some(remote),
            };
        }
    }
    here
}

/// The remote to bring records from: the reviewed branch's, else `origin` when configured.
pub fn records_remote(repo: &gix::Repository, branch: &ReviewedBranch) -> Option<String> {
    branch.remote.clone().or_else(|| {
        repo.config_snapshot()
            .string("remote.origin.url")
            .map(|_| "origin".to_string())
    })
}

/// The command a person runs to bring the records by hand.
pub fn fetch_command(remote: &str) -> String {
    format!("git fetch {remote} '{GUARD_REFSPEC}'")
}

/// `git fetch REMOTE +refs/guard/*:refs/guard/*` in `dir`, never prompting for a password.
pub fn fetch_guard_refs(dir: &Path, remote: &str) -> Result<()> {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "fetch",
            "--quiet",
            "--no-write-fetch-head",
            remote,
            GUARD_REFSPEC,
        ])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .context("cannot run git fetch")?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let why: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        bail!(
            "cannot fetch refs/guard/* from {remote}: {}",
            why.join("; ")
        );
    }
    Ok(())
}

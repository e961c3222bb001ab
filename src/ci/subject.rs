//! What a CI job judges, found from the CI's own environment: which CI it is, the change (a
//! pushed ref update or a review of a head against a base branch), where the policy comes
//! from, and which variable names the actor.
//!
//! This file holds the types, the choice of CI and the plain `--base`/`--head` subject; the
//! GitHub Actions and GitLab CI readers are beside it. It reads variables through the lookup
//! it is given (tests pass their own) and the event file they name; it never reads the
//! repository, so it cannot be misled by what is being judged.

use anyhow::{Result, bail};

/// Looks a variable up (the process environment, or a test's map).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Which CI the job runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Github,
    Gitlab,
    /// Any other CI: the job names base, head and actor itself.
    Plain,
}

impl Provider {
    pub fn parse(s: &str) -> Result<Option<Provider>> {
        Ok(match s {
            "auto" => None,
            "github" => Some(Provider::Github),
            "gitlab" => Some(Provider::Gitlab),
            "plain" => Some(Provider::Plain),
            other => bail!("unknown CI '{other}'; hint: use auto, github, gitlab or plain"),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Github => "github",
            Provider::Gitlab => "gitlab",
            Provider::Plain => "plain",
        }
    }

    /// The CI this process runs in, from the variable each CI sets for every job.
    pub fn detect(env: Env) -> Provider {
        let on = |k: &str| env(k).is_some_and(|v| v == "true");
        if on("GITHUB_ACTIONS") {
            Provider::Github
        } else if on("GITLAB_CI") {
            Provider::Gitlab
        } else {
            Provider::Plain
        }
    }
}

/// What is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A ref update as the host received it: judged like a push at a server hook (kind of
    /// update, protected refs, the commits it brings).
    Push {
        refname: String,
        /// The old tip; `None` when the ref was created.
        before: Option<String>,
        /// The new tip; `None` when the ref was deleted.
        after: Option<String>,
        /// Commits reachable from these are not judged again (the base branch).
        known: Vec<String>,
    },
    /// A pull or merge request: the commits of `head` not on the base, and the cumulative
    /// change from their merge base. The base is the first of `base` the clone holds (the
    /// base branch as fetched, then the id the event recorded).
    Review { base: Vec<String>, head: String },
}

/// Everything the CI's environment says about the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub provider: Provider,
    pub change: Change,
    /// Where `policy.toml` is read, first found wins: revisions on the protected base branch
    /// as it stood before the change. Empty: nothing to read it from (a repository's first
    /// push), so the built-in default.
    pub policy_at: Vec<String>,
    /// The actor's name and the variable (or option) it came from.
    pub actor: Option<(String, String)>,
    /// Who opened the pull request, when the CI says: judged instead of the actor when the
    /// policy trusts them less, and never counted as an approver of the change.
    pub author: Option<(String, String)>,
    /// One line for people: "pull request 12: feature -> main".
    pub description: String,
}

/// The `--base`, `--head` and `--as` the job passed.
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub base: Option<String>,
    pub head: Option<String>,
    pub actor: Option<String>,
}

impl Given {
    pub(super) fn any(&self) -> bool {
        self.base.is_some() || self.head.is_some() || self.actor.is_some()
    }
}

/// `main` -> `refs/heads/main`; a full ref name is kept.
pub fn full_ref(name: &str) -> String {
    if name.starts_with("refs/") {
        name.to_string()
    } else {
        format!("refs/heads/{name}")
    }
}

/// A variable that must be set and not empty.
pub fn need(env: Env, key: &str, why: &str) -> Result<String> {
    match env(key).filter(|v| !v.trim().is_empty()) {
        Some(v) => Ok(v.trim().to_string()),
        None => bail!("{key} is not set: {why}"),
    }
}

/// A variable that may be missing; empty counts as missing.
pub fn opt(env: Env, key: &str) -> Option<String> {
    env(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Whether an object id is all zeros (a created or deleted ref, in every hash format).
pub fn is_zero(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b == b'0')
}

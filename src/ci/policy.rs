//! The policy of a CI job: `policy.toml` at the tip of the protected base branch as it stood
//! before the change (the revisions the subject names, first found wins), else the built-in
//! default; never a file of the change under review, which the job has checked out.
//!
//! Approvals are held to the policy's rules and, here, to signatures always: on a host
//! without server hooks nothing guards `refs/guard/approvals/`, so anyone who can push can
//! write a record naming any approver, and only a signature by a key the base branch lists
//! tells a real approval from a forged one. The allowed signers file is read from the base
//! branch too when the policy names it by a path inside the repository.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use gix::ObjectId;

use crate::engine::policy::{Policy, PolicySource};

/// The policy a CI job judges by, and where it came from.
pub struct CiPolicy {
    pub policy: Policy,
    /// The base commit `policy.toml` was read at (`None`: a file or the built-in default).
    pub base: Option<ObjectId>,
    /// The allowed signers as they stand on the base branch, copied out of git for
    /// `ssh-keygen`; kept alive as long as the policy that points at it.
    _signers: Option<tempfile::NamedTempFile>,
}

/// Load the policy for a job: `explicit` (a file outside the checkout), else `policy.toml`
/// at the first revision of `policy_at` this clone holds, else (when `policy_at` is empty:
/// nothing to read it from) the built-in default.
pub fn load(
    repo: &gix::Repository,
    explicit: Option<&Path>,
    policy_at: &[String],
) -> Result<CiPolicy> {
    let (mut policy, base) = match explicit {
        Some(path) => {
            refuse_inside_checkout(repo, path)?;
            (Policy::load(path)?, None)
        }
        None => from_base(repo, policy_at)?,
    };
    policy.approvals.require_signature = true;
    let signers = match (&policy.approvals.allowed_signers, base) {
        // A path inside the repository is read as the base branch has it; an absolute path
        // outside it is a file the runner holds, kept as named.
        (Some(path), Some(base)) => match repo_relative(repo, path) {
            Some(rel) => Some(copy_from_base(repo, base, &rel)?),
            None => None,
        },
        (Some(path), None) => {
            refuse_inside_checkout(repo, path).context("approvals.allowed_signers")?;
            None
        }
        (None, _) => None,
    };
    if let Some(file) = &signers {
        policy.approvals.allowed_signers = Some(file.path().to_path_buf());
    }
    Ok(CiPolicy {
        policy,
        base,
        _signers: signers,
    })
}

fn from_base(repo: &gix::Repository, policy_at: &[String]) -> Result<(Policy, Option<ObjectId>)> {
    if policy_at.is_empty() {
        return Ok((Policy::builtin(), None));
    }
    let Some((rev, base)) = policy_at
        .iter()
        .find_map(|rev| resolve_commit(repo, rev).map(|id| (rev, id)))
    else {
        bail!(
            "the base branch is not in this clone (looked for {}): the policy is read from it, \
             never from the change; hint: fetch the whole history (actions/checkout with \
             `fetch-depth: 0`, GitLab `GIT_DEPTH: 0`)",
            policy_at.join(", ")
        );
    };
    let text = (|| -> Result<Option<Vec<u8>>> {
        let tree = repo.find_commit(base)?.tree()?;
        let Some(entry) = tree.lookup_entry_by_path("policy.toml")? else {
            return Ok(None);
        };
        Ok(Some(entry.object()?.detach().data))
    })()
    .with_context(|| format!("cannot read policy.toml at {rev} ({base})"))?;
    let Some(text) = text else {
        return Ok((Policy::builtin(), Some(base)));
    };
    let text = String::from_utf8(text).map_err(|_| anyhow!("policy.toml at {rev} is not UTF-8"))?;
    let source = PolicySource::Commit(format!("{rev} {}", base.to_hex_with_len(12)));
    let policy = Policy::parse(&text, source).with_context(|| {
        format!(
            "policy.toml at {rev} is broken: fix it there (a reviewed change to the base branch)"
        )
    })?;
    Ok((policy, Some(base)))
}

/// The commit a revision names in this clone, if it names one.
pub fn resolve_commit(repo: &gix::Repository, rev: &str) -> Option<ObjectId> {
    let id = repo.rev_parse_single(rev).ok()?;
    let commit = id.object().ok()?.peel_to_commit().ok()?;
    Some(commit.id)
}

/// A file of the checkout is the change under review: never a source of rules.
fn refuse_inside_checkout(repo: &gix::Repository, path: &Path) -> Result<()> {
    if repo_relative(repo, path).is_some() {
        bail!(
            "{} is inside the checkout of the change under review, which could rewrite it: \
             name a file outside the repository, or leave --policy out to use policy.toml of \
             the base branch",
            path.display()
        );
    }
    Ok(())
}

/// `path` relative to the work tree when it is inside it (a relative path always is).
fn repo_relative(repo: &gix::Repository, path: &Path) -> Option<String> {
    let workdir = repo.workdir()?;
    if path.is_relative() {
        return Some(path.to_string_lossy().trim_start_matches("./").to_string());
    }
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (workdir, path): (PathBuf, PathBuf) = (canon(workdir), canon(path));
    path.strip_prefix(&workdir)
        .ok()
        .map(|rel| rel.to_string_lossy().to_string())
}

/// The file `rel` as it stands at `base`, copied to a temporary file.
fn copy_from_base(
    repo: &gix::Repository,
    base: ObjectId,
    rel: &str,
) -> Result<tempfile::NamedTempFile> {
    use std::io::Write as _;
    let data = (|| -> Result<Option<Vec<u8>>> {
        let tree = repo.find_commit(base)?.tree()?;
        let Some(entry) = tree.lookup_entry_by_path(rel)? else {
            return Ok(None);
        };
        Ok(Some(entry.object()?.detach().data))
    })()
    .with_context(|| format!("cannot read approvals.allowed_signers ({rel}) at {base}"))?;
    let mut file = tempfile::NamedTempFile::new().context("cannot make a temporary file")?;
    // Missing on the base branch: an empty list, which verifies no signature.
    file.write_all(&data.unwrap_or_default())
        .and_then(|_| file.flush())
        .context("cannot write the allowed signers")?;
    Ok(file)
}

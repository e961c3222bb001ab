//! Small git helpers of the approvals, shared with the test-run and report modules: open a
//! repository, resolve a commit, read blobs (quarantine-aware), list, create and set refs, times.
//!
//! Plumbing only: no policy, no judgement.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, anyhow, bail};
use gix::ObjectId;

/// Open the repository at or above `dir`.
pub fn open_repo(dir: &Path) -> Result<gix::Repository> {
    crate::engine::repo::discover(dir)
}

/// The commit `rev` names, and its tree.
pub fn resolve_commit(repo: &gix::Repository, rev: &str) -> Result<(ObjectId, ObjectId)> {
    let id = repo
        .rev_parse_single(rev)
        .with_context(|| format!("cannot resolve {rev:?} (hint: a commit id, branch or tag)"))?;
    let commit = id
        .object()
        .with_context(|| format!("cannot read {rev:?}"))?
        .peel_to_commit()
        .with_context(|| format!("{rev:?} does not name a commit"))?;
    let tree = commit
        .tree_id()
        .with_context(|| format!("cannot read the tree of {rev:?}"))?;
    Ok((commit.id, tree.detach()))
}

/// The tree of a commit, or `None` when the commit is not in the repository.
pub fn tree_of(repo: &gix::Repository, commit: ObjectId) -> Result<Option<ObjectId>> {
    let Ok(obj) = repo.find_object(commit) else {
        return Ok(None);
    };
    let c = obj
        .try_into_commit()
        .with_context(|| format!("{commit} is not a commit"))?;
    Ok(Some(
        c.tree_id()
            .with_context(|| format!("cannot read the tree of {commit}"))?
            .detach(),
    ))
}

/// The contents of blob `id`. In pre-receive the pushed objects sit in a quarantine directory
/// gix does not see; git itself does (receive-pack sets the variables for its hooks), so a blob
/// gix cannot find is asked of `git cat-file`.
pub fn read_blob(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>> {
    if let Ok(obj) = repo.find_object(id) {
        if obj.kind != gix::object::Kind::Blob {
            bail!("{id} is a {}, not a blob", obj.kind);
        }
        return Ok(obj.data.clone());
    }
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(repo.git_dir())
        .args(["cat-file", "blob", &id.to_string()])
        .stdin(Stdio::null())
        .output()
        .context("cannot run git cat-file")?;
    if !out.status.success() {
        bail!(
            "cannot read blob {id}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// Refs under `prefix`, with the object each points at, sorted by name.
pub fn refs_under(repo: &gix::Repository, prefix: &str) -> Result<Vec<(String, ObjectId)>> {
    let platform = repo.references().context("cannot read references")?;
    let iter = platform
        .prefixed(prefix.as_bytes())
        .with_context(|| format!("cannot list references under {prefix}"))?;
    let mut out = Vec::new();
    for r in iter {
        let r = r.map_err(|e| anyhow!("cannot read a reference under {prefix}: {e}"))?;
        let name = r.name().as_bstr().to_string();
        if let Some(id) = r.target().try_id() {
            out.push((name, id.to_owned()));
        }
    }
    out.sort();
    Ok(out)
}

/// Create `refname` pointing at `target`; fails when it exists.
pub fn create_ref(repo: &gix::Repository, refname: &str, target: ObjectId) -> Result<()> {
    use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
    let edit = || -> Result<RefEdit> {
        Ok(RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: "git-guard: record".into(),
                },
                expected: PreviousValue::MustNotExist,
                new: gix::refs::Target::Object(target),
            },
            name: refname.try_into()?,
            deref: false,
        })
    };
    // git logs no update of refs/guard/ unless core.logAllRefUpdates is `always`: the
    // committer's identity (which reads the local time zone) is then left unresolved. Should
    // a reflog be needed after all (one made by hand), the edit fails before the ref is
    // written, and is made again with the identity.
    if repo.refs.write_reflog != gix::refs::store::WriteReflog::Always
        && repo.edit_references_as([edit()?], None).is_ok()
    {
        return Ok(());
    }
    repo.edit_reference(edit()?)
        .with_context(|| format!("cannot create {refname}"))?;
    Ok(())
}

/// Set `refname` to `target`, whatever it pointed at.
pub fn set_ref(repo: &gix::Repository, refname: &str, target: ObjectId) -> Result<()> {
    use gix::refs::transaction::PreviousValue;
    repo.reference(refname, target, PreviousValue::Any, "git-guard: record")
        .with_context(|| format!("cannot update {refname}"))?;
    Ok(())
}

/// Delete `refname` (used only to undo a local approval the remote refused).
pub(super) fn delete_ref(repo: &gix::Repository, refname: &str) -> Result<()> {
    use gix::refs::transaction::{Change, PreviousValue, RefEdit, RefLog};
    repo.edit_reference(RefEdit {
        change: Change::Delete {
            expected: PreviousValue::Any,
            log: RefLog::AndReference,
        },
        name: refname.try_into()?,
        deref: false,
    })
    .with_context(|| format!("cannot delete {refname}"))?;
    Ok(())
}

/// Whether `text` is exactly the full hex form of `id`.
pub fn is_id(text: &str, id: &ObjectId) -> bool {
    ObjectId::from_hex(text.as_bytes()).is_ok_and(|t| t == *id)
}

pub fn short(id: &ObjectId) -> String {
    let s = id.to_string();
    s[..12.min(s.len())].to_string()
}

/// Now, as unix seconds and RFC 3339 UTC.
pub fn now() -> (i64, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    (secs, rfc3339(secs))
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub(super) fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

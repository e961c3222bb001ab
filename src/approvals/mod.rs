//! Approvals: the only way a flag is cleared.
//!
//! A flag is a finding of severity [`Severity::Flag`] (test files changed, tests switched off or
//! weakened, protected paths touched). It does not block a push; it blocks a deploy until a
//! person the policy lists as a human or an admin approves exactly that commit.
//!
//! An approval is a small record stored in the guarded repository itself, as a blob that
//! `refs/guard/approvals/<commit-id>/<blob-id>` points at, so approvals replicate wherever the
//! repository does. The blob's first line is the record as compact JSON (the exact bytes a
//! signature covers); an `ssh-keygen -Y sign` signature may follow it. The record is bound to
//! the commit id and its tree id and names the flag ids it clears ([`Finding::flag_id`]):
//! a new commit, an amended one or a different tree needs its own approval.
//!
//! The namespace is append-only. At receive time [`judge_ref_update`] lets only approvers create
//! refs under it (checking the record: right commit and tree, the approver is the pusher, is
//! allowed by the policy, did not push the commit, and signed when the policy asks) and lets
//! nobody rewrite or delete them. Revoking an approval therefore adds a revocation record next
//! to it; a revocation is always honoured, since it can only take permission away.
//!
//! Who pushed a commit is what the server recorded when it received it, never an author or
//! committer field: [`record_push`], called by post-receive, writes one record per accepted ref
//! update that brought new commits (`refs/guard/pushes/<new-tip-id>`, listing every one of them),
//! and [`push_log`] reads them all once into a commit-to-pusher map (the oldest record wins).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, anyhow, bail};
use gix::ObjectId;
use serde::{Deserialize, Serialize};

use crate::engine::changes::{CommitChanges, RefUpdate, Unit};
use crate::engine::identity::{Actor, Host};
use crate::engine::model::{self, ModelOptions};
use crate::engine::policy::{Policy, PolicySource, Role};
use crate::engine::verdict::{Finding, Severity};
use crate::site::config::{self, Side};

/// Everything under this prefix belongs to git-guard and is judged by [`judge_ref_update`].
pub const NAMESPACE: &str = "refs/guard/";
/// Approval and revocation records: `refs/guard/approvals/<commit-id>/<record-blob-id>`.
pub const APPROVALS_PREFIX: &str = "refs/guard/approvals/";
/// Push records, one per accepted ref update that brought new commits:
/// `refs/guard/pushes/<new-tip-id>` (see [`PushRecord`]).
pub const PUSHES_PREFIX: &str = "refs/guard/pushes/";
/// The `ssh-keygen -Y` namespace of approval signatures.
pub const SIGNATURE_NAMESPACE: &str = "git-guard-approval";

const SIGNATURE_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";

/// Whether `refname` is under git-guard's own namespace (the hooks send those updates to
/// [`judge_ref_update`] instead of the change rules: they point at records, not commits).
pub fn is_guard_ref(refname: &str) -> bool {
    refname.starts_with(NAMESPACE)
}

/// What a record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    Approve,
    Revoke,
}

/// One approval or revocation, as stored (the first line of the blob).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub version: u32,
    pub kind: RecordKind,
    /// The commit approved, and its tree: both must match for the approval to count.
    pub commit: String,
    pub tree: String,
    /// The flag ids cleared (for a revocation: those of the approval it revokes).
    pub flags: Vec<String>,
    /// For a revocation: the id of the approval revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revokes: Option<String>,
    /// Who approved, as the host names them, and where that name came from.
    pub approver: String,
    pub role: Role,
    pub source: String,
    /// The machine the record was made on.
    pub host: String,
    /// When, in UTC (RFC 3339) and as unix seconds.
    pub at: String,
    pub at_unix: i64,
    pub why: String,
    /// Who pushed the commit, as far as the approver's repository knew; `None`: unknown.
    pub pusher: Option<String>,
}

impl Record {
    /// The exact bytes a signature covers: the record as one line of JSON and its newline.
    pub fn payload(&self) -> Result<Vec<u8>> {
        let mut line = serde_json::to_vec(self)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// A record as read back: its blob's text split into the signed line and the signature.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The record's id: the id of the blob holding it.
    pub id: ObjectId,
    pub refname: String,
    pub record: Record,
    pub payload: Vec<u8>,
    pub signature: Option<String>,
}

impl Stored {
    pub fn short_id(&self) -> String {
        short(&self.id)
    }
}

/// Parse a record blob: one line of JSON, then optionally an armored SSH signature.
pub fn parse_blob(data: &[u8]) -> Result<(Record, Vec<u8>, Option<String>)> {
    let nl = data
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| anyhow!("not an approval record: no newline after the JSON line"))?;
    let (line, rest) = data.split_at(nl + 1);
    let record: Record = serde_json::from_slice(line).context("not an approval record")?;
    if record.version != 1 {
        bail!(
            "approval record version {} is not supported (this git-guard reads version 1)",
            record.version
        );
    }
    // The signed bytes must be the canonical form, so two records that mean the same thing
    // cannot differ in what was signed.
    if record.payload()? != line {
        bail!("approval record is not in canonical form (it was not written by git-guard)");
    }
    let rest = std::str::from_utf8(rest).context("approval signature is not text")?;
    let signature = match rest.trim() {
        "" => None,
        s if s.starts_with(SIGNATURE_BEGIN) => Some(format!("{s}\n")),
        _ => bail!("unexpected text after the approval record (only an SSH signature may follow)"),
    };
    Ok((record, line.to_vec(), signature))
}

/// One push record: who pushed which new commits, to which ref, when. Stored as one line of
/// JSON in the blob `refs/guard/pushes/<tip>` points at, one per accepted ref update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRecord {
    pub version: u32,
    /// Who pushed, as the host names them, their role and where the name came from.
    pub pusher: String,
    pub role: Role,
    pub source: String,
    /// The ref updated, and the id it was set to.
    #[serde(rename = "ref")]
    pub refname: String,
    pub tip: String,
    /// When, in UTC (RFC 3339), and in nanoseconds since the epoch (what orders the records).
    pub at: String,
    pub at_nanos: u64,
    /// Every commit the update brought, newest first.
    pub commits: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Small git helpers shared by the approvals, test-run and report modules.
// ---------------------------------------------------------------------------------------------

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
fn delete_ref(repo: &gix::Repository, refname: &str) -> Result<()> {
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

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

// ---------------------------------------------------------------------------------------------
// Policy and identity for the command line.
// ---------------------------------------------------------------------------------------------

/// The policy for commands run in a repository. Never read from what is being judged.
///
/// Where git-guard's hooks are installed, it is the policy they use (see
/// [`config::installed_config`]): the file `git guard install --policy` recorded in
/// `git-guard.toml`, else `policy.toml` at the tip of the base branch. On a server an explicit
/// file that is not the hooks' is refused: `git guard approve` there writes records the hooks
/// would otherwise judge, so both must read the same policy. Without installed hooks: the
/// explicit file, else `policy.toml` at the tip of `main` (then `master`), else the built-in
/// default.
pub fn policy_for_repo(repo: &gix::Repository, explicit: Option<&Path>) -> Result<Policy> {
    if let Some((config_path, config)) = config::installed_config(repo)? {
        let on_server = config.side == Side::Server;
        match (explicit, &config.policy) {
            (Some(p), Some(installed)) if on_server && !same_file(p, installed) => {
                bail!(
                    "the server hooks of this repository use the policy {} ({}): drop --policy {}, \
                     or reinstall the hooks with `git guard install --server --policy FILE`",
                    installed.display(),
                    config_path.display(),
                    p.display()
                )
            }
            (Some(p), None) if on_server => {
                bail!(
                    "the server hooks of this repository use policy.toml of the base branch \
                     ({}): drop --policy {}, or reinstall the hooks with `git guard install \
                     --server --policy FILE`",
                    config_path.display(),
                    p.display()
                )
            }
            (Some(p), _) => return Ok(Policy::load(p)?),
            (None, _) => {
                return config::installed_policy(repo, &config).with_context(|| {
                    format!(
                        "the policy of the hooks installed here ({})",
                        config_path.display()
                    )
                });
            }
        }
    }
    if let Some(p) = explicit {
        return Ok(Policy::load(p)?);
    }
    for branch in ["refs/heads/main", "refs/heads/master"] {
        let Ok(spec) = repo.rev_parse_single(format!("{branch}:policy.toml").as_str()) else {
            continue;
        };
        let data = read_blob(repo, spec.detach())?;
        let text = String::from_utf8(data)
            .with_context(|| format!("policy.toml at {branch} is not UTF-8"))?;
        let tip = repo.rev_parse_single(branch)?.detach();
        return Ok(Policy::parse(&text, PolicySource::Commit(tip.to_string()))?);
    }
    Ok(Policy::builtin())
}

/// The audit log of commands run in `repo`: the installed hooks' (`--audit-log` at install),
/// else the policy's `audit.log`, else `<git dir>/guard/audit.log`, as for the hooks.
pub fn audit_log_for_repo(repo: &gix::Repository, policy: &Policy) -> PathBuf {
    config::installed_config(repo)
        .ok()
        .flatten()
        .and_then(|(_, c)| c.audit_log)
        .or_else(|| policy.audit.log.clone())
        .unwrap_or_else(|| repo.git_dir().join("guard").join("audit.log"))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Who runs a command in `repo`.
///
/// On the server (a bare repository) the identity is the one the hooks would see: when server
/// hooks are installed, the variable of the host they were installed for (`GL_USER` for
/// gitolite, `REMOTE_USER` for http, ...), which must then be set; otherwise, and for a plain
/// install, the unix user. `as_name` is refused there. In a clone the name may be given with
/// `as_name` or `git config guard.identity` (it must be the name the server knows the pusher
/// by: the server checks it again), else the unix user.
pub fn local_actor(
    repo: &gix::Repository,
    policy: &Policy,
    as_name: Option<&str>,
) -> Result<Actor> {
    let env = |k: &str| std::env::var(k).ok();
    if repo.is_bare() {
        if as_name.is_some() {
            bail!(
                "--as is refused on the server: the identity there is the host's (hint: run the command from a clone to approve as another name)"
            );
        }
        let host = match config::installed_config(repo)? {
            Some((_, config)) if config.side == Side::Server => config.host()?,
            _ => Host::Plain,
        };
        return Actor::from_host(host, policy, env).map_err(|e| {
            e.context(format!(
                "the server hooks here take the identity from {}: set it to the name the host \
                 knows you by, or run the command from a clone",
                host.variable().unwrap_or("the unix user")
            ))
        });
    }
    if let Some(name) = as_name.filter(|n| !n.trim().is_empty()) {
        return Ok(Actor::new(name.trim(), "--as", policy));
    }
    if let Some(name) = repo.config_snapshot().string("guard.identity") {
        return Ok(Actor::new(
            name.to_string(),
            "git config guard.identity",
            policy,
        ));
    }
    Ok(Actor::new(
        crate::engine::identity::unix_user(),
        "unix user",
        policy,
    ))
}

// ---------------------------------------------------------------------------------------------
// Flags.
// ---------------------------------------------------------------------------------------------

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

fn model_opts(policy: &Policy) -> ModelOptions {
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

// ---------------------------------------------------------------------------------------------
// Reading approvals.
// ---------------------------------------------------------------------------------------------

/// Whether a stored approval counts, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "lowercase")]
pub enum Status {
    Valid,
    Revoked(String),
    Invalid(String),
}

/// A stored record and whether it counts.
#[derive(Debug, Clone)]
pub struct Listed {
    pub stored: Stored,
    pub status: Status,
}

/// Every record stored for `commit` (approvals and revocations), oldest first.
pub fn records_for(repo: &gix::Repository, commit: ObjectId) -> Result<Vec<Stored>> {
    let prefix = format!("{APPROVALS_PREFIX}{commit}/");
    let mut out = Vec::new();
    for (name, id) in refs_under(repo, &prefix)? {
        let data = read_blob(repo, id).with_context(|| format!("cannot read {name}"))?;
        match parse_blob(&data) {
            Ok((record, payload, signature)) => out.push(Stored {
                id,
                refname: name,
                record,
                payload,
                signature,
            }),
            // A record that does not parse clears nothing; it is skipped, not fatal.
            Err(e) => tracing::warn!("{name}: {e:#}"),
        }
    }
    out.sort_by_key(|s| s.record.at_unix);
    Ok(out)
}

/// Every approval of `commit` with its status under `policy`.
pub fn list_for_commit(
    repo: &gix::Repository,
    policy: &Policy,
    commit: ObjectId,
) -> Result<Vec<Listed>> {
    let tree = tree_of(repo, commit)?;
    let pusher = pusher_of(repo, commit)?;
    let records = records_for(repo, commit)?;
    let revocations: Vec<&Stored> = records
        .iter()
        .filter(|s| s.record.kind == RecordKind::Revoke && is_id(&s.record.commit, &commit))
        .collect();
    let mut out = Vec::new();
    for s in &records {
        let status = if s.record.kind == RecordKind::Revoke {
            Status::Valid
        } else if let Some(r) = revocations
            .iter()
            .find(|r| r.record.revokes.as_deref() == Some(&s.id.to_string()))
        {
            Status::Revoked(format!(
                "revoked by {} at {}: {}",
                r.record.approver, r.record.at, r.record.why
            ))
        } else {
            match check_approval(policy, s, commit, tree, pusher.as_ref()) {
                Ok(()) => Status::Valid,
                Err(reason) => Status::Invalid(reason),
            }
        };
        out.push(Listed {
            stored: s.clone(),
            status,
        });
    }
    Ok(out)
}

/// The approvals of `commit` that count for exactly `tree`.
pub fn valid_approvals(
    repo: &gix::Repository,
    policy: &Policy,
    commit: ObjectId,
    tree: ObjectId,
) -> Result<Vec<Stored>> {
    let actual = tree_of(repo, commit)?;
    if actual != Some(tree) {
        return Ok(Vec::new());
    }
    Ok(list_for_commit(repo, policy, commit)?
        .into_iter()
        .filter(|l| l.stored.record.kind == RecordKind::Approve && l.status == Status::Valid)
        .map(|l| l.stored)
        .collect())
}

/// Why a stored approval does not count under `policy`, if it does not. Checked again at
/// every read (a deploy, a listing), not only when the approval was received: the policy may
/// have changed since.
fn check_approval(
    policy: &Policy,
    s: &Stored,
    commit: ObjectId,
    tree: Option<ObjectId>,
    pusher: Option<&Pusher>,
) -> std::result::Result<(), String> {
    let r = &s.record;
    if !is_id(&r.commit, &commit) {
        return Err(format!(
            "names commit {} but is stored under {commit}",
            r.commit
        ));
    }
    match tree {
        Some(t) if is_id(&r.tree, &t) => {}
        Some(t) => {
            return Err(format!(
                "approved tree {} but the commit's tree is {t}",
                r.tree
            ));
        }
        None => return Err("the commit is not in this repository".into()),
    }
    let role = policy.actors.role_of(&r.approver);
    if !matches!(role, Role::Human | Role::Admin) {
        return Err(format!(
            "{} is not an approver under the policy (role {role})",
            r.approver
        ));
    }
    if let Some(p) = pusher
        && p.pusher == r.approver
        && !policy.approvals.allow_self_approval
    {
        return Err(format!("{} approved a commit they pushed", r.approver));
    }
    signature_problem(policy, &r.approver, &s.payload, s.signature.as_deref()).map_or(Ok(()), Err)
}

/// A reason to refuse the signature of a record, or `None`.
fn signature_problem(
    policy: &Policy,
    approver: &str,
    payload: &[u8],
    signature: Option<&str>,
) -> Option<String> {
    match (signature, policy.approvals.require_signature) {
        (None, true) => Some(
            "not signed, and the policy requires signed approvals (approvals.require_signature)"
                .into(),
        ),
        (None, false) => None,
        (Some(sig), required) => match &policy.approvals.allowed_signers {
            Some(signers) => verify(signers, approver, payload, sig)
                .err()
                .map(|e| format!("bad signature: {e:#}")),
            None if required => Some(
                "cannot verify the signature: the policy names no approvals.allowed_signers".into(),
            ),
            None => None,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures.
// ---------------------------------------------------------------------------------------------

/// Sign `payload` with `ssh-keygen -Y sign -f KEY -n git-guard-approval`; the armored signature.
pub fn sign(key: &Path, payload: &[u8]) -> Result<String> {
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", SIGNATURE_NAMESPACE, "-f"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run ssh-keygen (hint: install OpenSSH 8.2 or later to sign)")?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("ssh-keygen has no stdin"))?
        .write_all(payload)?;
    let out = child.wait_with_output()?;
    let sig = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || !sig.starts_with(SIGNATURE_BEGIN) {
        bail!(
            "ssh-keygen could not sign with {}: {}",
            key.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(sig)
}

/// Verify `signature` over `payload` as `identity` against an `allowed_signers` file.
pub fn verify(
    allowed_signers: &Path,
    identity: &str,
    payload: &[u8],
    signature: &str,
) -> Result<()> {
    if !allowed_signers.is_file() {
        bail!(
            "allowed_signers file {} does not exist",
            allowed_signers.display()
        );
    }
    let mut sig = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
    sig.write_all(signature.as_bytes())?;
    sig.flush()?;
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-n", SIGNATURE_NAMESPACE, "-f"])
        .arg(allowed_signers)
        .arg("-I")
        .arg(identity)
        .arg("-s")
        .arg(sig.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run ssh-keygen to verify a signature")?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("ssh-keygen has no stdin"))?
        .write_all(payload)?;
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        bail!(
            "ssh-keygen does not accept it as {identity}'s: {}",
            text.lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("verification failed")
                .trim()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Push records.
// ---------------------------------------------------------------------------------------------

/// Record that `actor` pushed `commits` (the commits new to the repository in `update`), as one
/// blob at `refs/guard/pushes/<update.new>`. Called by post-receive once per accepted ref update
/// that brought new commits: one object and one ref per update, however many commits it holds.
/// Returns the ref written, or `None` when there was nothing to record or a record of the same
/// tip already exists (the same tip pushed again after its branch was deleted, or two refs of
/// one push moved to it): the first record stands, since the first push brought the commits.
pub fn record_push(
    repo: &gix::Repository,
    actor: &Actor,
    update: &RefUpdate,
    commits: &[ObjectId],
) -> Result<Option<String>> {
    if commits.is_empty() || update.new.is_null() {
        return Ok(None);
    }
    let refname = format!("{PUSHES_PREFIX}{}", update.new);
    if repo
        .try_find_reference(refname.as_str())
        .with_context(|| format!("cannot read {refname}"))?
        .is_some()
    {
        return Ok(None);
    }
    let at_nanos = unix_nanos();
    let rec = PushRecord {
        version: 1,
        pusher: actor.name.clone(),
        role: actor.role,
        source: actor.source.clone(),
        refname: update.name.clone(),
        tip: update.new.to_string(),
        at: rfc3339(i64::try_from(at_nanos / 1_000_000_000).unwrap_or(i64::MAX)),
        at_nanos,
        commits: commits.iter().map(ObjectId::to_string).collect(),
    };
    let mut data = serde_json::to_vec(&rec)?;
    data.push(b'\n');
    let blob = repo
        .write_blob(&data)
        .context("cannot write a push record")?
        .detach();
    if let Err(e) = create_ref(repo, &refname, blob) {
        // Another post-receive recorded the same tip in the meantime: its record stands.
        if repo.try_find_reference(refname.as_str())?.is_some() {
            return Ok(None);
        }
        return Err(e);
    }
    Ok(Some(refname))
}

/// Nanoseconds since the epoch: orders push records, even two made within the same second.
fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Who pushed one commit first, as the repository recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pusher {
    pub commit: ObjectId,
    pub pusher: String,
    pub role: Role,
    pub source: String,
    /// The ref the push updated.
    pub refname: String,
    pub at: String,
    /// The push record naming the commit (`refs/guard/pushes/<tip>`).
    pub record: String,
}

/// Every push record of a repository, read once: who pushed each commit first.
#[derive(Debug, Default)]
pub struct PushLog {
    /// The records, oldest first, each with its ref name.
    records: Vec<(String, PushRecord)>,
    /// For each commit, the index of the oldest record naming it.
    first: std::collections::HashMap<ObjectId, usize>,
}

impl PushLog {
    /// Read every record under `refs/guard/pushes/`. A record that does not parse is an error
    /// (only post-receive writes them; a damaged one must not silently let a pusher approve).
    pub fn read(repo: &gix::Repository) -> Result<Self> {
        Self::from_refs(repo, &refs_under(repo, PUSHES_PREFIX)?)
    }

    fn from_refs(repo: &gix::Repository, refs: &[(String, ObjectId)]) -> Result<Self> {
        let mut records = Vec::with_capacity(refs.len());
        for (name, id) in refs {
            let data = read_blob(repo, *id).with_context(|| format!("cannot read {name}"))?;
            let rec = parse_push_record(&data).with_context(|| {
                format!("{name} is not a push record (hint: post-receive writes them; remove a damaged one with `git update-ref -d {name}`)")
            })?;
            records.push((name.clone(), rec));
        }
        records.sort_by(|(an, a), (bn, b)| (a.at_nanos, an).cmp(&(b.at_nanos, bn)));
        let mut first = std::collections::HashMap::new();
        for (i, (name, rec)) in records.iter().enumerate() {
            for c in &rec.commits {
                let id = ObjectId::from_hex(c.as_bytes())
                    .map_err(|e| anyhow!("{name} names {c:?}, not a commit id: {e}"))?;
                first.entry(id).or_insert(i);
            }
        }
        Ok(Self { records, first })
    }

    /// Who pushed `commit` first, or `None` when no record names it.
    pub fn pusher_of(&self, commit: ObjectId) -> Option<Pusher> {
        let (name, rec) = &self.records[*self.first.get(&commit)?];
        Some(Pusher {
            commit,
            pusher: rec.pusher.clone(),
            role: rec.role,
            source: rec.source.clone(),
            refname: rec.refname.clone(),
            at: rec.at.clone(),
            record: name.clone(),
        })
    }

    /// The records, oldest first, with their ref names.
    pub fn records(&self) -> &[(String, PushRecord)] {
        &self.records
    }
}

fn parse_push_record(data: &[u8]) -> Result<PushRecord> {
    let rec: PushRecord = serde_json::from_slice(data)?;
    if rec.version != 1 {
        bail!(
            "push record version {} is not supported (this git-guard reads version 1)",
            rec.version
        );
    }
    Ok(rec)
}

/// A push log and the refs it was read from.
type CachedPushLog = Option<(Vec<(String, ObjectId)>, std::rc::Rc<PushLog>)>;

thread_local! {
    /// The last push log read, with the refs it was read from. Records are blobs, so the same
    /// ref names pointing at the same ids are the same log: one command asking about many
    /// commits reads the records once, and a record written since is never missed.
    static PUSH_LOG: std::cell::RefCell<CachedPushLog> = const { std::cell::RefCell::new(None) };
}

/// The push log of `repo`: read once, then reused while its records stay the same.
pub fn push_log(repo: &gix::Repository) -> Result<std::rc::Rc<PushLog>> {
    let refs = refs_under(repo, PUSHES_PREFIX)?;
    let cached = PUSH_LOG.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(r, _)| *r == refs)
            .map(|(_, log)| log.clone())
    });
    if let Some(log) = cached {
        return Ok(log);
    }
    let log = std::rc::Rc::new(PushLog::from_refs(repo, &refs)?);
    PUSH_LOG.with(|c| *c.borrow_mut() = Some((refs, log.clone())));
    Ok(log)
}

/// Who pushed `commit` first, as this repository recorded it.
pub fn pusher_of(repo: &gix::Repository, commit: ObjectId) -> Result<Option<Pusher>> {
    Ok(push_log(repo)?.pusher_of(commit))
}

// ---------------------------------------------------------------------------------------------
// The server side.
// ---------------------------------------------------------------------------------------------

/// Judge one update of a ref under `refs/guard/`, as pre-receive sees it, pushed by `actor`.
/// Returns violations that must reject the push (and a note describing an accepted record);
/// empty for refs outside the namespace.
///
/// - `refs/guard/approvals/<commit>/<id>`: only creation, only by an approver (human or admin),
///   of a well-formed record whose blob id is `<id>`, for `<commit>` and its tree, naming the
///   pusher as approver, not for a commit the pusher pushed, signed when the policy asks.
/// - everything else under `refs/guard/` (push records, test runs) is written by the server
///   itself: no push may touch it.
pub fn judge_ref_update(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    update: &RefUpdate,
) -> Vec<Finding> {
    if !is_guard_ref(&update.name) {
        return Vec::new();
    }
    let name = update.name.as_str();
    let v = |rule: &str, msg: String, hint: &str| {
        vec![
            Finding::violation(format!("approvals.{rule}"), msg, hint)
                .at_ref(Some(name))
                .at_commit(Some(update.new).filter(|n| !n.is_null())),
        ]
    };
    let Some(rest) = name.strip_prefix(APPROVALS_PREFIX) else {
        return v(
            "namespace",
            format!("{name} is written by the server itself; no push may change it"),
            "approvals go under refs/guard/approvals/ (use `git guard approve`)",
        );
    };
    if update.is_delete() {
        return v(
            "immutable",
            format!("approval records cannot be deleted ({name})"),
            "to withdraw an approval, add a revocation: git guard revoke REV --approval ID",
        );
    }
    if !update.is_create() {
        return v(
            "immutable",
            format!("approval records cannot be rewritten ({name} exists)"),
            "make a new approval instead: git guard approve REV -m WHY",
        );
    }
    if !matches!(actor.role, Role::Human | Role::Admin) {
        return v(
            "approver",
            format!(
                "{} ({}) may not approve: only identities the policy lists as humans or admins may",
                actor.name, actor.role
            ),
            "ask a person listed in actors.humans or actors.admins to review and approve",
        );
    }
    let Some((commit_text, id_text)) = rest.split_once('/') else {
        return v(
            "record",
            format!("{name} is not refs/guard/approvals/<commit-id>/<record-id>"),
            "create approvals with `git guard approve`",
        );
    };
    if !is_id(id_text, &update.new) {
        return v(
            "record",
            format!(
                "{name} must end with the id of the record it points at ({})",
                update.new
            ),
            "create approvals with `git guard approve`",
        );
    }
    let Ok(commit) = ObjectId::from_hex(commit_text.as_bytes()) else {
        return v(
            "record",
            format!("{commit_text:?} in {name} is not a commit id"),
            "create approvals with `git guard approve`",
        );
    };
    let data = match read_blob(repo, update.new) {
        Ok(d) => d,
        Err(e) => {
            return v(
                "record",
                format!("cannot read the record of {name}: {e:#}"),
                "create approvals with `git guard approve`",
            );
        }
    };
    let (record, payload, signature) = match parse_blob(&data) {
        Ok(x) => x,
        Err(e) => {
            return v(
                "record",
                format!("{name}: {e:#}"),
                "create approvals with `git guard approve`",
            );
        }
    };
    if !is_id(&record.commit, &commit) {
        return v(
            "record",
            format!(
                "{name} holds a record for commit {}, not {commit}",
                record.commit
            ),
            "create approvals with `git guard approve`",
        );
    }
    let tree = match tree_of(repo, commit) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return v(
                "record",
                format!("commit {commit} is not in the repository: push it before approving it"),
                "push the branch holding the commit first",
            );
        }
        Err(e) => {
            return v("record", format!("cannot read commit {commit}: {e:#}"), "");
        }
    };
    if !is_id(&record.tree, &tree) {
        return v(
            "record",
            format!(
                "the record approves tree {} but commit {} has tree {tree}",
                record.tree,
                short(&commit)
            ),
            "approve the commit as it is now: git guard approve REV -m WHY",
        );
    }
    if record.approver != actor.name {
        return v(
            "identity",
            format!(
                "the record names {} as approver but {} is pushing it",
                record.approver, actor.name
            ),
            "approve under the name the server knows you by (git guard approve --as NAME)",
        );
    }
    match record.kind {
        RecordKind::Approve => {
            if record.flags.is_empty() {
                return v(
                    "record",
                    format!("{name} approves no flag"),
                    "name the flags: git guard approve REV --flag ID",
                );
            }
            match pusher_of(repo, commit) {
                Ok(Some(p)) if p.pusher == actor.name && !policy.approvals.allow_self_approval => {
                    return v(
                        "self",
                        format!(
                            "{} pushed commit {} and may not approve it",
                            actor.name,
                            short(&commit)
                        ),
                        "ask another approver to review it",
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    return v(
                        "record",
                        format!("cannot read who pushed {commit}: {e:#}"),
                        "",
                    );
                }
            }
        }
        RecordKind::Revoke => {
            let target = record.revokes.clone().unwrap_or_default();
            let target_ref = format!("{APPROVALS_PREFIX}{commit}/{target}");
            match repo.try_find_reference(target_ref.as_str()) {
                Ok(Some(_)) => {}
                _ => {
                    return v(
                        "record",
                        format!(
                            "the revocation names approval {target:?}, which commit {} does not have",
                            short(&commit)
                        ),
                        "list the approvals: git guard approvals REV",
                    );
                }
            }
        }
    }
    if let Some(problem) = signature_problem(policy, &actor.name, &payload, signature.as_deref()) {
        return v(
            "signature",
            format!("{name}: {problem}"),
            "sign with: git guard approve REV -m WHY --sign ~/.ssh/id_ed25519",
        );
    }
    let what = match record.kind {
        RecordKind::Approve => format!("approval of {} flag(s)", record.flags.len()),
        RecordKind::Revoke => "revocation".to_string(),
    };
    vec![
        Finding::note(
            "approvals.recorded",
            format!(
                "{what} of {} by {} recorded{}",
                short(&commit),
                actor.name,
                if signature.is_some() { " (signed)" } else { "" }
            ),
            "",
        )
        .at_ref(Some(name)),
    ]
}

/// [`judge_ref_update`] inside one push: `pushed_now` holds the commits the same push brings.
/// An approval of one of them is the pusher approving their own change (the push record is
/// only written once the push is accepted), refused unless the policy allows self-approval.
pub fn judge_push_ref_update(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    update: &RefUpdate,
    pushed_now: &std::collections::HashSet<ObjectId>,
) -> Vec<Finding> {
    let findings = judge_ref_update(repo, policy, actor, update);
    if policy.approvals.allow_self_approval
        || findings.iter().any(|f| f.severity == Severity::Violation)
    {
        return findings;
    }
    let commit = update
        .name
        .strip_prefix(APPROVALS_PREFIX)
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(c, _)| ObjectId::from_hex(c.as_bytes()).ok());
    let Some(commit) = commit.filter(|c| pushed_now.contains(c)) else {
        return findings;
    };
    let is_approval = read_blob(repo, update.new)
        .ok()
        .and_then(|d| parse_blob(&d).ok())
        .is_some_and(|(r, _, _)| r.kind == RecordKind::Approve);
    if !is_approval {
        return findings;
    }
    vec![
        Finding::violation(
            "approvals.self",
            format!(
                "{} pushes commit {} in this same push and may not approve it",
                actor.name,
                short(&commit)
            ),
            "push the commit alone; another approver reviews it",
        )
        .at_ref(Some(update.name.as_str()))
        .at_commit(Some(update.new)),
    ]
}

// ---------------------------------------------------------------------------------------------
// Writing approvals.
// ---------------------------------------------------------------------------------------------

/// What `git guard approve` asks for.
#[derive(Debug, Clone, Default)]
pub struct ApproveRequest {
    pub rev: String,
    /// Flag ids to clear; empty: every outstanding flag of the commit.
    pub flags: Vec<String>,
    pub why: String,
    /// An ssh private key (or public key held by ssh-agent) to sign with.
    pub sign_key: Option<PathBuf>,
    /// The remote to push the approval to from a clone (`None`: `origin` when it exists).
    pub remote: Option<String>,
    /// Keep the approval in this repository only.
    pub no_push: bool,
}

/// What `approve` or `revoke` did.
#[derive(Debug, Clone)]
pub struct Written {
    pub refname: String,
    pub id: ObjectId,
    pub record: Record,
    pub signed: bool,
    /// The remote it was pushed to, if any.
    pub pushed_to: Option<String>,
    /// Notes for the person (an unknown pusher, an accepted record).
    pub notes: Vec<String>,
}

/// Why a request was refused by policy (exit 1), as opposed to an error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub message: String,
    pub hint: String,
}

fn refuse(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    Refused {
        message: message.into(),
        hint: hint.into(),
    }
    .into()
}

/// Approve flags of a commit: check the approver may, write the record, create the ref (on
/// the server) or create it and push it (from a clone).
pub fn approve(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    req: &ApproveRequest,
) -> Result<Written> {
    if req.why.trim().is_empty() {
        return Err(refuse(
            "an approval needs a reason",
            "say why with -m WHY: what you checked",
        ));
    }
    let (commit, tree) = resolve_commit(repo, &req.rev)?;
    let flags = flags_of_commit(repo, policy, commit)?;
    let known: Vec<&str> = flags.flags.iter().map(|f| f.id.as_str()).collect();
    let chosen: Vec<String> = if req.flags.is_empty() {
        flags.outstanding().map(|f| f.id.clone()).collect()
    } else {
        for f in &req.flags {
            if !known.contains(&f.as_str()) {
                return Err(refuse(
                    format!("commit {} has no flag {f:?}", short(&commit)),
                    if known.is_empty() {
                        "it has no flags at all".to_string()
                    } else {
                        format!("its flags are: {}", known.join(", "))
                    },
                ));
            }
        }
        req.flags.clone()
    };
    if chosen.is_empty() {
        return Err(refuse(
            format!(
                "commit {} has no outstanding flag to approve",
                short(&commit)
            ),
            "see them with: git guard flags REV",
        ));
    }
    let pusher = pusher_of(repo, commit)?;
    let mut notes = Vec::new();
    if pusher.is_none() {
        notes.push(format!(
            "who pushed {} is not recorded here: the record says so, and the server checks again",
            short(&commit)
        ));
    }
    let (at_unix, at) = now();
    let record = Record {
        version: 1,
        kind: RecordKind::Approve,
        commit: commit.to_string(),
        tree: tree.to_string(),
        flags: chosen,
        revokes: None,
        approver: actor.name.clone(),
        role: actor.role,
        source: actor.source.clone(),
        host: hostname(),
        at,
        at_unix,
        why: req.why.trim().to_string(),
        pusher: pusher.map(|p| p.pusher),
    };
    write_record(repo, policy, actor, record, req, notes)
}

/// What `git guard revoke` asks for.
#[derive(Debug, Clone, Default)]
pub struct RevokeRequest {
    pub rev: String,
    /// The approval to revoke (a prefix of its id); `None`: every valid approval of the commit.
    pub approval: Option<String>,
    pub why: String,
    pub sign_key: Option<PathBuf>,
    pub remote: Option<String>,
    pub no_push: bool,
}

/// Revoke approvals of a commit by adding revocation records.
pub fn revoke(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    req: &RevokeRequest,
) -> Result<Vec<Written>> {
    if req.why.trim().is_empty() {
        return Err(refuse("a revocation needs a reason", "say why with -m WHY"));
    }
    let (commit, tree) = resolve_commit(repo, &req.rev)?;
    let listed = list_for_commit(repo, policy, commit)?;
    let targets: Vec<&Listed> = listed
        .iter()
        .filter(|l| l.stored.record.kind == RecordKind::Approve)
        .filter(|l| !matches!(l.status, Status::Revoked(_)))
        .filter(|l| match &req.approval {
            Some(p) => l.stored.id.to_string().starts_with(p.as_str()),
            None => true,
        })
        .collect();
    if targets.is_empty() {
        return Err(refuse(
            match &req.approval {
                Some(p) => format!("commit {} has no unrevoked approval {p:?}", short(&commit)),
                None => format!("commit {} has no unrevoked approval", short(&commit)),
            },
            "list them with: git guard approvals REV",
        ));
    }
    if req.approval.is_some() && targets.len() > 1 {
        return Err(refuse(
            "the approval id is ambiguous",
            "give more of its digits (git guard approvals REV)",
        ));
    }
    let mut out = Vec::new();
    for t in targets {
        let (at_unix, at) = now();
        let record = Record {
            version: 1,
            kind: RecordKind::Revoke,
            commit: commit.to_string(),
            tree: tree.to_string(),
            flags: t.stored.record.flags.clone(),
            revokes: Some(t.stored.id.to_string()),
            approver: actor.name.clone(),
            role: actor.role,
            source: actor.source.clone(),
            host: hostname(),
            at,
            at_unix,
            why: req.why.trim().to_string(),
            pusher: pusher_of(repo, commit)?.map(|p| p.pusher),
        };
        let common = ApproveRequest {
            rev: req.rev.clone(),
            flags: Vec::new(),
            why: req.why.clone(),
            sign_key: req.sign_key.clone(),
            remote: req.remote.clone(),
            no_push: req.no_push,
        };
        out.push(write_record(
            repo,
            policy,
            actor,
            record,
            &common,
            Vec::new(),
        )?);
    }
    Ok(out)
}

fn write_record(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    record: Record,
    req: &ApproveRequest,
    mut notes: Vec<String>,
) -> Result<Written> {
    let payload = record.payload()?;
    let mut blob = payload.clone();
    let signed = match &req.sign_key {
        Some(key) => {
            blob.extend_from_slice(sign(key, &payload)?.as_bytes());
            true
        }
        None => false,
    };
    let id = repo
        .write_blob(&blob)
        .context("cannot write the approval record")?
        .detach();
    let refname = format!("{APPROVALS_PREFIX}{}/{id}", record.commit);
    let update = RefUpdate {
        old: ObjectId::null(repo.object_hash()),
        new: id,
        name: refname.clone(),
    };
    // The same judgement the server makes, made here first so a refusal is explained before
    // anything is written or pushed.
    let findings = judge_ref_update(repo, policy, actor, &update);
    if let Some(v) = findings.iter().find(|f| f.severity == Severity::Violation) {
        return Err(refuse(format!("{}: {}", v.rule, v.message), v.hint.clone()));
    }
    create_ref(repo, &refname, id)?;
    let mut pushed_to = None;
    if !repo.is_bare() && !req.no_push {
        let remote = match &req.remote {
            Some(r) => Some(r.clone()),
            None => repo
                .config_snapshot()
                .string("remote.origin.url")
                .map(|_| "origin".to_string()),
        };
        if let Some(remote) = remote {
            let work = repo
                .workdir()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| repo.git_dir().to_path_buf());
            let out = Command::new("git")
                .current_dir(&work)
                .args(["push", "--quiet", &remote, &format!("{refname}:{refname}")])
                .stdin(Stdio::null())
                .output()
                .context("cannot run git push")?;
            if !out.status.success() {
                // Keep no local record the server refused: it would list as an approval.
                delete_ref(repo, &refname)?;
                let text = String::from_utf8_lossy(&out.stderr);
                let remote_lines: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                return Err(refuse(
                    format!(
                        "{remote} refused the {}:\n  {}",
                        if record.kind == RecordKind::Approve {
                            "approval"
                        } else {
                            "revocation"
                        },
                        remote_lines.join("\n  ")
                    ),
                    "nothing was recorded",
                ));
            }
            pushed_to = Some(remote);
        } else {
            notes.push(
                "this clone has no remote: the record stays here (push it with git push REMOTE 'refs/guard/approvals/*:refs/guard/approvals/*')"
                    .into(),
            );
        }
    }
    Ok(Written {
        refname,
        id,
        record,
        signed,
        pushed_to,
        notes,
    })
}

/// Every approval of every commit of `spec`, with its status.
pub fn list_range(
    repo: &gix::Repository,
    policy: &Policy,
    spec: &str,
) -> Result<Vec<(ObjectId, String, Vec<Listed>)>> {
    let unit = model::range(
        repo,
        spec,
        ModelOptions {
            content: false,
            max_blob_scan_bytes: 0,
        },
    )
    .with_context(|| format!("cannot read the commits of {spec:?}"))?;
    let mut out = Vec::new();
    for c in &unit.commits {
        let Some(id) = c.id else { continue };
        out.push((id, c.summary.clone(), list_for_commit(repo, policy, id)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            version: 1,
            kind: RecordKind::Approve,
            commit: "a".repeat(40),
            tree: "b".repeat(40),
            flags: vec!["tests.changed:tests/a.rs".into()],
            revokes: None,
            approver: "alice".into(),
            role: Role::Human,
            source: "unix user".into(),
            host: "h".into(),
            at: rfc3339(0),
            at_unix: 0,
            why: "read it".into(),
            pusher: None,
        }
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_827_696), "2000-02-29T12:34:56Z");
    }

    #[test]
    fn blob_round_trips_with_and_without_signature() {
        let r = record();
        let payload = r.payload().unwrap();
        assert_eq!(payload.iter().filter(|&&b| b == b'\n').count(), 1);
        let (back, p, sig) = parse_blob(&payload).unwrap();
        assert_eq!((back, sig), (r.clone(), None));
        assert_eq!(p, payload);
        let mut signed = payload.clone();
        signed.extend_from_slice(
            b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n",
        );
        let (_, p, sig) = parse_blob(&signed).unwrap();
        assert_eq!(p, payload);
        assert!(sig.unwrap().starts_with(SIGNATURE_BEGIN));
    }

    #[test]
    fn malformed_records_are_refused() {
        let mut text = record().payload().unwrap();
        text.extend_from_slice(b"trailing junk\n");
        assert!(parse_blob(&text).is_err());
        assert!(parse_blob(b"{\"version\":1}").is_err());
        let pretty = serde_json::to_string_pretty(&record())
            .unwrap()
            .replace('\n', " ");
        assert!(
            parse_blob(format!("{pretty}\n").as_bytes())
                .unwrap_err()
                .to_string()
                .contains("canonical")
        );
        let extra = String::from_utf8(record().payload().unwrap())
            .unwrap()
            .replacen("{", "{\"extra\":1,", 1);
        assert!(parse_blob(extra.as_bytes()).is_err());
    }
}

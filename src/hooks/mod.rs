//! The hooks: what `guard-hook <hook>` does at each door.
//!
//! Client hooks (`pre-commit`, `commit-msg`, `pre-push`, `reference-transaction`) give the
//! agent fast feedback in its clone; they can be skipped, so the same rules are enforced again
//! by the server hooks (`pre-receive`, `update`, `post-receive`), which run as the server.
//!
//! Every entry takes the hook's arguments, its standard input and an output writer, and returns
//! the exit code: 0 passed, 1 rejected by policy, 2 could not judge (which rejects too: a hook
//! that cannot judge fails closed). Everything written reaches the committer or, for server
//! hooks, the pusher as `remote:` lines.
//!
//! A hook's settings come from the [`HookConfig`] file written at install time beside the
//! shims, never from the repository's work tree or from what is being pushed.

pub mod install;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use gix::ObjectId;
use serde::{Deserialize, Serialize};

use crate::approvals;
use crate::engine;
use crate::engine::changes::{RefUpdate, Unit};
use crate::engine::identity::Actor;
use crate::engine::model::{self, ModelOptions};
use crate::engine::policy::{Mode, Policy, Role};
use crate::engine::quarantine::{self, ObjectEnv, ObjectStore};
use crate::engine::verdict::{self, Finding, Verdict};
use crate::site::audit;
use crate::site::config::{
    DEFAULT_DEADLINE_MS, Hook, HookConfig, client_base, resolve_policy, server_base,
};

/// Everything a hook knows about the process git started: its settings, where it runs, and
/// its environment (a snapshot, so tests pass their own).
#[derive(Debug, Clone)]
pub struct Invocation {
    pub config: HookConfig,
    pub cwd: PathBuf,
    pub env: HashMap<String, String>,
}

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Invocation {
    /// The process's own invocation.
    pub fn from_process(config: HookConfig) -> Result<Invocation> {
        Ok(Invocation {
            config,
            cwd: std::env::current_dir().context("cannot read the current directory")?,
            env: std::env::vars().collect(),
        })
    }

    pub fn var(&self, key: &str) -> Option<String> {
        self.env.get(key).cloned()
    }

    /// `GUARD_FORMAT=json` asks for JSON.
    pub fn format(&self) -> Format {
        match self.var("GUARD_FORMAT").as_deref() {
            Some("json") => Format::Json,
            _ => Format::Text,
        }
    }

    /// The git directory git ran the hook for (`GIT_DIR`, else the current directory).
    fn git_dir_hint(&self) -> PathBuf {
        match self.var("GIT_DIR") {
            Some(d) if !d.is_empty() => self.cwd.join(d),
            _ => self.cwd.clone(),
        }
    }
}

/// Run `hook` and return its exit code. Errors are written to `out` and reject (exit 2).
pub fn run(hook: Hook, inv: &Invocation, args: &[String], stdin: &[u8], out: &mut dyn Write) -> u8 {
    let result = match hook {
        Hook::PreCommit => pre_commit(inv, out),
        Hook::CommitMsg => commit_msg(inv, args, out),
        Hook::PrePush => pre_push(inv, args, stdin, out),
        Hook::ReferenceTransaction => reference_transaction(inv, args, stdin, out),
        Hook::PreReceive => pre_receive(inv, stdin, out),
        Hook::Update => update(inv, args, out),
        Hook::PostReceive => post_receive(inv, stdin, out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = write_error(out, inv.format(), hook, &e);
            2
        }
    }
}

/// Whether the hook a shim moved aside runs after git-guard: always after the hooks whose
/// outcome cannot stop anything, otherwise only when git-guard passed.
pub fn runs_chained(hook: Hook, args: &[String], code: u8) -> bool {
    match hook {
        Hook::PostReceive => true,
        Hook::ReferenceTransaction => {
            code == 0 || args.first().map(String::as_str) != Some("prepared")
        }
        _ => code == 0,
    }
}

/// The hook that runs after git-guard's: the one install moved aside (`<shim>.guard-chained`),
/// else the same hook in the `core.hooksPath` that was set before install. Only executable
/// files count, as for git.
pub fn chained_hook(shim: &Path, hook: Hook, inv: &Invocation) -> Option<PathBuf> {
    let mut aside = shim.as_os_str().to_owned();
    aside.push(".guard-chained");
    let aside = PathBuf::from(aside);
    if is_executable(&aside) {
        return Some(aside);
    }
    let before = inv.config.hooks_path_before.as_deref()?;
    let before = expand_home(before, inv);
    let candidate = inv.cwd.join(before).join(hook.name());
    let me = std::fs::canonicalize(shim).ok();
    let them = std::fs::canonicalize(&candidate).ok()?;
    (Some(&them) != me.as_ref() && is_executable(&them)).then_some(them)
}

fn expand_home(p: &str, inv: &Invocation) -> PathBuf {
    match (p.strip_prefix("~/"), inv.var("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(p),
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// Input parsing

/// A line of hook input that is not what git writes.
#[derive(Debug, thiserror::Error)]
#[error("line {line} of standard input, {text:?}: {problem}")]
pub struct LineError {
    pub line: usize,
    pub text: String,
    pub problem: String,
}

/// Parse one object id of the repository's format. The all-zero id is kept as the null id: git
/// writes it for the side of an update that does not exist (a creation's old, a deletion's new).
pub fn parse_oid(s: &str, kind: gix::hash::Kind) -> Result<ObjectId, String> {
    let want = kind.len_in_hex();
    if s.len() != want {
        return Err(format!(
            "{s:?} is not an object id: expected {want} hex digits ({kind}), found {}",
            s.len()
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "{s:?} is not an object id: only lowercase hex digits are allowed"
        ));
    }
    ObjectId::from_hex(s.as_bytes()).map_err(|e| format!("{s:?} is not an object id: {e}"))
}

/// Check a full ref name as git does (`refs/...`, no `..`, no control characters, ...).
pub fn check_ref_name(name: &str) -> Result<(), String> {
    if !name.starts_with("refs/") {
        return Err(format!("{name:?} is not a full ref name (refs/...)"));
    }
    gix::validate::reference::name(name.as_bytes().into())
        .map(|_| ())
        .map_err(|e| format!("{name:?} is not a valid ref name: {e}"))
}

/// Parse pre-receive and post-receive input: one `<old> <new> <ref>` line per update.
pub fn parse_update_lines(
    input: &[u8],
    kind: gix::hash::Kind,
) -> Result<Vec<RefUpdate>, LineError> {
    let mut out = Vec::new();
    for (i, raw) in split_lines(input).enumerate() {
        let n = i + 1;
        let err = |problem: String| LineError {
            line: n,
            text: String::from_utf8_lossy(raw).into_owned(),
            problem,
        };
        let line = std::str::from_utf8(raw).map_err(|_| err("not UTF-8".into()))?;
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() != 3 {
            return Err(err(format!(
                "expected `<old-id> <new-id> <ref>` separated by single spaces, found {} field{}",
                fields.len(),
                if fields.len() == 1 { "" } else { "s" }
            )));
        }
        let old = parse_oid(fields[0], kind).map_err(&err)?;
        let new = parse_oid(fields[1], kind).map_err(&err)?;
        check_ref_name(fields[2]).map_err(&err)?;
        if old.is_null() && new.is_null() {
            return Err(err(
                "both ids are zero: nothing is created or deleted".into()
            ));
        }
        out.push(RefUpdate {
            old,
            new,
            name: fields[2].to_string(),
        });
    }
    if out.is_empty() {
        return Err(LineError {
            line: 0,
            text: String::new(),
            problem: "no ref updates on standard input".into(),
        });
    }
    Ok(out)
}

/// One line of pre-push input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushLine {
    pub local_ref: String,
    pub local: ObjectId,
    pub remote_ref: String,
    pub remote: ObjectId,
}

/// Parse pre-push input: `<local ref> <local id> <remote ref> <remote id>` per line. A push
/// with nothing to send gives no lines.
pub fn parse_push_lines(input: &[u8], kind: gix::hash::Kind) -> Result<Vec<PushLine>, LineError> {
    let mut out = Vec::new();
    for (i, raw) in split_lines(input).enumerate() {
        let err = |problem: String| LineError {
            line: i + 1,
            text: String::from_utf8_lossy(raw).into_owned(),
            problem,
        };
        let line = std::str::from_utf8(raw).map_err(|_| err("not UTF-8".into()))?;
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() != 4 {
            return Err(err(format!(
                "expected `<local-ref> <local-id> <remote-ref> <remote-id>`, found {} fields",
                fields.len()
            )));
        }
        let local = parse_oid(fields[1], kind).map_err(&err)?;
        let remote = parse_oid(fields[3], kind).map_err(&err)?;
        check_ref_name(fields[2]).map_err(&err)?;
        out.push(PushLine {
            local_ref: fields[0].to_string(),
            local,
            remote_ref: fields[2].to_string(),
            remote,
        });
    }
    Ok(out)
}

fn split_lines(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let input = input.strip_suffix(b"\n").unwrap_or(input);
    let empty = input.is_empty();
    input.split(|b| *b == b'\n').filter(move |_| !empty)
}

// ---------------------------------------------------------------------------------------------
// Policy and identity

fn actor(inv: &Invocation, policy: &Policy) -> Result<Actor> {
    let host = inv.config.host()?;
    Actor::from_host(host, policy, |k| inv.var(k))
}

fn model_options(policy: &Policy) -> ModelOptions {
    ModelOptions {
        content: true,
        max_blob_scan_bytes: policy.hooks.max_blob_scan_bytes,
    }
}

/// Whether the actor may update protected refs (`refs.protected_pushers` names roles or
/// identities).
fn may_push_protected(policy: &Policy, actor: &Actor) -> bool {
    let role = actor.role.to_string();
    policy
        .refs
        .protected_pushers
        .iter()
        .any(|p| *p == role || *p == actor.name)
}

fn open_repo(dir: &Path, objects: Option<&Path>) -> Result<gix::Repository> {
    let mut repo = quarantine::open(dir, objects)?.to_thread_local();
    repo.object_cache_size_if_unset(crate::engine::repo::OBJECT_CACHE_BYTES);
    Ok(repo)
}

// ---------------------------------------------------------------------------------------------
// Output

fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

fn write_verdict(out: &mut dyn Write, format: Format, v: &Verdict) -> std::io::Result<()> {
    match format {
        Format::Json => verdict::render_json(v, out),
        Format::Text => {
            verdict::render_text(v, out)?;
            if !v.findings.is_empty() {
                writeln!(out, "git-guard: policy: {}", v.policy)?;
            }
            Ok(())
        }
    }
}

fn write_error(
    out: &mut dyn Write,
    format: Format,
    hook: Hook,
    e: &anyhow::Error,
) -> std::io::Result<()> {
    let what = match hook {
        Hook::PreCommit => "this commit",
        Hook::CommitMsg => "this commit message",
        Hook::PrePush | Hook::PreReceive | Hook::Update => "this push",
        Hook::ReferenceTransaction => "this ref update",
        Hook::PostReceive => "the accepted push for the audit log",
    };
    match format {
        Format::Json => {
            let causes: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            let doc = serde_json::json!({
                "version": 1,
                "hook": hook.name(),
                "outcome": "error",
                "exit_code": 2,
                "error": causes.first(),
                "causes": &causes[1.min(causes.len())..],
            });
            writeln!(out, "{doc}")
        }
        Format::Text => {
            let verb = if hook == Hook::PostReceive {
                "could not record"
            } else {
                "REJECTED: could not judge"
            };
            writeln!(out, "git-guard: {verb} {what}: {e}")?;
            for cause in e.chain().skip(1) {
                for line in cause.to_string().lines() {
                    writeln!(out, "  caused by: {line}")?;
                }
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Deadline

enum Progress<T> {
    /// The deadline the policy sets, known once the policy is read.
    Deadline(Duration),
    Done(Result<T>),
}

/// Why a deadline-bound job did not give its result.
enum Outcome<T> {
    Done(Result<T>),
    TimedOut { deadline: Duration },
}

/// Run `job` on its own thread and wait for it until the deadline, which starts as `initial`
/// and becomes whatever the job reports (measured from `start`). Past it, give up: the thread
/// is left to finish on its own while the hook answers (and the process exits).
fn with_deadline<T: Send + 'static>(
    start: Instant,
    initial: Duration,
    job: impl FnOnce(&dyn Fn(Duration)) -> Result<T> + Send + 'static,
) -> Outcome<T> {
    let (tx, rx) = mpsc::channel::<Progress<T>>();
    let spawned = std::thread::Builder::new()
        .name("guard-judge".into())
        .spawn(move || {
            let tx2 = tx.clone();
            let report = move |d: Duration| {
                let _ = tx2.send(Progress::Deadline(d));
            };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&report)))
                .unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(anyhow!("internal error while judging: {msg}"))
                });
            let _ = tx.send(Progress::Done(r));
        });
    if let Err(e) = spawned {
        return Outcome::Done(Err(anyhow!("cannot start the judging thread: {e}")));
    }
    let mut deadline = initial;
    loop {
        let left = deadline.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(Progress::Deadline(d)) => deadline = d,
            Ok(Progress::Done(r)) => return Outcome::Done(r),
            Err(mpsc::RecvTimeoutError::Timeout) => return Outcome::TimedOut { deadline },
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Outcome::Done(Err(anyhow!("the judging thread stopped without a verdict")));
            }
        }
    }
}

fn deadline_of(inv: &Invocation, policy: Option<&Policy>) -> Duration {
    let ms = inv
        .config
        .deadline_ms
        .or(policy.map(|p| p.hooks.deadline_ms))
        .unwrap_or(DEFAULT_DEADLINE_MS);
    Duration::from_millis(ms)
}

// ---------------------------------------------------------------------------------------------
// Server hooks

/// What judging a push gave.
struct Judged {
    audit_log: PathBuf,
    updates: Vec<RefUpdate>,
    verdict: Verdict,
    /// For pre-receive: what post-receive needs, kept if the push passes.
    handoff: Option<(PathBuf, Handoff)>,
}

/// Judge ref updates the way the server does: quarantine-aware objects, the installed policy,
/// the host's identity, every new commit of every ref, under the deadline.
fn judge_push(inv: &Invocation, hook: Hook, input: UpdateInput, out: &mut dyn Write) -> Result<u8> {
    let start = Instant::now();
    let objenv = ObjectEnv::from_env(|k| inv.var(k))?;
    let store = ObjectStore::prepare(&objenv, &inv.cwd)?;
    let objects = store.objects_dir();
    let job_inv = inv.clone();
    let job = move |report: &dyn Fn(Duration)| -> Result<Judged> {
        let repo = open_repo(&job_inv.cwd, objects.as_deref())?;
        let handoff_key = match &input {
            UpdateInput::Lines(bytes) if hook == Hook::PreReceive => Some(handoff_key(bytes)),
            _ => None,
        };
        let updates = match input {
            UpdateInput::Lines(bytes) => parse_update_lines(&bytes, repo.object_hash())?,
            UpdateInput::Args(args) => parse_update_args(&args, repo.object_hash())?,
        };
        let base = server_base(&repo)?;
        let policy = resolve_policy(&repo, &job_inv.config, base.as_deref(), &updates)?;
        report(deadline_of(&job_inv, Some(&policy)));
        let audit_log = audit_path(&job_inv, Some(&policy), repo.git_dir());
        for (i, u) in updates.iter().enumerate() {
            check_update_objects(&repo, u)
                .with_context(|| format!("update {} ({}) cannot be judged", i + 1, u.name))?;
        }
        let actor = actor(&job_inv, &policy)?;
        // git-guard's own refs point at records, not commits: the approvals judge them, the
        // change rules judge the rest.
        let (guard, changes): (Vec<RefUpdate>, Vec<RefUpdate>) = updates
            .iter()
            .cloned()
            .partition(|u| approvals::is_guard_ref(&u.name));
        let units = if changes.is_empty() {
            Vec::new()
        } else {
            let known =
                commit_tips(&repo, &HashSet::new()).context("cannot list the repository's refs")?;
            model::updates(&repo, &changes, &known, model_options(&policy))
                .context("cannot read the pushed changes")?
        };
        let pushed_now: HashSet<ObjectId> = units
            .iter()
            .flat_map(|u| u.commits.iter().filter_map(|c| c.id))
            .collect();
        let handoff = handoff_key.as_ref().map(|key| {
            (
                pending_dir(repo.common_dir()).join(key),
                Handoff::new(key, &actor, &policy, &audit_log, &units),
            )
        });
        let mut verdict = engine::judge_units(&policy, &actor, units);
        let guard_findings: Vec<Finding> = guard
            .iter()
            .flat_map(|u| approvals::judge_push_ref_update(&repo, &policy, &actor, u, &pushed_now))
            .collect();
        if guard_findings
            .iter()
            .any(|f| f.severity == verdict::Severity::Violation)
        {
            // The approvals namespace is append-only in every mode and for every role: a
            // deleted revocation would revive the approval it revoked.
            verdict.mode = Mode::Enforce;
        }
        verdict.findings.extend(guard_findings);
        Ok(Judged {
            audit_log,
            updates,
            verdict,
            handoff,
        })
    };
    let outcome = with_deadline(start, deadline_of(inv, None), job);
    // The temporary object store outlives the job only until here, whatever the job's fate.
    let result = match outcome {
        Outcome::Done(r) => r,
        Outcome::TimedOut { deadline } => Err(anyhow!(
            "judging took longer than the deadline of {} ms (hooks.deadline_ms): push fewer \
             commits at a time, or ask an admin to raise the deadline",
            deadline.as_millis()
        )),
    };
    drop(store);
    match result {
        Ok(j) => {
            write_verdict(out, inv.format(), &j.verdict)?;
            let code = j.verdict.exit_code() as u8;
            let event = push_event(hook, &j.updates, &j.verdict);
            if let Err(e) = audit::append(&j.audit_log, &event) {
                if code == 0 {
                    return Err(
                        e.context("the push passed but cannot be recorded, so it is refused")
                    );
                }
            }
            if code == 0
                && let Some((path, handoff)) = &j.handoff
            {
                // Only saves post-receive a second walk: when it cannot be written,
                // post-receive walks.
                handoff.write(path);
            }
            Ok(code)
        }
        Err(e) => {
            let log = audit_path(inv, None, &inv.git_dir_hint());
            let event = audit::Event {
                door: hook.name().into(),
                action: "push".into(),
                actor: actor_name_for_audit(inv),
                role: None,
                outcome: "error".into(),
                rules: vec![],
                detail: serde_json::json!({ "error": format!("{e:#}") }),
            };
            let _ = audit::append(&log, &event);
            Err(e)
        }
    }
}

enum UpdateInput {
    Lines(Vec<u8>),
    Args(Vec<String>),
}

fn parse_update_args(args: &[String], kind: gix::hash::Kind) -> Result<Vec<RefUpdate>> {
    let [name, old, new] = args else {
        bail!(
            "the update hook takes `<ref> <old-id> <new-id>`, got {} argument{}",
            args.len(),
            if args.len() == 1 { "" } else { "s" }
        );
    };
    let line = format!("{old} {new} {name}\n");
    Ok(parse_update_lines(line.as_bytes(), kind)?)
}

/// The ids a line names must exist: the old one in the repository, the new one among the
/// repository's or the pushed objects. Anything else cannot be judged.
fn check_update_objects(repo: &gix::Repository, u: &RefUpdate) -> Result<()> {
    for (side, id) in [("new", u.new), ("old", u.old)] {
        if !id.is_null() && !repo.has_object(id) {
            bail!(
                "its {side} id {id} is not in the repository nor among the pushed objects \
                 (push the objects it needs)"
            );
        }
    }
    Ok(())
}

/// The tips of the repository's refs (peeled), leaving out git-guard's own records (they point
/// at blobs, one per pushed commit, and bound no history) and the refs named in `skip`.
fn commit_tips(repo: &gix::Repository, skip: &HashSet<&str>) -> Result<Vec<ObjectId>> {
    let refs = repo
        .references()
        .map_err(|e| anyhow!("{e}"))
        .context("cannot read the refs")?;
    let mut tips = Vec::new();
    for r in refs
        .all()
        .map_err(|e| anyhow!("{e}"))
        .context("cannot list the refs")?
    {
        let mut r = r.map_err(|e| anyhow!("cannot read a ref: {e}"))?;
        let name = r.name().as_bstr().to_string();
        if approvals::is_guard_ref(&name) || skip.contains(name.as_str()) {
            continue;
        }
        match r.peel_to_id() {
            Ok(id) => tips.push(id.detach()),
            // A dangling symbolic ref (an unborn branch) names no commit.
            Err(_) if r.target().try_id().is_none() => {}
            Err(e) => {
                return Err(anyhow!("{e}")).with_context(|| {
                    format!("ref {name} points to a missing object; hint: `git fsck`")
                });
            }
        }
    }
    tips.sort();
    tips.dedup();
    Ok(tips)
}

/// The commits an accepted update brought, in post-receive, where the refs have already moved:
/// those reachable from its new tip and from no ref as it stood before the push (every other
/// ref's tip, and the old ids of the updated refs).
fn commits_brought(
    repo: &gix::Repository,
    updates: &[RefUpdate],
    u: &RefUpdate,
) -> Result<Vec<ObjectId>> {
    if u.is_delete() {
        return Ok(Vec::new());
    }
    let Ok(tip) = repo
        .find_object(u.new)
        .with_context(|| format!("cannot read {}", u.new))?
        .peel_to_kind(gix::object::Kind::Commit)
    else {
        // A ref may name a tree or a blob: no commit came with it.
        return Ok(Vec::new());
    };
    let moved: HashSet<&str> = updates.iter().map(|x| x.name.as_str()).collect();
    let mut hidden = commit_tips(repo, &moved)?;
    hidden.extend(updates.iter().map(|x| x.old).filter(|o| !o.is_null()));
    let hidden: Vec<ObjectId> = hidden
        .into_iter()
        .filter(|id| {
            repo.find_object(*id)
                .is_ok_and(|o| o.kind == gix::object::Kind::Commit)
        })
        .collect();
    let walk = repo
        .rev_walk([tip.id])
        .with_hidden(hidden)
        .all()
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("cannot walk the history of {}", tip.id))?;
    let mut out = Vec::new();
    for info in walk {
        out.push(
            info.map_err(|e| anyhow!("{e}"))
                .with_context(|| format!("cannot walk the history of {}", tip.id))?
                .id,
        );
    }
    Ok(out)
}

fn audit_path(inv: &Invocation, policy: Option<&Policy>, git_dir: &Path) -> PathBuf {
    inv.config
        .audit_log
        .clone()
        .or_else(|| policy.and_then(|p| p.audit.log.clone()))
        .unwrap_or_else(|| git_dir.join("guard").join("audit.log"))
}

fn actor_name_for_audit(inv: &Invocation) -> String {
    match inv.config.host() {
        Ok(h) => match h.variable() {
            Some(v) => inv.var(v).unwrap_or_else(|| format!("(no {v})")),
            None => crate::engine::identity::unix_user(),
        },
        Err(_) => "(unknown host)".into(),
    }
}

fn push_event(hook: Hook, updates: &[RefUpdate], v: &Verdict) -> audit::Event {
    const LISTED: usize = 100;
    let refs: Vec<serde_json::Value> = updates
        .iter()
        .take(LISTED)
        .map(|u| serde_json::json!({"ref": u.name, "old": u.old.to_string(), "new": u.new.to_string()}))
        .collect();
    let action = match updates {
        [one] => format!("push {}", one.name),
        many => format!("push {} refs", many.len()),
    };
    audit::Event {
        door: hook.name().into(),
        action,
        actor: v.actor.name.clone(),
        role: Some(v.actor.role),
        outcome: v.outcome().into(),
        rules: v.rule_ids(),
        detail: serde_json::json!({
            "policy": v.policy,
            "actor_source": v.actor.source,
            "updates": refs,
            "updates_total": updates.len(),
            "violations": v.violations().count(),
            "flags": v.flags().count(),
            "risk": v.risk.score,
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// From pre-receive to post-receive

/// How long an unclaimed hand-off is kept: one is left behind only when a push passed
/// pre-receive and then failed (a ref could not be locked, a later hook refused).
const HANDOFF_STALE: Duration = Duration::from_secs(3600);

/// What pre-receive learnt about a push that passed, for the post-receive of the same push:
/// the commits each ref brought (so post-receive need not walk them again), who pushed, the
/// policy and the audit log. Kept in `<git common dir>/guard/pending/<key>`, never in the
/// quarantine; the key hashes receive-pack's process id and the exact update lines, so a
/// post-receive finds only the hand-off of its own push. Anything missing, stale or not
/// matching, and post-receive works it out again itself.
#[derive(Debug, Serialize, Deserialize)]
struct Handoff {
    version: u32,
    key: String,
    pusher: String,
    role: Role,
    source: String,
    policy: String,
    audit_log: PathBuf,
    refs: Vec<HandoffRef>,
}

#[derive(Debug, Serialize, Deserialize)]
struct HandoffRef {
    #[serde(rename = "ref")]
    name: String,
    old: String,
    new: String,
    /// The commits the update brought, newest first (as a push record lists them).
    commits: Vec<String>,
}

fn pending_dir(common_dir: &Path) -> PathBuf {
    common_dir.join("guard").join("pending")
}

/// The hand-off's name: the SHA-256 of receive-pack's process id (the parent of both hooks,
/// which `exec` from their shims) and the update lines exactly as git gave them.
fn handoff_key(stdin: &[u8]) -> String {
    let mut keyed = format!("{}\n", std::os::unix::process::parent_id()).into_bytes();
    keyed.extend_from_slice(stdin);
    audit::sha256_hex(&keyed)
}

impl Handoff {
    fn new(key: &str, actor: &Actor, policy: &Policy, audit_log: &Path, units: &[Unit]) -> Self {
        let refs = units
            .iter()
            .filter_map(|unit| {
                let u = unit.update.as_ref()?;
                // Every commit of a push has its id; a unit without them is not handed off.
                let commits: Option<Vec<String>> = unit
                    .commits
                    .iter()
                    .rev()
                    .map(|c| c.id.map(|id| id.to_string()))
                    .collect();
                Some(HandoffRef {
                    name: u.name.clone(),
                    old: u.old.to_string(),
                    new: u.new.to_string(),
                    commits: commits?,
                })
            })
            .collect();
        Handoff {
            version: 1,
            key: key.to_string(),
            pusher: actor.name.clone(),
            role: actor.role,
            source: actor.source.clone(),
            policy: policy.source.to_string(),
            audit_log: audit_log.to_path_buf(),
            refs,
        }
    }

    /// Write it whole or not at all (a temporary file renamed into place), and clear
    /// hand-offs that pushes which failed after pre-receive left behind. Failures are
    /// ignored: without a hand-off, post-receive walks.
    fn write(&self, path: &Path) {
        let Some(dir) = path.parent() else { return };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.metadata().is_ok_and(|m| is_stale(&m)) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let Ok(data) = serde_json::to_vec(self) else {
            return;
        };
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &data).is_err() || std::fs::rename(&tmp, path).is_err() {
            let _ = std::fs::remove_file(&tmp);
            let _ = std::fs::remove_file(path);
        }
    }

    /// Read and remove the hand-off named `key`; `None` when there is none, or it is stale,
    /// damaged or for another push.
    fn take(common_dir: &Path, key: &str) -> Option<Handoff> {
        let path = pending_dir(common_dir).join(key);
        let data = std::fs::read(&path).ok();
        let stale = std::fs::metadata(&path).map_or(true, |m| is_stale(&m));
        let _ = std::fs::remove_file(&path);
        let h: Handoff = serde_json::from_slice(&data?).ok()?;
        (!stale && h.version == 1 && h.key == key).then_some(h)
    }

    /// The commits `u` brought, when the hand-off names this exact update and every id parses.
    fn commits_of(&self, u: &RefUpdate) -> Option<Vec<ObjectId>> {
        let r = self.refs.iter().find(|r| {
            r.name == u.name && approvals::is_id(&r.old, &u.old) && approvals::is_id(&r.new, &u.new)
        })?;
        r.commits
            .iter()
            .map(|c| ObjectId::from_hex(c.as_bytes()).ok())
            .collect()
    }
}

fn is_stale(m: &std::fs::Metadata) -> bool {
    m.modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age > HANDOFF_STALE)
}

/// pre-receive: the authoritative gate over every ref of the push.
pub fn pre_receive(inv: &Invocation, stdin: &[u8], out: &mut dyn Write) -> Result<u8> {
    judge_push(
        inv,
        Hook::PreReceive,
        UpdateInput::Lines(stdin.to_vec()),
        out,
    )
}

/// update: the same verdict for one ref (`<ref> <old> <new>` as arguments).
pub fn update(inv: &Invocation, args: &[String], out: &mut dyn Write) -> Result<u8> {
    judge_push(inv, Hook::Update, UpdateInput::Args(args.to_vec()), out)
}

/// post-receive: record every accepted update in the audit log, and who pushed the commits it
/// brought (one record per update, `refs/guard/pushes/<new-tip>`, read by the approvals).
pub fn post_receive(inv: &Invocation, stdin: &[u8], out: &mut dyn Write) -> Result<u8> {
    let repo = open_repo(&inv.cwd, None)?;
    let updates = parse_update_lines(stdin, repo.object_hash())?;
    // A hand-off must account for every update it is used for, or it is not used at all.
    let handoff = Handoff::take(repo.common_dir(), &handoff_key(stdin)).filter(|h| {
        updates
            .iter()
            .filter(|u| !approvals::is_guard_ref(&u.name))
            .all(|u| h.commits_of(u).is_some())
    });
    // What pre-receive resolved for this very push (the same policy, read at the same base
    // tip, and the same identity): resolved again only when it left nothing.
    let (log, pusher, policy_source) = match &handoff {
        Some(h) => (
            h.audit_log.clone(),
            Ok(Actor {
                name: h.pusher.clone(),
                role: h.role,
                source: h.source.clone(),
            }),
            h.policy.clone(),
        ),
        None => {
            let base = server_base(&repo)?;
            let policy = resolve_policy(&repo, &inv.config, base.as_deref(), &updates)?;
            (
                audit_path(inv, Some(&policy), repo.git_dir()),
                actor(inv, &policy),
                policy.source.to_string(),
            )
        }
    };
    let (name, role, source) = match &pusher {
        Ok(a) => (a.name.clone(), Some(a.role), a.source.clone()),
        Err(e) => (actor_name_for_audit(inv), None, format!("{e}")),
    };
    for u in &updates {
        let kind = if u.is_create() {
            "create"
        } else if u.is_delete() {
            "delete"
        } else {
            "update"
        };
        let event = audit::Event {
            door: Hook::PostReceive.name().into(),
            action: format!("{kind} {}", u.name),
            actor: name.clone(),
            role,
            outcome: "accepted".into(),
            rules: vec![],
            detail: serde_json::json!({
                "ref": u.name, "old": u.old.to_string(), "new": u.new.to_string(),
                "actor_source": source, "policy": policy_source,
            }),
        };
        audit::append(&log, &event)?;
    }
    // Who brought each commit, as the server saw it: what keeps people from approving their
    // own changes.
    let pusher = pusher.context("cannot record who pushed the new commits")?;
    let mut push_records = 0;
    for u in updates.iter().filter(|u| !approvals::is_guard_ref(&u.name)) {
        let commits = match handoff.as_ref().and_then(|h| h.commits_of(u)) {
            Some(c) => c,
            None => commits_brought(&repo, &updates, u)
                .with_context(|| format!("cannot list the commits {} brought", u.name))?,
        };
        if approvals::record_push(&repo, &pusher, u, &commits)
            .with_context(|| format!("cannot record who pushed the commits of {}", u.name))?
            .is_some()
        {
            push_records += 1;
        }
    }
    if inv.format() == Format::Json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"version": 1, "hook": "post-receive", "recorded": updates.len(), "push_records": push_records, "log": log})
        )?;
    }
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// Client hooks

/// pre-commit: the staged change, judged with the rules the server applies.
pub fn pre_commit(inv: &Invocation, out: &mut dyn Write) -> Result<u8> {
    let repo = open_repo(&inv.cwd, None)?;
    let base = client_base(&repo, "origin")?;
    // Compiling the policy and reading the index are independent until the contents are
    // read: do them at once. A broken policy is still the first error told.
    let policy_repo = repo.clone();
    let (policy, staged) = std::thread::scope(|s| {
        let (config, base) = (&inv.config, base.as_deref());
        let policy = s.spawn(move || resolve_policy(&policy_repo, config, base, &[]));
        let staged = model::StagedIndex::read(&repo);
        let policy = policy
            .join()
            .unwrap_or_else(|_| Err(anyhow!("reading the policy failed")));
        (policy, staged)
    });
    let policy = policy?;
    let actor = actor(inv, &policy)?;
    let unit = staged
        .and_then(|s| s.into_unit(&repo, model_options(&policy)))
        .context("cannot read the staged change")?;
    let mut verdict = engine::judge_units(&policy, &actor, vec![unit]);
    if let Some(head) = repo.head_name().context("cannot read HEAD")? {
        let head = head.as_bstr().to_string();
        if policy.refs.protected.is_match(&head) && !may_push_protected(&policy, &actor) {
            verdict
                .findings
                .push(protected_ref_finding(&policy, &head, "commit on"));
        }
    }
    write_verdict(out, inv.format(), &verdict)?;
    Ok(verdict.exit_code() as u8)
}

fn protected_ref_finding(policy: &Policy, refname: &str, doing: &str) -> Finding {
    let branch = refname.strip_prefix("refs/heads/").unwrap_or(refname);
    let ns = &policy.refs.agent_namespace_text;
    let example = ns.replace('*', "<topic>");
    Finding::violation(
        "refs.protected",
        format!("{branch} is protected: agents may not {doing} it"),
        if ns.is_empty() {
            "work on another branch and ask a human to merge it".to_string()
        } else {
            format!(
                "work on a branch matching {ns}: `git switch -c {example}`, then push that branch"
            )
        },
    )
    .at_ref(Some(refname))
}

/// commit-msg: the message (argument 1, a file), as git will record it.
pub fn commit_msg(inv: &Invocation, args: &[String], out: &mut dyn Write) -> Result<u8> {
    let file = args
        .first()
        .ok_or_else(|| anyhow!("commit-msg takes the message file as its argument"))?;
    let path = inv.cwd.join(file);
    let raw = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let raw = String::from_utf8(raw).map_err(|_| anyhow!("{} is not UTF-8", path.display()))?;
    let repo = open_repo(&inv.cwd, None)?;
    let comment = repo
        .config_snapshot()
        .string("core.commentChar")
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty() && s != "auto")
        .unwrap_or_else(|| "#".into());
    let message = clean_message(&raw, &comment);
    let base = client_base(&repo, "origin")?;
    let policy = resolve_policy(&repo, &inv.config, base.as_deref(), &[])?;
    let actor = actor(inv, &policy)?;
    let mut findings = Vec::new();
    crate::engine::rules::commits::check_message(&policy, &message, &mut findings);
    let verdict = verdict_of(&policy, &actor, findings, vec![]);
    // pre-commit has already said the change passed; a message with nothing to say about it
    // stays quiet in text, so each commit reads as one verdict line.
    if !verdict.findings.is_empty() || inv.format() == Format::Json {
        write_verdict(out, inv.format(), &verdict)?;
    }
    Ok(verdict.exit_code() as u8)
}

/// The message as git stores it: comment lines and everything below the scissors line gone,
/// trailing blank lines dropped.
pub fn clean_message(raw: &str, comment: &str) -> String {
    let scissors = format!("{comment} ------------------------ >8 ------------------------");
    let mut lines = Vec::new();
    for line in raw.lines() {
        if line == scissors {
            break;
        }
        if line.starts_with(comment) {
            continue;
        }
        lines.push(line.trim_end());
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    while lines.first().is_some_and(|l| l.is_empty()) {
        lines.remove(0);
    }
    let mut s = lines.join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

/// A verdict from findings made outside the engine, with the engine's admin bypass.
fn verdict_of(policy: &Policy, actor: &Actor, findings: Vec<Finding>, units: Vec<Unit>) -> Verdict {
    let mut v = engine::judge_units(policy, actor, units);
    let mut extra = findings;
    if actor.role == Role::Admin {
        for f in extra
            .iter_mut()
            .filter(|f| f.severity == verdict::Severity::Violation)
        {
            f.severity = verdict::Severity::Note;
            f.message = format!("bypassed by admin {}: {}", actor.name, f.message);
        }
    }
    v.findings.extend(extra);
    v
}

/// pre-push: exactly what the push would send, judged with the server's rules. Known to the
/// remote: the remote-tracking tips of that remote, and the remote's ids that exist here.
pub fn pre_push(
    inv: &Invocation,
    args: &[String],
    stdin: &[u8],
    out: &mut dyn Write,
) -> Result<u8> {
    let remote = args.first().cloned().unwrap_or_else(|| "origin".into());
    let repo = open_repo(&inv.cwd, None)?;
    let lines = parse_push_lines(stdin, repo.object_hash())?;
    let base = client_base(&repo, &remote)?;
    let updates: Vec<RefUpdate> = lines
        .iter()
        .map(|l| RefUpdate {
            old: l.remote,
            new: l.local,
            name: l.remote_ref.clone(),
        })
        .collect();
    let policy = resolve_policy(&repo, &inv.config, base.as_deref(), &[])?;
    let actor = actor(inv, &policy)?;
    if updates.is_empty() {
        let v = engine::judge_units(&policy, &actor, vec![]);
        write_verdict(out, inv.format(), &v)?;
        return Ok(0);
    }
    let mut known: Vec<ObjectId> = Vec::new();
    let prefix = format!("refs/remotes/{remote}/");
    let refs = repo.references().context("cannot list refs")?;
    for r in refs
        .prefixed(prefix.as_str())
        .with_context(|| format!("cannot list {prefix}"))?
    {
        let mut r = r.map_err(|e| anyhow!("cannot read a ref under {prefix}: {e}"))?;
        if let Ok(id) = r.peel_to_id() {
            known.push(id.detach());
        }
    }
    for u in &updates {
        if u.old.is_null() {
            continue;
        }
        if repo.has_object(u.old) {
            known.push(u.old);
        } else {
            bail!(
                "{} is at {} on {remote}, which this clone does not have: run `git fetch {remote}` \
                 and build on it before pushing",
                u.name,
                short(&u.old)
            );
        }
    }
    let known: Vec<ObjectId> = known
        .into_iter()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // Approval records point at blobs, not commits; `git guard approve` judged them before
    // pushing and the server judges them again.
    let changes: Vec<RefUpdate> = updates
        .into_iter()
        .filter(|u| !approvals::is_guard_ref(&u.name))
        .collect();
    let units = model::updates(&repo, &changes, &known, model_options(&policy))
        .context("cannot read the changes this push would send")?;
    let verdict = engine::judge_units(&policy, &actor, units);
    write_verdict(out, inv.format(), &verdict)?;
    Ok(verdict.exit_code() as u8)
}

/// reference-transaction: in the `prepared` state, refuse updates of protected refs by anyone
/// the policy does not let push them, whatever made them (`git update-ref`, `git branch -f`,
/// `git commit`). Bringing a protected branch to exactly the tip of the same branch on a
/// remote (`git pull --ff-only`, `git reset --hard origin/main`) stays allowed: that only
/// follows what people already accepted upstream.
pub fn reference_transaction(
    inv: &Invocation,
    args: &[String],
    stdin: &[u8],
    out: &mut dyn Write,
) -> Result<u8> {
    if args.first().map(String::as_str) != Some("prepared") {
        return Ok(0);
    }
    let text = String::from_utf8_lossy(stdin);
    // Only the ref names matter here; values may be ids or, for symbolic refs, `ref:<target>`.
    let names: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ' ');
            let (_old, new, name) = (f.next()?, f.next()?, f.next()?);
            Some((new, name))
        })
        .collect();
    let repo = open_repo(&inv.cwd, None)?;
    let base = client_base(&repo, "origin")?;
    let policy = resolve_policy(&repo, &inv.config, base.as_deref(), &[])?;
    let touched: Vec<(&str, &str)> = names
        .into_iter()
        .filter(|(_, n)| policy.refs.protected.is_match(n))
        .collect();
    if touched.is_empty() {
        return Ok(0);
    }
    let actor = actor(inv, &policy)?;
    if may_push_protected(&policy, &actor) {
        return Ok(0);
    }
    let mut findings = Vec::new();
    for (new, name) in touched {
        if follows_a_remote(&repo, name, new) {
            continue;
        }
        findings.push(protected_ref_finding(&policy, name, "update"));
    }
    if findings.is_empty() {
        return Ok(0);
    }
    let verdict = verdict_of(&policy, &actor, findings, vec![]);
    write_verdict(out, inv.format(), &verdict)?;
    Ok(verdict.exit_code() as u8)
}

fn follows_a_remote(repo: &gix::Repository, name: &str, new: &str) -> bool {
    let Some(branch) = name.strip_prefix("refs/heads/") else {
        return false;
    };
    let Ok(new) = ObjectId::from_hex(new.as_bytes()) else {
        return false;
    };
    if new.is_null() {
        return false;
    }
    let Ok(refs) = repo.references() else {
        return false;
    };
    let Ok(iter) = refs.prefixed("refs/remotes/") else {
        return false;
    };
    iter.filter_map(Result::ok).any(|mut r| {
        let n = r.name().as_bstr().to_string();
        n.rsplit_once('/')
            .is_some_and(|_| n.ends_with(&format!("/{branch}")))
            && n.strip_prefix("refs/remotes/")
                .and_then(|rest| rest.split_once('/'))
                .is_some_and(|(_, b)| b == branch)
            && r.peel_to_id().is_ok_and(|id| id.detach() == new)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::config::{CONFIG_FILE, Side};
    use gix::hash::Kind;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const Z: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn update_lines_parse_sha1_and_sha256() {
        let input = format!("{A} {B} refs/heads/main\n{Z} {B} refs/heads/agent/x\n");
        let u = parse_update_lines(input.as_bytes(), Kind::Sha1).unwrap();
        assert_eq!(u.len(), 2);
        assert!(u[1].is_create());
        assert_eq!(u[0].name, "refs/heads/main");
        let a = "a".repeat(64);
        let z = "0".repeat(64);
        let input = format!("{a} {z} refs/tags/v1\n");
        let u = parse_update_lines(input.as_bytes(), Kind::Sha256).unwrap();
        assert!(u[0].is_delete());
    }

    #[test]
    fn malformed_lines_are_named() {
        let cases: &[(&str, &str)] = &[
            ("garbage\n", "found 1 field"),
            (&format!("{A} {B}  refs/heads/x\n"), "found 4 fields"),
            (&format!("{A} {B}\n"), "found 2 fields"),
            (
                &format!("{} {B} refs/heads/x\n", &A[..39]),
                "expected 40 hex digits",
            ),
            (
                &format!("{} {B} refs/heads/x\n", A.to_uppercase().replace('1', "A")),
                "lowercase hex",
            ),
            (
                &format!("{A} {B} refs/heads/a..b\n"),
                "not a valid ref name",
            ),
            (&format!("{A} {B} main\n"), "not a full ref name"),
            (&format!("{Z} {Z} refs/heads/x\n"), "both ids are zero"),
            (&format!("{A} {B} refs/heads/x\r\n"), "not a valid ref name"),
            ("", "no ref updates"),
        ];
        for (input, want) in cases {
            let e = parse_update_lines(input.as_bytes(), Kind::Sha1).unwrap_err();
            assert!(e.to_string().contains(want), "{input:?}: {e}");
        }
        let input = format!("{A} {B} refs/heads/ok\n{A} {B} refs/heads/bad~1\n");
        let e = parse_update_lines(input.as_bytes(), Kind::Sha1).unwrap_err();
        assert_eq!(e.line, 2);
        // A SHA-1 id in a SHA-256 repository is malformed, not silently padded.
        let e = parse_update_lines(format!("{A} {B} refs/heads/x\n").as_bytes(), Kind::Sha256)
            .unwrap_err();
        assert!(e.to_string().contains("expected 64 hex digits"), "{e}");
    }

    #[test]
    fn push_lines_parse() {
        let input = format!("refs/heads/x {A} refs/heads/x {Z}\n(delete) {Z} refs/heads/y {B}\n");
        let l = parse_push_lines(input.as_bytes(), Kind::Sha1).unwrap();
        assert_eq!(l.len(), 2);
        assert!(l[0].remote.is_null());
        assert_eq!(l[1].local_ref, "(delete)");
        assert!(parse_push_lines(b"", Kind::Sha1).unwrap().is_empty());
        assert!(parse_push_lines(b"a b c\n", Kind::Sha1).is_err());
    }

    #[test]
    fn update_args_parse_like_a_line() {
        let args = vec!["refs/heads/x".to_string(), A.to_string(), B.to_string()];
        let u = parse_update_args(&args, Kind::Sha1).unwrap();
        assert_eq!(u[0].name, "refs/heads/x");
        assert!(parse_update_args(&args[..2], Kind::Sha1).is_err());
    }

    #[test]
    fn hook_config_round_trips_and_rejects_unknown_keys() {
        let mut c = HookConfig::new(Side::Server);
        c.policy = Some("/etc/git-guard/policy.toml".into());
        c.host = "gitolite".into();
        c.deadline_ms = Some(1500);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CONFIG_FILE);
        std::fs::write(&p, c.to_toml()).unwrap();
        assert_eq!(HookConfig::load(&p).unwrap(), c);
        std::fs::write(&p, "host = \"plain\"\npolcy = \"x\"\n").unwrap();
        let e = format!("{:#}", HookConfig::load(&p).unwrap_err());
        assert!(e.contains("polcy"), "{e}");
        std::fs::write(&p, "host = \"nowhere\"\n").unwrap();
        let e = format!("{:#}", HookConfig::load(&p).unwrap_err());
        assert!(e.contains("unknown host"), "{e}");
        let e = format!(
            "{:#}",
            HookConfig::load(&dir.path().join("missing")).unwrap_err()
        );
        assert!(e.contains("reinstall"), "{e}");
    }

    #[test]
    fn messages_are_cleaned_like_git() {
        let raw = "\nSubject\n\nBody  \n# comment\n\n# ------------------------ >8 ------------------------\ndiff\n";
        assert_eq!(clean_message(raw, "#"), "Subject\n\nBody\n");
        assert_eq!(clean_message("# only comments\n", "#"), "");
    }

    #[test]
    fn deadline_stops_waiting_and_reports_the_policy_deadline() {
        let start = Instant::now();
        let r = with_deadline(start, Duration::from_secs(30), |report| {
            report(Duration::from_millis(20));
            std::thread::sleep(Duration::from_secs(5));
            Ok(1)
        });
        match r {
            Outcome::TimedOut { deadline } => assert_eq!(deadline, Duration::from_millis(20)),
            Outcome::Done(_) => panic!("the job should have outlasted its deadline"),
        }
        let r = with_deadline(Instant::now(), Duration::from_secs(30), |_| Ok(7));
        assert!(matches!(r, Outcome::Done(Ok(7))));
        let r: Outcome<u8> =
            with_deadline(Instant::now(), Duration::from_secs(30), |_| panic!("boom"));
        match r {
            Outcome::Done(Err(e)) => assert!(e.to_string().contains("boom")),
            _ => panic!("a panic must become an error"),
        }
    }

    #[test]
    fn chained_hook_runs_after_a_pass_and_always_after_post_receive() {
        assert!(runs_chained(Hook::PreReceive, &[], 0));
        assert!(!runs_chained(Hook::PreReceive, &[], 1));
        assert!(runs_chained(Hook::PostReceive, &[], 2));
        assert!(!runs_chained(
            Hook::ReferenceTransaction,
            &["prepared".into()],
            1
        ));
        assert!(runs_chained(
            Hook::ReferenceTransaction,
            &["committed".into()],
            1
        ));
    }
}

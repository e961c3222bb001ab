//! Admin imports: an admin's push that outlasts the deadline (`hooks.admin_import =
//! "background"`) is accepted by pre-receive only once its pending record is written
//! ([`accept_import`]); the post-receive of the same push starts the background judge
//! ([`start_judge`]), a detached `guard-hook judge-import <record>`, which judges the push
//! with the same engine and no deadline ([`judge_import`]) and records the verdict in the
//! audit log. The record layout is in [`crate::site::imports`].

use std::io::Write;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use anyhow::{Result, anyhow, bail};
use gix::ObjectId;

use crate::approvals;
use crate::engine::changes::RefUpdate;
use crate::engine::identity::Actor;
use crate::engine::model::ProposalBase;
use crate::engine::verdict::{Severity, Verdict};
use crate::site::audit;
use crate::site::config::{Hook, policy_at};
use crate::site::imports::{
    self, ImportFailure, ImportRecord, ImportUpdate, ImportViolations, write_json,
};

use super::server::{Before, judge_updates, push_event};
use super::*;

/// The hidden subcommand of `guard-hook` that judges one pending import.
pub const JUDGE_IMPORT: &str = "judge-import";

fn now() -> String {
    audit::rfc3339(SystemTime::now())
}

fn updates_json(updates: &[ImportUpdate]) -> serde_json::Value {
    const LISTED: usize = 100;
    serde_json::Value::Array(
        updates
            .iter()
            .take(LISTED)
            .map(|u| serde_json::json!({"ref": u.name, "old": u.old, "new": u.new}))
            .collect(),
    )
}

fn action(updates: &[ImportUpdate]) -> String {
    match updates {
        [one] => format!("push {}", one.name),
        many => format!("push {} refs", many.len()),
    }
}

/// pre-receive, past the deadline, for an admin under `hooks.admin_import = "background"`:
/// write the pending record, then the audit event, then accept. When either cannot be
/// written the push is refused.
pub(super) fn accept_import(
    inv: &Invocation,
    mut record: ImportRecord,
    deadline: Duration,
    out: &mut dyn Write,
) -> Result<u8> {
    record.accepted = now();
    let path = imports::record_path(&record.repository, &record.key);
    record.write(&path).with_context(|| {
        format!(
            "judging took longer than the deadline of {} ms (hooks.deadline_ms), and the admin \
             import cannot be recorded for judging in the background, so it is refused",
            deadline.as_millis()
        )
    })?;
    let event = audit::Event {
        door: Hook::PreReceive.name().into(),
        action: action(&record.updates),
        actor: record.pusher.clone(),
        role: Some(record.role),
        outcome: "accepted-unjudged".into(),
        rules: vec![],
        detail: serde_json::json!({
            "why": "over the deadline as an admin import (hooks.admin_import = \"background\"): judged in the background by post-receive",
            "deadline_ms": deadline.as_millis() as u64,
            "policy": record.policy,
            "actor_source": record.source,
            "import": path,
            "updates": updates_json(&record.updates),
            "updates_total": record.updates.len(),
        }),
    };
    if let Err(e) = audit::append(&record.audit_log, &event) {
        let _ = std::fs::remove_file(&path);
        return Err(e.context(
            "the admin import over the deadline cannot be recorded in the audit log, so it is \
             refused",
        ));
    }
    match inv.format() {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::json!({
                "version": 1, "hook": "pre-receive", "outcome": "accepted-unjudged",
                "deadline_ms": deadline.as_millis() as u64, "import": path,
                "log": record.audit_log,
            })
        )?,
        Format::Text => {
            writeln!(
                out,
                "git-guard: ACCEPTED UNJUDGED: judging took longer than the deadline of {} ms \
                 (hooks.deadline_ms); as an admin's import (hooks.admin_import = \"background\") \
                 the push is accepted and judged in the background once it lands",
                deadline.as_millis()
            )?;
            writeln!(
                out,
                "git-guard: the verdict will be recorded in the audit log {}; until then the \
                 import is pending in {} (`git guard doctor {}` lists pending and failed imports)",
                record.audit_log.display(),
                path.display(),
                record.repository.display()
            )?;
        }
    }
    Ok(0)
}

/// Whether `record` is the one of the push post-receive was given: the same key and exactly
/// the same updates.
fn matches_push(record: &ImportRecord, key: &str, updates: &[RefUpdate]) -> bool {
    record.key == key
        && record.updates.len() == updates.len()
        && record.updates.iter().zip(updates).all(|(r, u)| {
            r.name == u.name && approvals::is_id(&r.old, &u.old) && approvals::is_id(&r.new, &u.new)
        })
}

/// post-receive: when pre-receive accepted this very push as an admin import, start its
/// background judge, detached (its own session, no terminal, its output in `<key>.log` beside
/// the record) so that the push returns at once. `Ok(None)` when the push is no import.
pub(super) fn start_judge(
    cwd: &Path,
    repo: &gix::Repository,
    key: &str,
    updates: &[RefUpdate],
    out: &mut dyn Write,
) -> Result<Option<PathBuf>> {
    let common = cwd.join(repo.common_dir());
    let common = std::fs::canonicalize(&common).unwrap_or(common);
    let path = imports::record_path(&common, key);
    if !path.exists() {
        return Ok(None);
    }
    let record = ImportRecord::read(&path)?;
    if !matches_push(&record, key, updates) {
        bail!(
            "{} does not name the updates of this push: it is left pending (see `git guard doctor`)",
            path.display()
        );
    }
    if let Err(e) = spawn_judge(&path) {
        let e = e.context("cannot start the background judge of the admin import");
        fail(&path, record, &e);
        return Err(e);
    }
    writeln!(
        out,
        "git-guard: judging the admin import in the background; the verdict will be recorded \
         in the audit log {} (until then it is pending in {})",
        record.audit_log.display(),
        path.display()
    )?;
    Ok(Some(path))
}

fn spawn_judge(record: &Path) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the guard-hook program")?;
    let log = record.with_extension("log");
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let log_err = log_file
        .try_clone()
        .with_context(|| format!("cannot open {}", log.display()))?;
    let dir = record.parent().unwrap_or(Path::new("/"));
    let mut cmd = Command::new(&exe);
    cmd.arg(JUDGE_IMPORT)
        .arg(record)
        .current_dir(dir)
        // Nothing of git's environment: the judge opens the repository the record names.
        .env_clear()
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err);
    for k in ["PATH", "HOME", "RUST_LOG", "TMPDIR"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent. Its own session
    // keeps the judge out of the pusher's process group and terminal.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    // Not waited for: post-receive returns at once, and the judge is reaped by init once
    // post-receive has exited.
    cmd.spawn()
        .with_context(|| format!("cannot run {} {JUDGE_IMPORT}", exe.display()))?;
    Ok(())
}

/// Record in the pending record that its judging failed (it stays, so `git guard doctor`
/// shows it), and in the audit log.
fn fail(path: &Path, mut record: ImportRecord, e: &anyhow::Error) {
    let error = format!("{e:#}");
    let event = audit::Event {
        door: JUDGE_IMPORT.into(),
        action: action(&record.updates),
        actor: record.pusher.clone(),
        role: Some(record.role),
        outcome: "error".into(),
        rules: vec![],
        detail: serde_json::json!({
            "error": error, "import": path, "accepted": record.accepted,
            "policy": record.policy, "updates": updates_json(&record.updates),
            "updates_total": record.updates.len(),
        }),
    };
    let _ = audit::append(&record.audit_log, &event);
    record.failed = Some(ImportFailure { at: now(), error });
    let _ = record.write(path);
}

fn oid(hex: &str, what: &str) -> Result<ObjectId> {
    ObjectId::from_hex(hex.as_bytes())
        .map_err(|e| anyhow!("{what} {hex:?} is not an object id: {e}"))
}

/// The violations found, counting those the pusher's admin role let through: nobody saw the
/// verdict of an import when it landed, so what would have stopped anyone else is reported.
fn violations(v: &Verdict) -> usize {
    v.violations().count() + v.findings.iter().filter(|f| f.bypassed()).count()
}

/// What the background judge's verdict is called in the audit log: the push has landed, so
/// not `rejected` but what was found.
fn judged_outcome(v: &Verdict) -> &'static str {
    if violations(v) > 0 {
        "violations"
    } else if v.flags().next().is_some() {
        "flagged"
    } else {
        "passed"
    }
}

/// `guard-hook judge-import <record>`: judge one pending admin import with the engine of
/// pre-receive, no deadline, the policy and pusher it was accepted with, each update measured
/// against the refs as they stood before the push; append the verdict to the audit log, then
/// remove the record. On failure the error goes to the audit log and the record stays, marked
/// failed. Exit 0 judged (whatever was found), 2 could not judge, 3 another judge holds it.
pub fn judge_import(record_path: &Path, out: &mut dyn Write) -> Result<u8> {
    use nix::fcntl::{Flock, FlockArg};
    let record = ImportRecord::read(record_path)?;
    let file = std::fs::File::open(record_path)
        .with_context(|| format!("cannot open {}", record_path.display()))?;
    // Held while judging: a second judge started by hand does not judge it twice, and
    // `git guard doctor` can tell a judge is at work.
    let Ok(_lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
        writeln!(
            out,
            "git-guard: {} is being judged by another judge",
            record_path.display()
        )?;
        return Ok(3);
    };
    writeln!(
        out,
        "git-guard: {} judging the admin import of {} by {} accepted at {}",
        now(),
        record.refs_text(),
        record.pusher,
        record.accepted
    )?;
    let judged = judge_record(&record);
    let verdict = match judged {
        Ok(v) => v,
        Err(e) => {
            writeln!(out, "git-guard: could not judge: {e:#}")?;
            fail(record_path, record, &e);
            return Ok(2);
        }
    };
    let mut event = push_event(Hook::PreReceive, &[], &verdict);
    event.door = JUDGE_IMPORT.into();
    event.action = action(&record.updates);
    event.outcome = judged_outcome(&verdict).into();
    if let Some(d) = event.detail.as_object_mut() {
        d.insert("import".into(), serde_json::json!(record_path));
        d.insert("accepted".into(), serde_json::json!(record.accepted));
        d.insert("updates".into(), updates_json(&record.updates));
        d.insert(
            "updates_total".into(),
            serde_json::json!(record.updates.len()),
        );
        d.insert("violations".into(), serde_json::json!(violations(&verdict)));
        d.insert(
            "bypassed_by_admin".into(),
            serde_json::json!(verdict.findings.iter().filter(|f| f.bypassed()).count()),
        );
    }
    let violations = violations(&verdict);
    if violations > 0 {
        let found = ImportViolations {
            key: record.key.clone(),
            accepted: record.accepted.clone(),
            judged: now(),
            pusher: record.pusher.clone(),
            updates: record.updates.clone(),
            rules: {
                let mut r: Vec<String> = verdict
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Violation || f.bypassed())
                    .map(|f| f.rule.clone())
                    .collect();
                r.sort();
                r.dedup();
                r
            },
            violations,
            audit_log: record.audit_log.clone(),
        };
        let vpath =
            imports::dir(&record.repository).join(format!("{}.violations.json", record.key));
        if let Err(e) = write_json(&vpath, &found) {
            let e = e.context("cannot keep the violations the import brought");
            writeln!(out, "git-guard: {e:#}")?;
            fail(record_path, record, &e);
            return Ok(2);
        }
    }
    if let Err(e) = audit::append(&record.audit_log, &event) {
        let e = e.context("the import was judged, but the verdict cannot be recorded");
        writeln!(out, "git-guard: {e:#}")?;
        fail(record_path, record, &e);
        return Ok(2);
    }
    writeln!(
        out,
        "git-guard: {} judged: {} ({})",
        now(),
        event.outcome,
        event.rules.join(", ")
    )?;
    std::fs::remove_file(record_path)
        .with_context(|| format!("judged, but cannot remove {}", record_path.display()))?;
    let _ = std::fs::remove_file(record_path.with_extension("log"));
    Ok(0)
}

/// The verdict on a record's push, as pre-receive would have given it.
fn judge_record(record: &ImportRecord) -> Result<Verdict> {
    let repo = open_repo(&record.repository, None)?;
    let kind = repo.object_hash();
    let tip = record
        .policy_tip
        .as_deref()
        .map(|t| oid(t, "policy_tip"))
        .transpose()?;
    let policy = policy_at(
        &repo,
        record.policy_file.as_deref(),
        record.policy_base.as_deref(),
        tip,
    )?;
    // A configured file is the policy whatever path names it; a commit's must be the same.
    if record.policy_file.is_none() && policy.source.to_string() != record.policy {
        bail!(
            "the policy now reads as {}, not {} as when the push was accepted",
            policy.source,
            record.policy
        );
    }
    let actor = Actor {
        name: record.pusher.clone(),
        role: record.role,
        source: record.source.clone(),
    };
    let mut updates = Vec::with_capacity(record.updates.len());
    for u in &record.updates {
        let old = oid(&u.old, "old id")?;
        let new = oid(&u.new, "new id")?;
        if old.kind() != kind || new.kind() != kind {
            bail!(
                "{}: the ids are not of the repository's kind ({kind})",
                u.name
            );
        }
        let update = RefUpdate {
            old,
            new,
            name: u.name.clone(),
        };
        super::server::check_update_objects(&repo, &update)
            .with_context(|| format!("the update of {} cannot be judged", u.name))?;
        updates.push(update);
    }
    let known = record
        .known
        .iter()
        .map(|t| oid(t, "known tip"))
        .collect::<Result<Vec<_>>>()?;
    let proposal_base = match &record.proposal_base {
        Some(b) => Some(ProposalBase {
            name: b.name.clone(),
            tip: b
                .tip
                .as_deref()
                .map(|t| oid(t, "proposal base"))
                .transpose()?,
        }),
        None => None,
    };
    let before = Before {
        known,
        proposal_base,
    };
    judge_updates(&repo, &policy, &actor, &updates, &before, &mut |_| {})
}

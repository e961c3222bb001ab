//! Server hooks (`pre-receive`, `update`, `post-receive`): the authoritative door, run as the
//! server. Judges every ref of a push with quarantine-aware objects, the installed policy and
//! the host's identity; post-receive records what was accepted and who pushed which commits.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use gix::ObjectId;

use crate::approvals;
use crate::engine::changes::{RefUpdate, Unit};
use crate::engine::identity::Actor;
use crate::engine::model::{self, ProposalBase};
use crate::engine::policy::{AdminImport, Mode, Policy, Role};
use crate::engine::quarantine::{ObjectEnv, ObjectStore};
use crate::engine::verdict::{self, Finding, Verdict};
use crate::site::audit;
use crate::site::config::{Hook, policy_at, policy_tip, resolve_policy, server_base};
use crate::site::imports::{self, ImportBase, ImportRecord, ImportUpdate};

use super::*;

/// What judging a push gave.
pub(super) struct Judged {
    audit_log: PathBuf,
    updates: Vec<RefUpdate>,
    verdict: Verdict,
    /// For pre-receive: what post-receive needs, kept if the push passes.
    handoff: Option<(PathBuf, Handoff)>,
}

/// What a push is measured against: the repository as it stood before the push.
#[derive(Debug, Clone, Default)]
pub(super) struct Before {
    /// The commit tips of every ref, git-guard's own records left out: the commits an update
    /// brings are those reachable from its new id and from none of these.
    pub(super) known: Vec<ObjectId>,
    /// The branch proposals of the agent namespace are measured against.
    pub(super) proposal_base: Option<ProposalBase>,
}

impl Before {
    /// The repository as it stands now (in pre-receive and update: before the push lands).
    fn read(
        repo: &gix::Repository,
        policy: &Policy,
        base: Option<&str>,
        updates: &[RefUpdate],
    ) -> Result<Before> {
        if updates.iter().all(|u| approvals::is_guard_ref(&u.name)) {
            return Ok(Before::default());
        }
        let known =
            commit_tips(repo, &HashSet::new()).context("cannot list the repository's refs")?;
        // Proposals are measured against the branch HEAD names (the one whose policy is
        // read), else the deploy branch, as they stand before this push.
        let candidates: Vec<String> = base
            .map(str::to_string)
            .into_iter()
            .chain([format!("refs/heads/{}", policy.deploy.branch)])
            .collect();
        Ok(Before {
            known,
            proposal_base: proposal_base(repo, &candidates)?,
        })
    }
}

/// Judge `updates` by `actor` under `policy`, measured against `before`: the one judging of
/// pre-receive, update and the background judge of an admin import. `units_seen` is shown
/// the changes before they are judged (pre-receive makes its hand-off from them).
pub(super) fn judge_updates(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    updates: &[RefUpdate],
    before: &Before,
    units_seen: &mut dyn FnMut(&[Unit]),
) -> Result<Verdict> {
    // git-guard's own refs point at records, not commits: the approvals judge them, the
    // change rules judge the rest.
    let (guard, changes): (Vec<RefUpdate>, Vec<RefUpdate>) = updates
        .iter()
        .cloned()
        .partition(|u| approvals::is_guard_ref(&u.name));
    let units = if changes.is_empty() {
        Vec::new()
    } else {
        let mut units = model::updates(repo, &changes, &before.known, model_options(policy))
            .context("cannot read the pushed changes")?;
        if let Some(pb) = &before.proposal_base {
            add_proposals(repo, policy, &mut units, pb)?;
        }
        units
    };
    let pushed_now: HashSet<ObjectId> = units
        .iter()
        .flat_map(|u| u.commits.iter().filter_map(|c| c.id))
        .collect();
    units_seen(&units);
    // Each branch is judged under the human overrides recorded for it.
    let mut verdict = approvals::judge_units_with_overrides(repo, policy, actor, units)
        .context("cannot read the overrides of the pushed branches")?;
    if let Some(f) = limits::daily(repo, policy, actor, &verdict.units)? {
        verdict.findings.push(f);
    }
    let guard_findings: Vec<Finding> = guard
        .iter()
        .flat_map(|u| approvals::judge_push_ref_update(repo, policy, actor, u, &pushed_now))
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
    Ok(verdict)
}

/// What the hook answers with.
enum Judgement {
    Judged(Box<Judged>),
    /// An admin's push over the deadline, to be accepted and judged in the background.
    Import(Box<ImportRecord>, Duration),
}

/// Judge ref updates the way the server does: quarantine-aware objects, the installed policy,
/// the host's identity, every new commit of every ref, under the deadline.
pub(super) fn judge_push(
    inv: &Invocation,
    hook: Hook,
    input: UpdateInput,
    out: &mut dyn Write,
) -> Result<u8> {
    let start = Instant::now();
    let objenv = ObjectEnv::from_env(|k| inv.var(k))?;
    let store = ObjectStore::prepare(&objenv, &inv.cwd)?;
    let objects = store.objects_dir();
    let job_inv = inv.clone();
    // Filled by the job once the policy and the pusher are known, only for pre-receive, a
    // pusher whose role is admin and `hooks.admin_import = "background"`: the pending import
    // record the main thread writes to accept the push if the deadline passes. Empty when
    // the deadline passes, and the push is rejected.
    let slot: Arc<Mutex<Option<ImportRecord>>> = Arc::new(Mutex::new(None));
    let job_slot = Arc::clone(&slot);
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
        let policy_file = job_inv.config.policy.clone();
        let tip = match policy_file {
            Some(_) => None,
            None => policy_tip(&repo, base.as_deref(), &updates)?,
        };
        let policy = policy_at(&repo, policy_file.as_deref(), base.as_deref(), tip)?;
        let audit_log = audit_path(&job_inv, Some(&policy), repo.git_dir());
        for (i, u) in updates.iter().enumerate() {
            check_update_objects(&repo, u)
                .with_context(|| format!("update {} ({}) cannot be judged", i + 1, u.name))?;
        }
        let actor = actor(&job_inv, &policy)?;
        let before = Before::read(&repo, &policy, base.as_deref(), &updates)?;
        if let Some(key) = &handoff_key
            && actor.role == Role::Admin
            && policy.hooks.admin_import == AdminImport::Background
            && let Ok(mut s) = job_slot.lock()
        {
            // The background judge runs elsewhere: every path it is given is absolute.
            let absolute = |p: &Path| -> PathBuf {
                let p = job_inv.cwd.join(p);
                std::fs::canonicalize(&p).unwrap_or_else(|_| p.components().collect())
            };
            *s = Some(ImportRecord {
                version: imports::VERSION,
                key: key.clone(),
                accepted: String::new(),
                repository: absolute(repo.common_dir()),
                pusher: actor.name.clone(),
                role: actor.role,
                source: actor.source.clone(),
                policy: policy.source.to_string(),
                policy_file: policy_file.as_deref().map(absolute),
                policy_base: base.clone(),
                policy_tip: tip.map(|t| t.to_string()),
                audit_log: job_inv.cwd.join(&audit_log).components().collect(),
                deadline_ms: deadline_of(&job_inv, Some(&policy)).as_millis() as u64,
                updates: updates
                    .iter()
                    .map(|u| ImportUpdate {
                        name: u.name.clone(),
                        old: u.old.to_string(),
                        new: u.new.to_string(),
                    })
                    .collect(),
                known: before.known.iter().map(|t| t.to_string()).collect(),
                proposal_base: before.proposal_base.as_ref().map(|b| ImportBase {
                    name: b.name.clone(),
                    tip: b.tip.map(|t| t.to_string()),
                }),
                failed: None,
            });
        }
        // Only now: the deadline the policy sets is final once an admin's push over it could
        // be accepted as an import.
        report(deadline_of(&job_inv, Some(&policy)));
        let mut handoff = None;
        let verdict = judge_updates(&repo, &policy, &actor, &updates, &before, &mut |units| {
            handoff = handoff_key.as_ref().map(|key| {
                (
                    pending_dir(repo.common_dir()).join(key),
                    Handoff::new(key, &actor, &policy, &audit_log, units),
                )
            });
        })?;
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
        Outcome::Done(r) => r.map(|j| Judgement::Judged(Box::new(j))),
        Outcome::TimedOut { deadline } => {
            match slot.lock().ok().and_then(|mut s| s.take()) {
                // Only an admin's push (by the host's identity) under a policy that asks for
                // it; an agent's or a human's push over the deadline is rejected.
                Some(record) if record.role == Role::Admin => {
                    Ok(Judgement::Import(Box::new(record), deadline))
                }
                _ => Err(anyhow!(
                    "judging took longer than the deadline of {} ms (hooks.deadline_ms): push \
                     fewer commits at a time, or ask an admin to raise the deadline",
                    deadline.as_millis()
                )),
            }
        }
    };
    drop(store);
    let result = match result {
        Ok(Judgement::Import(record, deadline)) => accept_import(inv, *record, deadline, out),
        Ok(Judgement::Judged(j)) => {
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
            // The verdict holds the whole push's model: freeing it is tens of milliseconds
            // on a long push, which the pusher should not wait for. Freed on a thread of its
            // own; the hook's process exits without waiting for it.
            std::thread::spawn(move || drop(j));
            return Ok(code);
        }
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
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
    }
    result
}

/// The ids a line names must exist: the old one in the repository, the new one among the
/// repository's or the pushed objects. Anything else cannot be judged.
pub(super) fn check_update_objects(repo: &gix::Repository, u: &RefUpdate) -> Result<()> {
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
pub(super) fn commit_tips(repo: &gix::Repository, skip: &HashSet<&str>) -> Result<Vec<ObjectId>> {
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
pub(super) fn commits_brought(
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

pub(super) fn audit_path(inv: &Invocation, policy: Option<&Policy>, git_dir: &Path) -> PathBuf {
    inv.config
        .audit_log
        .clone()
        .or_else(|| policy.and_then(|p| p.audit.log.clone()))
        .unwrap_or_else(|| git_dir.join("guard").join("audit.log"))
}

pub(super) fn actor_name_for_audit(inv: &Invocation) -> String {
    match inv.config.host() {
        Ok(h) => match h.variable() {
            Some(v) => inv.var(v).unwrap_or_else(|| format!("(no {v})")),
            None => crate::engine::identity::unix_user(),
        },
        Err(_) => "(unknown host)".into(),
    }
}

pub(super) fn push_event(hook: Hook, updates: &[RefUpdate], v: &Verdict) -> audit::Event {
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
    // An admin's import accepted over the deadline is judged from here on, whatever happens
    // to the records below; a judge that cannot start leaves its record marked failed.
    let import = start_judge(&inv.cwd, &repo, &handoff_key(stdin), &updates, out);
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
        let import = import.as_ref().ok().cloned().flatten();
        writeln!(
            out,
            "{}",
            serde_json::json!({"version": 1, "hook": "post-receive", "recorded": updates.len(), "push_records": push_records, "log": log, "import": import})
        )?;
    }
    import.context("cannot judge the admin import in the background")?;
    Ok(0)
}

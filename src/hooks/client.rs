//! Client hooks (`pre-commit`, `commit-msg`, `pre-push`, `reference-transaction`): fast
//! feedback in the agent's clone. They can be skipped, so nothing here is what holds: the
//! server hooks judge the same again.

use std::collections::HashSet;
use std::io::Write;

use anyhow::{Result, anyhow, bail};
use gix::ObjectId;

use crate::approvals;
use crate::engine;
use crate::engine::changes::{RefUpdate, Unit};
use crate::engine::identity::Actor;
use crate::engine::model;
use crate::engine::policy::{Policy, Role};
use crate::engine::verdict::{self, Finding, Verdict};
use crate::site::config::{client_base, resolve_policy};

use super::*;

/// pre-commit: the staged change, judged with the rules the server applies.
pub fn pre_commit(inv: &Invocation, out: &mut dyn Write) -> Result<u8> {
    // The secret rules' prefilter takes as long to build as the index to read: built beside
    // it (the rules wait for it if they need it first; nothing waits for it otherwise).
    std::thread::spawn(engine::rules::secrets::scanner::prepare_builtin);
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

pub(super) fn protected_ref_finding(policy: &Policy, refname: &str, doing: &str) -> Finding {
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
pub(super) fn verdict_of(
    policy: &Policy,
    actor: &Actor,
    findings: Vec<Finding>,
    units: Vec<Unit>,
) -> Verdict {
    let mut v = engine::judge_units(policy, actor, units);
    let mut extra = findings;
    if actor.role == Role::Admin {
        for f in extra
            .iter_mut()
            .filter(|f| f.severity == verdict::Severity::Violation)
        {
            f.severity = verdict::Severity::Note;
            f.message = format!("{}{}: {}", verdict::BYPASSED, actor.name, f.message);
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
    let mut units = model::updates(&repo, &changes, &known, model_options(&policy))
        .context("cannot read the changes this push would send")?;
    // As the server measures proposals, from what this clone knows of the remote's base
    // branch (its HEAD as last fetched, else its deploy branch); none known: the server judges.
    let candidates: Vec<String> = base
        .iter()
        .cloned()
        .chain([format!("refs/remotes/{remote}/{}", policy.deploy.branch)])
        .collect();
    if let Some(pb) = proposal_base(&repo, &candidates)?.filter(|pb| pb.tip.is_some()) {
        add_proposals(&repo, &policy, &mut units, &pb)?;
    }
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

pub(super) fn follows_a_remote(repo: &gix::Repository, name: &str, new: &str) -> bool {
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

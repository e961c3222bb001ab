//! The deploy pipeline, step by step: lock -> policy over every commit since the deployed
//! one -> approvals -> tests in a clean checkout -> materialise -> switch -> reload and
//! health (see `health`) -> prune -> push. Each step is recorded in `status.json` and the
//! audit log when it starts.
//!
//! It may not read or write approvals or test records except through the [`Gate`].

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use gix::ObjectId;

use super::lock::{Lock, acquire_lock};
use super::records::{
    ReleaseMeta, Status, prune, read_current, read_meta, read_status, switch_current, write_meta,
};
use super::util::{now_utc, short, write_atomic};
use super::{Deployer, Outcome, validate};
use crate::contain::release;
use crate::contain::sandbox::{self, Spec};
use crate::contain::testrun::TestRun;
use crate::engine::identity::Actor;
use crate::engine::model::{self, ModelOptions};
use crate::engine::policy::{Isolation, Policy};
use crate::engine::verdict::{self, Finding, Verdict};
use crate::site::audit;

pub(super) struct Run<'a, 'o> {
    pub(super) d: &'a Deployer<'a>,
    pub(super) out: &'o mut dyn Write,
    pub(super) status: Status,
}

impl Run<'_, '_> {
    pub(super) fn record(&mut self, outcome: &str, detail: serde_json::Value) -> Result<()> {
        self.status.when = now_utc().0;
        let json = serde_json::to_vec_pretty(&self.status)?;
        write_atomic(&self.d.layout.status(), &json)?;
        let ev = audit::Event {
            door: "deploy".into(),
            action: format!(
                "{} {} step {}",
                self.status.action,
                self.status.commit.as_deref().map(short).unwrap_or("-"),
                self.status.step
            ),
            actor: self.d.actor.name.clone(),
            role: Some(self.d.actor.role),
            outcome: outcome.into(),
            rules: self
                .status
                .violations
                .iter()
                .chain(&self.status.flags)
                .cloned()
                .collect(),
            detail,
        };
        audit::append(&self.d.layout.audit(self.d.policy), &ev)
    }

    pub(super) fn step(&mut self, step: &str, detail: serde_json::Value) -> Result<()> {
        self.status.step = step.into();
        self.status.state = "running".into();
        self.record("started", detail)?;
        (self.d.pause)(step);
        Ok(())
    }

    pub(super) fn say(&mut self, line: impl AsRef<str>) -> Result<()> {
        writeln!(self.out, "guard-deploy: {}", line.as_ref())?;
        Ok(())
    }

    pub(super) fn finish(&mut self, state: &str, error: Option<String>) -> Result<()> {
        self.status.state = state.into();
        self.status.error = error.clone();
        let mut detail = serde_json::json!({ "error": error });
        if !self.status.violations.is_empty() {
            detail["violations"] = serde_json::json!(self.status.violations);
        }
        if !self.status.flags.is_empty() {
            detail["flags"] = serde_json::json!(self.status.flags);
        }
        self.record(state, detail)
    }
}

impl<'a> Deployer<'a> {
    pub(super) fn new_status(&self, action: &str, token: &str, previous: Option<String>) -> Status {
        Status {
            action: action.into(),
            state: "running".into(),
            step: "lock".into(),
            release: None,
            commit: None,
            previous,
            when: now_utc().0,
            who: self.actor.name.clone(),
            pid: std::process::id(),
            token: token.into(),
            error: None,
            violations: Vec::new(),
            flags: Vec::new(),
        }
    }

    pub(super) fn take_lock(&self, action: &str, out: &mut dyn Write) -> Result<Lock> {
        let wait = Duration::from_secs(self.policy.deploy.lock_wait_secs);
        let mut said = Vec::new();
        let got = acquire_lock(&self.layout.lock(), action, wait, &mut |holder| {
            said.push(format!(
                "another deploy holds the lock ({}); waiting up to {}s",
                holder.describe(),
                wait.as_secs()
            ));
            for l in &said {
                let _ = writeln!(out, "guard-deploy: {l}");
            }
            let _ = out.flush();
            (self.pause)("lock-wait");
        });
        let (lock, waited) = got.map_err(anyhow::Error::from)?;
        if let Some((holder, took)) = waited {
            writeln!(
                out,
                "guard-deploy: waited {:.1}s for the lock held by pid {} (token {}), then took it",
                took.as_secs_f64(),
                holder.pid,
                holder.token
            )?;
        }
        self.cleanup_leftovers()?;
        Ok(lock)
    }

    /// Remove what a killed run left behind. Only the lock holder calls this, so nothing of
    /// it is in use.
    pub(super) fn cleanup_leftovers(&self) -> Result<()> {
        if let Ok(rd) = std::fs::read_dir(&self.layout.root) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with("current.tmp-") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.layout.releases()) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(".tmp-") || n.starts_with(".test-") {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        }
        Ok(())
    }

    /// Deploy `rev`. `Err` only when the run could not be recorded at all; every other
    /// failure is an [`Outcome`] with its reason, recorded in status and audit.
    pub fn deploy(&self, rev: &str, out: &mut dyn Write) -> Result<Outcome> {
        validate(self.policy)?;
        // Settle what REV is before taking the lock: a typo changes nothing.
        let commit = self
            .repo
            .rev_parse_single(rev)
            .with_context(|| {
                format!(
                    "cannot resolve {rev:?} in {}",
                    self.repo.git_dir().display()
                )
            })?
            .object()?
            .peel_to_commit()
            .with_context(|| format!("{rev} is not a commit"))?;
        let commit_id = commit.id;
        let tree_id = commit.tree_id()?.detach();
        let lock = self.take_lock(&format!("deploy {}", short(&commit_id.to_string())), out)?;
        let current = read_current(&self.layout)?;
        // A corrupt status.json stops the run before it is overwritten: it may be the only
        // record of an interrupted run.
        read_status(&self.layout)?;
        if let Some(c) = super::cooldown::holding(&self.layout, self.policy)? {
            let c = super::cooldown::refuse(
                &self.layout,
                self.policy,
                self.actor,
                &commit_id.to_string(),
                &c,
                out,
            );
            drop(lock);
            return c;
        }
        let mut run = Run {
            d: self,
            out,
            status: self.new_status("deploy", &lock.owner.token, current.clone()),
        };
        run.status.commit = Some(commit_id.to_string());
        run.step("lock", serde_json::json!({ "owner": &lock.owner }))?;
        let result = self.deploy_locked(&mut run, commit_id, tree_id, current, &lock);
        match result {
            Ok(o) => Ok(o),
            Err(e) => {
                let reason = format!("{e:#}");
                run.finish("failed", Some(reason.clone()))?;
                run.say(format!("FAILED at step {}: {reason}", run.status.step))?;
                Ok(Outcome::Failed { reason })
            }
        }
    }

    pub(super) fn deploy_locked(
        &self,
        run: &mut Run<'_, '_>,
        commit: ObjectId,
        tree: ObjectId,
        current: Option<String>,
        lock: &Lock,
    ) -> Result<Outcome> {
        let c = commit.to_string();
        let deployed = match &current {
            Some(id) => Some(
                ObjectId::from_hex(read_meta(&self.layout, id)?.commit.as_bytes())
                    .with_context(|| format!("release record of {id} names a bad commit id"))?,
            ),
            None => None,
        };

        // 2. The policy, over every commit since the deployed one.
        run.step(
            "check",
            serde_json::json!({ "deployed": deployed.map(|d| d.to_string()) }),
        )?;
        if let Some(reason) = self.check_branch(commit)? {
            return refuse(run, reason);
        }
        let verdict = policy_check(self.repo, self.policy, self.actor, deployed, commit)?;
        verdict::render_text(&verdict, run.out)?;
        // Violations and flags are counted and named apart: a flag waits for a human's
        // approval, a violation is refused whatever anyone approves.
        let violations = ids(verdict.violations().map(|f| f.rule.clone()));
        let flag_ids = ids(verdict.flags().map(Finding::flag_id));
        if verdict.blocked() {
            let n = verdict.violations().count();
            let also = match flag_ids.len() {
                0 => String::new(),
                1 => format!("; and 1 flag: {}", flag_ids[0]),
                f => format!("; and {f} flags: {}", flag_ids.join(", ")),
            };
            run.status.violations = violations.clone();
            run.status.flags = flag_ids;
            return refuse(
                run,
                format!(
                    "the policy rejects {} ({n} violation{}: {}{also})",
                    short(&c),
                    if n == 1 { "" } else { "s" },
                    violations.join(", ")
                ),
            );
        }

        // The approvals gate: every flag of every commit since the deployed one approved for
        // exactly the commit that raised it (an approval covers what its approver saw).
        run.step("approvals", serde_json::json!({ "flags": flag_ids }))?;
        let flags: Vec<Finding> = verdict.flags().cloned().collect();
        let commits: Vec<_> = verdict
            .units
            .iter()
            .flat_map(|u| u.commits.iter().cloned())
            .collect();
        let deploying = crate::approvals::Deploying {
            target: commit,
            commits: &commits,
            deployed: deployed.is_some(),
            flags: &flags,
        };
        let unapproved = self.gate.unapproved(self.repo, &deploying)?;
        if !unapproved.is_empty() {
            let mut raised_by: Vec<String> = Vec::new();
            for f in &unapproved {
                let by = match f.commit {
                    Some(id) => short(&id.to_string()).to_string(),
                    None => short(&c).to_string(),
                };
                run.say(format!(
                    "not approved: {} (approve with `git guard approve {by} --flag {} -m WHY`)",
                    verdict::finding_line(f),
                    f.flag_id()
                ))?;
                if !raised_by.contains(&by) {
                    raised_by.push(by);
                }
            }
            let named = ids(unapproved.iter().map(Finding::flag_id));
            let reason = format!(
                "{} flag{} of {} not approved for the commit that raised {} ({}): {}",
                unapproved.len(),
                if unapproved.len() == 1 { "" } else { "s" },
                short(&c),
                if unapproved.len() == 1 { "it" } else { "them" },
                raised_by.join(", "),
                named.join(", ")
            );
            run.status.flags = named;
            return refuse(run, reason);
        }

        // The consent level: as many approvals of this commit as its risk needs.
        let consent =
            self.gate
                .consent(self.repo, self.policy, commit, tree, verdict.risk.score)?;
        if consent.level > 0 {
            run.say(consent.describe())?;
        }
        if !consent.met {
            return refuse(
                run,
                format!(
                    "{} needs consent level {} and has {} approval{} (approve with `git guard approve {} -m WHY`)",
                    short(&c),
                    consent.level,
                    consent.approvers.len(),
                    if consent.approvers.len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    short(&c)
                ),
            );
        }

        // 3. The tests.
        run.step("tests", serde_json::json!({}))?;
        if let Some(reason) = self.run_tests(run, commit, tree, &lock.owner.token)? {
            return refuse(run, reason);
        }

        // 4. Materialise the new release; the current one stays as the backup.
        let id = self.new_release_id(&c);
        run.status.release = Some(id.clone());
        run.step("materialise", serde_json::json!({ "release": &id }))?;
        let mut meta = ReleaseMeta {
            id: id.clone(),
            commit: c.clone(),
            tree: tree.to_string(),
            previous: current.clone(),
            created: now_utc().0,
            who: self.actor.name.clone(),
            state: "new".into(),
            reason: None,
            skipped_gitlinks: Vec::new(),
        };
        std::fs::create_dir_all(self.layout.releases())
            .with_context(|| format!("cannot create {}", self.layout.releases().display()))?;
        write_meta(&self.layout, &meta)?;
        let pause = self.pause;
        let m = release::materialise(self.repo, commit, &self.layout.release(&id), &mut || {
            pause("materialise-rename")
        })?;
        for g in &m.skipped_gitlinks {
            run.say(format!(
                "skipped gitlink (submodule) {g}: its content is not in this repository"
            ))?;
        }
        meta.skipped_gitlinks = m.skipped_gitlinks.clone();
        write_meta(&self.layout, &meta)?;
        run.say(format!(
            "materialised releases/{id}: {} files, {} symlinks, {} bytes",
            m.files, m.symlinks, m.bytes
        ))?;

        // Build it in place, contained, before anything points at it.
        if self.policy.deploy.build_command.is_some() {
            run.step("build", serde_json::json!({ "release": &id }))?;
            if let Some(reason) = self.build(run, &id, &c)? {
                meta.state = "failed".into();
                meta.reason = Some(reason.clone());
                write_meta(&self.layout, &meta)?;
                return refuse(
                    run,
                    format!(
                        "{reason}; current is still {}",
                        current
                            .as_deref()
                            .map(|p| format!("releases/{p}"))
                            .unwrap_or_else(|| "unset".into())
                    ),
                );
            }
        }

        // Switch `current`.
        run.step(
            "switch",
            serde_json::json!({ "release": &id, "backup": &current }),
        )?;
        switch_current(&self.layout, &id, &lock.owner.token, self.pause)?;
        run.say(format!(
            "current -> releases/{id} (backup: {})",
            current.as_deref().unwrap_or("none")
        ))?;

        // 5 and 6. Reload, health.
        if let Some(reason) = self.reload_and_check(run, &id, &c)? {
            return self.roll_back_after_failure(
                run,
                &mut meta,
                current,
                reason,
                &lock.owner.token,
            );
        }
        meta.state = "deployed".into();
        write_meta(&self.layout, &meta)?;

        // 7. Prune, push.
        run.step(
            "prune",
            serde_json::json!({ "keep": self.policy.deploy.keep }),
        )?;
        let pruned = prune(
            &self.layout,
            self.policy.deploy.keep,
            &id,
            current.as_deref(),
        )?;
        if !pruned.is_empty() {
            run.say(format!("pruned {}", pruned.join(", ")))?;
        }
        let mut warning = None;
        if let Some(remote) = &self.policy.deploy.push_remote {
            run.step("push", serde_json::json!({ "remote": remote }))?;
            let dst = format!("{c}:refs/heads/{}", self.policy.deploy.branch);
            let o = Command::new("git")
                .arg("--git-dir")
                .arg(self.repo.git_dir())
                .args(["push", "--quiet", remote, &dst])
                .output()
                .context("cannot run git push")?;
            if o.status.success() {
                run.say(format!(
                    "pushed {} to {remote} {}",
                    short(&c),
                    self.policy.deploy.branch
                ))?;
            } else {
                let w = format!(
                    "deployed, but pushing to {remote} failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                run.say(format!("warning: {w}"))?;
                warning = Some(w);
            }
        }
        run.status.step = "done".into();
        run.finish("done", warning)?;
        (self.pause)("done");
        run.say(format!("deployed {} as releases/{id}", short(&c)))?;
        Ok(Outcome::Done { release: id })
    }

    /// REV must be on the deploy branch: deploy only what reached it.
    pub(super) fn check_branch(&self, commit: ObjectId) -> Result<Option<String>> {
        let branch = &self.policy.deploy.branch;
        let name = format!("refs/heads/{branch}");
        let Some(mut r) = self
            .repo
            .try_find_reference(name.as_str())
            .with_context(|| format!("cannot read {name}"))?
        else {
            bail!(
                "the deploy branch {branch} (deploy.branch) does not exist in {}",
                self.repo.git_dir().display()
            );
        };
        let tip = r.peel_to_id()?.detach();
        if tip == commit {
            return Ok(None);
        }
        let base = self
            .repo
            .merge_base(commit, tip)
            .ok()
            .flatten()
            .map(|b| b.detach());
        if base == Some(commit) {
            Ok(None)
        } else {
            Ok(Some(format!(
                "{} is not on the deploy branch {branch}: merge it there first",
                short(&commit.to_string())
            )))
        }
    }

    pub(super) fn run_tests(
        &self,
        run: &mut Run<'_, '_>,
        commit: ObjectId,
        tree: ObjectId,
        token: &str,
    ) -> Result<Option<String>> {
        let cmd = self.policy.deploy.test_command.clone().or_else(|| {
            self.policy
                .tests
                .command
                .clone()
                .filter(|s| !s.trim().is_empty())
        });
        if self.policy.deploy.use_recorded_tests {
            if let Some(rec) = self.gate.recorded_pass(self.repo, tree)? {
                match recorded_run_differs(&rec, cmd.as_deref(), self.policy) {
                    None => {
                        run.say(format!(
                            "tests: using the recorded passing run: {}",
                            rec.describe()
                        ))?;
                        return Ok(None);
                    }
                    Some(why) => run.say(format!(
                        "tests: the recorded passing run of this tree {why}: running the tests"
                    ))?,
                }
            }
        }
        let Some(cmd) = cmd else {
            run.say("tests: no test command configured (deploy.test_command, tests.command)")?;
            return Ok(None);
        };
        let dir = self.layout.releases().join(format!(".test-{token}"));
        release::materialise(self.repo, commit, &dir, &mut || {})?;
        run.say(format!(
            "tests: running `{cmd}` contained ({}) in a clean checkout of {}",
            isolation_name(self.policy),
            short(&commit.to_string())
        ))?;
        let spec = Spec::from_policy(self.policy, &cmd, &dir)
            .with_env("GUARD_COMMIT", commit.to_string())
            .with_env("GIT_GUARD_TEST_COMMIT", commit.to_string())
            .with_env("GIT_GUARD_TEST_TREE", tree.to_string());
        let ran = sandbox::run(&spec);
        let _ = std::fs::remove_dir_all(&dir);
        let mut ran = ran?;
        if ran.ok() {
            run.say("tests: passed")?;
            Ok(None)
        } else {
            let tail = ran.tail_lines(20)?;
            if !tail.is_empty() {
                writeln!(run.out, "{tail}")?;
            }
            Ok(Some(format!(
                "the tests failed (`{cmd}`: {})",
                ran.how(spec.timeout)
            )))
        }
    }

    /// `deploy.build_command` in the new release, contained like the tests; `Some(reason)`
    /// when it failed.
    pub(super) fn build(
        &self,
        run: &mut Run<'_, '_>,
        id: &str,
        commit: &str,
    ) -> Result<Option<String>> {
        let Some(cmd) = self.policy.deploy.build_command.as_deref() else {
            return Ok(None);
        };
        let dir = self.layout.release(id);
        run.say(format!(
            "build: running `{cmd}` contained ({}) in releases/{id}",
            isolation_name(self.policy)
        ))?;
        let spec = Spec::from_policy(self.policy, cmd, &dir)
            .with_env("GUARD_COMMIT", commit)
            .with_env("GUARD_RELEASE", id)
            .with_env("GUARD_RELEASE_DIR", dir.display().to_string());
        let mut ran = sandbox::run(&spec)?;
        if ran.ok() {
            run.say("build: passed")?;
            return Ok(None);
        }
        let tail = ran.tail_lines(20)?;
        if !tail.is_empty() {
            writeln!(run.out, "{tail}")?;
        }
        Ok(Some(format!(
            "the build failed (`{cmd}`: {})",
            ran.how(spec.timeout)
        )))
    }

    pub(super) fn new_release_id(&self, commit: &str) -> String {
        let base = format!("{}-{}", now_utc().1, short(commit));
        let mut id = base.clone();
        let mut n = 2;
        while self.layout.release(&id).exists() || self.layout.meta(&id).exists() {
            id = format!("{base}-{n}");
            n += 1;
        }
        id
    }
}

/// Sorted, without repeats.
fn ids(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = it.collect();
    v.sort();
    v.dedup();
    v
}

pub(super) fn refuse(run: &mut Run<'_, '_>, reason: String) -> Result<Outcome> {
    run.finish("refused", Some(reason.clone()))?;
    run.say(format!("REFUSED: {reason}"))?;
    Ok(Outcome::Refused { reason })
}

/// The policy over the commits reachable from `rev` and not from the deployed commit. A
/// first deploy (nothing deployed) judges `rev`'s own commit against its first parent.
pub fn policy_check(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    deployed: Option<ObjectId>,
    rev: ObjectId,
) -> Result<Verdict> {
    let opts = ModelOptions::for_policy(policy);
    let spec = match deployed {
        Some(d) => format!("{d}..{rev}"),
        None => rev.to_string(),
    };
    let unit = model::range(repo, &spec, opts)
        .with_context(|| format!("cannot build the changes of {spec}"))?;
    // Judged as the deploy branch, under the human overrides recorded for it.
    let branch = format!("refs/heads/{}", policy.deploy.branch);
    crate::approvals::judge_unit_as_branch(repo, policy, actor, unit, &branch)
        .with_context(|| format!("cannot read the overrides of {branch}"))
}

/// Why a recorded passing run does not stand for running the tests now, if it does not: it
/// ran another command, saw a checkout another materialiser wrote (so its files may differ
/// from the release's), or ran less contained than the policy now asks.
pub(super) fn recorded_run_differs(
    rec: &TestRun,
    cmd: Option<&str>,
    policy: &Policy,
) -> Option<String> {
    if cmd.is_some_and(|c| c != rec.command) {
        return Some(format!("ran `{}`, not the configured command", rec.command));
    }
    if rec.materialiser != release::MATERIALISER {
        return Some(format!(
            "saw a checkout written by {}, not by the release materialiser {}",
            if rec.materialiser.is_empty() {
                "an unrecorded materialiser"
            } else {
                rec.materialiser.as_str()
            },
            release::MATERIALISER
        ));
    }
    let want = isolation_name(policy);
    if want != "none" && rec.isolation != want {
        return Some(format!(
            "ran with isolation {:?}, not {want:?} (tests.isolation)",
            rec.isolation
        ));
    }
    None
}

fn isolation_name(policy: &Policy) -> &'static str {
    match policy.tests.isolation {
        Isolation::Bwrap => "bwrap",
        Isolation::None => "none",
    }
}

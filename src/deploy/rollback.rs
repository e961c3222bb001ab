//! Going back: after a failed reload or health check, to the backup release; and
//! `guard-deploy rollback [RELEASE]`, which switches, reloads and checks, and returns to
//! where it was when that fails.
//!
//! It may not materialise a release: it only moves `current` between existing ones.

use std::io::Write;

use anyhow::{Context as _, Result, anyhow, bail};

use super::records::{
    ReleaseMeta, backup_of, read_current, read_meta, read_status, switch_current, write_meta,
};
use super::steps::Run;
use super::util::short;
use super::{Deployer, Outcome, validate};
use crate::contain::release;

impl Deployer<'_> {
    pub(super) fn roll_back_after_failure(
        &self,
        run: &mut Run<'_, '_>,
        meta: &mut ReleaseMeta,
        backup: Option<String>,
        reason: String,
        token: &str,
    ) -> Result<Outcome> {
        run.say(format!("{reason}; rolling back"))?;
        meta.state = "failed".into();
        meta.reason = Some(reason.clone());
        write_meta(&self.layout, meta)?;
        run.status.error = Some(reason.clone());
        run.step(
            "rollback",
            serde_json::json!({ "from": &meta.id, "to": &backup, "why": &reason }),
        )?;
        let Some(backup) = backup else {
            // A first deploy has nothing to go back to: the service had no release before.
            std::fs::remove_file(self.layout.current())
                .with_context(|| format!("cannot remove {}", self.layout.current().display()))?;
            release::sync_dir(&self.layout.root)?;
            let r = format!("{reason}; no previous release, so `current` was removed");
            run.finish("rolled-back", Some(r.clone()))?;
            run.say(format!("ROLLED BACK: {r}"))?;
            return Ok(Outcome::RolledBack { reason: r });
        };
        switch_current(&self.layout, &backup, token, self.pause)?;
        run.say(format!("current -> releases/{backup} (the backup)"))?;
        let bmeta = read_meta(&self.layout, &backup)?;
        let again = match self.reload(&backup, &bmeta.commit) {
            Err(e) => Some(format!("reloading the backup failed too: {e:#}")),
            Ok(_) => self
                .health(&backup, &bmeta.commit)
                .err()
                .map(|e| format!("the backup is unhealthy too: {e}")),
        };
        match again {
            None => {
                let r = format!("{reason}; back on releases/{backup}");
                run.finish("rolled-back", Some(r.clone()))?;
                run.say(format!("ROLLED BACK: {r}"))?;
                Ok(Outcome::RolledBack { reason: r })
            }
            Some(more) => {
                let r = format!("{reason}; switched back to releases/{backup}, but {more}");
                run.finish("failed", Some(r.clone()))?;
                run.say(format!("FAILED: {r}"))?;
                Ok(Outcome::Failed { reason: r })
            }
        }
    }

    /// Switch back to `target` (default: the backup of the current release), reload,
    /// health-check; on failure, return to where it was.
    pub fn rollback(&self, target: Option<&str>, out: &mut dyn Write) -> Result<Outcome> {
        validate(self.policy)?;
        let lock = self.take_lock("rollback", out)?;
        let current = read_current(&self.layout)?;
        read_status(&self.layout)?;
        let to = match target {
            Some(t) => t
                .trim_start_matches("releases/")
                .trim_end_matches('/')
                .to_string(),
            None => backup_of(&self.layout, current.as_deref()).ok_or_else(|| {
                anyhow!(
                    "no backup to roll back to (current: {}); name a release from \
                     `guard-deploy list`",
                    current.as_deref().unwrap_or("none")
                )
            })?,
        };
        if to.is_empty()
            || to.contains('/')
            || to.starts_with('.')
            || !self.layout.release(&to).is_dir()
        {
            bail!(
                "there is no release {to:?} under {}: see `guard-deploy list`",
                self.layout.releases().display()
            );
        }
        let meta = read_meta(&self.layout, &to)?;
        let mut run = Run {
            d: self,
            out,
            status: self.new_status("rollback", &lock.owner.token, current.clone()),
        };
        run.status.release = Some(to.clone());
        run.status.commit = Some(meta.commit.clone());
        run.step("lock", serde_json::json!({ "owner": &lock.owner }))?;
        let r = (|| -> Result<Outcome> {
            run.step(
                "switch",
                serde_json::json!({ "release": &to, "from": &current }),
            )?;
            switch_current(&self.layout, &to, &lock.owner.token, self.pause)?;
            run.say(format!("current -> releases/{to}"))?;
            let Some(reason) = self.reload_and_check(&mut run, &to, &meta.commit)? else {
                run.status.step = "done".into();
                run.finish("done", None)?;
                run.say(format!(
                    "rolled back to releases/{to} ({})",
                    short(&meta.commit)
                ))?;
                return Ok(Outcome::Done {
                    release: to.clone(),
                });
            };
            run.status.error = Some(reason.clone());
            run.step(
                "rollback",
                serde_json::json!({ "from": &to, "to": &current, "why": &reason }),
            )?;
            match &current {
                Some(cur) => {
                    switch_current(&self.layout, cur, &lock.owner.token, self.pause)?;
                    let cm = read_meta(&self.layout, cur)?;
                    let again = self.reload(cur, &cm.commit).err();
                    let r = match again {
                        None => format!("{reason}; back on releases/{cur}"),
                        Some(e) => format!(
                            "{reason}; back on releases/{cur}, but reloading it failed: {e:#}"
                        ),
                    };
                    run.finish("rolled-back", Some(r.clone()))?;
                    run.say(format!("ROLLED BACK: {r}"))?;
                    Ok(Outcome::RolledBack { reason: r })
                }
                None => {
                    run.finish("failed", Some(reason.clone()))?;
                    Ok(Outcome::Failed { reason })
                }
            }
        })();
        match r {
            Ok(o) => Ok(o),
            Err(e) => {
                let reason = format!("{e:#}");
                run.finish("failed", Some(reason.clone()))?;
                run.say(format!("FAILED at step {}: {reason}", run.status.step))?;
                Ok(Outcome::Failed { reason })
            }
        }
    }
}

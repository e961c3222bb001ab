//! `guard-deploy status` and `guard-deploy list`: what is deployed and what the last run
//! did, checked against the `current` link and the lock, each problem told with what to do.
//!
//! Read-only: it may not change anything under the root.

use std::io::Write;

use anyhow::Result;

use super::Layout;
use super::lock::{LockState, inspect_lock};
use super::records::{backup_of, read_current, read_meta, read_status, release_ids};
use super::util::short;

/// Tell what is deployed and what the last run did, checking `status.json` against the
/// `current` link and the lock. Returns 0 when they agree and nothing needs attention, 2
/// otherwise (each problem is told with what to do).
pub fn status(layout: &Layout, out: &mut dyn Write) -> Result<u8> {
    let mut attention = Vec::new();
    let current = match read_current(layout) {
        Ok(c) => c,
        Err(e) => {
            attention.push(format!("{e:#}"));
            None
        }
    };
    match &current {
        Some(id) => {
            let m = read_meta(layout, id);
            match m {
                Ok(m) => writeln!(
                    out,
                    "current: releases/{id} (commit {}, made {} by {}, {})",
                    short(&m.commit),
                    m.created,
                    m.who,
                    m.state
                )?,
                Err(e) => {
                    writeln!(out, "current: releases/{id}")?;
                    attention.push(format!("{e:#}"));
                }
            }
        }
        None => writeln!(out, "current: none")?,
    }
    match backup_of(layout, current.as_deref()) {
        Some(b) => writeln!(out, "backup:  releases/{b}")?,
        None => writeln!(out, "backup:  none")?,
    }
    let lock = inspect_lock(&layout.lock())?;
    writeln!(out, "lock:    {}", lock.describe(&layout.lock()))?;
    if let LockState::Stale { .. } = lock {
        attention.push("the deploy lock is stale (see above)".into());
    }
    match read_status(layout) {
        Err(e) => attention.push(format!("{e:#}")),
        Ok(None) => {
            writeln!(out, "last run: none recorded")?;
            if current.is_some() {
                attention.push(format!(
                    "{} is missing although a release is current",
                    layout.status().display()
                ));
            }
        }
        Ok(Some(s)) => {
            writeln!(
                out,
                "last run: {} {} by {} at {}: {} at step {}{}",
                s.action,
                s.commit.as_deref().map(short).unwrap_or("-"),
                s.who,
                s.when,
                s.state,
                s.step,
                s.release
                    .as_deref()
                    .map(|r| format!(", release {r}"))
                    .unwrap_or_default()
            )?;
            if let Some(e) = &s.error {
                writeln!(out, "  error: {e}")?;
            }
            if !s.violations.is_empty() {
                writeln!(out, "  violations: {}", s.violations.join(", "))?;
            }
            if !s.flags.is_empty() {
                writeln!(out, "  flags not approved: {}", s.flags.join(", "))?;
            }
            let running_now = matches!(&lock, LockState::Held(o) if o.token == s.token);
            if s.state == "running" {
                if running_now {
                    writeln!(out, "  in progress (pid {})", s.pid)?;
                } else {
                    let here = match (&current, &s.release) {
                        (Some(c), Some(r)) if c == r => format!(
                            "current was already switched to releases/{r}, which has not passed \
                             reload and health check: `guard-deploy rollback` returns to {}",
                            s.previous.as_deref().unwrap_or("nothing")
                        ),
                        _ if current == s.previous => format!(
                            "current is still {}: the service was not changed",
                            s.previous
                                .as_deref()
                                .map(|p| format!("releases/{p}"))
                                .unwrap_or_else(|| "unset".into())
                        ),
                        _ => format!(
                            "current is {}, neither the new nor the previous release",
                            current.as_deref().unwrap_or("unset")
                        ),
                    };
                    attention.push(format!(
                        "the last run was interrupted at step {} (pid {} is gone); {here}",
                        s.step, s.pid
                    ));
                }
            } else if current.as_deref() != s.expected_current() {
                attention.push(format!(
                    "status.json says {} ended {} (current should be {}), but current is {}: \
                     it was changed outside guard-deploy",
                    s.action,
                    s.state,
                    s.expected_current().unwrap_or("unset"),
                    current.as_deref().unwrap_or("unset")
                ));
            }
        }
    }
    if attention.is_empty() {
        writeln!(out, "state:   consistent")?;
        Ok(0)
    } else {
        for a in &attention {
            writeln!(out, "attention: {a}")?;
        }
        Ok(2)
    }
}

/// One line per release, oldest first, marking the current one and the backup.
pub fn list(layout: &Layout, out: &mut dyn Write) -> Result<()> {
    let current = read_current(layout).ok().flatten();
    let backup = backup_of(layout, current.as_deref());
    let ids = release_ids(layout)?;
    if ids.is_empty() {
        writeln!(out, "no releases under {}", layout.releases().display())?;
    }
    for id in ids {
        let mark = if Some(&id) == current.as_ref() {
            "current"
        } else if Some(&id) == backup.as_ref() {
            "backup"
        } else {
            ""
        };
        match read_meta(layout, &id) {
            Ok(m) => writeln!(
                out,
                "{id}  {}  {:<8}  {}{}",
                short(&m.commit),
                m.state,
                mark,
                m.reason.map(|r| format!("  ({r})")).unwrap_or_default()
            )?,
            Err(_) => writeln!(out, "{id}  (no release record)  {mark}")?,
        }
    }
    Ok(())
}

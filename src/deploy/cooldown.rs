//! The deploy cooldown (`limits.cooldown_hours`): after a rollback or a failed deploy, no
//! deploy until the cooldown has passed, and the refusal names the UTC time it lifts.
//!
//! Read from the deploy root's own records, nothing else: `status.json` (the last run: a
//! rollback, or a deploy that rolled back or failed) and the release records
//! (`releases/<id>.json` in state `failed`: a release whose build, reload or health check
//! failed, kept even when `status.json` was moved aside). A refusal is written to the audit log
//! only: `status.json` keeps the run the cooldown is counted from.
//!
//! Runs no process; called by the pipeline while it holds the lock, so the records it reads do
//! not change under it. A rollback is never held back: going back is always allowed.

use std::io::Write;

use anyhow::{Result, bail};

use super::records::{read_meta, read_status, release_ids};
use super::util::{now_utc, short};
use super::{Layout, Outcome};
use crate::engine::identity::Actor;
use crate::engine::policy::Policy;
use crate::site::audit;

/// A cooldown that holds: what started it, when, and when it lifts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cooldown {
    /// What started it, in words: `the rollback to releases/<id>`.
    pub(super) what: String,
    pub(super) since: String,
    pub(super) lifts: String,
}

impl Cooldown {
    pub(super) fn reason(&self, hours: u64) -> String {
        format!(
            "a cooldown of {hours} hour{} holds after {} at {} (limits.cooldown_hours): no deploy \
             until it lifts at {}",
            if hours == 1 { "" } else { "s" },
            self.what,
            self.since,
            self.lifts
        )
    }
}

/// The cooldown holding now under `policy`, if any.
pub(super) fn holding(layout: &Layout, policy: &Policy) -> Result<Option<Cooldown>> {
    let hours = policy.limits.cooldown_hours;
    if hours == 0 {
        return Ok(None);
    }
    let mut latest: Option<(i64, String, String)> = None;
    let mut consider = |when: &str, what: String| -> Result<()> {
        let secs = parse_utc(when)?;
        if latest.as_ref().is_none_or(|(t, _, _)| secs > *t) {
            latest = Some((secs, when.to_string(), what));
        }
        Ok(())
    };
    if let Some(s) = read_status(layout)? {
        let release = s.release.as_deref().unwrap_or("none");
        match (s.action.as_str(), s.state.as_str()) {
            ("rollback", _) => consider(&s.when, format!("the rollback to releases/{release}"))?,
            ("deploy", "rolled-back" | "failed") => consider(
                &s.when,
                format!(
                    "the {} deploy of {}",
                    if s.state == "failed" {
                        "failed"
                    } else {
                        "rolled-back"
                    },
                    s.commit
                        .as_deref()
                        .map(short)
                        .unwrap_or("an unknown commit")
                ),
            )?,
            _ => {}
        }
    }
    for id in release_ids(layout)? {
        // A release record that cannot be read may be the one that failed: no deploy then.
        let meta = read_meta(layout, &id)?;
        if meta.state == "failed" {
            consider(&meta.created, format!("the failed release releases/{id}"))?;
        }
    }
    let Some((since, since_text, what)) = latest else {
        return Ok(None);
    };
    let lifts = since.saturating_add(i64::try_from(hours * 3600).unwrap_or(i64::MAX));
    let now = parse_utc(&now_utc().0)?;
    if now >= lifts {
        return Ok(None);
    }
    Ok(Some(Cooldown {
        what,
        since: since_text,
        lifts: crate::approvals::rfc3339(lifts),
    }))
}

/// Refuse a deploy of `commit` because `c` holds: say so, and record it in the audit log.
pub(super) fn refuse(
    layout: &Layout,
    policy: &Policy,
    actor: &Actor,
    commit: &str,
    c: &Cooldown,
    out: &mut dyn Write,
) -> Result<Outcome> {
    let reason = c.reason(policy.limits.cooldown_hours);
    audit::append(
        &layout.audit(policy),
        &audit::Event {
            door: "deploy".into(),
            action: format!("deploy {} step cooldown", short(commit)),
            actor: actor.name.clone(),
            role: Some(actor.role),
            outcome: "refused".into(),
            rules: vec!["limits.cooldown".into()],
            detail: serde_json::json!({
                "error": reason,
                "since": c.since,
                "lifts": c.lifts,
            }),
        },
    )?;
    writeln!(out, "guard-deploy: REFUSED: {reason}")?;
    Ok(Outcome::Refused { reason })
}

/// `YYYY-MM-DDTHH:MM:SSZ` (what the deploy records hold) as unix seconds.
pub(super) fn parse_utc(text: &str) -> Result<i64> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { text.get(r)?.parse::<i64>().ok() };
    let shape = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    let (Some(y), Some(m), Some(d), Some(h), Some(mi), Some(s)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        bail!("{text:?} is not a UTC time (YYYY-MM-DDTHH:MM:SSZ) in the deploy records");
    };
    if !shape || !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        bail!("{text:?} is not a UTC time (YYYY-MM-DDTHH:MM:SSZ) in the deploy records");
    }
    // Days from the civil date (Howard Hinnant's algorithm), the inverse of `now_utc`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_round_trip() {
        for secs in [0, 951_782_400, 1_767_312_000, 1_767_398_399, 4_102_444_800] {
            assert_eq!(parse_utc(&crate::approvals::rfc3339(secs)).unwrap(), secs);
        }
        assert_eq!(parse_utc("2026-01-02T00:00:00Z").unwrap(), 1_767_312_000);
        for bad in [
            "",
            "2026-01-02 00:00:00Z",
            "2026-13-02T00:00:00Z",
            "yesterday",
        ] {
            assert!(parse_utc(bad).is_err(), "{bad}");
        }
    }
}

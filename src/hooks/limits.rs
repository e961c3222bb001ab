//! The daily limit on agent changes (`limits.daily`), judged by the receive door: at most
//! `limits.agent_changes_per_day` agent changes accepted in any 24 hours, per agent or per
//! repository (`limits.per`).
//!
//! An agent change is one accepted ref update that brought new commits. They are counted from
//! the push records post-receive writes into the repository itself (`refs/guard/pushes/`, read
//! through the approval door's push log), not from the audit log: the records replicate with the
//! repository wherever it goes, no push can write them, and every accepted update that brought
//! commits has one, while an audit log may be rotated, shipped to syslog only, or kept apart
//! per server. No store of its own.
//!
//! Reads records, prints nothing, runs no process: the judgement is [`daily_finding`], a pure
//! function of the policy, the actor, the counted times, the changes of the push and now.

use std::collections::HashSet;

use anyhow::{Context as _, Result};

use crate::approvals;
use crate::engine::changes::Unit;
use crate::engine::identity::Actor;
use crate::engine::policy::{LimitPer, Policy, Role};
use crate::engine::verdict::Finding;

/// The rule id of the daily limit.
pub const DAILY: &str = "limits.daily";

const DAY_NANOS: u64 = 86_400 * 1_000_000_000;

/// The `limits.daily` finding for a push of `units` by `actor`, if it goes over the limit,
/// counting the repository's push records.
pub(super) fn daily(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    units: &[Unit],
) -> Result<Option<Finding>> {
    let limit = policy.limits.agent_changes_per_day;
    if limit == 0 || actor.role != Role::Agent {
        return Ok(None);
    }
    let new = changes_of(units);
    if new == 0 {
        return Ok(None);
    }
    let log = approvals::push_log(repo).context("cannot count the agent changes of the day")?;
    let now = now_nanos();
    let times: Vec<u64> = log
        .records()
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.role == Role::Agent || policy.actors.role_of(&r.pusher) == Role::Agent)
        .filter(|r| policy.limits.per == LimitPer::Repository || r.pusher == actor.name)
        .map(|r| r.at_nanos)
        .collect();
    Ok(daily_finding(policy, actor, &times, new, now))
}

/// How many agent changes a push brings: its ref updates that bring new commits, one per new
/// tip (two refs moved to the same tip are one change, as the push records count them).
pub(super) fn changes_of(units: &[Unit]) -> u64 {
    let tips: HashSet<_> = units
        .iter()
        .filter(|u| !u.commits.is_empty())
        .filter_map(|u| u.update.as_ref())
        .filter(|u| !u.new.is_null())
        .map(|u| u.new)
        .collect();
    tips.len() as u64
}

/// The judgement: `times` are the push records (nanoseconds since the epoch) that count
/// toward the limit of `actor`, `new` the changes this push brings, `now` the time.
pub(super) fn daily_finding(
    policy: &Policy,
    actor: &Actor,
    times: &[u64],
    new: u64,
    now: u64,
) -> Option<Finding> {
    let limit = policy.limits.agent_changes_per_day;
    let since = now.saturating_sub(DAY_NANOS);
    let mut recent: Vec<u64> = times.iter().copied().filter(|t| *t > since).collect();
    recent.sort_unstable();
    let had = recent.len() as u64;
    if had + new <= limit {
        return None;
    }
    let whose = match policy.limits.per {
        LimitPer::Agent => format!("{} has", actor.name),
        LimitPer::Repository => "agents have".to_string(),
    };
    let per = match policy.limits.per {
        LimitPer::Agent => "per agent",
        LimitPer::Repository => "per repository",
    };
    let changes = |n: u64| crate::engine::rules::count(n as usize, "agent change");
    if new > limit {
        return Some(Finding::violation(
            DAILY,
            format!(
                "this push brings {} at once, over the limit of {limit} per day {per} \
                 (limits.agent_changes_per_day): it is refused at any time",
                changes(new)
            ),
            format!("push at most {} at a time", changes(limit)),
        ));
    }
    // The push fits once enough of the counted changes are more than 24 hours old.
    let drop = (had + new - limit) as usize;
    let lifts = recent[drop - 1].saturating_add(DAY_NANOS);
    let at = approvals::rfc3339(i64::try_from(lifts.div_ceil(1_000_000_000)).unwrap_or(i64::MAX));
    Some(Finding::violation(
        DAILY,
        format!(
            "{whose} had {} accepted in the last 24 hours, the limit is {limit} per day {per} \
             (limits.agent_changes_per_day); the limit lifts at {at}",
            changes(had)
        ),
        format!("push this change again at or after {at} (UTC); nothing in it needs to change"),
    ))
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testkit::*;

    const HOUR: u64 = 3_600 * 1_000_000_000;
    /// 2026-01-02T00:00:00Z.
    const NOW: u64 = 1_767_312_000 * 1_000_000_000;

    fn limited(n: u64, per: &str) -> Policy {
        policy(&format!(
            "[limits]\nagent_changes_per_day = {n}\nper = \"{per}\"\n"
        ))
    }

    #[test]
    fn under_the_limit_passes_and_old_changes_do_not_count() {
        let p = limited(2, "agent");
        assert!(daily_finding(&p, &agent(), &[NOW - HOUR], 1, NOW).is_none());
        assert!(daily_finding(&p, &agent(), &[NOW - 30 * HOUR, NOW - 25 * HOUR], 2, NOW).is_none());
    }

    #[test]
    fn over_the_limit_says_when_it_lifts() {
        let p = limited(1, "agent");
        let f = daily_finding(&p, &agent(), &[NOW - 3 * HOUR], 1, NOW).unwrap();
        assert_eq!(f.rule, DAILY);
        assert_eq!(
            f.message,
            "bot has had 1 agent change accepted in the last 24 hours, the limit is 1 per day \
             per agent (limits.agent_changes_per_day); the limit lifts at 2026-01-02T21:00:00Z"
        );
        let p = limited(2, "repository");
        let f = daily_finding(
            &p,
            &agent(),
            &[NOW - 2 * HOUR, NOW - 5 * HOUR, NOW - HOUR],
            1,
            NOW,
        )
        .unwrap();
        // Two of the three must age out: the second oldest, 2 hours ago, does at 22:00.
        assert!(
            f.message.starts_with("agents have had 3 agent changes"),
            "{}",
            f.message
        );
        assert!(
            f.message.ends_with("lifts at 2026-01-02T22:00:00Z"),
            "{}",
            f.message
        );
    }

    #[test]
    fn a_push_over_the_limit_by_itself_never_fits() {
        let f = daily_finding(&limited(1, "agent"), &agent(), &[], 2, NOW).unwrap();
        assert!(f.message.contains("refused at any time"), "{}", f.message);
    }
}

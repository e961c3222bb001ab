//! Rule module `risk`: a score from 0 to 5 for what a unit touches and how much.
//!
//! Each factor present adds its points; the sum stops at 5:
//!
//! | factor | points |
//! | --- | --- |
//! | a path matching `paths.deny` is touched | 2 |
//! | a path matching `paths.protected` is touched | 2 |
//! | a path matching `risk.high_risk_paths` is touched | 2 |
//! | a path matching `tests.paths` is touched | 1 |
//! | tests weakened, switched off, removed, run less or cheated (`tests.weakened`, `tests.disabled`, `tests.removed`, `tests.runner`, `tests.cheat` found) | 2 |
//! | files or lines over half a cap (`caps.max_files`, `caps.max_lines`) | 1 |
//! | files or lines over a cap | 2 (instead of 1) |
//! | a file deleted | 1 |
//! | a binary file added or changed | 1 |
//! | a protected ref updated | 2 |
//! | a ref rewritten (non-fast-forward) or deleted | 1 |
//!
//! Paths are those of every commit of the unit and of its cumulative change, both sides of a
//! rename. `risk.max` (violation): the actor is an agent and the score is over
//! `risk.max_agent_risk`.

use std::collections::BTreeSet;

use super::{Context, caps};
use crate::engine::changes::{ChangeKind, UpdateKind};
use crate::engine::policy::{PathPatterns, Role};
use crate::engine::verdict::{Finding, Risk};

/// The highest score.
pub const MAX_SCORE: u8 = 5;

/// Score the unit; `out[from..]` are the findings the other rules made for it. Pushes
/// `risk.max` when an agent's change is over the cap.
pub fn check(ctx: &Context<'_>, from: usize, out: &mut Vec<Finding>) -> Risk {
    let risk = assess(ctx, out.get(from..).unwrap_or_default());
    let cap = ctx.policy.risk.max_agent_risk;
    if ctx.actor.role == Role::Agent && risk.score > cap {
        out.push(
            Finding::violation(
                "risk.max",
                format!(
                    "risk {}/{MAX_SCORE} is over risk.max_agent_risk ({cap}) for agent {}: {}",
                    risk.score,
                    ctx.actor.name,
                    risk.reasons.join("; ")
                ),
                "make a smaller change that touches fewer sensitive paths, or leave this one \
                 to a human",
            )
            .at_ref(ctx.refname()),
        );
    }
    risk
}

/// The unit's risk, from its changes, its ref update and `found` (its findings so far).
pub fn assess(ctx: &Context<'_>, found: &[Finding]) -> Risk {
    let p = ctx.policy;
    let mut score: u32 = 0;
    let mut reasons = Vec::new();
    let mut add = |points: u32, reason: String| {
        score += points;
        reasons.push(format!("{reason} (+{points})"));
    };

    let mut touched = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    let mut binary = BTreeSet::new();
    for (_, fc) in ctx.all_changes() {
        touched.extend(fc.paths());
        if fc.kind == ChangeKind::Delete {
            deleted.insert(fc.path());
        } else if fc.binary {
            binary.insert(fc.path());
        }
    }
    let matching = |set: &PathPatterns| -> Vec<&str> {
        touched
            .iter()
            .copied()
            .filter(|t| set.is_match(t))
            .collect()
    };
    for (set, what, points) in [
        (&p.paths.deny, "denied", 2),
        (&p.paths.protected, "protected", 2),
        (&p.risk.high_risk_paths, "high-risk", 2),
        (&p.tests.paths, "test", 1),
    ] {
        let hit = matching(set);
        if !hit.is_empty() {
            add(points, format!("touches {what} {}", paths_text(&hit)));
        }
    }

    let weakened: BTreeSet<&str> = found
        .iter()
        .filter(|f| {
            matches!(
                f.rule.as_str(),
                "tests.weakened"
                    | "tests.disabled"
                    | "tests.removed"
                    | "tests.runner"
                    | "tests.cheat"
            )
        })
        .filter_map(|f| f.path.as_deref())
        .collect();
    if !weakened.is_empty() {
        let list: Vec<&str> = weakened.into_iter().collect();
        add(
            2,
            format!("weakens or switches off tests in {}", files_text(&list)),
        );
    }

    let size = caps::measure(ctx);
    let over = |n: u64, cap: u64| n > cap;
    let over_half = |n: u64, cap: u64| n.saturating_mul(2) > cap;
    let figures = format!(
        "{} and {} changed (caps {} and {})",
        super::count(size.files as usize, "file"),
        super::count(size.lines as usize, "line"),
        p.caps.max_files,
        p.caps.max_lines
    );
    if over(size.files, p.caps.max_files) || over(size.lines, p.caps.max_lines) {
        add(2, format!("{figures}: over a cap"));
    } else if over_half(size.files, p.caps.max_files) || over_half(size.lines, p.caps.max_lines) {
        add(1, format!("{figures}: over half a cap"));
    }

    if !deleted.is_empty() {
        let list: Vec<&str> = deleted.into_iter().collect();
        add(1, format!("deletes {}", files_text(&list)));
    }
    if !binary.is_empty() {
        let list: Vec<&str> = binary.into_iter().collect();
        add(1, format!("adds or changes binary {}", files_text(&list)));
    }

    if let Some(update) = &ctx.unit.update
        && !update.name.starts_with(super::refs::GUARD_NAMESPACE)
    {
        let name = update.name.as_str();
        let kind = ctx.unit.kind;
        if kind != Some(UpdateKind::Unchanged) && p.refs.protected.is_match(name) {
            add(2, format!("updates protected ref {name}"));
        }
        match kind {
            Some(UpdateKind::NonFastForward) => add(1, format!("rewrites the history of {name}")),
            Some(UpdateKind::Delete) => add(1, format!("deletes {name}")),
            _ => {}
        }
    }

    Risk {
        score: score.min(u32::from(MAX_SCORE)) as u8,
        reasons,
    }
}

/// `path a` / `paths a, b, c and 4 more`.
fn paths_text(paths: &[&str]) -> String {
    format!(
        "{} {}",
        if paths.len() == 1 { "path" } else { "paths" },
        list(paths)
    )
}

fn files_text(paths: &[&str]) -> String {
    format!("{} ({})", super::count(paths.len(), "file"), list(paths))
}

fn list(items: &[&str]) -> String {
    const SHOWN: usize = 3;
    let mut s = items[..items.len().min(SHOWN)].join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testkit::*;
    use crate::engine::rules::{self, testkit::FileChangeExt};
    use crate::engine::verdict::Severity;

    fn score(
        policy_text: &str,
        actor: &crate::engine::identity::Actor,
        u: &crate::engine::changes::Unit,
    ) -> (Risk, Vec<Finding>) {
        let p = policy(policy_text);
        let ctx = Context {
            policy: &p,
            actor,
            unit: u,
        };
        let mut out = Vec::new();
        let r = rules::run_all(&ctx, &mut out);
        (r, out)
    }

    #[test]
    fn a_small_ordinary_change_is_risk_zero() {
        let u = staged_unit(vec![modify("src/lib.rs").counts(10, 2)]);
        let (r, f) = score("", &agent(), &u);
        assert_eq!(r, Risk::default());
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn factors_add_up_with_reasons() {
        let u = staged_unit(vec![
            modify("tests/cli.rs").counts(5, 0),
            delete("src/old.rs").counts(0, 30),
            add("img/logo.png").binary(2000),
        ]);
        let (r, _) = score("", &human(), &u);
        assert_eq!(r.score, 3, "{r:?}");
        assert_eq!(
            r.reasons,
            [
                "touches test path tests/cli.rs (+1)",
                "deletes 1 file (src/old.rs) (+1)",
                "adds or changes binary 1 file (img/logo.png) (+1)",
            ]
        );
    }

    #[test]
    fn size_relative_to_the_caps() {
        let six: Vec<_> = (0..6)
            .map(|i| add(&format!("src/{i}.rs")).counts(1, 0))
            .collect();
        let (r, _) = score("", &human(), &staged_unit(six));
        assert_eq!(r.score, 1, "{r:?}");
        assert_eq!(
            r.reasons,
            ["6 files and 6 lines changed (caps 10 and 400): over half a cap (+1)"]
        );
        let (r, _) = score(
            "",
            &human(),
            &staged_unit(vec![modify("a.rs").counts(500, 0)]),
        );
        assert_eq!(
            r.reasons,
            ["1 file and 500 lines changed (caps 10 and 400): over a cap (+2)"]
        );
    }

    #[test]
    fn agent_over_the_cap_is_rejected_and_the_score_stops_at_five() {
        let u = staged_unit(vec![
            modify("policy.toml").counts(1, 1),
            add(".env").lines_added(&["A=1"]),
            // A test removed with its assertion (an `assert!` of library code alone is not one).
            modify("src/lib.rs").lines_removed(&["#[test]", "    assert!(ok);"]),
        ]);
        let (r, f) = score("", &agent(), &u);
        assert_eq!(r.score, 5, "{r:?}");
        let max = only(&f, "risk.max");
        assert_eq!(max.len(), 1, "{f:?}");
        assert_severity(&max, Severity::Violation);
        assert!(max[0].message.starts_with("risk 5/5 is over risk.max_agent_risk (3) for agent bot: touches denied path .env (+2); touches protected path policy.toml (+2); weakens or switches off tests in 1 file (src/lib.rs) (+2)"), "{}", max[0].message);
        // Humans get the score, not the violation.
        let (r, f) = score("", &human(), &u);
        assert_eq!(r.score, 5);
        assert!(only(&f, "risk.max").is_empty());
        // The cap comes from the policy.
        let (_, f) = score("[risk]\nmax_agent_risk = 5\n", &agent(), &u);
        assert!(only(&f, "risk.max").is_empty());
    }

    #[test]
    fn high_risk_paths_and_refs() {
        let mut u = update(
            "refs/heads/main",
            crate::engine::changes::UpdateKind::NonFastForward,
        );
        u.cumulative = vec![modify("src/auth/login.rs").counts(1, 1)];
        let (r, _) = score("[risk]\nhigh_risk_paths = [\"src/auth/\"]\n", &human(), &u);
        assert_eq!(r.score, 5, "{r:?}");
        assert_eq!(
            r.reasons,
            [
                "touches high-risk path src/auth/login.rs (+2)",
                "updates protected ref refs/heads/main (+2)",
                "rewrites the history of refs/heads/main (+1)",
            ]
        );
        let u = update(
            "refs/heads/agent/x",
            crate::engine::changes::UpdateKind::Delete,
        );
        let (r, _) = score("", &agent(), &u);
        assert_eq!(
            (r.score, r.reasons.as_slice()),
            (1, &["deletes refs/heads/agent/x (+1)".to_string()][..])
        );
    }

    #[test]
    fn long_lists_are_shortened() {
        assert_eq!(list(&["a", "b", "c", "d", "e"]), "a, b, c and 2 more");
    }
}

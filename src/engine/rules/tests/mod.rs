//! Rule module `tests`: changes to tests, which a human must approve.
//!
//! Every finding is a flag (an approval clears it) with a path, so an approval names it:
//!
//! - `tests.changed`: a change to a path matching `tests.paths` whose kind (`add`, `modify`,
//!   `delete`, `rename`, `copy`, `type-change`, `mode-change`) is listed in `tests.flag_on`;
//!   both paths of a rename are checked. One flag per path and unit.
//! - `tests.disabled`, `tests.weakened`: tests switched off, tests or assertions lost. Read
//!   from the added and removed lines ([`lines`]).
//!
//! What each rule says and when: `docs/RULES.md`. This module reads only the unit it is given;
//! it runs no process and reads no file.

mod lines;

use std::collections::HashSet;

use super::paths::what_happened;
use super::{Context, quoted};
use crate::engine::verdict::Finding;

pub use lines::{ASSERTIONS, DISABLE_MARKERS, TEST_FUNCTIONS, TestCounts, test_counts};

/// Whether the tests rule parses the file at `path`, so the change model keeps its bytes.
pub fn reads_content(_path: &str) -> bool {
    false
}

pub fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    changed(ctx, out);
    let tp = &ctx.policy.tests;
    if tp.disable_markers {
        lines::disabled(ctx, out);
    }
    if tp.weakening {
        lines::weakened(ctx, out);
    }
}

fn changed(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let tp = &ctx.policy.tests;
    let mut told = HashSet::new();
    for (origin, fc) in ctx.all_changes() {
        if !tp.flag_on.iter().any(|k| k == fc.kind.name()) {
            continue;
        }
        for path in fc.paths() {
            if told.contains(path) {
                continue;
            }
            let matched = tp.paths.matching(path);
            if matched.is_empty() || !told.insert(path.to_string()) {
                continue;
            }
            out.push(
                Finding::flag(
                    "tests.changed",
                    format!(
                        "test file {path} {} ({})",
                        what_happened(fc, path),
                        quoted(&matched)
                    ),
                    "a human must review this change to the tests and approve it before deploy",
                )
                .at_ref(ctx.refname())
                .at_commit(origin.commit())
                .at_path(path),
            );
        }
    }
}

#[cfg(test)]
mod unit;

//! Rule module `tests`: changes to tests, which a human must approve.
//!
//! Every finding is a flag (an approval clears it) with a path, so an approval names it:
//!
//! - `tests.changed`: a change to a path matching `tests.paths` whose kind (`add`, `modify`,
//!   `delete`, `rename`, `copy`, `type-change`, `mode-change`) is listed in `tests.flag_on`;
//!   both paths of a rename are checked. One flag per path and unit.
//! - `tests.removed`, `tests.disabled`, `tests.weakened`: a test that no longer runs, one
//!   switched off, one that checks less. For Python, JavaScript, TypeScript, Rust, Go and Java
//!   each side of a changed file is parsed once with its tree-sitter grammar and compared per
//!   test ([`compare`]); other files fall back to the line rules ([`lines`]).
//! - `tests.runner`: the runner told to run less ([`runner`]).
//! - `tests.cheat`: source code that detects the test run or makes comparisons pass ([`cheat`]).
//!
//! Only the files the unit's cumulative change touches are read. What each rule says and
//! when: `docs/RULES.md`. This module reads only the unit it is given; it runs no process and
//! reads no file.

mod cheat;
mod compare;
mod go;
mod java;
mod js;
mod lang;
mod lines;
mod python;
mod runner;
mod rust;
mod suite;

use std::collections::HashSet;

use super::paths::what_happened;
use super::{Context, quoted};
use crate::engine::changes::FileChange;
use crate::engine::verdict::Finding;
use suite::Suite;

pub use lines::{ASSERTIONS, DISABLE_MARKERS, TEST_FUNCTIONS, TestCounts, test_counts};

/// Whether the tests rule parses the file at `path`, so the change model keeps its bytes.
pub fn reads_content(path: &str) -> bool {
    lang::Lang::of(path).is_some() || runner::is_runner_file(path)
}

pub fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    changed(ctx, out);
    let tp = &ctx.policy.tests;
    let cumulative = &ctx.unit.cumulative;
    let made;
    let parses = match ctx.unit.parses.as_deref() {
        Some(p) if p.sides.len() == cumulative.len() => p,
        _ => {
            made = Parses::of(cumulative);
            &made
        }
    };
    let parsed = parses.files(cumulative);
    let mut paths: HashSet<&str> = parsed.iter().flat_map(|p| p.change.paths()).collect();
    // A file a grammar reads that can hold no test was not parsed; the line rules, there for
    // files without a grammar, leave it alone too.
    paths.extend(
        ctx.unit
            .cumulative
            .iter()
            .filter(|fc| {
                !fc.binary
                    && has_content(fc)
                    && fc.paths().any(|p| lang::Lang::of(p).is_some())
                    && !may_hold_tests(fc)
            })
            .flat_map(|fc| fc.paths()),
    );
    if tp.disable_markers || tp.weakening {
        compare::compare(ctx, &parsed, out);
    }
    if tp.disable_markers {
        lines::disabled(ctx, &paths, out);
    }
    if tp.weakening {
        lines::weakened(ctx, &paths, out);
    }
    if tp.runner {
        runner::check(ctx, out);
    }
    if tp.cheats {
        cheat::check(ctx, &parsed, out);
    }
}

/// Both sides of each file of a cumulative change that a grammar reads, parsed once: made by
/// the change model while the push's commits are still being diffed (so the parse runs beside
/// the diff), or by [`check`] when the model did not.
#[derive(Default)]
pub struct Parses {
    /// By index into the cumulative change; `None`: not parsed (see [`parse_one`]).
    sides: Vec<Option<(Option<Suite>, Option<Suite>)>>,
}

impl Parses {
    /// Parse every file of `cumulative` a grammar reads. With much to parse and more than one
    /// core, the files are shared among threads (each takes the next file); the result is
    /// the same as parsing them in turn.
    pub fn of(cumulative: &[FileChange]) -> Parses {
        let bytes: u64 = cumulative
            .iter()
            .flat_map(|fc| [fc.old_content.as_ref(), fc.new_content.as_ref()])
            .flatten()
            .map(|b| b.bytes().len() as u64)
            .sum();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(cumulative.len())
            .min(8);
        if bytes < PARALLEL_PARSE_FROM || threads < 2 {
            return Parses {
                sides: cumulative.iter().map(parse_one).collect(),
            };
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut sides: Vec<Option<(Option<Suite>, Option<Suite>)>> =
            (0..cumulative.len()).map(|_| None).collect();
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(fc) = cumulative.get(i) else {
                                return done;
                            };
                            if let Some(parsed) = parse_one(fc) {
                                done.push((i, parsed));
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                // A panic in a worker is a bug in a test finder: raise it here, as one thread
                // would.
                let done = w.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
                for (i, parsed) in done {
                    sides[i] = Some(parsed);
                }
            }
        });
        Parses { sides }
    }

    /// The files parsed, with their change. `cumulative` must be the change parsed.
    fn files<'a>(&'a self, cumulative: &'a [FileChange]) -> Vec<compare::Parsed<'a>> {
        debug_assert_eq!(self.sides.len(), cumulative.len());
        cumulative
            .iter()
            .zip(&self.sides)
            .filter_map(|(change, sides)| {
                let (old, new) = sides.as_ref()?;
                Some(compare::Parsed {
                    change,
                    old: old.as_ref(),
                    new: new.as_ref(),
                })
            })
            .collect()
    }
}

impl std::fmt::Debug for Parses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parsed = self.sides.iter().filter(|s| s.is_some()).count();
        write!(f, "Parses({parsed} of {} files)", self.sides.len())
    }
}

/// Bytes of content under which the files are parsed on one thread.
const PARALLEL_PARSE_FROM: u64 = 256 << 10;

/// Both sides of `fc` parsed, when a grammar reads it and it may hold tests; `None` leaves it
/// to the line rules or to nothing.
fn parse_one(fc: &FileChange) -> Option<(Option<Suite>, Option<Suite>)> {
    if fc.binary || fc.is_symlink() || fc.is_gitlink() {
        return None;
    }
    let side = |path: Option<&str>, blob: Option<&crate::engine::changes::Blob>| {
        let path = path?;
        lang::suite(lang::Lang::of(path)?, path, blob?.bytes())
    };
    let has_lang = fc.paths().any(|p| lang::Lang::of(p).is_some());
    if !has_lang || !has_content(fc) || !may_hold_tests(fc) {
        return None;
    }
    let old = side(fc.old_path.as_deref(), fc.old_content.as_ref());
    let new = side(fc.new_path.as_deref(), fc.new_content.as_ref());
    // A side that should have parsed and did not (not UTF-8): the line rules judge it.
    let unread = |path: Option<&str>, suite: &Option<Suite>| {
        suite.is_none() && path.is_some_and(|p| lang::Lang::of(p).is_some())
    };
    if unread(fc.old_path.as_deref(), &old) || unread(fc.new_path.as_deref(), &new) {
        return None;
    }
    Some((old, new))
}

/// Whether either side of the change can hold a test its runner collects: a path the runner
/// collects from, and for Rust and Java (where any file can hold tests) a side whose text
/// names a test attribute or annotation. A file that cannot is not parsed: it has no test to
/// lose, move or weaken.
fn may_hold_tests(fc: &FileChange) -> bool {
    let side = |path: Option<&str>, blob: Option<&crate::engine::changes::Blob>| {
        let (Some(path), Some(blob)) = (path, blob) else {
            return false;
        };
        let Some(l) = lang::Lang::of(path) else {
            return false;
        };
        let has = |words: &[&[u8]]| {
            words
                .iter()
                .any(|w| memchr::memmem::find(blob.bytes(), w).is_some())
        };
        match l {
            lang::Lang::Rust => has(&[b"test", b"quickcheck"]),
            lang::Lang::Java => has(&[b"Test", b"@Property"]),
            _ => l.collects(path),
        }
    };
    side(fc.old_path.as_deref(), fc.old_content.as_ref())
        || side(fc.new_path.as_deref(), fc.new_content.as_ref())
}

/// Whether the model kept the bytes of every side the change has.
fn has_content(fc: &FileChange) -> bool {
    (fc.old_path.is_none() || fc.old_content.is_some())
        && (fc.new_path.is_none() || fc.new_content.is_some())
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
mod history_tests;
#[cfg(test)]
mod lang_tests;
#[cfg(test)]
mod unit;

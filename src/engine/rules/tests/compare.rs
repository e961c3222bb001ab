//! The per-test comparison: each file's tests before and after the unit's cumulative change,
//! matched by name, then by body (a renamed test) and across files (a moved test), and what
//! each lost told as `tests.removed`, `tests.disabled` and `tests.weakened` findings naming the
//! test and showing its lines before and after.

use std::collections::{HashMap, HashSet};

use super::suite::{Assertion, Evidence, Suite, TestFn, skeleton};
use crate::engine::changes::{ChangeKind, FileChange};
use crate::engine::rules::Context;
use crate::engine::verdict::Finding;

/// Both sides of one parsed file.
pub struct Parsed<'a> {
    pub change: &'a FileChange,
    pub old: Option<&'a Suite>,
    pub new: Option<&'a Suite>,
}

/// Past this many tests lost in one file, one finding names the first of them.
const MAX_NAMED: usize = 5;

pub fn compare(ctx: &Context<'_>, files: &[Parsed<'_>], out: &mut Vec<Finding>) {
    let tp = &ctx.policy.tests;
    // Tests that appear in a file that did not have them before: where moved tests went.
    let mut added_names: HashSet<&str> = HashSet::new();
    let mut added_bodies: HashSet<&str> = HashSet::new();
    for p in files {
        let Some(new) = p.new else { continue };
        let old_names: HashSet<&str> = p
            .old
            .iter()
            .flat_map(|s| s.tests.iter().map(|t| t.name.as_str()))
            .collect();
        for t in new
            .tests
            .iter()
            .filter(|t| !old_names.contains(t.name.as_str()))
        {
            added_names.insert(leaf(&t.name));
            if !t.body_key.is_empty() {
                added_bodies.insert(t.body_key.as_str());
            }
        }
    }
    for p in files {
        let empty = Suite::default();
        let old = p.old.unwrap_or(&empty);
        let new = p.new.unwrap_or(&empty);
        let finding = |rule: &str, message: String, hint: &str| {
            Finding::flag(rule, message, hint)
                .at_ref(ctx.refname())
                .at_path(p.change.path())
        };
        let new_by_name: HashMap<&str, &TestFn> =
            new.tests.iter().map(|t| (t.name.as_str(), t)).collect();
        let old_names: HashSet<&str> = old.tests.iter().map(|t| t.name.as_str()).collect();
        let new_bodies: HashSet<&str> = new
            .tests
            .iter()
            .filter(|t| !old_names.contains(t.name.as_str()))
            .map(|t| t.body_key.as_str())
            .collect();
        let mut lost: Vec<(&TestFn, Option<&str>)> = Vec::new();
        for t in &old.tests {
            if let Some(n) = new_by_name.get(t.name.as_str()) {
                if tp.disable_markers {
                    switched_off(t, n, &finding, out);
                }
                if tp.weakening {
                    gutted(t, n, &finding, out);
                }
                continue;
            }
            let moved = new_bodies.contains(t.body_key.as_str())
                || added_bodies.contains(t.body_key.as_str())
                || added_names.contains(leaf(&t.name));
            if moved {
                continue;
            }
            let renamed_to = new
                .others
                .iter()
                .find(|(_, key)| *key == t.body_key)
                .map(|(name, _)| name.as_str());
            lost.push((t, renamed_to));
        }
        if tp.weakening && !lost.is_empty() {
            removed(p.change, &lost, &finding, out);
        }
        if tp.disable_markers {
            file_switches(old, new, &finding, out);
            for t in new
                .tests
                .iter()
                .filter(|t| !old_names.contains(t.name.as_str()))
            {
                if let Some(f) = &t.focus {
                    out.push(
                        finding(
                            "tests.disabled",
                            format!(
                                "new test `{}` is focused: the file's other tests stop running",
                                t.name
                            ),
                            FOCUS_HINT,
                        )
                        .for_test(&t.name)
                        .showing(None, Some(f)),
                    );
                }
            }
        }
    }
}

const FOCUS_HINT: &str = "remove the focus marker so every test runs";
const OFF_HINT: &str = "run the test instead of switching it off; if it must stay off, a human \
                        must approve it (say why in the commit message)";
const WEAK_HINT: &str = "keep what the test checks, or have a human approve the change (say why \
                         in the commit message)";

/// The last segment of a test's name (`Class::test_x` is `test_x`).
fn leaf(name: &str) -> &str {
    let name = name.rsplit("::").next().unwrap_or(name);
    let name = name.rsplit(" > ").next().unwrap_or(name);
    name.rsplit('.').next().unwrap_or(name)
}

/// The test and its lines on a finding.
trait Show {
    fn for_test(self, name: &str) -> Self;
    fn showing(self, before: Option<&Evidence>, after: Option<&Evidence>) -> Self;
}

impl Show for Finding {
    fn for_test(self, name: &str) -> Self {
        self.about_test(name)
    }
    fn showing(self, before: Option<&Evidence>, after: Option<&Evidence>) -> Self {
        let line = |e: &Evidence| format!("{}: {}", e.line, e.text);
        self.with_lines(before.map(line), after.map(line))
    }
}

type Push<'p> = dyn FnMut(String, Option<&Evidence>, Option<&Evidence>) + 'p;
type Make<'f> = dyn Fn(&str, String, &str) -> Finding + 'f;

fn removed(
    fc: &FileChange,
    lost: &[(&TestFn, Option<&str>)],
    f: &Make<'_>,
    out: &mut Vec<Finding>,
) {
    let how = match (fc.kind, fc.new_path.as_deref()) {
        (ChangeKind::Delete, _) => "its file was deleted".to_string(),
        (ChangeKind::Rename, Some(to)) => {
            format!("its file moved to {to}, where it is not collected")
        }
        _ => "removed".to_string(),
    };
    let hint = "keep the test, or have a human approve its removal (if it moved, say where in the \
                commit message)";
    if lost.len() > MAX_NAMED {
        let names: Vec<&str> = lost
            .iter()
            .take(MAX_NAMED)
            .map(|(t, _)| t.name.as_str())
            .collect();
        out.push(
            f(
                "tests.removed",
                format!(
                    "{} tests no longer run ({how}): {} and {} more",
                    lost.len(),
                    names.join(", "),
                    lost.len() - MAX_NAMED
                ),
                hint,
            )
            .for_test(&lost[0].0.name)
            .showing(Some(&lost[0].0.head), None),
        );
        return;
    }
    for (t, renamed) in lost {
        let message = match renamed {
            Some(to) if *to == t.name => {
                format!("test `{to}` is no longer marked as a test: the runner does not collect it")
            }
            Some(to) => format!(
                "test `{}` renamed to `{to}`, which the runner does not collect",
                t.name
            ),
            None => format!("test `{}` no longer runs ({how})", t.name),
        };
        out.push(
            f("tests.removed", message, hint)
                .for_test(&t.name)
                .showing(Some(&t.head), None),
        );
    }
}

fn switched_off(old: &TestFn, new: &TestFn, f: &Make<'_>, out: &mut Vec<Finding>) {
    if let (None, Some(s)) = (&old.skip, &new.skip) {
        out.push(
            f(
                "tests.disabled",
                format!("test `{}` switched off by `{}`", new.name, s.text),
                OFF_HINT,
            )
            .for_test(&new.name)
            .showing(Some(&old.head), Some(s)),
        );
    }
    if let (None, Some(s)) = (&old.focus, &new.focus) {
        out.push(
            f(
                "tests.disabled",
                format!(
                    "test `{}` is focused: the file's other tests stop running",
                    new.name
                ),
                FOCUS_HINT,
            )
            .for_test(&new.name)
            .showing(Some(&old.head), Some(s)),
        );
    }
}

fn gutted(old: &TestFn, new: &TestFn, f: &Make<'_>, out: &mut Vec<Finding>) {
    let mut push = |what: String, before: Option<&Evidence>, after: Option<&Evidence>| {
        out.push(
            f(
                "tests.weakened",
                format!("test `{}` {what}", new.name),
                WEAK_HINT,
            )
            .for_test(&new.name)
            .showing(before, after),
        );
    };
    if let (None, Some(e)) = (&old.expects_failure, &new.expects_failure) {
        push(
            format!("now passes when it fails (`{}`)", e.text),
            Some(&old.head),
            Some(e),
        );
    }
    if let (None, Some(r)) = (&old.early_return, &new.early_return) {
        push("returns before its assertions run".into(), None, Some(r));
    }
    if new.swallows.len() > old.swallows.len() {
        let e = new
            .swallows
            .iter()
            .find(|s| !old.swallows.iter().any(|o| o.text == s.text));
        push(
            "swallows the failures of its assertions".into(),
            None,
            e.or(new.swallows.last()),
        );
    }
    assertions(&old.asserts, &new.asserts, &mut push);
    // A case list dropped for arguments the test still takes: a fixture supplies them now
    // (pytest fails a test whose argument nothing supplies), and a change to that fixture is a
    // change to test code, flagged as such.
    // The same goes for a fixture the test takes anew whose name shares a word with the
    // argument (`with_validation` to `usefixtures("with_and_without_validation")`).
    let words = |s: &str| -> Vec<String> {
        s.split('_')
            .filter(|w| w.len() >= 4)
            .map(str::to_lowercase)
            .collect()
    };
    let fresh: Vec<&String> = new
        .fixtures
        .iter()
        .filter(|f| !old.fixtures.contains(f))
        .collect();
    let from_fixture = |args: &str| {
        !args.is_empty()
            && args.split(',').all(|a| {
                new.fixtures.iter().any(|f| f == a)
                    || fresh
                        .iter()
                        .any(|f| words(f).iter().any(|w| words(a).contains(w)))
            })
    };
    // A list of one case dropped, its value written into the test (attrs 23.1.0:
    // `parametrize("cls", [A])`), leaves the test running as often as before.
    let inlined = |args: &str| {
        !args.is_empty()
            && old.case_args.iter().filter(|a| *a == args).count() == 1
            && !new.case_args.iter().any(|a| a == args)
    };
    let old_cases: Vec<&Evidence> = old
        .cases
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            !old.case_args
                .get(*i)
                .is_some_and(|a| from_fixture(a) || inlined(a))
        })
        .map(|(_, c)| c)
        .collect();
    if new.cases.len() < old_cases.len() && !new.opaque_cases && !old.opaque_cases {
        let mut left: Vec<&str> = new.cases.iter().map(|c| c.text.as_str()).collect();
        let gone: Vec<&Evidence> = old_cases
            .iter()
            .copied()
            .filter(|c| match left.iter().position(|l| *l == c.text) {
                Some(i) => {
                    left.swap_remove(i);
                    false
                }
                None => true,
            })
            .collect();
        if let Some(first) = gone.first() {
            let n = gone.len();
            push(
                format!("loses {n} of its {} cases", old_cases.len()),
                Some(first),
                None,
            );
        }
    }
}

fn assertions(old: &[Assertion], new: &[Assertion], push: &mut Push<'_>) {
    let mut added: Vec<&Assertion> = new.iter().collect();
    let mut removed: Vec<&Assertion> = Vec::new();
    for a in old {
        match added.iter().position(|b| tight(&b.text) == tight(&a.text)) {
            Some(i) => {
                added.remove(i);
            }
            None => removed.push(a),
        }
    }
    let ev = |a: &Assertion| Evidence {
        line: a.line,
        text: a.text.clone(),
    };
    // Same shape, other literals: the expected value changed.
    let mut rest = Vec::new();
    for r in removed {
        let sk = tight(&skeleton(&r.text));
        match added.iter().position(|a| tight(&skeleton(&a.text)) == sk) {
            Some(i) => {
                let a = added.remove(i);
                push(
                    "changes an expected value".into(),
                    Some(&ev(r)),
                    Some(&ev(a)),
                );
            }
            None => rest.push(r),
        }
    }
    // In order, each removed one against what took its place.
    let mut replaced = 0;
    for r in &rest {
        let Some(a) = added.get(replaced) else { break };
        replaced += 1;
        if a.strength < r.strength {
            push(
                "checks less: an assertion replaced by a weaker one".into(),
                Some(&ev(r)),
                Some(&ev(a)),
            );
        }
    }
    // An assertion removed that the test still makes (one of two identical lines) checks
    // nothing the test lost.
    let kept: HashSet<String> = new.iter().map(|a| tight(&a.text)).collect();
    let gone: Vec<&Assertion> = rest[replaced..]
        .iter()
        .copied()
        .filter(|a| !kept.contains(&tight(&a.text)))
        .collect();
    if let Some(first) = gone.first() {
        let what = if new.is_empty() {
            "loses all its assertions".to_string()
        } else {
            format!("loses {} of its {} assertions", gone.len(), old.len())
        };
        push(what, Some(&ev(first)), None);
    }
}

/// The text without the whitespace outside its string literals: `{"a" : 1}` and `{"a": 1}`
/// are the same assertion, `"a b"` and `"ab"` are not.
fn tight(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in s.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    // 'x' and "x" are the same string where a language has both.
                    out.push(if q == '\'' { '"' } else { c });
                    continue;
                }
                out.push(c);
            }
            None if c.is_whitespace() => {}
            None => {
                if matches!(c, '"' | '\'' | '`') {
                    quote = Some(c);
                }
                out.push(if c == '\'' { '"' } else { c });
            }
        }
    }
    out
}

/// A file-wide switch added (or changed): a module marker, a build constraint, a `TestMain`.
fn file_switches(old: &Suite, new: &Suite, f: &Make<'_>, out: &mut Vec<Finding>) {
    let Some(s) = &new.file_skip else { return };
    let tests = new.tests.len().max(old.tests.len());
    if old.file_skip.as_ref().is_some_and(|o| o.text == s.text) || tests == 0 {
        return;
    }
    out.push(
        f(
            "tests.disabled",
            format!(
                "`{}`: keeps the file's tests from running ({tests} here)",
                s.text
            ),
            OFF_HINT,
        )
        .showing(old.file_skip.as_ref(), Some(s)),
    );
}

//! The line rules of `tests`: the fallback for files no grammar reads. They see only the
//! added and removed lines of each commit, never a parse.
//!
//! - `tests.disabled` (when `tests.disable_markers`): an added line, in any file, carrying a
//!   marker that switches tests off or focuses on some so the rest do not run (`#[ignore]`,
//!   `@pytest.mark.skip`, `xfail`, `it.skip`, `.only(`, `t.Skip(`, `@Disabled`, ...).
//! - `tests.weakened` (when `tests.weakening`): a file, any file, loses test functions or
//!   assertions: the lines of each kind the unit's commits remove from it outnumber the lines
//!   of that kind they add to it.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder};

use crate::engine::rules::{Context, LineScan, Origin, count};
use crate::engine::verdict::Finding;

/// Markers that switch tests off, or focus some so that the others are skipped. No pattern may
/// match across a line end (see [`LineScan`]).
pub const DISABLE_MARKERS: &[&str] = &[
    // Rust
    r"#\[ignore\b[^\]\n]*\]?",
    r"#\[cfg\((?:any\(\)|false)\)\]",
    // Python
    r"@pytest\.mark\.skip(?:if)?\b",
    r"\bpytest\.skip\(",
    r"\bxfail\b",
    r"@unittest\.skip\w*",
    r"@unittest\.expectedFailure\b",
    r"\bself\.skipTest\(",
    // JavaScript and TypeScript (Jest, Mocha, Jasmine, Vitest)
    r"\b(?:it|describe|test|context|suite)\.(?:skip|only)\b",
    r"(?m)^[ \t]*x(?:it|describe|test|context)[ \t]*\(",
    r"(?m)^[ \t]*f(?:it|describe)[ \t]*\(",
    // Go
    r"\b[tb]\.Skip(?:f|Now)?\(",
    // Java (JUnit, TestNG)
    r"@Disabled\w*",
    r"@Ignore\b",
    r"@Test\([^)\n]*enabled[ \t]*=[ \t]*false",
];

/// Lines that declare a test function.
pub const TEST_FUNCTIONS: &[&str] = &[
    r"#\[(?:[A-Za-z_][A-Za-z0-9_]*::)*test\b",
    r"\bfn test_",
    r"\bdef test_",
    r"\bfunc Test",
    r"@(?:Test|ParameterizedTest|RepeatedTest)\b",
    r"(?m)^[ \t]*(?:it|test|specify)[ \t]*\(",
];

/// Lines that hold an assertion.
pub const ASSERTIONS: &[&str] = &[
    r"\bassert\w*",
    r"\bexpect[ \t]*\(",
    r"\b[tb]\.(?:Error|Errorf|Fatal|Fatalf|Fail|FailNow)\(",
    r"\brequire\.\w+\(",
    r"\.should\b",
];

/// One list of patterns as one regex, compiled on first use: a change that adds no line never
/// pays for the markers, one that removes none never pays for the counts.
fn build(list: &[&str]) -> Regex {
    // The patterns are constants checked by the tests: failing here is a bug, not input.
    RegexBuilder::new(&list.join("|"))
        .unicode(false)
        .build()
        .expect("built-in test patterns compile")
}

fn markers() -> &'static Regex {
    static MARKERS: OnceLock<Regex> = OnceLock::new();
    MARKERS.get_or_init(|| build(DISABLE_MARKERS))
}

fn counters() -> &'static (Regex, Regex) {
    static COUNTERS: OnceLock<(Regex, Regex)> = OnceLock::new();
    COUNTERS.get_or_init(|| (build(TEST_FUNCTIONS), build(ASSERTIONS)))
}

/// `parsed`: paths a grammar read, which the line rules leave alone.
pub(super) fn disabled(ctx: &Context<'_>, parsed: &HashSet<&str>, out: &mut Vec<Finding>) {
    let mut scan = LineScan::default();
    for (origin, fc) in ctx.all_changes() {
        if parsed.contains(fc.path()) || is_document(fc.path()) {
            continue;
        }
        // Added lines are read from the commits; the cumulative change adds nothing new.
        if origin == Origin::Cumulative || fc.binary || fc.added_lines.is_empty() {
            continue;
        }
        scan.load(fc.added_lines.iter().map(|l| l.text.as_str()), false);
        for (i, marker) in scan.hits(markers()) {
            let marker = String::from_utf8_lossy(marker);
            let marker = marker.trim();
            out.push(
                Finding::flag(
                    "tests.disabled",
                    format!("adds `{marker}`, which keeps tests from running"),
                    "run the tests instead of switching them off; if one must stay off, a human \
                     must approve it (say why in the commit message)",
                )
                .at_ref(ctx.refname())
                .at_commit(origin.commit())
                .at_path(fc.path())
                .at_line(fc.added_lines[i].number),
            );
        }
    }
}

/// A path that holds test code by the conventions of the languages without a grammar here:
/// a test directory (`tests/`, `test/`, `spec/`, `t/`, ...), or a file named as a test
/// (`test_x.c`, `x_test.cc`, `XTest.kt`, `XTests.cs`, `x_spec.rb`, `x.test.sh`).
fn is_test_path(path: &str) -> bool {
    const DIRS: &[&str] = &[
        "test",
        "tests",
        "testing",
        "spec",
        "specs",
        "__tests__",
        "t",
        "unittest",
        "unittests",
    ];
    if path.split('/').rev().skip(1).any(|d| DIRS.contains(&d)) {
        return true;
    }
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.split('.').next().unwrap_or(base);
    let lower = stem.to_ascii_lowercase();
    lower.starts_with("test")
        || lower.ends_with("_test")
        || lower.ends_with("-test")
        || lower.ends_with("_tests")
        || lower.ends_with("_spec")
        || stem.ends_with("Test")
        || stem.ends_with("Tests")
        || stem.ends_with("Spec")
        || base.contains(".test.")
        || base.contains(".spec.")
}

/// Documents (`README.md`, `CHANGES.rst`, ...): their examples are not the tests.
fn is_document(path: &str) -> bool {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    matches!(
        ext.as_deref(),
        Some("md" | "markdown" | "rst" | "txt" | "adoc" | "html" | "htm")
    )
}

/// Lines of test functions and assertions one file gained and lost over the unit's commits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TestCounts {
    pub functions_added: usize,
    pub functions_removed: usize,
    pub assertions_added: usize,
    pub assertions_removed: usize,
}

impl TestCounts {
    pub fn functions_lost(&self) -> usize {
        self.functions_removed.saturating_sub(self.functions_added)
    }
    pub fn assertions_lost(&self) -> usize {
        self.assertions_removed
            .saturating_sub(self.assertions_added)
    }
}

/// Per path, what the unit's commits did to its test functions and assertions.
pub fn test_counts(ctx: &Context<'_>, parsed: &HashSet<&str>) -> BTreeMap<String, TestCounts> {
    let mut scan = LineScan::default();
    // Only a file something was removed from can lose anything; its additions anywhere in
    // the unit (before or after the removal) make up for what it lost.
    let mut counts: BTreeMap<String, TestCounts> = ctx
        .all_changes()
        .filter(|(origin, fc)| *origin != Origin::Cumulative && !fc.binary)
        .filter(|(_, fc)| {
            !fc.removed_lines.is_empty() && !parsed.contains(fc.path()) && !is_document(fc.path())
        })
        .map(|(_, fc)| (fc.path().to_string(), TestCounts::default()))
        .collect();
    if counts.is_empty() {
        return counts;
    }
    let (functions, assertions) = counters();
    for (origin, fc) in ctx.all_changes() {
        if origin == Origin::Cumulative || fc.binary {
            continue;
        }
        let Some(entry) = counts.get_mut(fc.path()) else {
            continue;
        };
        scan.load(fc.removed_lines.iter().map(String::as_str), false);
        entry.functions_removed += scan.hits(functions).len();
        entry.assertions_removed += scan.hits(assertions).len();
        scan.load(fc.added_lines.iter().map(|l| l.text.as_str()), false);
        entry.functions_added += scan.hits(functions).len();
        entry.assertions_added += scan.hits(assertions).len();
    }
    // `assert(x)` in production C is the code checking itself, not a test: assertions count in
    // test code only, a file named or placed as a test or one whose changed lines declare
    // tests.
    for (path, n) in counts.iter_mut() {
        if !is_test_path(path) && n.functions_removed == 0 && n.functions_added == 0 {
            n.assertions_removed = 0;
            n.assertions_added = 0;
        }
    }
    counts
}

pub(super) fn weakened(ctx: &Context<'_>, parsed: &HashSet<&str>, out: &mut Vec<Finding>) {
    for (path, n) in test_counts(ctx, parsed) {
        let mut lost = Vec::new();
        if n.functions_lost() > 0 {
            lost.push(format!(
                "{} ({} removed, {} added)",
                count(n.functions_lost(), "test function"),
                n.functions_removed,
                n.functions_added
            ));
        }
        if n.assertions_lost() > 0 {
            lost.push(format!(
                "{} ({} removed, {} added)",
                count(n.assertions_lost(), "assertion"),
                n.assertions_removed,
                n.assertions_added
            ));
        }
        if lost.is_empty() {
            continue;
        }
        out.push(
            Finding::flag(
                "tests.weakened",
                format!("{path} loses {}", lost.join(" and ")),
                "keep the tests and assertions, or have a human approve their removal (if they \
                 moved to another file, say where in the commit message)",
            )
            .at_ref(ctx.refname())
            .at_path(path),
        );
    }
}

#[cfg(test)]
mod unit_tests {
    use super::super::check;
    use super::*;
    use crate::engine::rules::testkit::*;
    use crate::engine::verdict::Severity;

    #[test]
    fn patterns_compile() {
        assert!(markers().is_match(b"#[ignore]"));
        let (functions, assertions) = counters();
        assert!(functions.is_match(b"fn test_x() {"));
        assert!(assertions.is_match(b"assert_eq!(a, b);"));
    }

    #[test]
    fn disable_markers_in_any_file() {
        let lines = [
            "fn ok() {}",
            "#[ignore]",
            "    @pytest.mark.skipif(sys.platform == 'win32', reason='x')",
            "@pytest.mark.xfail",
            "  it.skip('does a thing', () => {",
            "describe.only('focus', () => {",
            "  xit('later', () => {",
            "\tt.Skip(\"flaky\")",
            "  @Disabled(\"broken\")",
            "#[cfg(any())]",
            "@unittest.skip('x')",
            "    pytest.skip(\"no db\")",
            "  model.fit(x, y)",
            "  test.skip('x')",
        ];
        let u = staged_unit(vec![add("src/lib.rs").lines_added(&lines)]);
        let f = run(check, &policy(""), &agent(), &u);
        let d = only(&f, "tests.disabled");
        let at: Vec<u32> = d.iter().map(|f| f.line.unwrap()).collect();
        assert_eq!(at, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14], "{d:?}");
        assert_severity(&d, Severity::Flag);
        assert_eq!(
            d[0].message,
            "adds `#[ignore]`, which keeps tests from running"
        );
        assert_eq!(d[0].flag_id(), "tests.disabled:src/lib.rs");
        assert!(
            d[1].message.contains("`@pytest.mark.skipif`"),
            "{}",
            d[1].message
        );
        let off = policy("[tests]\ndisable_markers = false\n");
        assert!(only(&run(check, &off, &agent(), &u), "tests.disabled").is_empty());
    }

    #[test]
    fn removed_markers_are_not_flagged() {
        let u = staged_unit(vec![modify("src/lib.rs").lines_removed(&["#[ignore]"])]);
        assert!(only(&run(check, &policy(""), &agent(), &u), "tests.disabled").is_empty());
    }

    #[test]
    fn losing_tests_and_assertions_is_flagged_with_counts() {
        let removed = [
            "#[test]",
            "fn test_parse() {",
            "    assert_eq!(parse(\"1\"), 1);",
            "    assert!(parse(\"x\").is_err());",
            "}",
            "def test_login(client):",
            "    assert client.get('/').status_code == 200",
        ];
        let added = ["    assert_eq!(parse(\"1\"), Ok(1));"];
        let u = staged_unit(vec![
            modify("src/parse.rs")
                .lines_removed(&removed)
                .lines_added(&added),
        ]);
        let f = run(check, &policy(""), &agent(), &u);
        let w = only(&f, "tests.weakened");
        assert_eq!(w.len(), 1, "{f:?}");
        assert_eq!(
            w[0].message,
            "src/parse.rs loses 3 test functions (3 removed, 0 added) and 2 assertions (3 removed, 1 added)"
        );
        assert_eq!(w[0].flag_id(), "tests.weakened:src/parse.rs");
        let off = policy("[tests]\nweakening = false\n");
        assert!(only(&run(check, &off, &agent(), &u), "tests.weakened").is_empty());
    }

    #[test]
    fn rewritten_assertions_and_tests_restored_later_are_not_weakening() {
        let u = unit(
            vec![
                commit(
                    1,
                    "a",
                    vec![modify("t.py").lines_removed(&["def test_a():", "    assert f() == 1"])],
                ),
                commit(
                    2,
                    "b",
                    vec![modify("t.py").lines_added(&["def test_a():", "    assert f() == 2"])],
                ),
            ],
            vec![],
        );
        let f = run(check, &policy(""), &agent(), &u);
        assert!(only(&f, "tests.weakened").is_empty(), "{f:?}");
    }

    #[test]
    fn test_added_then_removed_in_one_push_is_not_a_loss() {
        let lines = ["#[test]", "fn x() { assert!(true); }"];
        let u = unit(
            vec![
                commit(1, "a", vec![add("tests/t.rs").lines_added(&lines)]),
                commit(2, "b", vec![delete("tests/t.rs").lines_removed(&lines)]),
            ],
            vec![],
        );
        let f = run(check, &policy(""), &agent(), &u);
        assert!(only(&f, "tests.weakened").is_empty(), "{f:?}");
    }

    #[test]
    fn deleted_test_file_loses_its_tests() {
        let go = delete("pkg/x_test.go").lines_removed(&[
            "func TestX(t *testing.T) {",
            "\tif x() != 1 { t.Errorf(\"bad\") }",
            "}",
        ]);
        let js = modify("web/a.test.js").lines_removed(&[
            "test('adds', () => {",
            "  expect(add(1, 1)).toBe(2);",
            "});",
            "  if (re.test(s)) {}",
        ]);
        let u = staged_unit(vec![go, js]);
        let f = run(check, &policy(""), &agent(), &u);
        let w = only(&f, "tests.weakened");
        assert_eq!(w.len(), 2, "{f:?}");
        assert_eq!(w[0].path.as_deref(), Some("pkg/x_test.go"));
        assert!(
            w[0].message
                .contains("1 test function (1 removed, 0 added) and 1 assertion"),
            "{}",
            w[0].message
        );
        assert_eq!(w[1].path.as_deref(), Some("web/a.test.js"));
        assert!(
            w[1].message
                .contains("1 test function (1 removed, 0 added) and 1 assertion (1 removed"),
            "{}",
            w[1].message
        );
    }
}

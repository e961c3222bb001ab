//! `tests.cheat`: code outside the tests that cheats them. Read from the lines the unit's
//! cumulative change adds to source files (files the runners do not collect as tests):
//!
//! - code that detects the test run: `PYTEST_CURRENT_TEST`, pytest in `sys.modules`,
//!   `JEST_WORKER_ID`, `VITEST`, `testing.Testing()`, `flag.Lookup("test.v")`, `cfg!(test)`
//!   outside a test module, JUnit on the stack, CI variables;
//! - equality and comparison overloads that always succeed (`__eq__` returning `True`,
//!   `fn eq(..) -> bool { true }`, `equals(Object o) { return true; }`, ...);
//! - string literals the tests of the unit pass or expect, compared against in the source.
//!
//! A Rust file is parsed only when an added line mentions `cfg`, to see whether it sits in
//! a test module.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use regex::Regex;

use super::compare::Parsed;
use super::lang::{self, Lang};
use crate::engine::changes::FileChange;
use crate::engine::rules::Context;
use crate::engine::verdict::Finding;

const DETECT_HINT: &str = "code must behave the same under test as in production: remove the \
                           check, or have a human approve it (say why in the commit message)";
const EQ_HINT: &str = "an equality that always holds makes every comparison in the tests pass: \
                       compare the values, or have a human approve it";
const LITERAL_HINT: &str = "special-casing the tests' inputs makes them pass without the code \
                            working: implement the general case, or have a human approve it";

/// A literal of each alternative of [`detectors`].
const DETECT_WORDS: &[&str] = &[
    "PYTEST_CURRENT_TEST",
    "pytest",
    "JEST_WORKER_ID",
    "VITEST",
    "testing.Testing",
    "flag.Lookup",
    "os.Args",
    "cfg!",
    "getStackTrace",
    "org.junit",
    "CI",
    "GITHUB_ACTIONS",
    "CONTINUOUS_INTEGRATION",
    "BUILD_NUMBER",
];

/// A literal of each alternative of [`always_equal`].
const EQUAL_WORDS: &[&str] = &[
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "fn eq",
    "cmp",
    "equals",
    "asymmetricMatch",
    "compareTo",
    "Equal",
];

fn detectors() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r#"PYTEST_CURRENT_TEST|["']pytest["']\s+in\s+sys\.modules|sys\.modules\.get\(\s*["']pytest"#,
            r#"|JEST_WORKER_ID|process\.env\.VITEST\b|process\.env\[["']VITEST"#,
            r#"|testing\.Testing\(\)|flag\.Lookup\(\s*"test\.|os\.Args\[0\].*\.test"#,
            r#"|cfg!\(\s*test\s*\)"#,
            r#"|getStackTrace\(\).*(?i:junit)|Class\.forName\(\s*"org\.junit"#,
            r#"|\b(?:env::var|env::var_os|environ\.get|getenv|Getenv|LookupEnv|System\.getenv)\(\s*["'](?:CI|GITHUB_ACTIONS|GITLAB_CI|CONTINUOUS_INTEGRATION|BUILD_NUMBER)["']"#,
            r#"|environ\[\s*["']CI["']\s*\]|["']CI["']\s+in\s+os\.environ|process\.env\.(?:CI|GITHUB_ACTIONS)\b|process\.env\[["']CI["']\]"#,
        ))
        .expect("built-in cheat patterns compile")
    })
}

fn always_equal() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"def __(?:eq|ne|lt|le|gt|ge)__\s*\(\s*self\s*,[^)]*\)\s*(?:->\s*bool\s*)?:\s*return\s+(?:True|False)\b",
            r"|fn eq\s*\(\s*&self\s*,[^)]*\)\s*->\s*bool\s*\{\s*true\s*\}",
            r"|fn (?:partial_cmp|cmp)\s*\([^)]*\)\s*->\s*(?:Option<)?(?:std::cmp::|core::cmp::)?Ordering>?\s*\{\s*(?:Some\()?(?:std::cmp::|core::cmp::)?Ordering::Equal\)?\s*\}",
            r"|\bequals\s*\([^)]*\)\s*(?::\s*boolean\s*)?\{\s*return\s+true;?\s*\}",
            r"|asymmetricMatch\s*\([^)]*\)\s*(?::\s*boolean\s*)?\{\s*return\s+true",
            r"|\bint\s+compareTo\s*\([^)]*\)\s*\{\s*return\s+0;\s*\}",
            r"|func\s*\([^)]*\)\s*Equals?\s*\([^)]*\)\s*bool\s*\{\s*return\s+true\s*\}",
        ))
        .expect("built-in equality patterns compile")
    })
}

fn compared_literal() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?:===?|!==?|\.equals\(|\bcase\s+|\bin\s+\()\s*("(?:[^"\\]|\\.){3,}"|'(?:[^'\\]|\\.){3,}')|("(?:[^"\\]|\\.){3,}"|'(?:[^'\\]|\\.){3,}')\s*(?:===?|=>)"#,
        )
        .expect("built-in literal pattern compiles")
    })
}

/// Whether the path is test code: a file the runner collects, a test or fixture directory.
fn is_test_code(path: &str) -> bool {
    let dirs = [
        "tests",
        "test",
        "testing",
        "benches",
        "examples",
        "__tests__",
        "fixtures",
        "spec",
        "testdata",
    ];
    if path.split('/').rev().skip(1).any(|d| dirs.contains(&d)) || path.contains("src/test/") {
        return true;
    }
    let base = path.rsplit('/').next().unwrap_or(path);
    base == "conftest.py"
        || base.contains("test_helper")
        || base.starts_with("setupTests")
        || base.ends_with(".config.js")
        || base.ends_with(".config.ts")
        || base.ends_with(".config.mjs")
        || Lang::of(path).is_some_and(|l| l != Lang::Rust && l != Lang::Java && l.collects(path))
}

pub fn check(ctx: &Context<'_>, parsed: &[Parsed<'_>], out: &mut Vec<Finding>) {
    // What the unit's tests pass or expect: their string literals.
    let mut literals: BTreeSet<String> = BTreeSet::new();
    for p in parsed {
        for t in p.new.iter().flat_map(|s| s.tests.iter()) {
            for a in &t.asserts {
                for m in compared_literal_any().find_iter(&a.text) {
                    literals.insert(m.as_str().to_string());
                }
            }
        }
    }
    for fc in &ctx.unit.cumulative {
        let Some(path) = fc.new_path.as_deref() else {
            continue;
        };
        if fc.binary || Lang::of(path).is_none() || is_test_code(path) || fc.added_lines.is_empty()
        {
            continue;
        }
        let f = |message: String, hint: &str, line: &crate::engine::changes::Line| {
            Finding::flag("tests.cheat", message, hint)
                .at_ref(ctx.refname())
                .at_path(path)
                .at_line(line.number)
                .with_lines(None, Some(format!("{}: {}", line.number, line.text.trim())))
        };
        let mut rust_tree: Option<Option<tree_sitter::Tree>> = None;
        for l in &fc.added_lines {
            // The patterns are compiled only for a line holding a literal every match of
            // them holds: most changes compile none.
            let detect = DETECT_WORDS.iter().any(|w| l.text.contains(w));
            if let Some(m) = detect.then(|| detectors().find(&l.text)).flatten() {
                let what = m.as_str();
                if what.contains("cfg") {
                    let tree = rust_tree.get_or_insert_with(|| {
                        fc.new_content
                            .as_ref()
                            .and_then(|b| lang::parse(Lang::Rust, b.bytes()))
                    });
                    if tree
                        .as_ref()
                        .is_some_and(|t| in_test_module(t, fc, l.number))
                    {
                        continue;
                    }
                }
                out.push(f(
                    format!("`{what}`: the code checks whether it runs under test or in CI"),
                    DETECT_HINT,
                    l,
                ));
            }
            let compares = !literals.is_empty() && (l.text.contains('"') || l.text.contains('\''));
            for m in compares
                .then(|| compared_literal().captures_iter(&l.text))
                .into_iter()
                .flatten()
            {
                let lit = m.get(1).or(m.get(2)).map(|x| x.as_str()).unwrap_or("");
                if literals.contains(&unquote(lit)) {
                    out.push(f(
                        format!("compares against {lit}, an input or expected value of the tests"),
                        LITERAL_HINT,
                        l,
                    ));
                }
            }
        }
        equality(fc, &f, out);
    }
}

fn compared_literal_any() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#""(?:[^"\\]|\\.){3,}"|'(?:[^'\\]|\\.){3,}'"#).expect("literal pattern")
    })
}

fn unquote(s: &str) -> String {
    let q = s.chars().next().unwrap_or('"');
    let inner = s.trim_start_matches(q).trim_end_matches(q);
    format!("\"{inner}\"").replace('\'', "\"")
}

/// Always-true equality in the added lines of a file, read joined so a body on its own lines
/// matches.
fn equality(
    fc: &FileChange,
    f: &dyn Fn(String, &str, &crate::engine::changes::Line) -> Finding,
    out: &mut Vec<Finding>,
) {
    let mut joined = String::new();
    let mut starts = Vec::new();
    for l in &fc.added_lines {
        starts.push(joined.len());
        joined.push_str(l.text.trim());
        joined.push(' ');
    }
    if !EQUAL_WORDS.iter().any(|w| joined.contains(w)) {
        return;
    }
    for m in always_equal().find_iter(&joined) {
        let i = starts.partition_point(|s| *s <= m.start()) - 1;
        out.push(f(
            format!(
                "`{}`: an equality or comparison that always succeeds",
                m.as_str()
            ),
            EQ_HINT,
            &fc.added_lines[i],
        ));
    }
}

/// Whether the line sits in a `#[cfg(test)]` module or a `#[test]` function.
fn in_test_module(tree: &tree_sitter::Tree, fc: &FileChange, line: u32) -> bool {
    let Some(src) = fc.new_content.as_ref().map(|b| b.bytes()) else {
        return false;
    };
    let row = line.saturating_sub(1) as usize;
    let point = tree_sitter::Point { row, column: 0 };
    let end = tree_sitter::Point {
        row,
        column: usize::MAX,
    };
    let Some(mut n) = tree.root_node().descendant_for_point_range(point, end) else {
        return false;
    };
    loop {
        if matches!(n.kind(), "mod_item" | "function_item") {
            let mut prev = n.prev_named_sibling();
            while let Some(p) =
                prev.filter(|p| p.kind() == "attribute_item" || p.kind().ends_with("comment"))
            {
                let t = std::str::from_utf8(&src[p.byte_range()]).unwrap_or("");
                if t.replace(' ', "").contains("cfg(test)") || t.contains("test]") {
                    return true;
                }
                prev = p.prev_named_sibling();
            }
        }
        match n.parent() {
            Some(p) => n = p,
            None => return false,
        }
    }
}

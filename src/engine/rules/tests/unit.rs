//! Unit tests of the `tests` rule module: hand-made units, no git.

use super::*;
use crate::engine::changes::FileChange;
use crate::engine::rules::testkit::*;
use crate::engine::verdict::Severity;

#[test]
fn every_change_to_test_paths_is_flagged_once_per_path() {
    let u = unit(
        vec![
            commit(1, "a", vec![add("tests/cli.rs"), modify("src/lib.rs")]),
            commit(
                2,
                "b",
                vec![modify("tests/cli.rs"), delete("pkg/x_test.go")],
            ),
            commit(3, "c", vec![rename("web/a.spec.ts", "web/old/a.ts")]),
        ],
        vec![add("tests/cli.rs"), delete("pkg/x_test.go")],
    );
    let f = run(changed, &policy(""), &agent(), &u);
    let ids: Vec<_> = f.iter().map(|f| f.flag_id()).collect();
    assert_eq!(
        ids,
        [
            "tests.changed:tests/cli.rs",
            "tests.changed:pkg/x_test.go",
            "tests.changed:web/a.spec.ts"
        ]
    );
    assert_severity(&f, Severity::Flag);
    assert_eq!(f[0].commit, Some(oid(1)));
    assert_eq!(f[0].message, "test file tests/cli.rs added (`/tests/`)");
    assert!(
        f[2].message.contains("renamed to web/old/a.ts"),
        "{}",
        f[2].message
    );
}

#[test]
fn flag_on_limits_the_kinds() {
    let p = policy("[tests]\nflag_on = [\"delete\"]\n");
    let u = staged_unit(vec![add("tests/a.rs"), delete("tests/b.rs")]);
    let f = run(changed, &p, &agent(), &u);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].path.as_deref(), Some("tests/b.rs"));
}
/// A change of `path` from `old` to `new` (absent: added or deleted), with its bytes kept and
/// its lines counted the way the model counts them.
pub(super) fn content_change(path: &str, old: Option<&str>, new: Option<&str>) -> FileChange {
    use crate::engine::changes::{Blob, Line};
    let mut fc = match (old, new) {
        (None, _) => add(path),
        (_, None) => delete(path),
        _ => modify(path),
    };
    fc.old_content = old.map(|s| Blob::new(s.as_bytes().to_vec()));
    fc.new_content = new.map(|s| Blob::new(s.as_bytes().to_vec()));
    let diff = similar::TextDiff::from_lines(old.unwrap_or(""), new.unwrap_or(""));
    for change in diff.iter_all_changes() {
        let text = change.value().trim_end_matches('\n').to_string();
        match change.tag() {
            similar::ChangeTag::Insert => fc.added_lines.push(Line {
                number: change.new_index().unwrap_or(0) as u32 + 1,
                text,
            }),
            similar::ChangeTag::Delete => fc.removed_lines.push(text),
            similar::ChangeTag::Equal => {}
        }
    }
    fc.added = fc.added_lines.len() as u32;
    fc.removed = fc.removed_lines.len() as u32;
    fc
}

/// Every `tests.*` finding but `tests.changed` for the given changes, staged.
pub(super) fn judge(files: Vec<FileChange>) -> Vec<Finding> {
    let u = staged_unit(files);
    run(check, &policy(""), &agent(), &u)
        .into_iter()
        .filter(|f| f.rule != "tests.changed")
        .collect()
}

pub(super) fn one(path: &str, old: &str, new: &str) -> Vec<Finding> {
    judge(vec![content_change(path, Some(old), Some(new))])
}

/// `rule test-name | message` for each finding, to compare in one assertion.
pub(super) fn said(f: &[Finding]) -> Vec<String> {
    f.iter()
        .map(|f| {
            format!(
                "{} {} | {}",
                f.rule,
                f.test.as_deref().unwrap_or("-"),
                f.message
            )
        })
        .collect()
}

#[test]
fn files_parsed_on_many_threads_parse_as_in_turn() {
    // Enough content for the parse to be shared among threads: every side, in every
    // language, with files that do not parse (not UTF-8) or hold no test in between.
    let mut cumulative = Vec::new();
    for i in 0..48 {
        let tests: String = (0..40)
            .map(|t| {
                format!(
                    "#[test]\nfn t{i}_{t}() {{\n    assert_eq!({t} + 1, {});\n}}\n",
                    t + 1
                )
            })
            .collect();
        let weaker = tests.replacen("assert_eq!(0 + 1, 1);", "let _ = 0;", 1);
        cumulative.push(content_change(
            &format!("tests/t{i}.rs"),
            Some(&tests),
            Some(&weaker),
        ));
        let py: String = (0..40)
            .map(|t| format!("def test_{t}():\n    assert {t} == {t}\n\n"))
            .collect();
        cumulative.push(content_change(
            &format!("tests/test_{i}.py"),
            None,
            Some(&py),
        ));
        cumulative.push(content_change(
            &format!("src/m{i}.rs"),
            Some("fn f() {}\n"),
            None,
        ));
        let mut bad = content_change(&format!("tests/bad{i}.rs"), None, Some("x"));
        bad.new_content = Some(crate::engine::changes::Blob::new(vec![0xff, 0xfe, b'a']));
        cumulative.push(bad);
    }
    let bytes: usize = cumulative
        .iter()
        .flat_map(|fc| [fc.old_content.as_ref(), fc.new_content.as_ref()])
        .flatten()
        .map(|b| b.bytes().len())
        .sum();
    assert!(bytes as u64 > PARALLEL_PARSE_FROM, "{bytes} bytes");
    let in_turn: Vec<_> = cumulative.iter().map(parse_one).collect();
    assert!(in_turn.iter().filter(|s| s.is_some()).count() >= 96);
    let shared = Parses::of(&cumulative);
    assert_eq!(format!("{:?}", shared.sides), format!("{in_turn:?}"));
}

//! Unit tests of the `tests` rule module: hand-made units, no git.

use super::*;
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

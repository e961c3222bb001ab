//! Test integrity through real git: in a Python, TypeScript, Rust, Go and Java project an
//! agent weakens the tests it must pass, and the installed pre-commit hook, the server's
//! pre-receive and `git guard report` name each weakened test with its lines before and after.
//! Honest changes (a test moved to another file, a renamed test, a new test) stay clean.

mod support;

use std::path::{Path, PathBuf};

use support::git::*;
use support::server::*;

/// An agent clone with the client hooks installed and `files` on main.
fn agent_repo(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (*p, c.as_bytes())).collect();
    let work = seeded_repo(dir, "work", &files);
    install_client(dir, &work, &policy_file(dir, ""));
    git(&work, &["switch", "-q", "-c", "agent/topic"]);
    work
}

/// Write `files`, commit through the hook, and return what the hook said.
fn commit_through_hook(work: &Path, files: &[(&str, &str)], msg: &str) -> String {
    for (p, c) in files {
        write(work, p, c);
    }
    git(work, &["add", "-A"]);
    let o = git_out(work, &["commit", "-q", "-m", msg]);
    assert!(
        o.status.success(),
        "flags do not block a commit: {}",
        stderr(&o)
    );
    format!("{}{}", stdout(&o), stderr(&o))
}

fn assert_said(out: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(out.contains(w), "missing {w:?} in:\n{out}");
    }
}

#[test]
fn python_test_skipped_in_another_spelling_and_expected_value_changed() {
    let t = tempfile::tempdir().unwrap();
    let old = "import unittest\n\nclass TestMath(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n    def test_div(self):\n        self.assertEqual(div(6, 3), 2)\n";
    let work = agent_repo(t.path(), &[("tests/test_math.py", old)]);
    let new = "import unittest\n\nclass TestMath(unittest.TestCase):\n    @unittest.skipIf(1 == 1, 'slow')\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n    def test_div(self):\n        self.assertEqual(div(6, 3), 3)\n";
    let out = commit_through_hook(&work, &[("tests/test_math.py", new)], "tests");
    assert_said(
        &out,
        &[
            "flag[tests.disabled]",
            "test `TestMath::test_add` switched off by `@unittest.skipIf(1 == 1, 'slow')`",
            "flag[tests.weakened]",
            "test `TestMath::test_div` changes an expected value",
        ],
    );
}

#[test]
fn typescript_assertion_weakened_and_cases_removed() {
    let t = tempfile::tempdir().unwrap();
    let old = "import { sum } from '../src/sum';\n\ndescribe('sum', () => {\n  it('adds', () => {\n    expect(sum(1, 2)).toBe(3);\n  });\n  it.each([\n    [1, 1, 2],\n    [2, 2, 4],\n    [0, 0, 0],\n  ])('sum(%i, %i)', (a, b, want) => {\n    expect(sum(a, b)).toBe(want);\n  });\n});\n";
    let work = agent_repo(t.path(), &[("web/sum.test.ts", old)]);
    let new = "import { sum } from '../src/sum';\n\ndescribe('sum', () => {\n  it('adds', () => {\n    expect(sum(1, 2)).toBeDefined();\n  });\n  it.each([\n    [1, 1, 2],\n  ])('sum(%i, %i)', (a, b, want) => {\n    expect(sum(a, b)).toBe(want);\n  });\n});\n";
    let out = commit_through_hook(&work, &[("web/sum.test.ts", new)], "tests");
    assert_said(
        &out,
        &[
            "test `sum > adds` checks less: an assertion replaced by a weaker one",
            "test `sum > sum(%i, %i)` loses 2 of its 3 cases",
        ],
    );
}

#[test]
fn rust_assert_replaced_by_let_and_should_panic_added_are_named() {
    let t = tempfile::tempdir().unwrap();
    let lib = "pub fn parse(s: &str) -> u32 {\n    s.parse().unwrap()\n}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn parses() {\n        assert_eq!(parse(\"7\"), 7);\n    }\n\n    #[test]\n    fn rejects() {\n        assert!(std::panic::catch_unwind(|| parse(\"x\")).is_err());\n    }\n}\n";
    let work = agent_repo(t.path(), &[("src/lib.rs", lib)]);
    let new = lib
        .replace("assert_eq!(parse(\"7\"), 7);", "let _ = parse(\"7\");")
        .replace(
            "    #[test]\n    fn rejects",
            "    #[test]\n    #[should_panic]\n    fn rejects",
        );
    let out = commit_through_hook(&work, &[("src/lib.rs", &new)], "tests");
    assert_said(
        &out,
        &[
            "test `tests::parses` loses all its assertions",
            "test `tests::rejects` now passes when it fails (`#[should_panic]`)",
        ],
    );
}

#[test]
fn go_test_renamed_away_and_testmain_that_never_runs_are_flagged() {
    let t = tempfile::tempdir().unwrap();
    let old = "package calc\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal(\"add\")\n\t}\n}\n";
    let work = agent_repo(t.path(), &[("calc/calc_test.go", old)]);
    let new = "package calc\n\nimport (\n\t\"os\"\n\t\"testing\"\n)\n\nfunc TestMain(m *testing.M) {\n\tos.Exit(0)\n}\n\nfunc testAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal(\"add\")\n\t}\n}\n";
    let out = commit_through_hook(&work, &[("calc/calc_test.go", new)], "tests");
    assert_said(
        &out,
        &[
            "flag[tests.removed]",
            "test `TestAdd` renamed to `testAdd`, which the runner does not collect",
            "flag[tests.disabled]",
            "func TestMain never calls m.Run(): no test of the package runs",
        ],
    );
}

#[test]
fn java_disabled_class_and_runner_skipping_tests_are_flagged() {
    let t = tempfile::tempdir().unwrap();
    let test = "package a;\n\nclass CalcTest {\n  @Test\n  void adds() {\n    assertEquals(3, Calc.add(1, 2));\n  }\n}\n";
    let pom = "<project>\n  <build>\n    <plugins>\n      <plugin>\n        <artifactId>maven-surefire-plugin</artifactId>\n      </plugin>\n    </plugins>\n  </build>\n</project>\n";
    let work = agent_repo(
        t.path(),
        &[("src/test/java/a/CalcTest.java", test), ("pom.xml", pom)],
    );
    let new_test = test.replace("class CalcTest", "@Disabled(\"flaky\")\nclass CalcTest");
    let new_pom = pom.replace(
        "<artifactId>maven-surefire-plugin</artifactId>\n",
        "<artifactId>maven-surefire-plugin</artifactId>\n        <configuration>\n          <testFailureIgnore>true</testFailureIgnore>\n        </configuration>\n",
    );
    let out = commit_through_hook(
        &work,
        &[
            ("src/test/java/a/CalcTest.java", &new_test),
            ("pom.xml", &new_pom),
        ],
        "tests",
    );
    assert_said(
        &out,
        &[
            "test `CalcTest.adds` switched off by `@Disabled(\"flaky\")`",
            "flag[tests.runner]",
            "pom.xml",
            "`<testFailureIgnore>true` added",
        ],
    );
}

#[test]
fn runner_configuration_is_judged_by_the_keys_that_matter() {
    let t = tempfile::tempdir().unwrap();
    let pkg = "{\n  \"name\": \"x\",\n  \"version\": \"1.0.0\",\n  \"scripts\": {\n    \"test\": \"jest\"\n  }\n}\n";
    let ini = "[pytest]\naddopts = -q\ntestpaths = tests\n";
    let cargo = "[package]\nname = \"x\"\nversion = \"0.1.0\"\n";
    let work = agent_repo(
        t.path(),
        &[
            ("package.json", pkg),
            ("pytest.ini", ini),
            ("Cargo.toml", cargo),
        ],
    );
    // An unrelated edit of each file is clean.
    let out = commit_through_hook(
        &work,
        &[
            ("package.json", &pkg.replace("1.0.0", "1.0.1")),
            (
                "pytest.ini",
                "[pytest]\naddopts = -q -ra\ntestpaths = tests\n",
            ),
            ("Cargo.toml", &cargo.replace("0.1.0", "0.1.1")),
        ],
        "bump",
    );
    assert!(!out.contains("tests.runner"), "{out}");
    let out = commit_through_hook(
        &work,
        &[
            (
                "package.json",
                &pkg.replace("1.0.0", "1.0.1")
                    .replace("\"jest\"", "\"jest --passWithNoTests || true\""),
            ),
            (
                "pytest.ini",
                "[pytest]\naddopts = -q -ra --deselect tests/test_slow.py\ntestpaths = tests\n",
            ),
            (
                "Cargo.toml",
                &format!("{}\n[lib]\ntest = false\n", cargo.replace("0.1.0", "0.1.1")),
            ),
        ],
        "run less",
    );
    assert_said(
        &out,
        &[
            "the `test` script gains `|| true`",
            "[pytest] `addopts` gains `--deselect`",
            "Cargo.toml sets `[lib]: test = false`",
        ],
    );
}

#[test]
fn source_that_detects_the_test_run_or_always_equals_is_flagged() {
    let t = tempfile::tempdir().unwrap();
    let work = agent_repo(
        t.path(),
        &[
            ("app/core.py", "def total(xs):\n    return sum(xs)\n"),
            ("src/lib.rs", "pub struct Money(pub u64);\n"),
        ],
    );
    let out = commit_through_hook(
        &work,
        &[
            (
                "app/core.py",
                "import os\n\ndef total(xs):\n    if os.environ.get('PYTEST_CURRENT_TEST'):\n        return 6\n    return sum(xs)\n",
            ),
            (
                "src/lib.rs",
                "pub struct Money(pub u64);\n\nimpl PartialEq for Money {\n    fn eq(&self, _other: &Self) -> bool {\n        true\n    }\n}\n\npub fn fast() -> bool {\n    cfg!(test)\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {\n        assert!(cfg!(test));\n    }\n}\n",
            ),
        ],
        "cheat",
    );
    assert_said(
        &out,
        &[
            "flag[tests.cheat]",
            "app/core.py:4",
            "`PYTEST_CURRENT_TEST`",
            "src/lib.rs:4",
            "an equality or comparison that always succeeds",
            "src/lib.rs:10",
        ],
    );
    assert!(
        !out.contains("src/lib.rs:17"),
        "cfg!(test) inside the test module is fine:\n{out}"
    );
}

#[test]
fn honest_moves_renames_and_new_tests_are_clean() {
    let t = tempfile::tempdir().unwrap();
    let a = "def test_parse():\n    assert parse('1') == 1\n\ndef test_format():\n    assert fmt(1) == '1'\n";
    let work = agent_repo(t.path(), &[("tests/test_a.py", a)]);
    let out = commit_through_hook(
        &work,
        &[
            (
                "tests/test_a.py",
                "def test_format_one():\n    assert fmt(1) == '1'\n",
            ),
            (
                "tests/test_parse.py",
                "def test_parse():\n    assert parse('1') == 1\n\ndef test_parse_two():\n    assert parse('2') == 2\n",
            ),
        ],
        "split the tests",
    );
    for rule in ["tests.removed", "tests.weakened", "tests.disabled"] {
        assert!(!out.contains(rule), "{rule}:\n{out}");
    }
}

#[test]
fn push_and_report_show_the_test_and_its_lines_before_and_after() {
    let t = tempfile::tempdir().unwrap();
    let policy = policy_file(t.path(), "");
    let seed = t.path().join("seed");
    init_repo(&seed);
    let old = "def test_login():\n    assert login('a', 'pw') == 'ok'\n";
    write(&seed, "tests/test_login.py", old);
    commit_all(&seed, "seed");
    let bare = t.path().join("server.git");
    git(
        t.path(),
        &[
            "clone",
            "-q",
            "--bare",
            seed.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let o = guard_cmd("git-guard", t.path())
        .args(["install", "--server", "--host", "http", "--policy"])
        .arg(&policy)
        .arg(&bare)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let work = t.path().join("work");
    git(
        t.path(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    git(&work, &["switch", "-q", "-c", "agent/topic"]);
    write(
        &work,
        "tests/test_login.py",
        "def test_login():\n    assert login('a', 'pw') is not None\n",
    );
    commit_all(&work, "simplify the login test");
    let o = push_as(&work, "bot", &["origin", "agent/topic"]);
    let remote = remote_lines(&o).join("\n");
    assert!(o.status.success(), "flags do not block a push:\n{remote}");
    assert!(
        remote.contains("flag[tests.weakened]")
            && remote
                .contains("test `test_login` checks less: an assertion replaced by a weaker one"),
        "{remote}"
    );
    let out = guard_cmd("git-guard", &work)
        .args(["report", "agent/topic", "--base", "origin/main", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    let md = stdout(&out);
    assert_said(
        &md,
        &[
            "test: test_login",
            "before: 2: assert login('a', 'pw') == 'ok'",
            "after:  2: assert login('a', 'pw') is not None",
        ],
    );
}

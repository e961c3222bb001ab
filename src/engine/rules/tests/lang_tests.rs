//! Unit tests of the test finders and the comparison, one language at a time: both sides of a
//! file as text, judged as the staged change.

use super::unit::{content_change, judge, one, said};

#[test]
fn each_language_names_what_was_weakened() {
    let cases: Vec<(&str, &str, &str)> = vec![
        (
            "tests/test_a.py",
            "class TestX:\n    def test_a(self):\n        assert f(1) == 2\n\n@pytest.mark.parametrize('a,b', [(1, 2), (3, 4), (5, 6)])\ndef test_p(a, b):\n    assert f(a) == b\n\ndef test_t():\n    assert x == 1\n",
            "class TestX:\n    @pytest.mark.skipif(True, reason='x')\n    def test_a(self):\n        assert f(1) == 2\n\n@pytest.mark.parametrize('a,b', [(1, 2)])\ndef test_p(a, b):\n    try:\n        assert f(a) == b\n    except AssertionError:\n        pass\n\ndef _test_t():\n    assert x == 1\n",
        ),
        (
            "web/a.test.ts",
            "describe('math', () => {\n  it('adds', () => {\n    expect(add(1, 2)).toBe(3);\n  });\n  test.each([[1, 1], [2, 2]])('id %i', (a, b) => {\n    expect(id(a)).toEqual(b);\n  });\n  it('subs', () => { expect(sub(2, 1)).toBe(1); });\n});\n",
            "describe('math', () => {\n  it.skip('adds', () => {\n    expect(add(1, 2)).toBe(3);\n  });\n  test.each([[1, 1]])('id %i', (a, b) => {\n    expect(id(a)).toBeDefined();\n  });\n  it.only('subs', () => { expect(sub(2, 1)).toBe(1); });\n});\n",
        ),
        (
            "src/lib.rs",
            "pub fn f() -> u32 { assert!(true); 1 }\n#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn one() {\n        assert_eq!(f(), 1);\n    }\n    #[test]\n    fn two() {\n        assert_eq!(f() + 1, 2);\n    }\n    #[test]\n    fn three() { assert!(f() == 1); }\n}\n",
            "pub fn f() -> u32 { 1 }\n#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    #[ignore]\n    fn one() {\n        assert_eq!(f(), 1);\n    }\n    #[test]\n    #[should_panic]\n    fn two() {\n        let _ = f() + 1;\n    }\n    fn three() { assert!(f() == 1); }\n}\n",
        ),
        (
            "pkg/a_test.go",
            "package a\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tcases := []struct{ a, b, want int }{\n\t\t{1, 2, 3},\n\t\t{2, 2, 4},\n\t}\n\tfor _, c := range cases {\n\t\tif got := Add(c.a, c.b); got != c.want {\n\t\t\tt.Errorf(\"got %d\", got)\n\t\t}\n\t}\n}\n\nfunc TestSub(t *testing.T) {\n\tif Sub(2, 1) != 1 {\n\t\tt.Fatal(\"bad\")\n\t}\n}\n",
            "//go:build integration\n\npackage a\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tcases := []struct{ a, b, want int }{\n\t\t{1, 2, 3},\n\t}\n\tfor _, c := range cases {\n\t\tif got := Add(c.a, c.b); got != c.want {\n\t\t\tt.Errorf(\"got %d\", got)\n\t\t}\n\t}\n}\n\nfunc TestSub(t *testing.T) {\n\tt.Skip(\"later\")\n\tif Sub(2, 1) != 1 {\n\t\tt.Fatal(\"bad\")\n\t}\n}\n",
        ),
        (
            "src/test/java/ATest.java",
            "class ATest {\n  @Test\n  void adds() {\n    assertEquals(3, add(1, 2));\n  }\n  @Test\n  void subs() {\n    assertThat(sub(2, 1)).isEqualTo(1);\n  }\n  @ParameterizedTest\n  @ValueSource(ints = {1, 2, 3})\n  void pos(int x) { assertTrue(x > 0); }\n}\n",
            "class ATest {\n  @Test\n  @Disabled\n  void adds() {\n    assertEquals(3, add(1, 2));\n  }\n  @Test\n  void subs() {\n    assertThat(sub(2, 1)).isNotNull();\n  }\n  @ParameterizedTest\n  @ValueSource(ints = {1})\n  void pos(int x) { assertTrue(x > 0); }\n}\n",
        ),
    ];
    let mut all = Vec::new();
    for (path, old, new) in cases {
        all.push(format!("== {path}"));
        all.extend(said(&one(path, old, new)));
    }
    assert_eq!(all, EXPECTED, "{all:#?}");
}

const EXPECTED: &[&str] = &[
    "== tests/test_a.py",
    "tests.disabled TestX::test_a | test `TestX::test_a` switched off by `@pytest.mark.skipif(True, reason='x')`",
    "tests.weakened test_p | test `test_p` swallows the failures of its assertions",
    "tests.weakened test_p | test `test_p` loses 2 of its 3 cases",
    "tests.removed test_t | test `test_t` renamed to `_test_t`, which the runner does not collect",
    "== web/a.test.ts",
    "tests.disabled math > adds | test `math > adds` switched off by `it.skip('adds', () => {`",
    "tests.weakened math > id %i | test `math > id %i` checks less: an assertion replaced by a weaker one",
    "tests.weakened math > id %i | test `math > id %i` loses 1 of its 2 cases",
    "tests.disabled math > subs | test `math > subs` is focused: the file's other tests stop running",
    "== src/lib.rs",
    "tests.disabled tests::one | test `tests::one` switched off by `#[ignore]`",
    "tests.weakened tests::two | test `tests::two` now passes when it fails (`#[should_panic]`)",
    "tests.weakened tests::two | test `tests::two` loses all its assertions",
    "tests.removed tests::three | test `tests::three` is no longer marked as a test: the runner does not collect it",
    "== pkg/a_test.go",
    "tests.weakened TestAdd | test `TestAdd` loses 1 of its 2 cases",
    "tests.disabled TestSub | test `TestSub` switched off by `t.Skip(\"later\")`",
    "tests.disabled - | `//go:build integration`: keeps the file's tests from running (2 here)",
    "== src/test/java/ATest.java",
    "tests.disabled ATest.adds | test `ATest.adds` switched off by `@Disabled`",
    "tests.weakened ATest.subs | test `ATest.subs` checks less: an assertion replaced by a weaker one",
    "tests.weakened ATest.pos | test `ATest.pos` loses 2 of its 3 cases",
];

#[test]
fn findings_show_the_lines_before_and_after() {
    let f = one(
        "tests/test_m.py",
        "def test_m():\n    assert total([1, 2]) == 3\n",
        "def test_m():\n    assert total([1, 2]) == 4\n",
    );
    assert_eq!(
        said(&f),
        ["tests.weakened test_m | test `test_m` changes an expected value"]
    );
    assert_eq!(f[0].before.as_deref(), Some("2: assert total([1, 2]) == 3"));
    assert_eq!(f[0].after.as_deref(), Some("2: assert total([1, 2]) == 4"));
    assert_eq!(f[0].flag_id(), "tests.weakened:tests/test_m.py");
}

#[test]
fn early_returns_and_weaker_assertions_in_each_language() {
    let py = one(
        "tests/test_e.py",
        "def test_e():\n    assert f() == 1\n",
        "def test_e():\n    return\n    assert f() == 1\n",
    );
    let ts = one(
        "src/e.spec.ts",
        "test('e', () => {\n  expect(f()).toEqual({ a: 1 });\n});\n",
        "test('e', () => {\n  expect(f()).toBeTruthy();\n});\n",
    );
    let rs = one(
        "tests/e.rs",
        "#[test]\nfn e() {\n    assert_eq!(f(), 1);\n}\n",
        "#[test]\nfn e() {\n    if true { return; }\n    assert_eq!(f(), 1);\n}\n",
    );
    let go = one(
        "e_test.go",
        "package e\nfunc TestE(t *testing.T) {\n\tif F() != 1 {\n\t\tt.Fatal(\"x\")\n\t}\n}\n",
        "package e\nfunc TestE(t *testing.T) {\n\tdefer func() { recover() }()\n\tif F() != 1 {\n\t\tt.Fatal(\"x\")\n\t}\n}\n",
    );
    let java = one(
        "src/test/java/ETest.java",
        "class ETest {\n  @Test void e() { assertEquals(1, f()); }\n}\n",
        "class ETest {\n  @Test void e() {\n    try { assertEquals(1, f()); } catch (AssertionError e) { }\n  }\n}\n",
    );
    assert_eq!(
        said(&py),
        ["tests.weakened test_e | test `test_e` returns before its assertions run"]
    );
    assert_eq!(
        said(&ts),
        ["tests.weakened e | test `e` checks less: an assertion replaced by a weaker one"]
    );
    assert_eq!(
        said(&rs),
        ["tests.weakened e | test `e` returns before its assertions run"]
    );
    assert_eq!(
        said(&go),
        ["tests.weakened TestE | test `TestE` swallows the failures of its assertions"]
    );
    assert_eq!(
        said(&java),
        ["tests.weakened ETest.e | test `ETest.e` swallows the failures of its assertions"]
    );
}

#[test]
fn a_deleted_test_file_names_its_tests() {
    let f = judge(vec![content_change(
        "pkg/x_test.go",
        Some(
            "package x\nfunc TestX(t *testing.T) {\n\tif X() != 1 {\n\t\tt.Error(\"x\")\n\t}\n}\n",
        ),
        None,
    )]);
    assert_eq!(
        said(&f),
        ["tests.removed TestX | test `TestX` no longer runs (its file was deleted)"]
    );
    assert_eq!(
        f[0].before.as_deref(),
        Some("2: func TestX(t *testing.T) {")
    );
}

#[test]
fn honest_changes_are_clean() {
    let body = "    assert parse('1') == 1\n    assert parse('2') == 2\n";
    let old_a = format!("def test_parse():\n{body}\ndef test_other():\n    assert 1 + 1 == 2\n");
    let new_a = "def test_other():\n    assert 1 + 1 == 2\n".to_string();
    let new_b = format!("def test_parse_numbers():\n{body}");
    // Moved to another file under another name, same body: credited.
    let moved = judge(vec![
        content_change("tests/test_a.py", Some(&old_a), Some(&new_a)),
        content_change("tests/test_b.py", None, Some(&new_b)),
    ]);
    assert_eq!(said(&moved), Vec::<String>::new());
    // Renamed in place, same body.
    let renamed = one(
        "web/p.test.js",
        "it('parses', () => {\n  expect(parse('1')).toBe(1);\n});\n",
        "it('parses numbers', () => {\n  expect(parse('1')).toBe(1);\n});\n",
    );
    assert_eq!(said(&renamed), Vec::<String>::new());
    // A new test, a fixture that returns early, production code with assert.
    let fixture = one(
        "tests/test_f.py",
        "import pytest\n\ndef test_a():\n    assert 1 == 1\n",
        "import pytest\n\n@pytest.fixture\ndef db():\n    if not HAVE_DB:\n        return None\n    assert connect()\n    return connect()\n\ndef test_a():\n    assert 1 == 1\n\ndef test_b(db):\n    assert db is None or db.ok\n",
    );
    assert_eq!(said(&fixture), Vec::<String>::new());
    let prod = one(
        "src/lib.rs",
        "pub fn f(x: u32) -> u32 {\n    assert!(x > 0);\n    debug_assert_eq!(x % 2, 0);\n    x\n}\n",
        "pub fn f(x: u32) -> u32 {\n    x\n}\n",
    );
    assert_eq!(said(&prod), Vec::<String>::new());
    let prod_py = one(
        "pkg/core.py",
        "def f(x):\n    assert x > 0\n    return x\n",
        "def f(x):\n    return x\n",
    );
    assert_eq!(said(&prod_py), Vec::<String>::new());
    // A rewritten assertion that checks as much.
    let rewritten = one(
        "tests/it.rs",
        "#[test]\nfn t() {\n    assert!(f() == 1);\n}\n",
        "#[test]\nfn t() {\n    assert_eq!(f(), 1, \"f\");\n}\n",
    );
    assert_eq!(said(&rewritten), Vec::<String>::new());
}

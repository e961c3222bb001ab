//! Regressions from the precision bench (`bench/corpus.sh`): releases of well-known packages
//! that were flagged as weakening their tests when they did not, each cut down to the lines
//! that made the difference.

use super::unit::{content_change, judge, one, said};

#[test]
fn an_assertion_reformatted_beside_a_new_one_is_not_weakened() {
    // six 1.14.0, test_wraps: `{"a" : 1}` became `{"a": 1}` and an assertion came before it.
    let f = one(
        "test_six.py",
        "def test_wraps():\n    assert k.turnip == 43\n    assert k.glue == {\"melon\" : \"egg\"}\n",
        "def test_wraps():\n    assert k.turnip == 43\n    assert not hasattr(k, \"baz\")\n    assert k.glue == {\"melon\": \"egg\"}\n",
    );
    assert_eq!(said(&f), Vec::<String>::new());
    // Inside a string the whitespace is the value.
    let f = one(
        "test_s.py",
        "def test_s():\n    assert f() == \"a b\"\n",
        "def test_s():\n    assert f() == \"ab\"\n",
    );
    assert_eq!(
        said(&f),
        ["tests.weakened test_s | test `test_s` changes an expected value"]
    );
}

#[test]
fn cases_moved_from_parametrize_to_a_fixture_are_not_lost() {
    // attrs 22.2.0: `@pytest.mark.parametrize("slots", [True, False])` gave way to a `slots`
    // fixture in conftest.py with the same two values.
    let f = one(
        "tests/test_annotations.py",
        "class TestAnnotations:\n    @pytest.mark.parametrize(\"slots\", [True, False])\n    def test_auto_attribs(self, slots):\n        assert C(slots=slots)\n",
        "class TestAnnotations:\n    def test_auto_attribs(self, slots):\n        assert C(slots=slots)\n",
    );
    assert_eq!(said(&f), Vec::<String>::new());
    // The list dropped and its argument with it: the cases are gone.
    let f = one(
        "tests/test_a.py",
        "@pytest.mark.parametrize(\"slots\", [True, False])\ndef test_a(slots):\n    assert C(slots=slots)\n",
        "def test_a():\n    assert C(slots=True)\n",
    );
    assert_eq!(
        said(&f),
        ["tests.weakened test_a | test `test_a` loses 2 of its 2 cases"]
    );
}

#[test]
fn tox_commands_by_reference_and_outside_tests_are_not_the_runner() {
    // attrs 22.2.0: `commands = {[testenv:py36]commands}` runs the same pytest; a docs
    // environment's `--exclude` is not a test option.
    let old = "[testenv:py36]\ncommands = coverage run -m pytest {posargs}\n\n[testenv:py310]\ncommands = coverage run -m pytest {posargs}\n\n[testenv:docset]\ncommands =\n    sphinx-build -n docs docs/_build/html\n";
    let new = "[testenv:py36]\ncommands = coverage run -m pytest {posargs}\n\n[testenv:py310]\ncommands = {[testenv:py36]commands}\n\n[testenv:docset]\ncommands =\n    sphinx-build -n docs docs/_build/html\n    tar --exclude docs.tgz -czf docs.tgz docs\n";
    assert_eq!(said(&one("tox.ini", old, new)), Vec::<String>::new());
    let less = "[testenv:py36]\ncommands = coverage run -m pytest --deselect tests/test_a.py {posargs}\n\n[testenv:py310]\ncommands = {[testenv:py36]commands}\n\n[testenv:docset]\ncommands =\n    sphinx-build -n docs docs/_build/html\n";
    let f = said(&one("tox.ini", old, less));
    assert!(
        f.iter()
            .any(|m| m.contains("[testenv:py36] `commands` gains `--deselect`")),
        "{f:#?}"
    );
}

#[test]
fn ci_moved_to_the_actions_rs_cargo_action_keeps_its_test_command() {
    // either 1.7.0: .travis.yml gave way to a workflow using actions-rs/cargo.
    let travis = "script:\n  - |\n      cargo build --features \"${FEATURES}\" &&\n      cargo test --features \"${FEATURES}\" &&\n      cargo doc --features \"${FEATURES}\"\n";
    let actions = "jobs:\n  ci:\n    steps:\n      - name: test\n        uses: actions-rs/cargo@v1\n        with:\n          command: test\n          args: --features \"${{ matrix.features }}\"\n";
    let f = judge(vec![
        content_change(".travis.yml", Some(travis), None),
        content_change(".github/workflows/ci.yml", None, Some(actions)),
    ]);
    assert_eq!(said(&f), Vec::<String>::new());
    // Without the test step, the command is lost.
    let build_only = actions.replace("command: test", "command: build");
    let f = judge(vec![
        content_change(".travis.yml", Some(travis), None),
        content_change(".github/workflows/ci.yml", None, Some(&build_only)),
    ]);
    assert_eq!(
        said(&f),
        ["tests.runner - | 1 test command removed"],
        "{f:#?}"
    );
}

#[test]
fn ci_jobs_folded_into_a_matrix_lose_only_the_commands_gone() {
    // hex 0.4.3: six jobs of the same three commands became one matrix job running five.
    let job = |name: &str| {
        format!(
            "test:{name}:\n  script:\n    - cargo test\n    - cargo test --features serde\n    - cargo test --no-default-features\n"
        )
    };
    let old: String = ["stable", "beta", "nightly"]
        .iter()
        .map(|n| job(n))
        .collect();
    let new = "test:\n  script:\n    - cargo test\n    - cargo test --no-default-features\n    - cargo test --no-default-features --features serde\n    - cargo test --no-default-features --features std\n  parallel:\n    matrix:\n      - RUST_VERSION: [stable, beta, nightly]\n";
    assert_eq!(
        said(&one(".gitlab-ci.yml", &old, new)),
        Vec::<String>::new()
    );
    // A matrix that runs fewer commands than the jobs did names the one gone.
    let fewer = "test:\n  script:\n    - cargo test\n    - cargo test --no-default-features\n  parallel:\n    matrix:\n      - RUST_VERSION: [stable, beta, nightly]\n";
    let f = one(".gitlab-ci.yml", &old, fewer);
    assert_eq!(said(&f), ["tests.runner - | 1 test command removed"]);
    assert_eq!(f[0].before.as_deref(), Some("cargo test --features serde"));
    // Step names and installs are not test commands (attrs 23.1.0: `name: tox on ...`).
    let named = "steps:\n  - name: tox on ${{ matrix.python }}\n    run: python -m tox\n";
    let renamed =
        "steps:\n  - name: run the tests on ${{ matrix.python }}\n    run: python -m tox\n";
    assert_eq!(
        said(&one(".github/workflows/ci.yml", named, renamed)),
        Vec::<String>::new()
    );
}

#[test]
fn an_assertion_made_twice_may_be_made_once() {
    // minimist 1.2.8, test/dash.js: one of two identical assertions removed, and the quotes
    // of another changed from " to '.
    let f = one(
        "test/dash.js",
        "test('-a -- b', function (t) {\n    t.deepEqual(parse(['-a', '--', 'b']), { a: true });\n    t.deepEqual(parse(['--a', '--', 'b']), { a: true });\n    t.deepEqual(parse(['--a', '--', 'b']), { a: true });\n    t.deepEqual(args, { _ : [], s : \"X\\nX\" });\n});\n",
        "test('-a -- b', function (t) {\n\tt.deepEqual(parse(['-a', '--', 'b']), { a: true });\n\tt.deepEqual(parse(['--a', '--', 'b']), { a: true });\n\tt.deepEqual(args, { _: [], s: 'X\\nX' });\n});\n",
    );
    assert_eq!(said(&f), Vec::<String>::new());
}

#[test]
fn cases_moved_to_a_fixture_named_after_them_are_not_lost() {
    // attrs 23.2.0: `parametrize("with_validation", [True, False])` gave way to
    // `usefixtures("with_and_without_validation")`.
    let f = one(
        "tests/test_make.py",
        "class TestAttributes:\n    @pytest.mark.parametrize(\"with_validation\", [True, False])\n    def test_pre_init(self, with_validation, monkeypatch):\n        assert C().x == 1\n",
        "class TestAttributes:\n    @pytest.mark.usefixtures(\"with_and_without_validation\")\n    def test_pre_init(self):\n        assert C().x == 1\n",
    );
    assert_eq!(said(&f), Vec::<String>::new());
    // A fixture that has nothing to do with the cases does not stand in for them.
    let f = one(
        "tests/test_make.py",
        "class TestAttributes:\n    @pytest.mark.parametrize(\"with_validation\", [True, False])\n    def test_pre_init(self, with_validation):\n        assert C().x == 1\n",
        "class TestAttributes:\n    def test_pre_init(self, tmp_path):\n        assert C().x == 1\n",
    );
    assert_eq!(
        said(&f),
        [
            "tests.weakened TestAttributes::test_pre_init | test `TestAttributes::test_pre_init` loses 2 of its 2 cases"
        ]
    );
}

#[test]
fn an_npm_test_script_that_runs_another_script_keeps_its_runner() {
    // minimist 1.2.7: `"test": "tap test/*.js"` became `"test": "npm run tests-only"`.
    let old = "{\"scripts\": {\"test\": \"tap test/*.js\"}}";
    let new = "{\"scripts\": {\"test\": \"npm run tests-only\", \"tests-only\": \"nyc tape 'test/**/*.js'\"}}";
    assert_eq!(said(&one("package.json", old, new)), Vec::<String>::new());
    let less =
        "{\"scripts\": {\"test\": \"npm run tests-only\", \"tests-only\": \"echo skipped\"}}";
    assert_eq!(
        said(&one("package.json", old, less)),
        ["tests.runner - | the `test` script no longer runs `tap`"]
    );
}

#[test]
fn a_new_ci_file_may_let_a_job_fail() {
    // hex 0.4.0: the first .gitlab-ci.yml, its nightly jobs allowed to fail.
    let ci = "test:nightly:\n  script:\n    - cargo test\n  allow_failure: true\n";
    let f = judge(vec![content_change(".gitlab-ci.yml", None, Some(ci))]);
    assert_eq!(said(&f), Vec::<String>::new());
    // Added to a CI file that ran the tests before, it ignores their failure.
    let before = "test:nightly:\n  script:\n    - cargo test\n";
    let f = one(".gitlab-ci.yml", before, ci);
    assert_eq!(
        said(&f),
        [
            "tests.runner - | `allow_failure: true` added: the tests run less or their failure is ignored"
        ]
    );
}

#[test]
fn a_single_case_written_into_the_test_is_not_lost() {
    // attrs 23.1.0: `@pytest.mark.parametrize("cls", [A])` dropped, `cls(1, 2, 3)` became
    // `A(1, 2, 3)`.
    let f = one(
        "tests/test_slots.py",
        "@pytest.mark.parametrize(\"cls\", [A])\ndef test_unpickle(cls):\n    assert pickle.loads(pickle.dumps(cls(1))) == cls(1)\n",
        "def test_unpickle():\n    assert pickle.loads(pickle.dumps(A(1))) == A(1)\n",
    );
    assert_eq!(said(&f), Vec::<String>::new());
}

#[test]
fn a_test_target_renamed_is_not_dropped() {
    // log 0.4.22: `[[test]] name = "filters"` became `name = "integration"`.
    let manifest = |name: &str| {
        format!(
            "[package]\nname = \"log\"\n\n[[test]]\nname = \"{name}\"\npath = \"tests/{name}.rs\"\nharness = false\n\n[[test]]\nname = \"macros\"\npath = \"tests/macros.rs\"\n"
        )
    };
    let f = one("Cargo.toml", &manifest("filters"), &manifest("integration"));
    assert_eq!(said(&f), Vec::<String>::new());
    let one_less =
        "[package]\nname = \"log\"\n\n[[test]]\nname = \"macros\"\npath = \"tests/macros.rs\"\n";
    assert_eq!(
        said(&one("Cargo.toml", &manifest("filters"), one_less)),
        ["tests.runner - | Cargo.toml drops the test target `filters`"]
    );
}

#[test]
fn assert_in_production_c_is_not_a_test_assertion() {
    // C has no grammar here: the line rules judge it, and production code checking itself
    // with `assert()` is not a test.
    let f = one(
        "src/buffer.c",
        "int push(buf *b, int x) {\n    assert(b != NULL);\n    assert(b->len < b->cap);\n    b->data[b->len++] = x;\n    return 0;\n}\n",
        "int push(buf *b, int x) {\n    b->data[b->len++] = x;\n    return 0;\n}\n",
    );
    assert_eq!(said(&f), Vec::<String>::new());
    let f = one(
        "tests/test_buffer.c",
        "void test_push(void) {\n    assert(push(&b, 1) == 0);\n    assert(b.len == 1);\n}\n",
        "void test_push(void) {\n    push(&b, 1);\n}\n",
    );
    assert_eq!(
        said(&f),
        ["tests.weakened - | tests/test_buffer.c loses 2 assertions (2 removed, 0 added)"]
    );
}

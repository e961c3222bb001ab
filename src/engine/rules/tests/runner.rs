//! `tests.runner`: the runner told to run less. Each ecosystem's configuration is read at the
//! level of the keys that choose or judge the tests, both sides of the cumulative change, so
//! an unrelated edit of the same file stays clean:
//!
//! - `package.json`: the `test*` scripts and the `jest` section's selecting keys;
//!   `jest.config.*`, `vitest.config.*`, `vite.config.*`: lines setting those keys;
//! - `pytest.ini`, `tox.ini`, `setup.cfg`, `pyproject.toml`: `addopts`, `testpaths`,
//!   `python_files`/`_classes`/`_functions`, `norecursedirs`, tox `commands` and outcomes;
//!   `conftest.py`: hooks that skip, deselect or rewrite outcomes;
//! - `Cargo.toml`: `test = false`, `harness = false`, `autotests = false`, `[[test]]` targets;
//! - `pom.xml`, `build.gradle(.kts)`: surefire/failsafe skips, excludes, ignored failures, a
//!   disabled `test` task;
//! - `Makefile`: the recipes of test targets;
//! - CI files: `|| true` on a test command, `continue-on-error`, `allow_failure`, test
//!   commands removed.
//!
//! Go build constraints and `TestMain` are read by the Go test finder.

use std::collections::BTreeSet;

use crate::engine::changes::FileChange;
use crate::engine::rules::Context;
use crate::engine::verdict::Finding;

const HINT: &str = "keep the runner running every test; if it must run fewer, a human must \
                    approve it (say why in the commit message)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PackageJson,
    JsConfig,
    PyIni,
    PyProject,
    Conftest,
    Cargo,
    Maven,
    Gradle,
    Make,
    Ci,
}

fn kind(path: &str) -> Option<Kind> {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.split('.').next().unwrap_or(base);
    Some(match base {
        "package.json" => Kind::PackageJson,
        "pytest.ini" | "tox.ini" | "setup.cfg" => Kind::PyIni,
        "pyproject.toml" => Kind::PyProject,
        "conftest.py" => Kind::Conftest,
        "Cargo.toml" => Kind::Cargo,
        "pom.xml" => Kind::Maven,
        "build.gradle" | "build.gradle.kts" => Kind::Gradle,
        "Makefile" | "makefile" | "GNUmakefile" => Kind::Make,
        ".gitlab-ci.yml"
        | ".travis.yml"
        | "azure-pipelines.yml"
        | "bitbucket-pipelines.yml"
        | "Jenkinsfile"
        | ".drone.yml"
        | ".woodpecker.yml" => Kind::Ci,
        _ if base.ends_with(".mk") => Kind::Make,
        _ if matches!(stem, "jest" | "vitest" | "vite" | ".mocharc" | "karma")
            && base.contains(".config.")
            || base.starts_with(".mocharc") =>
        {
            Kind::JsConfig
        }
        _ if (path.starts_with(".github/workflows/") || path.starts_with(".circleci/"))
            && (base.ends_with(".yml") || base.ends_with(".yaml")) =>
        {
            Kind::Ci
        }
        _ => return None,
    })
}

pub fn is_runner_file(path: &str) -> bool {
    kind(path).is_some()
}

/// A line that runs tests in a Makefile or CI file.
fn runs(l: &str) -> bool {
    const RUNS: &[&str] = &[
        "cargo test",
        "cargo nextest",
        "pytest",
        "npm test",
        "npm run test",
        "yarn test",
        "pnpm test",
        "go test",
        "mvn test",
        "mvn verify",
        "gradle test",
        "gradlew test",
        "jest",
        "vitest",
        "tox",
        "make test",
        "make check",
    ];
    RUNS.iter().any(|r| l.contains(r))
}

pub fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    // Test commands that moved from one CI file to another (Travis to Actions) are not lost:
    // a command is lost when no CI file or Makefile of the unit runs it after the change.
    let ci: Vec<&FileChange> = ctx
        .unit
        .cumulative
        .iter()
        .filter(|fc| matches!(fc.paths().find_map(kind), Some(Kind::Ci | Kind::Make)))
        .collect();
    let commands = |f: fn(&FileChange) -> Option<&crate::engine::changes::Blob>| {
        ci.iter()
            .flat_map(|fc| test_commands(&side(f(fc))))
            .collect::<BTreeSet<String>>()
    };
    let ci = Ci {
        before: commands(|fc| fc.old_content.as_ref()),
        after: commands(|fc| fc.new_content.as_ref()),
        deleted: ci.iter().any(|fc| fc.new_path.is_none()),
    };
    for fc in &ctx.unit.cumulative {
        let Some(k) = fc.paths().find_map(kind) else {
            continue;
        };
        if fc.binary {
            continue;
        }
        let old = side(fc.old_content.as_ref());
        let new = side(fc.new_content.as_ref());
        let mut found: Vec<(String, Option<String>, Option<String>)> = Vec::new();
        match k {
            Kind::PackageJson => package_json(&old, &new, &mut found),
            Kind::Cargo => cargo(&old, &new, &mut found),
            Kind::PyProject => pyproject(&old, &new, &mut found),
            Kind::PyIni => py_ini(&old, &new, &mut found),
            _ => lines(k, fc, &ci, &mut found),
        }
        for (message, before, after) in found {
            out.push(
                Finding::flag("tests.runner", message, HINT)
                    .at_ref(ctx.refname())
                    .at_path(fc.path())
                    .with_lines(before, after),
            );
        }
    }
}

/// What the unit's CI files and Makefiles run after the change.
struct Ci {
    /// Every test command they held before and hold after, normalized ([`test_commands`]).
    before: BTreeSet<String>,
    after: BTreeSet<String>,
    /// One of them is deleted: a new one may be where its jobs went.
    deleted: bool,
}

/// The distinct test commands of a CI file or Makefile, each normalized so that one command
/// spelled in another CI's syntax compares equal: list markers, `run:` and `script:` keys,
/// trailing `&&` and `\` dropped, variables (`$X`, `${X}`, `${{ matrix.x }}`) made `$`. A
/// step of the `actions-rs/cargo` action (`command: test` with its `args:`) is the `cargo`
/// command it runs.
fn test_commands(text: &str) -> BTreeSet<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = BTreeSet::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim().trim_start_matches("- ").trim();
        if let Some(cmd) = t.strip_prefix("command:").map(str::trim)
            && matches!(cmd, "test" | "nextest")
        {
            let args = lines[i + 1..]
                .iter()
                .take(3)
                .map(|l| l.trim())
                .take_while(|l| !l.starts_with("- "))
                .find_map(|l| l.strip_prefix("args:"))
                .unwrap_or("");
            out.insert(normalize(&format!("cargo {cmd} {args}")));
        } else if runs(t) && !names(t) {
            out.insert(normalize(t));
        }
    }
    out
}

/// A line that names or installs a tool rather than runs the tests: `name: tox on 3.12`,
/// `pip install tox`, a comment.
fn names(line: &str) -> bool {
    let key = line.split(':').next().unwrap_or("").trim();
    matches!(key, "name" | "description" | "id" | "title")
        || line.starts_with('#')
        || line.contains(" install ")
}

fn normalize(command: &str) -> String {
    let mut t = command.trim();
    for key in ["run:", "script:", "command:", "- "] {
        t = t.strip_prefix(key).unwrap_or(t).trim();
    }
    let t = t.trim_end_matches(['&', '\\', ';', '|', ' ']);
    let mut out = String::with_capacity(t.len());
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        out.push('$');
        match chars.peek() {
            Some('{') => {
                let mut depth = 0;
                for c in chars.by_ref() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                while chars
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    chars.next();
                }
            }
        }
    }
    super::suite::squash(&out)
}

fn side(b: Option<&crate::engine::changes::Blob>) -> String {
    b.map(|b| String::from_utf8_lossy(b.bytes()).into_owned())
        .unwrap_or_default()
}

type Found = Vec<(String, Option<String>, Option<String>)>;

/// Options that make a test command run fewer tests or pass whatever happens.
const RUN_LESS: &[&str] = &[
    "|| true",
    "|| exit 0",
    "|| :",
    "; exit 0",
    "--passWithNoTests",
    "--testPathIgnorePatterns",
    "--testNamePattern",
    "--onlyChanged",
    "--bail",
    "--silent",
    "--exclude",
    "--grep",
    "--invert",
    "--deselect",
    "--ignore",
    "--lf",
    "--co",
    "--collect-only",
    "--skip",
    "-k ",
    "--run=",
    "-run ",
    "-run=",
    "-short",
    "-DskipTests",
    "-Dmaven.test.skip",
    "-x test",
    "--exclude-task test",
    "--no-fail-fast",
    "--lib",
    "--continue-on-collection-errors",
];

/// What a test command gained that makes it run less, or that it lost its runner.
fn command_less(old: &str, new: &str) -> Option<String> {
    if new.trim().is_empty() && !old.trim().is_empty() {
        return Some("emptied".into());
    }
    let gained: Vec<&str> = RUN_LESS
        .iter()
        .filter(|o| new.contains(*o) && !old.contains(*o))
        .copied()
        .collect();
    if let Some(g) = gained.first() {
        return Some(format!("gains `{}`", g.trim()));
    }
    // pytest's `-m EXPR` selects by marker; `python -m pytest` runs a module.
    let markers = |s: &str| {
        let words: Vec<&str> = s.split_whitespace().collect();
        words
            .windows(2)
            .filter(|w| w[0] == "-m" && !matches!(w[1], "pytest" | "unittest" | "tox" | "nox"))
            .count()
    };
    if markers(new) > markers(old) {
        return Some("gains `-m`, which runs only the tests with some markers".into());
    }
    let t = new.trim();
    if matches!(t, "true" | "exit 0" | ":")
        || t.starts_with("echo ") && !old.trim().starts_with("echo")
    {
        return Some(format!("replaced by `{t}`"));
    }
    let runner = |s: &str| -> BTreeSet<String> {
        const RUNNERS: &[&str] = &[
            "jest",
            "vitest",
            "mocha",
            "ava",
            "tap",
            "node --test",
            "pytest",
            "tox",
            "nox",
            "unittest",
            "cargo test",
            "cargo nextest",
            "go test",
            "mvn",
            "gradle",
            "gradlew",
            "make test",
            "make check",
            "karma",
            "playwright",
            "cypress",
        ];
        RUNNERS
            .iter()
            .filter(|r| s.contains(*r))
            .map(|r| r.to_string())
            .collect()
    };
    let lost: Vec<String> = runner(old).difference(&runner(new)).cloned().collect();
    (!lost.is_empty() && runner(new).is_empty()).then(|| format!("no longer runs `{}`", lost[0]))
}

fn package_json(old: &str, new: &str, found: &mut Found) {
    let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap_or_default();
    let (o, n) = (parse(old), parse(new));
    // `npm run tests-only` runs what the `tests-only` script says: judged as that text.
    let expand = |v: &serde_json::Value, script: &str| -> String {
        let all = v.get("scripts").and_then(|s| s.as_object());
        let mut text = script.to_string();
        for _ in 0..3 {
            let mut next = text.clone();
            for runner in ["npm run ", "npm run-script ", "yarn run ", "pnpm run "] {
                while let Some(at) = next.find(runner) {
                    let rest = &next[at + runner.len()..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| !c.is_whitespace() && !matches!(c, '&' | ';' | '|'))
                        .collect();
                    let body = all
                        .and_then(|m| m.get(&name))
                        .and_then(|b| b.as_str())
                        .unwrap_or("");
                    next.replace_range(at..at + runner.len() + name.len(), &format!("({body})"));
                }
            }
            if next == text {
                break;
            }
            text = next;
        }
        text
    };
    let scripts = |v: &serde_json::Value| -> Vec<(String, String)> {
        v.get("scripts")
            .and_then(|s| s.as_object())
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("test") || *k == "ci" || k.starts_with("check"))
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let new_scripts = scripts(&n);
    for (k, ov) in scripts(&o) {
        let nv = new_scripts
            .iter()
            .find(|(nk, _)| *nk == k)
            .map(|(_, v)| v.as_str());
        let why = match nv {
            None if k == "test" => Some("removed".to_string()),
            None => None,
            Some(nv) if nv != ov => command_less(&expand(&o, &ov), &expand(&n, nv)),
            Some(_) => None,
        };
        if let Some(why) = why {
            found.push((
                format!("the `{k}` script {why}"),
                Some(format!("\"{k}\": \"{ov}\"")),
                nv.map(|v| format!("\"{k}\": \"{v}\"")),
            ));
        }
    }
    json_keys(o.get("jest"), n.get("jest"), "jest", found);
}

/// Jest/Vitest keys that choose which tests run or whether none is a pass.
const JS_KEYS: &[&str] = &[
    "testPathIgnorePatterns",
    "testMatch",
    "testRegex",
    "roots",
    "testNamePattern",
    "passWithNoTests",
    "modulePathIgnorePatterns",
    "exclude",
    "include",
    "bail",
    "allowOnly",
];

fn json_keys(
    o: Option<&serde_json::Value>,
    n: Option<&serde_json::Value>,
    section: &str,
    found: &mut Found,
) {
    for key in JS_KEYS {
        let ov = o.and_then(|v| v.get(key));
        let nv = n.and_then(|v| v.get(key));
        if ov != nv && nv.is_some() {
            found.push((
                format!("`{section}.{key}` changes which tests run"),
                ov.map(|v| format!("{key}: {v}")),
                nv.map(|v| format!("{key}: {v}")),
            ));
        }
    }
}

fn cargo(old: &str, new: &str, found: &mut Found) {
    let parse = |s: &str| s.parse::<toml::Table>().unwrap_or_default();
    let facts = |t: &toml::Table| -> BTreeSet<String> {
        let mut f = BTreeSet::new();
        if let Some(p) = t.get("package").and_then(|p| p.as_table()) {
            if p.get("autotests").and_then(|v| v.as_bool()) == Some(false) {
                f.insert("package.autotests = false".to_string());
            }
        }
        let mut target = |name: String, v: &toml::Value| {
            for key in ["test", "harness", "doctest"] {
                if v.get(key).and_then(|x| x.as_bool()) == Some(false) {
                    f.insert(format!("{name}: {key} = false"));
                }
            }
            if let Some(req) = v.get("required-features") {
                f.insert(format!("{name}: required-features = {req}"));
            }
        };
        if let Some(lib) = t.get("lib") {
            target("[lib]".into(), lib);
        }
        for section in ["bin", "test"] {
            for v in t
                .get(section)
                .and_then(|x| x.as_array())
                .into_iter()
                .flatten()
            {
                let name = v.get("name").and_then(|n| n.as_str()).unwrap_or("?");
                target(format!("[[{section}]] {name}"), v);
            }
        }
        f
    };
    let targets = |t: &toml::Table| -> BTreeSet<String> {
        t.get("test")
            .and_then(|x| x.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string))
            .collect()
    };
    let (o, n) = (parse(old), parse(new));
    let (old_targets, new_targets) = (targets(&o), targets(&n));
    // `cargo package` rewrites a manifest with every target listed and `autotests = false`:
    // targets newly listed are new to the manifest, not tests switched off.
    let listed_now = new_targets.len() > old_targets.len();
    let known = |fact: &str| {
        let target = fact.split(':').next().unwrap_or("");
        match target.strip_prefix("[[test]] ") {
            Some(name) => old_targets.contains(name),
            None => {
                !fact.starts_with("[[bin]]") || old.contains(target.trim_start_matches("[[bin]] "))
            }
        }
    };
    for fact in facts(&n).difference(&facts(&o)) {
        if fact == "package.autotests = false" && listed_now || !known(fact) {
            continue;
        }
        found.push((
            format!("Cargo.toml sets `{fact}`"),
            None,
            Some(fact.clone()),
        ));
    }
    // A target renamed (log 0.4.22: `filters` to `integration`) leaves as many targets as
    // before: only targets beyond the ones added in their place are lost.
    let added = new_targets.difference(&old_targets).count();
    for gone in old_targets.difference(&new_targets).skip(added) {
        found.push((
            format!("Cargo.toml drops the test target `{gone}`"),
            Some(format!("[[test]] name = \"{gone}\"")),
            None,
        ));
    }
}

/// pytest keys whose change selects fewer tests.
const PYTEST_KEYS: &[&str] = &[
    "addopts",
    "testpaths",
    "python_files",
    "python_classes",
    "python_functions",
    "norecursedirs",
    "commands",
    "ignore_outcome",
    "ignore_errors",
];

fn pyproject(old: &str, new: &str, found: &mut Found) {
    let parse = |s: &str| s.parse::<toml::Table>().unwrap_or_default();
    let get = |t: &toml::Table, key: &str| -> Option<String> {
        let v = t.get("tool")?.get("pytest")?.get("ini_options")?.get(key)?;
        Some(match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Array(a) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        })
    };
    let (o, n) = (parse(old), parse(new));
    for key in PYTEST_KEYS {
        judge_key(
            key,
            get(&o, key),
            get(&n, key),
            "[tool.pytest.ini_options]",
            found,
        );
    }
}

fn judge_key(key: &str, ov: Option<String>, nv: Option<String>, section: &str, found: &mut Found) {
    if ov == nv {
        return;
    }
    let (o, n) = (
        ov.clone().unwrap_or_default(),
        nv.clone().unwrap_or_default(),
    );
    let why = match key {
        "addopts" | "commands" => command_less(&o, &n).or_else(|| {
            (n.contains("-p no:") && !o.contains("-p no:")).then(|| "gains `-p no:`".into())
        }),
        "ignore_outcome" | "ignore_errors" => {
            (n.trim() == "true" || n.trim() == "True").then(|| format!("sets `{key} = true`"))
        }
        "testpaths" => {
            let ow: BTreeSet<&str> = o.split_whitespace().collect();
            let nw: BTreeSet<&str> = n.split_whitespace().collect();
            let lost: Vec<&&str> = ow.difference(&nw).collect();
            (!lost.is_empty() && nv.is_some()).then(|| format!("no longer lists `{}`", lost[0]))
        }
        "norecursedirs" => {
            let ow: BTreeSet<&str> = o.split_whitespace().collect();
            let nw: BTreeSet<&str> = n.split_whitespace().collect();
            let more: Vec<&&str> = nw.difference(&ow).collect();
            (!more.is_empty()).then(|| format!("now skips `{}`", more[0]))
        }
        _ => nv
            .is_some()
            .then(|| "changes which files, classes or functions are collected".into()),
    };
    if let Some(why) = why {
        found.push((
            format!("{section} `{key}` {why}"),
            ov.map(|v| format!("{key} = {v}")),
            nv.map(|v| format!("{key} = {v}")),
        ));
    }
}

/// A value with tox's substitutions of other sections' keys (`{[testenv:py36]commands}`)
/// replaced by what they name in the same file, so a reference to the same commands is the
/// same commands.
fn substitute(all: &[(String, String, String)], value: &str) -> String {
    let mut v = value.to_string();
    for _ in 0..3 {
        let Some(start) = v.find("{[") else { break };
        let Some(len) = v[start..].find('}') else {
            break;
        };
        let inner = &v[start + 2..start + len];
        let Some((sec, key)) = inner.split_once(']') else {
            break;
        };
        let with = all
            .iter()
            .find(|(s, k, _)| s == sec.trim() && k == key.trim())
            .map(|x| x.2.clone())
            .unwrap_or_default();
        v.replace_range(start..start + len + 1, &with);
    }
    v
}

/// `[section] key = value` with indented continuation lines, as configparser reads them.
fn ini(s: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut section = String::new();
    for raw in s.lines() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if t.starts_with('[') && t.ends_with(']') {
            section = t[1..t.len() - 1].trim().to_string();
        } else if raw.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.2.push('\n');
                last.2.push_str(t);
            }
        } else if let Some((k, v)) = t.split_once(['=', ':']) {
            out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn py_ini(old: &str, new: &str, found: &mut Found) {
    let relevant = |s: &str| s == "pytest" || s == "tool:pytest" || s.starts_with("testenv");
    let (o, n) = (ini(old), ini(new));
    let get = |v: &[(String, String, String)], sec: &str, key: &str| {
        v.iter()
            .find(|(s, k, _)| s == sec && k == key)
            .map(|x| substitute(v, &x.2))
    };
    let mut seen = BTreeSet::new();
    for (sec, key, _) in o.iter().chain(n.iter()) {
        if !relevant(sec) || !PYTEST_KEYS.contains(&key.as_str()) {
            continue;
        }
        if !seen.insert((sec.clone(), key.clone())) {
            continue;
        }
        let (ov, nv) = (get(&o, sec, key), get(&n, sec, key));
        // A section dropped whole (an environment no longer tested) is not judged key by key.
        if !n.iter().any(|(s, _, _)| s == sec) {
            continue;
        }
        // tox `commands` of an environment that ran no tests (docs, lint, a build) are not
        // the tests' runner.
        let tests = |v: &Option<String>| {
            v.as_deref()
                .is_some_and(|c| runs(c) || c.contains("unittest") || c.contains("nox"))
        };
        if key == "commands" && !tests(&ov) {
            continue;
        }
        // tox: a command prefixed with `-` has its failure ignored.
        if key == "commands" {
            let dashed = |v: &Option<String>| {
                v.as_deref()
                    .map(|c| {
                        c.lines()
                            .filter(|l| l.trim_start().starts_with('-'))
                            .count()
                    })
                    .unwrap_or(0)
            };
            if dashed(&nv) > dashed(&ov) {
                found.push((
                    format!(
                        "[{sec}] `commands`: a command prefixed with `-`, whose failure tox ignores"
                    ),
                    ov.clone(),
                    nv.clone(),
                ));
                continue;
            }
        }
        judge_key(key, ov, nv, &format!("[{sec}]"), found);
    }
}

/// Line-level kinds: what the added and removed lines say.
fn lines(k: Kind, fc: &FileChange, ci: &Ci, found: &mut Found) {
    let pats: &[&str] = match k {
        Kind::JsConfig => JS_KEYS,
        Kind::Conftest => &[
            "pytest_collection_modifyitems",
            "pytest_ignore_collect",
            "collect_ignore",
            "pytest_runtest_makereport",
            "pytest_runtest_call",
            "pytest_runtest_setup",
            "pytest_runtest_protocol",
            "pytest_pycollect_makeitem",
            "pytest_report_teststatus",
            "pytest_sessionfinish",
            "force_result",
            "outcome = \"passed\"",
            "outcome = 'passed'",
            "exitstatus = 0",
            "mark.skip",
            "deselected",
        ],
        Kind::Maven => &[
            "<skipTests>true",
            "<maven.test.skip>true",
            "<skip>true</skip>",
            "<testFailureIgnore>true",
            "<exclude>",
            "<excludes>",
            "<excludedGroups>",
            "<groups>",
            "<test>",
            "<skipITs>true",
            "<failIfNoTests>false",
            "<failIfNoSpecifiedTests>false",
        ],
        Kind::Gradle => &[
            "enabled = false",
            "enabled false",
            "ignoreFailures",
            "excludeTags",
            "excludeTestsMatching",
            "failOnNoMatchingTests",
            "onlyIf",
            "-x test",
        ],
        Kind::Make | Kind::Ci => &[
            "|| true",
            "|| exit 0",
            "|| :",
            "continue-on-error: true",
            "allow_failure: true",
            "ignore_errors: true",
            "set +e",
            "-DskipTests",
            "--passWithNoTests",
        ],
        _ => &[],
    };
    let test_line = |l: &str| {
        const CMDS: &[&str] = &[
            "test", "pytest", "jest", "vitest", "mocha", "tox", "check", "mvn", "gradle",
        ];
        CMDS.iter().any(|c| l.contains(c))
    };
    let old_text: String = fc.removed_lines.join("\n");
    // A CI file or Makefile the unit adds, while it deletes none, ran nothing before: a job it
    // allows to fail ignores no failure that counted.
    let fresh = matches!(k, Kind::Make | Kind::Ci) && fc.old_path.is_none() && !ci.deleted;
    for added in fc.added_lines.iter().filter(|_| !fresh) {
        let l = added.text.as_str();
        let Some(p) = pats
            .iter()
            .find(|p| l.contains(*p) && !old_text.contains(l.trim()))
        else {
            continue;
        };
        // In a Makefile or CI file `|| true` matters on a test command; `continue-on-error`
        // and `allow_failure` anywhere.
        if matches!(k, Kind::Make | Kind::Ci) && p.starts_with("||") && !test_line(l) {
            continue;
        }
        if k == Kind::Make && *p == "set +e" {
            continue;
        }
        found.push((
            format!(
                "`{}` added: the tests run less or their failure is ignored",
                p.trim()
            ),
            None,
            Some(format!("{}: {}", added.number, l.trim())),
        ));
    }
    // Fewer distinct test commands over the unit's CI files: the ones this file no longer runs
    // are named. A command spelled anew (`cargo test` to `cargo test --all-features`) is not a
    // loss while as many commands run as before.
    let net = ci.before.len().saturating_sub(ci.after.len());
    if matches!(k, Kind::Make | Kind::Ci) && net > 0 {
        let lost: Vec<String> = test_commands(&side(fc.old_content.as_ref()))
            .into_iter()
            .filter(|c| !ci.after.contains(c))
            .collect();
        let n = lost.len().min(net);
        if let Some(first) = lost.first() {
            found.push((
                format!("{n} test command{} removed", if n == 1 { "" } else { "s" }),
                Some(first.clone()),
                None,
            ));
        }
    }
}

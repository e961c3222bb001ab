//! `git guard policy check | explain | show` through the real binary, and the documented
//! default policy kept in step with the code and docs/POLICY.md.

mod support;

use std::path::Path;
use std::process::Output;

use git_guard::engine::policy::{DEFAULT_POLICY, KNOWN_KEYS, Policy, PolicySource};
use support::git::*;

fn guard(dir: &Path, args: &[&str]) -> Output {
    guard_cmd("git-guard", dir)
        .args(args)
        .output()
        .expect("git-guard runs")
}

fn check_file(text: &str) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("guard.toml"), text).unwrap();
    let out = guard(dir.path(), &["policy", "check", "guard.toml"]);
    (out, dir)
}

fn manifest_file(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn every_known_key_is_in_policy_toml_and_docs() {
    let table: toml::Table = toml::from_str(&manifest_file("policy.toml")).unwrap();
    let docs = manifest_file("docs/POLICY.md");
    for key in KNOWN_KEYS {
        let mut node = &table;
        let parts: Vec<&str> = key.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let v = node
                .get(*part)
                .unwrap_or_else(|| panic!("policy.toml does not set `{key}`"));
            if i + 1 < parts.len() {
                node = v.as_table().unwrap();
            }
        }
        let heading = if key.contains('.') {
            format!("### `{key}`")
        } else if *key == "mode" {
            "### `mode`".to_string()
        } else {
            format!("## `[{key}]`")
        };
        assert!(
            docs.lines().any(|l| l.trim_end() == heading),
            "docs/POLICY.md has no heading {heading:?}"
        );
    }
    assert!(
        docs.contains("RULES.md"),
        "docs/POLICY.md links to the rule ids"
    );
}

#[test]
fn policy_toml_states_exactly_the_builtin_defaults() {
    let file: toml::Table = toml::from_str(DEFAULT_POLICY).unwrap();
    let defaults = Policy::parse("", PolicySource::Builtin)
        .unwrap()
        .effective();
    assert_eq!(file, defaults);
    assert_eq!(Policy::builtin().effective(), defaults);
    assert_eq!(manifest_file("policy.toml"), DEFAULT_POLICY);
}

#[test]
fn valid_policy_checks_ok() {
    let (out, _dir) = check_file("mode = \"warn\"\n[caps]\nmax_files = 3\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("guard.toml: ok: mode warn"), "{text}");
    assert_contains(&text, "caps 3 files");
}

#[test]
fn unparsable_policy_exits_2_naming_file_and_place() {
    let (out, _dir) = check_file("[caps\nmax_files = 3\n");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_contains(&err, "error: guard.toml:1:6: ");
    assert_contains(&err, "guard.toml: 1 problem");
}

#[test]
fn unknown_keys_are_all_reported_at_once_with_did_you_mean() {
    let (out, _dir) = check_file(
        "mod = \"warn\"\n[caps]\nmax_file = 3\nmax_lines = 4\n[paths]\ndenny = []\n[pathz]\nx = 1\n",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for want in [
        "error: guard.toml:1:1: mod: unknown key (did you mean `mode`?)",
        "error: guard.toml:3:1: caps.max_file: unknown key (did you mean `caps.max_files`?)",
        "error: guard.toml:6:1: paths.denny: unknown key (did you mean `paths.deny`?)",
        "error: guard.toml:7:2: pathz: unknown key (did you mean `paths`?)",
        "guard.toml: 4 problems",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(stdout(&out).is_empty());
}

#[test]
fn bad_glob_and_bad_regex_name_line_and_column() {
    let (out, _dir) = check_file(
        "[paths]\ndeny = [\".env\", \"a{b\"]\n[commits]\nmessage_pattern = \"(feat|fix\"\n\
         [caps]\nmax_lines = \"many\"\n",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_contains(&err, "error: guard.toml:2:17: paths.deny: bad glob \"a{b\"");
    assert_contains(&err, "maybe escape '{' with '[{]'");
    assert_contains(
        &err,
        "error: guard.toml:4:19: commits.message_pattern: bad regex \"(feat|fix\": unclosed group",
    );
    // A type error does not hide the pattern errors.
    assert_contains(
        &err,
        "error: guard.toml:6:13: caps.max_lines: expected a whole number, found a string",
    );
    assert_contains(&err, "guard.toml: 3 problems");
}

#[test]
fn missing_policy_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = guard(dir.path(), &["policy", "check", "nope.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_contains(&err, "error: nope.toml: cannot read the policy file");
    // Without an argument, ./policy.toml is meant, and named.
    let out = guard(dir.path(), &["policy", "check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("error: policy.toml: cannot read"));
}

#[test]
fn explain_names_lists_patterns_and_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let out = guard(
        dir.path(),
        &[
            "policy",
            "explain",
            ".ENV",
            "Secrets/x",
            "./tests/a.rs",
            "src/lib.rs",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let expected = "\
policy: (built-in default policy) (patterns match ignoring case)
.ENV
  paths.deny: denied: any change is rejected, whether the path is added, modified, deleted or either side of a rename (pattern `.env`)
  => rejected
Secrets/x
  paths.deny: denied: any change is rejected, whether the path is added, modified, deleted or either side of a rename (pattern `secrets/`)
  => rejected
tests/a.rs
  tests.paths: test path: any change raises a flag a human must approve before deploy (pattern `/tests/`)
  => needs approval
src/lib.rs
  no path list matches: a change is judged like any other (caps, secrets, risk)
  => allowed
";
    assert_eq!(text, expected);
}

#[test]
fn explain_follows_the_policy_given_and_speaks_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "[paths]\ncase_insensitive = false\nallow_only = [\"src/\"]\n[risk]\nhigh_risk_paths = [\"src/auth/\"]\n",
    )
    .unwrap();
    let out = guard(
        dir.path(),
        &[
            "policy",
            "explain",
            "--policy",
            "p.toml",
            "--format",
            "json",
            ".ENV",
            "src/auth/a.rs",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["case_insensitive"], false);
    let paths = v["paths"].as_array().unwrap();
    // Case-sensitive now: `.ENV` is not denied, but it lies outside the allow-only list.
    assert_eq!(paths[0]["outcome"], "rejected");
    assert_eq!(paths[0]["matches"][0]["list"], "paths.allow_only");
    assert_eq!(paths[0]["matches"].as_array().unwrap().len(), 1);
    assert_eq!(paths[1]["outcome"], "allowed");
    let lists: Vec<&str> = paths[1]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["list"].as_str().unwrap())
        .collect();
    assert_eq!(lists, vec!["paths.allow_only", "risk.high_risk_paths"]);
    assert_eq!(paths[1]["matches"][1]["patterns"][0], "src/auth/");
}

#[test]
fn explain_with_a_broken_policy_or_a_bad_path_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.toml"), "[paths]\ndeny = [\"[\"]\n").unwrap();
    let out = guard(dir.path(), &["policy", "explain", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert_contains(
        &stderr(&out),
        "error: policy.toml:2:9: paths.deny: bad glob",
    );
    let out = guard(
        dir.path(),
        &["policy", "explain", "--policy", "none.toml", "x"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("none.toml"));
    std::fs::remove_file(dir.path().join("policy.toml")).unwrap();
    let out = guard(dir.path(), &["policy", "explain", "../outside"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("\"../outside\" leaves the repository"));
}

#[test]
fn show_prints_the_default_policy_which_checks_ok() {
    let dir = tempfile::tempdir().unwrap();
    let out = guard(dir.path(), &["policy", "show"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), DEFAULT_POLICY);
    std::fs::write(dir.path().join("policy.toml"), &out.stdout).unwrap();
    let out = guard(dir.path(), &["policy", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn durations_the_binaries_cannot_use_are_rejected_by_policy_check() {
    let huge = "9223372036854775807";
    let text = format!(
        "[commands]\ntimeout_secs = {huge}\n[tests]\ntimeout_secs = 0\n\
         [deploy]\nlock_wait_secs = {huge}\nhealth_timeout_secs = 0\nhealth_interval_ms = 0\n\
         [hooks]\ndeadline_ms = 0\n"
    );
    let (out, _dir) = check_file(&text);
    assert_code(&out, 2);
    let err = stderr(&out);
    for key in [
        "commands.timeout_secs",
        "tests.timeout_secs",
        "deploy.lock_wait_secs",
        "deploy.health_timeout_secs",
        "deploy.health_interval_ms",
        "hooks.deadline_ms",
    ] {
        assert_contains(&err, key);
    }
    assert_contains(&err, "6 problems");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn guard_exec_and_install_reject_unusable_durations_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    for t in ["1e30", "NaN", "0", "1e-12", "-1"] {
        let o = guard_cmd("guard-exec", dir.path())
            .args([
                "--root",
                "/nonexistent",
                &format!("--timeout={t}"),
                "--",
                "true",
            ])
            .output()
            .unwrap();
        assert_code(&o, 2);
        assert_contains(&stderr(&o), "--timeout");
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    let (_t, repo) = tmp_repo();
    for ms in ["0", "99999999999999999"] {
        let o = guard(&repo, &["install", "--deadline-ms", ms]);
        assert_code(&o, 2);
        assert_contains(&stderr(&o), "--deadline-ms");
    }
}

//! The SARIF `git guard ci --format sarif` writes is valid against the published SARIF
//! 2.1.0 JSON schema (OASIS; vendored in tests/schemas/, see its README), checked with the
//! `jsonschema` crate, for a run holding every kind of finding: a violation at a file and
//! line, a flag at a file, a finding of a ref update with no file, a note.

mod support;

use std::path::Path;

use support::git::*;

fn schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/sarif-schema-2.1.0.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        schema["title"],
        "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    );
    // The published schema's `language` patterns have a stray `]`, which ECMA-262 reads
    // as a literal and the meta-schema's `format: regex` check refuses. The vendored file is
    // kept as published; the one pattern, which no output of ours uses, is mended here.
    let pattern = &mut schema_fix(schema);
    jsonschema::options()
        .should_validate_formats(true)
        .build(pattern)
        .expect("the SARIF schema compiles")
}

/// Mend every copy of the published `language` pattern (see [`schema`]); return how many.
fn schema_fix(mut schema: serde_json::Value) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value, n: &mut usize) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    if k == "pattern" && v == "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$" {
                        *v = "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$".into();
                        *n += 1;
                    } else {
                        walk(v, n);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|v| walk(v, n)),
            _ => {}
        }
    }
    let mut n = 0;
    walk(&mut schema, &mut n);
    assert!(
        n >= 1,
        "the schema changed: look again at its language patterns"
    );
    schema
}

fn errors(v: &jsonschema::Validator, doc: &serde_json::Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0_with_every_finding_at_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    init_repo(&repo);
    write(&repo, "app.py", "print(1)\n");
    commit_all(&repo, "Start");
    git(&repo, &["checkout", "-q", "-b", "agent/x"]);
    write(
        &repo,
        "dir with space/conf,ig#1.py",
        "import os\nKEY = \"AKIAZ7Q3WLMNQ4RTK2XY\"\n",
    );
    write(&repo, ".github/workflows/ci.yml", "on: push\n");
    for i in 0..12 {
        write(&repo, &format!("gen/f{i}.txt"), "x\n");
    }
    commit_all(&repo, "Many things");
    let out = guard_cmd("git-guard", &repo)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .args([
            "ci",
            "--base",
            "main",
            "--as",
            "agent-bot",
            "--format",
            "sarif",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = schema();
    assert_eq!(errors(&v, &doc), Vec::<String>::new());

    let results = doc["runs"][0]["results"].as_array().unwrap();
    let secret = results
        .iter()
        .find(|r| r["ruleId"] == "secrets.aws-access-key")
        .unwrap();
    let loc = &secret["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        "dir%20with%20space/conf%2Cig%231.py"
    );
    assert_eq!(loc["region"]["startLine"], 2);
    assert_eq!(secret["level"], "error");
    let flag = results
        .iter()
        .find(|r| r["ruleId"] == "paths.protected")
        .unwrap();
    assert_eq!(
        flag["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        ".github/workflows/ci.yml"
    );
    assert_eq!(
        flag["properties"]["flagId"],
        "paths.protected:.github/workflows/ci.yml"
    );
    let caps = results
        .iter()
        .find(|r| r["ruleId"] == "caps.files")
        .unwrap();
    assert_eq!(
        caps["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "policy.toml"
    );
    let rules = doc["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
    }
    assert!(!String::from_utf8_lossy(&out.stdout).contains("AKIAZ7Q3WLMNQ4RTK2XY"));

    // The validator is not a rubber stamp: a log without its version, or with a bad level,
    // is refused.
    let mut bad = doc.clone();
    bad.as_object_mut().unwrap().remove("version");
    assert!(!errors(&v, &bad).is_empty());
    let mut bad = doc.clone();
    bad["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!errors(&v, &bad).is_empty());
}

#[test]
fn a_passing_run_is_an_empty_valid_sarif_log() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    init_repo(&repo);
    write(&repo, "app.py", "print(1)\n");
    commit_all(&repo, "Start");
    write(&repo, "app.py", "print(2)\n");
    commit_all(&repo, "Two");
    let out = guard_cmd("git-guard", &repo)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .args([
            "ci", "--base", "HEAD~1", "--as", "alice", "--format", "sarif",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(errors(&schema(), &doc), Vec::<String>::new());
    assert_eq!(doc["runs"][0]["results"], serde_json::json!([]));
}

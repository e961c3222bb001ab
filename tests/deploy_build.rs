//! What is tested is what is deployed, and the release is built before the switch: through
//! the real `git guard test` and the real guard-deploy.
//!
//! - Attributes of the judged tree (`export-ignore`, `export-subst`, `eol`) change nothing:
//!   the files a recorded test run saw are byte for byte the files of the release.
//! - A recorded run written by another materialiser is not accepted in place of the tests.
//! - `deploy.build_command` runs in the new release, contained, before `current` moves; a
//!   failed build leaves `current` where it was.

mod support;

use std::path::Path;

use support::deploy::*;
use support::git::*;

#[track_caller]
fn bwrap_is_there() -> bool {
    support::tool_is_there("bwrap", "bubblewrap (bwrap)")
}

const OK_HOOKS: &str = "reload_command = \"true\"\nhealth_command = \"true\"\n";

/// Every file under `dir` with its sha256, as `sha256sum` prints it, sorted by path.
fn manifest(dir: &Path) -> Vec<String> {
    use sha2::Digest as _;
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(base, &e.path(), out);
            } else if t.is_file() {
                let rel = e.path().strip_prefix(base).unwrap().display().to_string();
                let data = std::fs::read(e.path()).unwrap();
                let hex: String = sha2::Sha256::digest(&data)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                out.push((format!("./{rel}"), hex));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    for (p, h) in files {
        out.push(format!("{h}  {p}"));
    }
    out
}

fn write_policy(f: &Fixture, tests: &str, deploy: &str) {
    // No protected paths: these tests are about what is materialised, not about approvals.
    let text = format!(
        "mode = \"enforce\"\n[actors]\nhumans = [\"*\"]\n[paths]\nprotected = []\n\
         [tests]\n{tests}\n[deploy]\nroot = \"{}\"\n{OK_HOOKS}{deploy}\n",
        f.root.display()
    );
    std::fs::write(&f.policy, text).unwrap();
}

#[test]
fn the_files_tested_are_the_files_deployed_whatever_the_attributes_say() {
    if !bwrap_is_there() {
        return;
    }
    let f = Fixture::new(OK_HOOKS, "");
    write_policy(
        &f,
        "command = \"find . -type f | LC_ALL=C sort | xargs sha256sum\"",
        "",
    );
    // The agent's attributes: hide a file from an archive, rewrite line ends, substitute.
    write(
        &f.repo,
        ".gitattributes",
        "payload.sh export-ignore\napp.txt eol=crlf\nstamp.txt export-subst\n",
    );
    write(&f.repo, "payload.sh", "echo evil\n");
    write(&f.repo, "app.txt", "line one\nline two\n");
    write(&f.repo, "stamp.txt", "built from $Format:%H$\n");
    let c = commit_all(&f.repo, "agent: attributes");

    let o = guard_cmd("git-guard", &f.repo)
        .args(["test", "HEAD", "--policy"])
        .arg(&f.policy)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let repo = gix::open(&f.repo).unwrap();
    let tree = repo.rev_parse_single("HEAD^{tree}").unwrap().detach();
    let run = git_guard::contain::testrun::recorded_pass(&repo, tree)
        .unwrap()
        .expect("a recorded pass");
    assert_eq!(run.commit, c);
    assert_eq!(run.materialiser, git_guard::contain::release::MATERIALISER);

    // The deploy takes the recorded run instead of running the tests again...
    let o = f.expect(&["deploy", "main"], 0);
    assert!(
        stdout(&o).contains("using the recorded passing run"),
        "{}",
        stdout(&o)
    );
    // ...and the release holds exactly the files that run saw.
    let id = f.current().unwrap();
    f.assert_complete(&id);
    let release = manifest(&f.root.join("releases").join(&id));
    let tested: Vec<String> = run
        .output_tail
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(tested, release, "the tested files differ from the deployed");
    assert!(tested.iter().any(|l| l.ends_with("./payload.sh")));
    let stamp = std::fs::read_to_string(f.root.join("releases").join(&id).join("stamp.txt"));
    assert_eq!(stamp.unwrap(), "built from $Format:%H$\n");
}

#[test]
fn a_recorded_run_of_another_materialiser_does_not_stand_for_the_tests() {
    if !bwrap_is_there() {
        return;
    }
    let f = Fixture::new(OK_HOOKS, "");
    write_policy(&f, "command = \"sh check.sh\"", "");
    write(&f.repo, "check.sh", "echo checking; exit 1\n");
    let c = commit_all(&f.repo, "agent: failing tests");
    let tree = git(&f.repo, &["rev-parse", "HEAD^{tree}"])
        .trim()
        .to_string();
    // A passing record of this tree as an older git-guard wrote it (a checkout made by
    // `git archive`, no materialiser named), put in place on the server by hand.
    let record = serde_json::json!({
        "commit": c, "tree": tree, "command": "sh check.sh", "exit_code": 0,
        "passed": true, "timed_out": false, "timeout_secs": 600, "duration_ms": 5,
        "at": "2026-01-01T00:00:00Z", "actor": "reviewer", "output_tail": "",
    });
    let blob = {
        use std::io::Write as _;
        let mut h = git_cmd(&f.repo)
            .args(["hash-object", "-w", "--stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        h.stdin
            .take()
            .unwrap()
            .write_all(record.to_string().as_bytes())
            .unwrap();
        String::from_utf8(h.wait_with_output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string()
    };
    git(
        &f.repo,
        &["update-ref", &format!("refs/guard/tests/{tree}"), &blob],
    );
    let before = f.current();
    let o = f.expect(&["deploy", "main"], 1);
    let out = stdout(&o);
    assert!(out.contains("not by the release materialiser"), "{out}");
    assert!(out.contains("the tests failed"), "{out}");
    assert_eq!(f.current(), before);
}

#[test]
fn the_build_runs_in_the_new_release_before_the_switch() {
    if !bwrap_is_there() {
        return;
    }
    let f = Fixture::new(OK_HOOKS, "");
    f.expect(&["deploy", "main"], 0);
    let first = f.current().unwrap();
    let script = format!(
        "mkdir -p out\n\
         cp app.txt out/built.txt\n\
         pwd > out/where.txt\n\
         ls {repo}/.git > out/leak.txt 2>&1 || true\n\
         test -L {root}/current && echo current-visible >> out/leak.txt\n\
         exit 0\n",
        repo = f.repo.display(),
        root = f.root.display()
    );
    write(&f.repo, "build.sh", &script);
    f.commit(2);
    write_policy(&f, "", "build_command = \"sh build.sh\"");
    let o = f.expect(&["deploy", "main"], 0);
    assert!(stdout(&o).contains("build: passed"), "{}", stdout(&o));
    let id = f.current().unwrap();
    assert_ne!(id, first);
    let dir = f.root.join("releases").join(&id);
    assert_eq!(
        std::fs::read_to_string(dir.join("out/built.txt")).unwrap(),
        "version 2\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("out/where.txt"))
            .unwrap()
            .trim(),
        dir.canonicalize().unwrap().display().to_string()
    );
    // Contained: neither the repository nor the rest of the deploy root was there.
    let leak = std::fs::read_to_string(dir.join("out/leak.txt")).unwrap();
    assert!(
        !leak.contains("HEAD") && !leak.contains("current-visible"),
        "{leak}"
    );
    let audit = std::fs::read_to_string(f.root.join("audit.log")).unwrap();
    assert!(audit.contains("step build"), "{audit}");
}

#[test]
fn a_failed_build_leaves_current_as_it_was() {
    if !bwrap_is_there() {
        return;
    }
    let f = Fixture::new(OK_HOOKS, "");
    f.expect(&["deploy", "main"], 0);
    let first = f.current().unwrap();
    write(
        &f.repo,
        "build.sh",
        "mkdir -p out && echo half > out/half.txt\necho 'cc: error: boom' >&2\nexit 3\n",
    );
    f.commit(2);
    write_policy(&f, "", "build_command = \"sh build.sh\"");
    let o = f.expect(&["deploy", "main"], 1);
    let out = stdout(&o);
    assert!(out.contains("the build failed"), "{out}");
    assert!(out.contains("exit status 3"), "{out}");
    assert!(out.contains("cc: error: boom"), "{out}");
    assert_eq!(f.current().unwrap(), first, "current did not move");
    let s = f.status_json();
    assert_eq!(s["state"], "refused");
    assert_eq!(s["step"], "build");
    let failed = s["release"].as_str().unwrap().to_string();
    assert_eq!(f.meta(&failed)["state"], "failed");
    let o = f.expect(&["status"], 0);
    assert!(stdout(&o).contains("consistent"), "{}", stdout(&o));
}

#[test]
fn a_build_over_the_time_limit_fails_and_leaves_nothing_running() {
    if !bwrap_is_there() {
        return;
    }
    let f = Fixture::new(OK_HOOKS, "timeout_secs = 1");
    f.expect(&["deploy", "main"], 0);
    let first = f.current().unwrap();
    write(
        &f.repo,
        "build.sh",
        "setsid sleep 4242.4301 &\nsleep 100000\n",
    );
    f.commit(2);
    write_policy(&f, "timeout_secs = 1", "build_command = \"sh build.sh\"");
    let o = f.expect(&["deploy", "main"], 1);
    assert!(stdout(&o).contains("timed out after 1s"), "{}", stdout(&o));
    assert_eq!(f.current().unwrap(), first);
    let left: Vec<_> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("4242.4301"))
                .unwrap_or(false)
        })
        .collect();
    assert!(left.is_empty(), "the build's processes outlived it");
}

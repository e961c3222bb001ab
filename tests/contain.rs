//! The agent's tests run contained: through the real `git guard test` and the real
//! guard-deploy, an agent-written test tries each way out of its sandbox (approve its own
//! commit, write the repository's refs, read the caller's home and keys, reach a service on
//! 127.0.0.1 or an agent socket, write outside its checkout, outlive the time limit, read the
//! caller's secrets from the environment), fails each time, and the run is still recorded.

mod support;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use gix::ObjectId;
use support::git::*;

const SECRET_ENV: &str = "tok-4f1c9e2b7a";
const SSH_KEY: &str = "PRIVATE-KEY-8d2e61";

/// A human's repository, the caller's home with a key in it, an agent socket and a policy
/// whose test command is `sh escape.sh`.
struct Fixture {
    tmp: tempfile::TempDir,
    repo: PathBuf,
    home: PathBuf,
    policy: PathBuf,
    agent_sock: PathBuf,
    _agent: UnixListener,
}

#[track_caller]
fn bwrap_is_there() -> bool {
    support::tool_is_there("bwrap", "bubblewrap (bwrap)")
}

impl Fixture {
    /// `None` (the test is skipped, or fails in CI) without bubblewrap.
    fn new(tests: &str) -> Option<Fixture> {
        if !bwrap_is_there() {
            return None;
        }
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        init_repo(&repo);
        write(&repo, "app.txt", "version 1\n");
        commit_all(&repo, "first");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(home.join(".ssh/id_ed25519"), SSH_KEY).unwrap();
        std::fs::write(home.join(".gitconfig"), "[user]\nname = Reviewer\n").unwrap();
        let agent_sock = tmp.path().join("agent.sock");
        let agent = UnixListener::bind(&agent_sock).unwrap();
        agent.set_nonblocking(true).unwrap();
        let policy = tmp.path().join("policy.toml");
        std::fs::write(
            &policy,
            format!("[actors]\nhumans = [\"*\"]\n[tests]\ncommand = \"sh escape.sh\"\n{tests}\n"),
        )
        .unwrap();
        Some(Fixture {
            tmp,
            repo,
            home,
            policy,
            agent_sock,
            _agent: agent,
        })
    }

    /// Commit `escape.sh` as the agent would; returns (commit, tree).
    fn agent_test(&self, script: &str) -> (String, ObjectId) {
        write(&self.repo, "escape.sh", script);
        let c = commit_all(&self.repo, "agent: tests");
        let tree = git(&self.repo, &["rev-parse", "HEAD^{tree}"]);
        (c, ObjectId::from_hex(tree.trim().as_bytes()).unwrap())
    }

    /// `git guard test HEAD` as the reviewer runs it: their HOME, their agent socket, a
    /// secret in their environment.
    fn guard_test(&self) -> Output {
        guard_cmd("git-guard", &self.repo)
            .args(["test", "HEAD", "--policy"])
            .arg(&self.policy)
            .env("HOME", &self.home)
            .env("SSH_AUTH_SOCK", &self.agent_sock)
            .env("GUARD_SECRET_TOKEN", SECRET_ENV)
            .output()
            .unwrap()
    }

    fn recorded(&self, tree: ObjectId) -> git_guard::contain::testrun::TestRun {
        let repo = gix::open(&self.repo).unwrap();
        git_guard::contain::testrun::recorded(&repo, tree)
            .unwrap()
            .expect("the run is recorded")
    }

    /// Run the agent's test, insist it failed and was recorded; returns the record.
    fn fails_and_is_recorded(&self, script: &str) -> git_guard::contain::testrun::TestRun {
        let (commit, tree) = self.agent_test(script);
        let o = self.guard_test();
        assert_eq!(
            o.status.code(),
            Some(1),
            "the agent's test must fail:\n{}{}",
            stdout(&o),
            stderr(&o)
        );
        let run = self.recorded(tree);
        assert!(!run.passed, "{run:?}");
        assert_eq!(run.commit, commit);
        assert_eq!(run.isolation, "bwrap", "{run:?}");
        assert!(!run.output_tail.contains(SSH_KEY), "{}", run.output_tail);
        assert!(!run.output_tail.contains(SECRET_ENV), "{}", run.output_tail);
        run
    }

    fn guard_refs(&self) -> String {
        git(&self.repo, &["for-each-ref", "refs/guard/approvals/"])
    }

    fn outside(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn a_test_cannot_approve_its_own_commit_or_write_the_repository() {
    let Some(f) = Fixture::new("") else {
        return;
    };
    let repo = p(&f.repo);
    let script = format!(
        "cd {repo} || exit 1\n\
         git guard approve HEAD -m 'looks fine' && exit 0\n\
         git update-ref refs/guard/approvals/$(git rev-parse HEAD)/x HEAD && exit 0\n\
         echo pwned >> {repo}/.git/config && exit 0\n\
         exit 1\n"
    );
    f.fails_and_is_recorded(&script);
    assert_eq!(f.guard_refs(), "", "no approval was written");
    let config = std::fs::read_to_string(f.repo.join(".git/config")).unwrap();
    assert!(!config.contains("pwned"), "{config}");
}

#[test]
fn a_test_cannot_read_the_callers_home_or_keys() {
    let Some(f) = Fixture::new("") else {
        return;
    };
    let script = format!(
        "cat {home}/.ssh/id_ed25519 && exit 0\n\
         cat \"$HOME/.ssh/id_ed25519\" && exit 0\n\
         cat {home}/.gitconfig && exit 0\n\
         ls /root/.ssh && exit 0\n\
         exit 1\n",
        home = p(&f.home)
    );
    f.fails_and_is_recorded(&script);
}

#[test]
fn a_test_cannot_reach_a_service_on_loopback_or_an_agent_socket() {
    let Some(f) = Fixture::new("") else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' && exit 0\n\
         test -S {sock} && exit 0\n\
         test -n \"$SSH_AUTH_SOCK\" && exit 0\n\
         exit 1\n",
        sock = p(&f.agent_sock)
    );
    f.fails_and_is_recorded(&script);
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the test reached 127.0.0.1:{port}: {other:?}"),
    }
    match f._agent.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the test reached the agent socket: {other:?}"),
    }
}

#[test]
fn a_test_cannot_write_outside_its_checkout() {
    let Some(f) = Fixture::new("") else {
        return;
    };
    let out = f.outside("outside.txt");
    let script = format!(
        "echo x > {out} && exit 0\n\
         echo x > {hooks}/pre-push && exit 0\n\
         echo x > /usr/escaped && exit 0\n\
         echo x > /escaped && exit 0\n\
         echo in-checkout > here.txt || exit 2\n\
         echo in-tmp > /tmp/here.txt || exit 3\n\
         exit 1\n",
        out = p(&out),
        hooks = p(&f.repo.join(".git/hooks"))
    );
    let run = f.fails_and_is_recorded(&script);
    // It failed for the right reason: the checkout and /tmp are writable, nothing else.
    assert_eq!(run.exit_code, Some(1), "{run:?}");
    assert!(!out.exists());
    assert!(!f.repo.join(".git/hooks/pre-push").exists());
    assert!(!Path::new("/usr/escaped").exists() && !Path::new("/escaped").exists());
}

/// The pids of processes whose command line holds `marker`.
fn processes_with(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(marker) {
            found.push(pid);
        }
    }
    found
}

fn assert_none_left(marker: &str) {
    let left = processes_with(marker);
    for pid in &left {
        // Leave nothing running even when the containment failed.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(left.is_empty(), "processes outlived the run: {left:?}");
}

#[test]
fn no_process_of_a_test_outlives_the_time_limit() {
    let Some(f) = Fixture::new("timeout_secs = 1") else {
        return;
    };
    let marker = "4242.4201";
    let script = format!(
        "setsid sh -c 'sleep {marker}' &\n\
         nohup sleep {marker} >/dev/null 2>&1 &\n\
         sleep 100000\n"
    );
    let run = f.fails_and_is_recorded(&script);
    assert!(run.timed_out, "{run:?}");
    assert_none_left(marker);
}

#[test]
fn no_process_of_a_test_outlives_its_end() {
    let Some(f) = Fixture::new("") else {
        return;
    };
    let marker = "4242.4202";
    let script = format!("setsid sh -c 'sleep {marker}' &\nexit 1\n");
    f.fails_and_is_recorded(&script);
    assert_none_left(marker);
}

#[test]
fn a_test_sees_no_secret_of_the_callers_environment() {
    let Some(f) = Fixture::new("") else {
        return;
    };
    let script = format!(
        "env | grep -F {SECRET_ENV} && exit 0\n\
         test -n \"$GUARD_SECRET_TOKEN\" && exit 0\n\
         test \"$HOME\" = {home} && exit 0\n\
         exit 1\n",
        home = p(&f.home)
    );
    f.fails_and_is_recorded(&script);
}

#[test]
fn without_bubblewrap_the_run_is_refused_not_run_uncontained() {
    let Some(f) = Fixture::new("") else {
        return;
    };
    let marker = f.outside("ran.txt");
    let (_, tree) = f.agent_test(&format!("echo ran > {}\n", p(&marker)));
    let o = guard_cmd("git-guard", &f.repo)
        .args(["test", "HEAD", "--policy"])
        .arg(&f.policy)
        .env("GIT_GUARD_BWRAP", f.outside("no-such-bwrap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("cannot contain"), "{err}");
    assert!(err.contains("tests.isolation"), "{err}");
    assert!(!marker.exists(), "the command ran uncontained");
    let repo = gix::open(&f.repo).unwrap();
    assert!(
        git_guard::contain::testrun::recorded(&repo, tree)
            .unwrap()
            .is_none()
    );
}

#[test]
fn isolation_none_is_the_policys_explicit_choice() {
    let Some(f) = Fixture::new("isolation = \"none\"") else {
        return;
    };
    let marker = f.outside("ran.txt");
    let (_, tree) = f.agent_test(&format!(
        "echo ran > {}\ntest -z \"$GUARD_SECRET_TOKEN\"\n",
        p(&marker)
    ));
    let o = f.guard_test();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(marker.exists());
    let run = f.recorded(tree);
    assert!(run.passed);
    assert_eq!(run.isolation, "none");
}

#[test]
fn deploy_tests_are_contained_too() {
    if !bwrap_is_there() {
        return;
    }
    let f = support::deploy::Fixture::new(
        "reload_command = \"true\"\nhealth_command = \"true\"\n",
        "command = \"sh escape.sh\"",
    );
    let first = {
        write(&f.repo, "escape.sh", "exit 0\n");
        commit_all(&f.repo, "tests");
        f.expect(&["deploy", "main"], 0);
        f.current().unwrap()
    };
    let home = f.tmp.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), SSH_KEY).unwrap();
    let script = format!(
        "cd {repo} && git update-ref refs/guard/approvals/x HEAD && exit 0\n\
         cat {home}/.ssh/id_ed25519 && exit 0\n\
         cat {root}/status.json && exit 0\n\
         ls {root}/current/ && exit 0\n\
         exit 1\n",
        repo = p(&f.repo),
        home = p(&home),
        root = p(&f.root)
    );
    write(&f.repo, "escape.sh", &script);
    commit_all(&f.repo, "agent: tests");
    let o = f
        .cmd(&["deploy", "main"])
        .env("HOME", &home)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("the tests failed"), "{out}");
    assert!(!out.contains(SSH_KEY), "{out}");
    assert_eq!(f.current().unwrap(), first, "current did not move");
    assert_eq!(git(&f.repo, &["for-each-ref", "refs/guard/"]), "");
}

#[test]
fn readable_paths_are_read_only_and_bad_settings_are_named() {
    let Some(f) = Fixture::new("") else {
        return;
    };
    let tools = f.outside("tools");
    std::fs::create_dir_all(&tools).unwrap();
    std::fs::write(tools.join("tool.sh"), "echo tool-ran\n").unwrap();
    std::fs::write(
        &f.policy,
        format!(
            "[actors]\nhumans = [\"*\"]\n[tests]\ncommand = \"sh escape.sh\"\nreadable = [\"{}\"]\n",
            p(&tools)
        ),
    )
    .unwrap();
    let (_, tree) = f.agent_test(&format!(
        "sh {t}/tool.sh || exit 1\necho x > {t}/tool.sh && exit 1\nexit 0\n",
        t = p(&tools)
    ));
    let o = f.guard_test();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(f.recorded(tree).output_tail.contains("tool-ran"));
    assert_eq!(
        std::fs::read_to_string(tools.join("tool.sh")).unwrap(),
        "echo tool-ran\n"
    );

    for (setting, says) in [
        ("readable = [\"relative/dir\"]", "not an absolute path"),
        ("isolation = \"docker\"", "\"bwrap\", \"none\""),
    ] {
        std::fs::write(
            &f.policy,
            format!("[tests]\ncommand = \"sh escape.sh\"\n{setting}\n"),
        )
        .unwrap();
        let o = f.guard_test();
        assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
}

#[test]
fn the_network_is_there_only_when_the_policy_allows_it() {
    let Some(f) = Fixture::new("network = true") else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_, tree) = f.agent_test(&format!(
        "bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' || exit 1\n"
    ));
    let o = f.guard_test();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(f.recorded(tree).passed);
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_ok(), "the allowed connection arrived");
}

#[test]
fn a_deploy_without_bubblewrap_fails_closed_and_current_stays() {
    let f =
        support::deploy::Fixture::new("reload_command = \"true\"\nhealth_command = \"true\"\n", "");
    f.expect(&["deploy", "main"], 0);
    let first = f.current().unwrap();
    f.set_policy(
        "reload_command = \"true\"\nhealth_command = \"true\"\nbuild_command = \"true\"\n",
        "command = \"true\"",
    );
    f.commit(2);
    let o = f
        .cmd(&["deploy", "main"])
        .env("GIT_GUARD_BWRAP", f.tmp.path().join("no-such-bwrap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("cannot contain"), "{}", stdout(&o));
    assert_eq!(f.current().unwrap(), first);
    assert_eq!(f.status_json()["step"], "tests");
}

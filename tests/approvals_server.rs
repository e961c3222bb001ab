//! Approvals through the real server hooks: a bare repository guarded by
//! `git guard install --server`, pushes over a local path with the pusher named by the installed
//! host's variable (receive-pack inherits the pusher's environment over a local path, which is
//! how these tests pose as different server users), `git guard approve` from clones and on the
//! server, and the push records post-receive writes.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use git_guard::approvals::{self, Record, RecordKind};
use git_guard::engine::policy::{Policy, Role};
use gix::ObjectId;
use support::git::*;
use support::server::*;

const POLICY: &str = r#"
[actors]
humans = ["alice", "bob"]
agents = ["bot"]
admins = ["root-admin"]
default_role = "agent"
"#;

struct Server {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    bare: PathBuf,
    policy: PathBuf,
    /// The installed host's variable naming the pusher.
    var: &'static str,
}

/// A bare server whose main holds a library and its test, guarded for `host` with the policy
/// above (installed before any push, as an admin would).
fn server(host: &str) -> Server {
    let (tmp, policy) = tmp_with_policy(POLICY);
    let dir = tmp.path().to_path_buf();
    let seed = repo_at(&dir, "seed");
    commit_lib_and_test(
        &seed,
        "pub fn f() -> u32 { 1 }\n",
        "#[test]\nfn t() { assert_eq!(1, 1); }\n",
        "seed",
    );
    let bare = clone_bare(&dir, &seed, "server.git");
    install_server(
        &dir,
        &bare,
        &["--host", host, "--policy", policy.to_str().unwrap()],
    );
    Server {
        _tmp: tmp,
        dir,
        bare,
        policy,
        var: if host == "gitolite" {
            "GL_USER"
        } else {
            "REMOTE_USER"
        },
    }
}

impl Server {
    fn clone(&self, name: &str) -> PathBuf {
        clone(&self.dir, &self.bare, name)
    }

    /// `git push ARGS` from `work` as `user`.
    fn push(&self, work: &Path, user: &str, args: &[&str]) -> Output {
        push_with(work, self.var, user, args)
    }

    /// `git guard approve COMMIT -m WHY EXTRA` in `dir` as `user`.
    fn approve(&self, dir: &Path, user: &str, commit: &str, why: &str, extra: &[&str]) -> Output {
        let mut args = vec!["approve", commit, "-m", why];
        args.extend_from_slice(extra);
        guard_as(dir, self.var, user, &args)
    }

    /// `git guard approve COMMIT -m WHY --as AS --policy P` from the clone `dir` as `user`.
    fn approve_from(&self, dir: &Path, user: &str, as_: &str, commit: &str, why: &str) -> Output {
        let policy = self.policy.to_str().unwrap();
        self.approve(dir, user, commit, why, &["--as", as_, "--policy", policy])
    }

    fn refs(&self, prefix: &str) -> Vec<(String, String)> {
        git(
            &self.bare,
            &["for-each-ref", "--format=%(refname) %(objectname)", prefix],
        )
        .lines()
        .map(|l| {
            let (n, id) = l.split_once(' ').unwrap();
            (n.to_string(), id.to_string())
        })
        .collect()
    }

    fn policy(&self) -> Policy {
        Policy::load(&self.policy).unwrap()
    }

    fn outstanding(&self, commit: &str) -> usize {
        let repo = gix::open(&self.bare).unwrap();
        let id = ObjectId::from_hex(commit.as_bytes()).unwrap();
        approvals::unapproved_flags(&repo, &self.policy(), id)
            .unwrap()
            .len()
    }
}

/// `git guard ARGS` in `dir` with `var=user` in its environment (and so in its `git push`).
fn guard_as(dir: &Path, var: &str, user: &str, args: &[&str]) -> Output {
    guard_cmd("git-guard", dir)
        .env(var, user)
        .args(args)
        .output()
        .unwrap()
}

/// A commit on a new branch of `work` changing the test file; its id.
fn change_test(work: &Path, branch: &str, body: &str) -> String {
    git(work, &["switch", "-q", "-c", branch]);
    write(
        work,
        "tests/t.rs",
        format!("#[test]\nfn t() {{ {body} }}\n"),
    );
    commit_all(work, &format!("{branch}: change the test"))
}

/// The agent's clone `agent`, where bot changes the test on agent/feature and pushes it: the
/// clone, the commit and the push.
fn agent_pushes(s: &Server) -> (PathBuf, String, Output) {
    let agent = s.clone("agent");
    let c = change_test(
        &agent,
        "agent/feature",
        "assert_eq!(1, 1); assert_eq!(2, 2);",
    );
    let o = s.push(&agent, "bot", &["origin", "agent/feature"]);
    assert_code(&o, 0);
    (agent, c, o)
}

/// A record blob written into `work`'s object store, and the ref it would go under.
fn record_blob(work: &Path, commit: &str, approver: &str, role: Role) -> (String, String) {
    let tree = git(work, &["rev-parse", &format!("{commit}^{{tree}}")])
        .trim()
        .to_string();
    let record = Record {
        version: 1,
        kind: RecordKind::Approve,
        commit: commit.to_string(),
        tree,
        flags: vec!["tests.changed:tests/t.rs".into()],
        revokes: None,
        approver: approver.into(),
        role,
        source: "REMOTE_USER".into(),
        host: "test".into(),
        at: approvals::rfc3339(1_767_225_600),
        at_unix: 1_767_225_600,
        why: "looks fine to me".into(),
        pusher: None,
    };
    let file = work.join(".git").join("record");
    std::fs::write(&file, record.payload().unwrap()).unwrap();
    let blob = git(work, &["hash-object", "-w", file.to_str().unwrap()])
        .trim()
        .to_string();
    let refname = format!("refs/guard/approvals/{commit}/{blob}");
    (blob, refname)
}

#[test]
fn flags_are_approved_only_by_another_human_and_records_never_change() {
    let s = server("http");

    // (a) The agent pushes a branch that changes a test file: a flag, not a violation.
    let (agent, c, o) = agent_pushes(&s);
    assert_contains(&all(&o), "tests.changed");
    // post-receive recorded who brought the commit.
    let pushes = s.refs("refs/guard/pushes/");
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0].0, format!("refs/guard/pushes/{c}"));
    let rec = git(&s.bare, &["cat-file", "blob", &pushes[0].1]);
    assert_contains(&rec, "\"pusher\":\"bot\"");

    // (b) The flag is outstanding, read on the server with the hooks' own policy.
    let o = guard_cmd("git-guard", &s.bare)
        .args(["flags", "refs/heads/agent/feature"])
        .output()
        .unwrap();
    let text = stdout_of(&o, 0);
    assert_contains(&text, "[outstanding] tests.changed:tests/t.rs");
    assert_contains(&text, "pushed by bot");
    assert_eq!(s.outstanding(&c), 1);

    // (c) The agent cannot approve its own commit: not as itself...
    let (blob, refname) = record_blob(&agent, &c, "bot", Role::Agent);
    let o = s.push(&agent, "bot", &["origin", &format!("{blob}:{refname}")]);
    assert_fails_with(&o, "approvals.approver");
    // ...nor by writing a human's name into the record: the server knows who pushes.
    let o = s.approve_from(&agent, "bot", "alice", &c, "trust me");
    assert_code(&o, 1);
    assert_contains(&all(&o), "approvals.approver");
    assert_contains(&all(&o), "bot (agent) may not approve");
    // Nothing was recorded, there or here.
    assert!(s.refs("refs/guard/approvals/").is_empty());
    assert!(
        git(&agent, &["for-each-ref", "refs/guard/approvals/"])
            .trim()
            .is_empty()
    );
    assert_eq!(s.outstanding(&c), 1);

    // (d) A human approves from a clone: the record is pushed and the real pre-receive
    // accepts it; the flag is cleared.
    let alice = s.clone("alice");
    let o = s.approve_from(
        &alice,
        "alice",
        "alice",
        "origin/agent/feature",
        "the new assertion is right",
    );
    assert_code(&o, 0);
    assert_contains(&stdout(&o), "pushed to origin");
    let approvals_on_server = s.refs("refs/guard/approvals/");
    assert_eq!(approvals_on_server.len(), 1, "{approvals_on_server:?}");
    let (approval_ref, approval_id) = approvals_on_server[0].clone();
    assert!(approval_ref.starts_with(&format!("refs/guard/approvals/{c}/")));
    assert_eq!(s.outstanding(&c), 0);
    let o = guard_cmd("git-guard", &s.bare)
        .args(["flags", "refs/heads/agent/feature"])
        .output()
        .unwrap();
    assert_contains(&stdout(&o), "git-guard flags: 0 outstanding of 1 flag");
    // The approval did not go through the change rules: no branch of commits was judged, and
    // pushing it recorded no pusher.
    assert_eq!(s.refs("refs/guard/pushes/").len(), 1);

    // (e) Nobody deletes or rewrites a record: not the approver, not an admin.
    let (other, _) = record_blob(&alice, &c, "alice", Role::Human);
    for user in ["alice", "root-admin"] {
        let o = s.push(&alice, user, &["origin", &format!(":{approval_ref}")]);
        assert!(!o.status.success(), "{user}: {}", all(&o));
        assert_contains(&all(&o), "approvals.immutable");
        let o = s.push(
            &alice,
            user,
            &["--force", "origin", &format!("{other}:{approval_ref}")],
        );
        assert!(!o.status.success(), "{user}: {}", all(&o));
        assert_contains(&all(&o), "approvals.immutable");
    }
    // Nor the push records the server writes itself.
    let o = s.push(
        &alice,
        "root-admin",
        &["origin", &format!(":refs/guard/pushes/{c}")],
    );
    assert_fails_with(&o, "approvals.namespace");
    assert_eq!(
        s.refs("refs/guard/approvals/"),
        vec![(approval_ref, approval_id)]
    );
    assert_eq!(s.refs("refs/guard/pushes/").len(), 1);

    // (f) A human who pushed a commit cannot approve it: the server recorded them as its
    // pusher, though bob's clone did not know.
    let bob = s.clone("bob");
    let b = change_test(&bob, "bob/change", "assert_eq!(1, 1); assert_eq!(3, 3);");
    let o = s.push(&bob, "bob", &["origin", "bob/change"]);
    assert_code(&o, 0);
    let o = s.approve_from(&bob, "bob", "bob", &b, "mine is fine");
    assert_code(&o, 1);
    assert_contains(&all(&o), "approvals.self");
    assert_contains(&all(&o), "bob pushed commit");
    assert_eq!(s.outstanding(&b), 1);
    // Nor can bob pass as alice: the record must name whoever pushes it.
    let o = s.approve_from(&bob, "bob", "alice", &b, "as alice");
    assert_code(&o, 1);
    assert_contains(&all(&o), "approvals.identity");
    assert_eq!(s.outstanding(&b), 1);
    // Another human can.
    git(&alice, &["fetch", "-q", "origin"]);
    let o = s.approve_from(&alice, "alice", "alice", &b, "reviewed bob's test");
    assert_code(&o, 0);
    assert_eq!(s.outstanding(&b), 0);
}

#[test]
fn a_push_mixing_a_branch_and_approvals_is_judged_part_by_part() {
    let s = server("http");
    let policy = s.policy.to_str().unwrap();
    let (_, c, _) = agent_pushes(&s);

    // Alice pushes a branch of her own and her approval of the agent's commit in one push.
    let alice = s.clone("alice");
    let o = guard_cmd("git-guard", &alice)
        .args([
            "approve",
            "origin/agent/feature",
            "-m",
            "read it",
            "--as",
            "alice",
            "--no-push",
            "--policy",
            policy,
        ])
        .output()
        .unwrap();
    assert_code(&o, 0);
    let local = git(
        &alice,
        &["for-each-ref", "--format=%(refname)", "refs/guard/"],
    );
    let approval_ref = local.trim().to_string();
    git(&alice, &["switch", "-q", "-c", "docs"]);
    let d = commit_file(&alice, "README.md", "docs\n", "docs");
    let o = s.push(
        &alice,
        "alice",
        &["origin", "docs", &format!("{approval_ref}:{approval_ref}")],
    );
    assert_code(&o, 0);
    assert_eq!(git(&s.bare, &["rev-parse", "refs/heads/docs"]).trim(), d);
    assert_eq!(s.refs("refs/guard/approvals/").len(), 1);
    assert_eq!(s.outstanding(&c), 0);
    // The branch's commit got its pusher; the approval ref none.
    let pushes: Vec<String> = s
        .refs("refs/guard/pushes/")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(pushes, {
        let mut v = vec![
            format!("refs/guard/pushes/{c}"),
            format!("refs/guard/pushes/{d}"),
        ];
        v.sort();
        v
    });

    // A commit and its approval in one push is the pusher approving their own change: the
    // whole push is refused, the branch included. The approval's blob and the commit sit in
    // the quarantine, which is what the hook reads.
    let n = change_test(&alice, "alice/test", "assert_eq!(1, 1); assert_eq!(4, 4);");
    let (blob, refname) = record_blob(&alice, &n, "alice", Role::Human);
    let before = git(&s.bare, &["for-each-ref"]);
    let o = s.push(
        &alice,
        "alice",
        &["origin", "alice/test", &format!("{blob}:{refname}")],
    );
    assert_fails_with(&o, "approvals.self");
    assert_eq!(git(&s.bare, &["for-each-ref"]), before);
    let o = git_out(&s.bare, &["cat-file", "-e", &blob]);
    assert!(!o.status.success(), "the refused record must not land");

    // Pushed alone first (bob pushes it), alice's approval then lands in a push of its own.
    let o = s.push(&alice, "bob", &["origin", "alice/test"]);
    assert_code(&o, 0);
    let o = s.push(&alice, "alice", &["origin", &format!("{blob}:{refname}")]);
    assert_code(&o, 0);
    assert_eq!(s.outstanding(&n), 0);
}

#[test]
fn approve_on_the_server_uses_the_installed_host_and_policy() {
    let s = server("gitolite");
    let (_, c, _) = agent_pushes(&s);

    // The identity is the installed host's variable; without it nobody is named.
    let o = guard_cmd("git-guard", &s.bare)
        .args(["approve", &c, "-m", "ok"])
        .output()
        .unwrap();
    assert_code(&o, 2);
    assert_contains(&all(&o), "GL_USER is not set");
    // --as is the server's to decide, never the caller's.
    let o = s.approve(&s.bare, "alice", &c, "ok", &["--as", "bob"]);
    assert_code(&o, 2);
    // Another policy than the hooks' is refused.
    let other = s.dir.join("other.toml");
    std::fs::write(&other, "[actors]\nhumans = [\"bot\"]\n").unwrap();
    let o = s.approve(
        &s.bare,
        "bot",
        &c,
        "ok",
        &["--policy", other.to_str().unwrap()],
    );
    assert_code(&o, 2);
    assert_contains(
        &all(&o),
        "the server hooks of this repository use the policy",
    );
    // The agent is an agent under the hooks' policy; its pusher record stands too.
    let o = s.approve(&s.bare, "bot", &c, "ok", &[]);
    assert_code(&o, 1);
    assert_contains(&all(&o), "approvals.approver");
    assert!(s.refs("refs/guard/approvals/").is_empty());

    // A human named by GL_USER approves on the server, with the hooks' policy (the same file
    // given explicitly is accepted too).
    let o = s.approve(
        &s.bare,
        "alice",
        &c,
        "reviewed on the server",
        &["--policy", s.policy.to_str().unwrap()],
    );
    assert_code(&o, 0);
    assert_contains(&stdout(&o), "as alice (human)");
    assert_eq!(s.outstanding(&c), 0);
    let listed = guard_cmd("git-guard", &s.bare)
        .args(["approvals", &c])
        .output()
        .unwrap();
    assert_contains(&stdout(&listed), "alice");
}

/// `n` commits on a new branch of `work` made with `git fast-import`, each rewriting one line of
/// `counter.txt`; commit number `flagged` also changes the test file. Returns every new commit
/// id (newest first) and the flagged one.
fn many_commits(work: &Path, branch: &str, n: usize, flagged: usize) -> (Vec<String>, String) {
    let base = git(work, &["rev-parse", "HEAD"]).trim().to_string();
    let mut script = String::new();
    for i in 0..n {
        script.push_str(&format!(
            "commit refs/heads/{branch}\nmark :{}\ncommitter B <b@example.com> {} +0000\ndata 9\nchange {}\n",
            i + 1,
            1_767_225_600 + i,
            i % 10
        ));
        if i == 0 {
            script.push_str(&format!("from {base}\n"));
        }
        let body = format!("{i}\n");
        script.push_str(&format!(
            "M 100644 inline counter.txt\ndata {}\n{body}\n",
            body.len()
        ));
        if i == flagged {
            let test = "#[test]\nfn t() { assert_eq!(1, 1); assert_eq!(5, 5); }\n";
            script.push_str(&format!(
                "M 100644 inline tests/t.rs\ndata {}\n{test}\n",
                test.len()
            ));
        }
        script.push('\n');
    }
    script.push_str(&format!("get-mark :{}\n", flagged + 1));
    let out = run_with_input(
        git_cmd(work).args(["fast-import", "--quiet"]),
        script.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let flagged_id = stdout(&out).trim().to_string();
    let ids: Vec<String> = git(work, &["rev-list", branch, "--not", &base])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), n);
    (ids, flagged_id)
}

#[test]
fn a_push_of_many_commits_is_one_push_record_and_its_pusher_still_may_not_approve() {
    let s = server("http");
    let policy = s.policy.to_str().unwrap();
    let bob = s.clone("bob");
    let (ids, middle) = many_commits(&bob, "bob/many", 400, 200);
    let o = s.push(&bob, "bob", &["origin", "bob/many"]);
    assert_code(&o, 0);
    assert_contains(&all(&o), "tests.changed");

    // One ref for the whole update, named after its new tip, listing every commit it brought.
    let pushes = s.refs("refs/guard/pushes/");
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0].0, format!("refs/guard/pushes/{}", ids[0]));
    let text = git(&s.bare, &["cat-file", "blob", &pushes[0].1]);
    let rec: approvals::PushRecord = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (rec.pusher.as_str(), rec.refname.as_str(), rec.tip.as_str()),
        ("bob", "refs/heads/bob/many", ids[0].as_str())
    );
    let mut listed = rec.commits.clone();
    listed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(listed, expected);
    let repo = gix::open(&s.bare).unwrap();
    let mid = ObjectId::from_hex(middle.as_bytes()).unwrap();
    let found = approvals::pusher_of(&repo, mid).unwrap().unwrap();
    assert_eq!(
        (found.pusher.as_str(), found.record.as_str()),
        ("bob", pushes[0].0.as_str())
    );
    assert_eq!(s.outstanding(&middle), 1);

    // Bob may not approve the commit in the middle of his push: not from his clone (the
    // server refuses the record) ...
    let o = s.approve_from(&bob, "bob", "bob", &middle, "mine");
    assert_code(&o, 1);
    assert_contains(&all(&o), "approvals.self");
    assert_contains(&all(&o), "bob pushed commit");
    // ... nor on the server itself.
    let o = s.approve(&s.bare, "bob", &middle, "mine", &["--policy", policy]);
    assert_code(&o, 1);
    assert_contains(&all(&o), "approvals.self");
    assert!(s.refs("refs/guard/approvals/").is_empty());
    assert_eq!(s.outstanding(&middle), 1);

    // Alice, who pushed none of it, may; pushing her approval records no pusher.
    let alice = s.clone("alice");
    let o = s.approve_from(
        &alice,
        "alice",
        "alice",
        &middle,
        "reviewed the test change",
    );
    assert_code(&o, 0);
    assert_eq!(s.outstanding(&middle), 0);
    assert_eq!(s.refs("refs/guard/pushes/").len(), 1);

    // A later push bringing more commits on top adds one record, for those commits only; the
    // earlier ones keep their first pusher.
    git(&alice, &["fetch", "-q", "origin"]);
    git(
        &alice,
        &["switch", "-q", "-c", "alice/more", "origin/bob/many"],
    );
    let top = commit_file(&alice, "counter.txt", "more\n", "one more");
    let o = s.push(&alice, "alice", &["origin", "alice/more"]);
    assert_code(&o, 0);
    let pushes = s.refs("refs/guard/pushes/");
    assert_eq!(pushes.len(), 2, "{pushes:?}");
    let text = git(
        &s.bare,
        &["cat-file", "blob", &format!("refs/guard/pushes/{top}")],
    );
    let rec: approvals::PushRecord = serde_json::from_str(&text).unwrap();
    assert_eq!((rec.pusher.as_str(), rec.commits), ("alice", vec![top]));
    let found = approvals::pusher_of(&repo, mid).unwrap().unwrap();
    assert_eq!(found.pusher, "bob");
}

/// A reviewer's fresh clone has `agent/feature` only as `refs/remotes/origin/agent/feature`
/// and none of the server's `refs/guard/*`: `git guard report agent/feature` used to fail to
/// resolve the branch, and without the records it showed the flag outstanding and no pusher.
#[test]
fn report_in_a_fresh_clone_resolves_the_remote_branch_and_fetches_the_records() {
    let s = server("http");
    let (_agent, c, _) = agent_pushes(&s);
    let alice = s.clone("alice");
    let o = s.approve_from(&alice, "alice", "alice", &c, "the new assertion is right");
    assert_code(&o, 0);

    let carol = s.clone("carol");
    assert!(!has_ref(&carol, "refs/heads/agent/feature"));
    let policy = s.policy.to_str().unwrap();
    let o = guard_cmd("git-guard", &carol)
        .args(["report", "agent/feature", "--policy", policy])
        .output()
        .unwrap();
    let md = stdout_of(&o, 0);
    assert_contains(&md, "pushed by bot");
    assert_contains(
        &md,
        "tests.changed:tests/t.rs`: test file tests/t.rs modified (`/tests/`) — approved (",
    );
    assert_contains(&md, &format!("of `{}` by alice", &c[..12]));
    assert!(!md.contains("**outstanding**"), "{md}");
    assert_contains(&stderr(&o), "origin/agent/feature");
    assert!(has_ref(&carol, &format!("refs/guard/pushes/{c}")));

    // No server to fetch from: the report of what is here, and the command that would fetch.
    std::fs::rename(&s.bare, s.dir.join("moved.git")).unwrap();
    let dave = s.dir.join("dave");
    std::fs::rename(&carol, &dave).unwrap();
    git(
        &dave,
        &["update-ref", "-d", &format!("refs/guard/pushes/{c}")],
    );
    let o = guard_cmd("git-guard", &dave)
        .args(["report", "agent/feature", "--policy", policy])
        .output()
        .unwrap();
    stdout_of(&o, 0);
    assert_contains(&stderr(&o), "git fetch origin '+refs/guard/*:refs/guard/*'");
}

//! Approvals: records bound to a commit and its tree, the receive-time judgement of the
//! approvals namespace, push records, signatures with real ssh-keygen keys, and the
//! `git guard approve / revoke / approvals / flags / test` commands run for real.

mod support;

use std::path::{Path, PathBuf};

use git_guard::approvals::{self, Record, RecordKind, Status};
use git_guard::engine::changes::RefUpdate;
use git_guard::engine::identity::Actor;
use git_guard::engine::policy::{Policy, PolicySource, Role};
use git_guard::engine::verdict::Severity;
use gix::ObjectId;
use support::git::*;
use support::server::install_server;

const ACTORS: &str =
    "[actors]\nhumans = [\"alice\", \"bob\"]\nadmins = [\"root-admin\"]\nagents = [\"bot\"]\n";

fn policy(extra: &str) -> Policy {
    Policy::parse(&format!("{ACTORS}{extra}"), PolicySource::Builtin).unwrap()
}

fn actor(name: &str, p: &Policy) -> Actor {
    Actor::new(name, "test", p)
}

/// A work repository with two commits and a bare server holding them.
struct Fixture {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    server: PathBuf,
    commit: ObjectId,
    tree: ObjectId,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let server = tmp.path().join("server.git");
    let work = repo_at(tmp.path(), "work");
    commit_file(&work, "src/lib.rs", "pub fn f() -> u32 { 1 }\n", "base");
    write(
        &work,
        "tests/t.rs",
        "#[test]\nfn t() { assert_eq!(1, 1); }\n",
    );
    let c = commit_all(&work, "add a test");
    init_bare(&server);
    git(&work, &["push", "-q", server.to_str().unwrap(), "main"]);
    let tree = git(&work, &["rev-parse", "HEAD^{tree}"]);
    Fixture {
        work,
        server,
        commit: ObjectId::from_hex(c.as_bytes()).unwrap(),
        tree: ObjectId::from_hex(tree.trim().as_bytes()).unwrap(),
        _tmp: tmp,
    }
}

/// The fixture, its server opened, and the policy with no more than the actors.
fn server_fixture() -> (Fixture, gix::Repository, Policy) {
    let f = fixture();
    let repo = gix::open(&f.server).unwrap();
    (f, repo, policy(""))
}

fn record(f: &Fixture, approver: &str, role: Role) -> Record {
    Record {
        version: 1,
        kind: RecordKind::Approve,
        commit: f.commit.to_string(),
        tree: f.tree.to_string(),
        flags: vec!["tests.changed:tests/t.rs".into()],
        revokes: None,
        approver: approver.into(),
        role,
        source: "test".into(),
        host: "test".into(),
        at: approvals::rfc3339(1_767_225_600),
        at_unix: 1_767_225_600,
        why: "read the test".into(),
        pusher: None,
    }
}

/// Write a record blob (optionally followed by a signature) into `repo`; the ref update that
/// would create its approval ref.
fn blob_update(repo: &gix::Repository, commit: ObjectId, data: &[u8]) -> RefUpdate {
    let id = repo.write_blob(data).unwrap().detach();
    RefUpdate {
        old: ObjectId::null(gix::hash::Kind::Sha1),
        new: id,
        name: format!("refs/guard/approvals/{commit}/{id}"),
    }
}

/// An approval of the fixture's commit by `approver`, written as a blob, as a push would bring it.
fn approval_update(repo: &gix::Repository, f: &Fixture, approver: &str, role: Role) -> RefUpdate {
    blob_update(
        repo,
        f.commit,
        &record(f, approver, role).payload().unwrap(),
    )
}

fn rules(findings: &[git_guard::engine::verdict::Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Violation)
        .map(|f| f.rule.clone())
        .collect()
}

/// The violations the approvals judge finds in `u`, pushed by `who`.
fn judge(repo: &gix::Repository, p: &Policy, who: &Actor, u: &RefUpdate) -> Vec<String> {
    rules(&approvals::judge_ref_update(repo, p, who, u))
}

/// The id of `rev` in `dir`.
fn oid(dir: &Path, rev: &str) -> ObjectId {
    ObjectId::from_hex(git(dir, &["rev-parse", rev]).trim().as_bytes()).unwrap()
}

#[test]
fn only_approvers_create_well_formed_records_for_the_commit_and_tree() {
    let (f, repo, p) = server_fixture();

    // A valid record, pushed by the approver it names.
    let ok = approval_update(&repo, &f, "alice", Role::Human);
    let found = approvals::judge_ref_update(&repo, &p, &actor("alice", &p), &ok);
    assert!(rules(&found).is_empty(), "{found:?}");
    assert!(
        found.iter().any(|f| f.rule == "approvals.recorded"),
        "{found:?}"
    );

    // An agent may never approve, whatever the record says.
    let found = approvals::judge_ref_update(&repo, &p, &actor("bot", &p), &ok);
    assert_eq!(rules(&found), ["approvals.approver"]);
    // Nor may an identity the policy does not list (default role: agent).
    let found = approvals::judge_ref_update(&repo, &p, &actor("mallory", &p), &ok);
    assert_eq!(rules(&found), ["approvals.approver"]);

    // The approver named in the record must be the one pushing it.
    let found = approvals::judge_ref_update(&repo, &p, &actor("bob", &p), &ok);
    assert_eq!(rules(&found), ["approvals.identity"]);

    // Bound to the tree: a record for another tree of the same commit is refused.
    let mut other = record(&f, "alice", Role::Human);
    other.tree = "0123456789012345678901234567890123456789".into();
    let u = blob_update(&repo, f.commit, &other.payload().unwrap());
    let found = approvals::judge_ref_update(&repo, &p, &actor("alice", &p), &u);
    assert_eq!(rules(&found), ["approvals.record"]);
    assert!(found[0].message.contains("has tree"), "{found:?}");

    // Stored under another commit than the one it names.
    let base = oid(&f.work, "HEAD~1");
    let mut u = ok.clone();
    u.name = format!("refs/guard/approvals/{base}/{}", ok.new);
    let found = approvals::judge_ref_update(&repo, &p, &actor("alice", &p), &u);
    assert_eq!(rules(&found), ["approvals.record"]);

    // The ref name must end with the record's own id.
    let mut u = ok.clone();
    u.name = format!("refs/guard/approvals/{}/deadbeef", f.commit);
    let found = approvals::judge_ref_update(&repo, &p, &actor("alice", &p), &u);
    assert_eq!(rules(&found), ["approvals.record"]);

    // Something that is not a record at all.
    let junk = blob_update(&repo, f.commit, b"approved!\n");
    let found = approvals::judge_ref_update(&repo, &p, &actor("alice", &p), &junk);
    assert_eq!(rules(&found), ["approvals.record"]);

    // A record for a commit the server does not have.
    let mut missing = record(&f, "alice", Role::Human);
    let absent = ObjectId::from_hex(b"1111111111111111111111111111111111111111").unwrap();
    missing.commit = absent.to_string();
    let u = blob_update(&repo, absent, &missing.payload().unwrap());
    let found = approvals::judge_ref_update(&repo, &p, &actor("alice", &p), &u);
    assert_eq!(rules(&found), ["approvals.record"]);
    assert!(
        found[0].message.contains("not in the repository"),
        "{found:?}"
    );
}

#[test]
fn nobody_rewrites_or_deletes_records_or_touches_server_refs() {
    let (f, repo, p) = server_fixture();
    let ok = approval_update(&repo, &f, "alice", Role::Human);
    let admin = actor("root-admin", &p);
    assert_eq!(admin.role, Role::Admin);

    let delete = RefUpdate {
        old: ok.new,
        new: ObjectId::null(gix::hash::Kind::Sha1),
        name: ok.name.clone(),
    };
    assert_eq!(judge(&repo, &p, &admin, &delete), ["approvals.immutable"]);
    let rewrite = RefUpdate {
        old: ok.new,
        new: f.commit,
        name: ok.name.clone(),
    };
    assert_eq!(judge(&repo, &p, &admin, &rewrite), ["approvals.immutable"]);
    for name in [
        format!("refs/guard/pushes/{}", f.commit),
        format!("refs/guard/tests/{}", f.tree),
        "refs/guard/other".to_string(),
    ] {
        let u = RefUpdate {
            old: ObjectId::null(gix::hash::Kind::Sha1),
            new: ok.new,
            name,
        };
        assert_eq!(judge(&repo, &p, &admin, &u), ["approvals.namespace"]);
    }
    // Refs outside the namespace are not this judge's business.
    let u = RefUpdate {
        old: ObjectId::null(gix::hash::Kind::Sha1),
        new: f.commit,
        name: "refs/heads/agent/x".into(),
    };
    assert!(approvals::judge_ref_update(&repo, &p, &admin, &u).is_empty());
}

#[test]
fn the_pusher_of_a_commit_may_not_approve_it() {
    let (f, repo, p) = server_fixture();
    let update = RefUpdate {
        old: ObjectId::null(gix::hash::Kind::Sha1),
        new: f.commit,
        name: "refs/heads/main".into(),
    };
    approvals::record_push(&repo, &actor("alice", &p), &update, &[f.commit]).unwrap();
    // The first push is the one that brought the commit: a later one does not replace it.
    approvals::record_push(&repo, &actor("bob", &p), &update, &[f.commit]).unwrap();
    let rec = approvals::pusher_of(&repo, f.commit).unwrap().unwrap();
    assert_eq!(
        (rec.pusher.as_str(), rec.refname.as_str()),
        ("alice", "refs/heads/main")
    );
    // The record is a ref of the repository, visible to git itself.
    let shown = git(
        &f.server,
        &["cat-file", "-p", &format!("refs/guard/pushes/{}", f.commit)],
    );
    assert_contains(&shown, "\"pusher\":\"alice\"");

    let own = approval_update(&repo, &f, "alice", Role::Human);
    let found = approvals::judge_ref_update(&repo, &p, &actor("alice", &p), &own);
    assert_eq!(rules(&found), ["approvals.self"]);
    let theirs = approval_update(&repo, &f, "bob", Role::Human);
    assert!(judge(&repo, &p, &actor("bob", &p), &theirs).is_empty());

    let lax = policy("[approvals]\nallow_self_approval = true\n");
    assert!(judge(&repo, &lax, &actor("alice", &lax), &own).is_empty());
}

#[test]
fn one_push_record_per_update_and_the_oldest_naming_a_commit_wins() {
    let (f, repo, p) = server_fixture();
    let base = oid(&f.work, "HEAD~1");
    let zero = ObjectId::null(gix::hash::Kind::Sha1);
    let main = RefUpdate {
        old: zero,
        new: f.commit,
        name: "refs/heads/main".into(),
    };
    // An update that brought nothing new writes nothing.
    assert_eq!(
        approvals::record_push(&repo, &actor("alice", &p), &main, &[]).unwrap(),
        None
    );
    assert!(approvals::pusher_of(&repo, base).unwrap().is_none());
    // Both commits of alice's push go into one record, named after the new tip.
    let written = approvals::record_push(&repo, &actor("alice", &p), &main, &[f.commit, base])
        .unwrap()
        .unwrap();
    assert_eq!(written, format!("refs/guard/pushes/{}", f.commit));
    for c in [f.commit, base] {
        let found = approvals::pusher_of(&repo, c).unwrap().unwrap();
        assert_eq!(
            (found.pusher.as_str(), found.record.as_str()),
            ("alice", written.as_str())
        );
    }
    // A later record naming a commit again (its branch was deleted and pushed anew) does not
    // change who pushed it first.
    let other = RefUpdate {
        old: zero,
        new: base,
        name: "refs/heads/other".into(),
    };
    let later = approvals::record_push(&repo, &actor("bob", &p), &other, &[base])
        .unwrap()
        .unwrap();
    assert_eq!(
        approvals::pusher_of(&repo, base).unwrap().unwrap().pusher,
        "alice"
    );
    assert_eq!(
        git(
            &f.server,
            &["for-each-ref", "--format=%(refname)", "refs/guard/pushes/"]
        )
        .lines()
        .collect::<Vec<_>>(),
        {
            let mut v = vec![written.as_str(), later.as_str()];
            v.sort();
            v
        }
    );
    // A record written after the log was read is seen by the next question.
    let d = commit_file(&f.work, "src/lib.rs", "pub fn f() -> u32 { 2 }\n", "two");
    git(&f.work, &["push", "-q", f.server.to_str().unwrap(), "main"]);
    let d = ObjectId::from_hex(d.as_bytes()).unwrap();
    assert!(approvals::pusher_of(&repo, d).unwrap().is_none());
    let next = RefUpdate {
        old: f.commit,
        new: d,
        name: "refs/heads/main".into(),
    };
    approvals::record_push(&repo, &actor("bob", &p), &next, &[d]).unwrap();
    assert_eq!(
        approvals::pusher_of(&repo, d).unwrap().unwrap().pusher,
        "bob"
    );
    // A damaged record fails the question closed, naming the record.
    let junk = f.server.join("junk");
    std::fs::write(&junk, "not a record\n").unwrap();
    let blob = git(&f.server, &["hash-object", "-w", junk.to_str().unwrap()]);
    git(
        &f.server,
        &["update-ref", "refs/guard/pushes/junk", blob.trim()],
    );
    let err = approvals::pusher_of(&repo, d).unwrap_err();
    assert!(
        format!("{err:#}").contains("refs/guard/pushes/junk is not a push record"),
        "{err:#}"
    );
}

#[test]
fn listing_rechecks_every_approval_under_the_current_policy() {
    let (f, repo, p) = server_fixture();
    let a = approval_update(&repo, &f, "alice", Role::Human);
    approvals::create_ref(&repo, &a.name, a.new).unwrap();
    let valid = approvals::valid_approvals(&repo, &p, f.commit, f.tree).unwrap();
    assert_eq!(valid.len(), 1);
    // Another tree: the approval does not count for it.
    assert!(
        approvals::valid_approvals(&repo, &p, f.commit, f.commit)
            .unwrap()
            .is_empty()
    );

    // Alice is no longer an approver: her approval stops counting, and the listing says why.
    let demoted = Policy::parse("[actors]\nhumans = [\"bob\"]\n", PolicySource::Builtin).unwrap();
    let listed = approvals::list_for_commit(&repo, &demoted, f.commit).unwrap();
    assert!(
        matches!(&listed[0].status, Status::Invalid(why) if why.contains("not an approver")),
        "{:?}",
        listed[0].status
    );

    // A revocation is honoured.
    let mut rev = record(&f, "bob", Role::Human);
    rev.kind = RecordKind::Revoke;
    rev.revokes = Some(a.new.to_string());
    rev.at_unix += 1;
    let r = blob_update(&repo, f.commit, &rev.payload().unwrap());
    assert!(judge(&repo, &p, &actor("bob", &p), &r).is_empty());
    approvals::create_ref(&repo, &r.name, r.new).unwrap();
    let listed = approvals::list_for_commit(&repo, &p, f.commit).unwrap();
    assert!(
        matches!(&listed[0].status, Status::Revoked(why) if why.contains("bob")),
        "{listed:?}"
    );
    assert!(
        approvals::valid_approvals(&repo, &p, f.commit, f.tree)
            .unwrap()
            .is_empty()
    );

    // A revocation must name an approval the commit has.
    let mut bad = rev.clone();
    bad.revokes = Some("2222222222222222222222222222222222222222".into());
    let u = blob_update(&repo, f.commit, &bad.payload().unwrap());
    assert_eq!(
        judge(&repo, &p, &actor("bob", &p), &u),
        ["approvals.record"]
    );
}

#[test]
fn signatures_are_verified_against_allowed_signers_when_required() {
    if !support::ssh_keygen_is_there() {
        return;
    }
    let f = fixture();
    let keys = tempfile::tempdir().unwrap();
    let (alice_key, alice_pub) = support::keygen(keys.path(), "alice");
    let (mallory_key, _) = support::keygen(keys.path(), "mallory");
    let signers = keys.path().join("allowed_signers");
    std::fs::write(&signers, format!("alice {alice_pub}\n")).unwrap();
    let p = policy(&format!(
        "[approvals]\nrequire_signature = true\nallowed_signers = {:?}\n",
        signers.display().to_string()
    ));
    let repo = gix::open(&f.server).unwrap();
    let alice = actor("alice", &p);
    let rec = record(&f, "alice", Role::Human);
    let payload = rec.payload().unwrap();

    // Unsigned: refused when the policy requires signatures.
    let u = blob_update(&repo, f.commit, &payload);
    let found = approvals::judge_ref_update(&repo, &p, &alice, &u);
    assert_eq!(rules(&found), ["approvals.signature"]);
    assert!(found[0].message.contains("not signed"), "{found:?}");

    // Signed with alice's key: accepted.
    let sig = approvals::sign(&alice_key, &payload).unwrap();
    let mut blob = payload.clone();
    blob.extend_from_slice(sig.as_bytes());
    let good = blob_update(&repo, f.commit, &blob);
    let found = approvals::judge_ref_update(&repo, &p, &alice, &good);
    assert!(rules(&found).is_empty(), "{found:?}");
    assert!(found[0].message.contains("(signed)"), "{found:?}");

    // Signed by someone else's key in alice's name: refused.
    let forged_sig = approvals::sign(&mallory_key, &payload).unwrap();
    let mut forged = payload.clone();
    forged.extend_from_slice(forged_sig.as_bytes());
    let u = blob_update(&repo, f.commit, &forged);
    let found = approvals::judge_ref_update(&repo, &p, &alice, &u);
    assert_eq!(rules(&found), ["approvals.signature"]);
    assert!(found[0].message.contains("bad signature"), "{found:?}");

    // Alice's signature moved onto another record (another reason): refused.
    let mut other = rec.clone();
    other.why = "something else".into();
    let mut moved = other.payload().unwrap();
    moved.extend_from_slice(sig.as_bytes());
    let u = blob_update(&repo, f.commit, &moved);
    assert_eq!(judge(&repo, &p, &alice, &u), ["approvals.signature"]);

    // A bad signature is refused even when signatures are optional.
    let optional = policy(&format!(
        "[approvals]\nallowed_signers = {:?}\n",
        signers.display().to_string()
    ));
    let u = blob_update(&repo, f.commit, &forged);
    assert_eq!(
        judge(&repo, &optional, &actor("alice", &optional), &u),
        ["approvals.signature"]
    );

    // At read time too: a stored signed approval counts, an unsigned one does not.
    approvals::create_ref(&repo, &good.name, good.new).unwrap();
    let unsigned = blob_update(&repo, f.commit, &payload);
    approvals::create_ref(&repo, &unsigned.name, unsigned.new).unwrap();
    let listed = approvals::list_for_commit(&repo, &p, f.commit).unwrap();
    let status = |id: ObjectId| {
        listed
            .iter()
            .find(|l| l.stored.id == id)
            .unwrap()
            .status
            .clone()
    };
    assert_eq!(status(good.new), Status::Valid);
    assert!(matches!(status(unsigned.new), Status::Invalid(why) if why.contains("not signed")));
}

/// The test command runs in a clean checkout of exactly the commit, and its result is recorded
/// for the tree.
#[test]
fn git_guard_test_runs_in_a_clean_checkout_and_records_the_result() {
    let f = fixture();
    let policy_file = f.work.parent().unwrap().join("policy.toml");
    std::fs::write(
        &policy_file,
        "[tests]\ncommand = \"test -f tests/t.rs && test ! -e untracked.txt && echo checked-out-ok\"\ntimeout_secs = 60\n",
    )
    .unwrap();
    // Local state the clean checkout must not see.
    write(&f.work, "untracked.txt", "x");
    let out = guard(&f.work, &policy_file, &["test", "HEAD"]);
    let text = stdout_of(&out, 0);
    assert_contains(&text, "checked-out-ok");
    assert_contains(&text, "git-guard test: passed");

    let repo = gix::open(&f.work).unwrap();
    let run = git_guard::contain::testrun::recorded_pass(&repo, f.tree)
        .unwrap()
        .unwrap();
    assert_eq!(run.commit, f.commit.to_string());
    assert_eq!(run.exit_code, Some(0));
    assert!(run.output_tail.contains("checked-out-ok"));
    // The record is a ref git itself sees.
    let shown = git(
        &f.work,
        &["cat-file", "-p", &format!("refs/guard/tests/{}", f.tree)],
    );
    assert_contains(&shown, "\"passed\":true");

    // A failing run replaces it, and is no recorded pass.
    std::fs::write(
        &policy_file,
        "[tests]\ncommand = \"echo boom >&2; exit 3\"\n",
    )
    .unwrap();
    let out = guard(&f.work, &policy_file, &["test"]);
    assert_code(&out, 1);
    assert_contains(&stdout(&out), "failed (exit 3)");
    assert!(
        git_guard::contain::testrun::recorded_pass(&repo, f.tree)
            .unwrap()
            .is_none()
    );
    let last = git_guard::contain::testrun::recorded(&repo, f.tree)
        .unwrap()
        .unwrap();
    assert!(last.output_tail.contains("boom"));

    // No test command: could not judge.
    std::fs::write(&policy_file, "").unwrap();
    let out = guard(&f.work, &policy_file, &["test"]);
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&stderr(&out), "tests.command");
}

#[test]
fn a_test_over_its_time_limit_is_killed_with_everything_it_started() {
    let f = fixture();
    let repo = gix::open(&f.work).unwrap();
    let marker = f.work.parent().unwrap().join("child.pid");
    // The command leaves a grandchild behind; the time limit must take it down too.
    let cmd = format!("sleep 300 & echo $! > {}; wait", marker.display());
    // Uncontained (the policy's explicit choice), so the marker can be written outside the
    // checkout; tests/contain.rs shows the same of a contained run.
    let none = policy("[tests]\nisolation = \"none\"\n");
    let run = git_guard::contain::testrun::run(
        &repo,
        &none,
        "HEAD",
        &cmd,
        std::time::Duration::from_secs(1),
        "t",
    )
    .unwrap();
    assert!(run.timed_out && !run.passed, "{run:?}");
    assert_eq!(run.exit_code, None);
    let pid: i32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SIGKILL is delivered when the process is next scheduled: give it that chance.
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.split_whitespace().nth(2) != Some("Z"))
            .unwrap_or(false)
    };
    for _ in 0..100 {
        if !alive() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !alive(),
        "the test's background process {pid} survived the time limit"
    );
}

/// A clone whose `origin` is a bare server, with a policy file naming the people, and an agent
/// branch whose one commit changes a test file and a protected path.
struct CloneFixture {
    _tmp: tempfile::TempDir,
    clone: PathBuf,
    server: PathBuf,
    policy: PathBuf,
    commit: String,
}

fn clone_fixture() -> CloneFixture {
    let (tmp, policy) = tmp_with_policy(ACTORS);
    let seed = repo_at(tmp.path(), "seed");
    commit_lib_and_test(
        &seed,
        "pub fn f() -> u32 { 1 }\n",
        "#[test]\nfn t() { assert_eq!(super::f(), 1); }\n",
        "base",
    );
    let server = clone_bare(tmp.path(), &seed, "server.git");
    let clone = clone(tmp.path(), &server, "clone");
    git(&clone, &["checkout", "-q", "-b", "agent/x"]);
    write(
        &clone,
        "tests/t.rs",
        "#[test]\nfn t() { assert_eq!(super::f(), 2); }\n",
    );
    write(&clone, "Dockerfile", "FROM scratch\n");
    write(&clone, "src/lib.rs", "pub fn f() -> u32 { 2 }\n");
    let commit = commit_all(&clone, "Return 2 from f\n\nThe caller needs 2.");
    git(&clone, &["push", "-q", "origin", "agent/x"]);
    CloneFixture {
        _tmp: tmp,
        clone,
        server,
        policy,
        commit,
    }
}

impl CloneFixture {
    /// `git guard ARGS -m WHY --as WHO` in the clone, with the fixture's policy.
    fn decide(&self, args: &[&str], why: &str, who: &str) -> std::process::Output {
        let mut all = args.to_vec();
        all.extend_from_slice(&["-m", why, "--as", who]);
        guard(&self.clone, &self.policy, &all)
    }

    /// An approval of the clone's HEAD, of every flag.
    fn approve(&self, why: &str, who: &str) -> std::process::Output {
        self.decide(&["approve", "HEAD"], why, who)
    }

    /// An approval of one flag of the clone's HEAD.
    fn approve_flag(&self, flag: &str, why: &str, who: &str) -> std::process::Output {
        self.decide(&["approve", "HEAD", "--flag", flag], why, who)
    }

    /// What `git guard flags` says in the clone.
    fn flags(&self) -> String {
        stdout(&guard(&self.clone, &self.policy, &["flags"]))
    }
}

fn guard(dir: &Path, policy: &Path, args: &[&str]) -> std::process::Output {
    guard_cmd("git-guard", dir)
        .args(args)
        .arg("--policy")
        .arg(policy)
        .output()
        .unwrap()
}

#[test]
fn flags_are_cleared_by_approvals_from_a_clone_and_bound_to_the_commit() {
    let f = clone_fixture();
    let short = &f.commit[..12];

    let out = guard(&f.clone, &f.policy, &["flags"]);
    let text = stdout_of(&out, 0);
    assert_contains(&text, &format!("{short} Return 2 from f (3 files, +3 -2"));
    assert_contains(&text, "[outstanding] paths.protected:Dockerfile");
    assert_contains(&text, "[outstanding] tests.changed:tests/t.rs");
    assert_contains(&text, "3 outstanding of 3 flags in 1 commit");

    // An agent identity never approves.
    let out = f.approve("fine", "bot");
    assert_code(&out, 1);
    assert_contains(&stdout(&out), "REFUSED: approvals.approver");
    // A flag the commit does not have.
    let out = f.approve_flag("tests.changed:nope", "x", "alice");
    assert_code(&out, 2);
    assert_contains(&stderr(&out), "has no flag");

    // One flag, then the rest.
    let out = f.approve_flag("paths.protected:Dockerfile", "base image is fine", "alice");
    let text = stdout_of(&out, 0);
    assert!(
        text.contains("who pushed"),
        "the pusher is unknown here and it says so: {text}"
    );
    assert_contains(&text, "pushed to origin");
    let text = f.flags();
    assert_contains(&text, "2 outstanding of 3 flags");
    assert_contains(&text, "[approved by");
    let out = f.approve("test change matches the new behaviour", "alice");
    assert_code(&out, 0);
    assert_contains(&stdout(&out), "approved tests.changed:tests/t.rs");
    let text = f.flags();
    assert_contains(&text, "0 outstanding of 3 flags");

    // The records travelled to the server, which now says the same.
    let refs = git(
        &f.server,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/guard/approvals/",
        ],
    );
    assert_eq!(refs.lines().count(), 2, "{refs}");
    assert!(
        refs.lines()
            .all(|r| r.starts_with(&format!("refs/guard/approvals/{}/", f.commit)))
    );
    let server = gix::open(&f.server).unwrap();
    let p = Policy::load(&f.policy).unwrap();
    let id = ObjectId::from_hex(f.commit.as_bytes()).unwrap();
    assert!(
        approvals::unapproved_flags(&server, &p, id)
            .unwrap()
            .is_empty()
    );
    let out = guard(&f.server, &f.policy, &["approvals", &f.commit]);
    assert_contains(&stdout(&out), "2 records");
    assert_contains(&stdout(&out), "by alice");

    // Amending makes a new commit (same tree): it needs its own approval.
    git(
        &f.clone,
        &[
            "commit",
            "-q",
            "--amend",
            "--no-verify",
            "-m",
            "Return 2 from f (amended)",
        ],
    );
    let text = f.flags();
    assert_contains(&text, "3 outstanding of 3 flags");

    // Revoking brings the flags of the original commit back.
    let out = f.decide(&["revoke", &f.commit], "on second thought", "bob");
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out).matches("revoked approval").count(),
        2,
        "{}",
        stdout(&out)
    );
    assert_eq!(
        approvals::unapproved_flags(&server, &p, id).unwrap().len(),
        3
    );
    let out = guard(&f.server, &f.policy, &["approvals", &f.commit]);
    assert_contains(&stdout(&out), "revoked by bob");
}

#[test]
fn approving_on_the_server_writes_the_record_as_the_server_identity() {
    let f = clone_fixture();
    let p = Policy::load(&f.policy).unwrap();
    let id = ObjectId::from_hex(f.commit.as_bytes()).unwrap();
    // --as is refused on the server: the identity there is the host's.
    let out = guard(
        &f.server,
        &f.policy,
        &["approve", &f.commit, "-m", "ok", "--as", "alice"],
    );
    assert_code(&out, 2);
    assert_contains(&stderr(&out), "--as is refused on the server");

    // The server's identity comes from the host its hooks were installed for.
    install_server(
        &f.server,
        &f.server,
        &["--host", "gitolite", "--policy", f.policy.to_str().unwrap()],
    );
    let out = guard_cmd("git-guard", &f.server)
        .args([
            "approve",
            &f.commit,
            "-m",
            "reviewed on the server",
            "--policy",
        ])
        .arg(&f.policy)
        .env("GL_USER", "bob")
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_contains(&stdout(&out), "as bob (human)");
    let server = gix::open(&f.server).unwrap();
    assert!(
        approvals::unapproved_flags(&server, &p, id)
            .unwrap()
            .is_empty()
    );
    // And the audit log has it.
    let log = std::fs::read_to_string(f.server.join("guard/audit.log")).unwrap();
    assert!(
        log.contains("\"door\":\"approve\"") && log.contains("\"actor\":\"bob\""),
        "{log}"
    );

    // Once the server knows bob pushed a commit, bob may not approve it.
    let update = RefUpdate {
        old: ObjectId::null(gix::hash::Kind::Sha1),
        new: id,
        name: "refs/heads/agent/x".into(),
    };
    let other = rev(&f.clone, "HEAD~1");
    let other_id = oid(&f.clone, "HEAD~1");
    approvals::record_push(&server, &actor("bob", &p), &update, &[other_id]).unwrap();
    let out = guard_cmd("git-guard", &f.server)
        .args(["approve", &other, "-m", "mine", "--policy"])
        .arg(&f.policy)
        .env("GL_USER", "bob")
        .output()
        .unwrap();
    assert_code(&out, 1);
    assert_contains(&stdout(&out), "REFUSED: approvals.self");
}

#[test]
fn the_deploy_gate_counts_only_approvals_of_the_commit_that_raised_the_flag() {
    let (f, repo, p) = server_fixture();
    let base = oid(&f.work, "HEAD~1");
    let flag = |path: &str, commit: Option<ObjectId>| {
        git_guard::engine::verdict::Finding::flag("tests.changed", "changed", "")
            .at_path(path)
            .at_commit(commit)
    };
    let flags = vec![
        flag("tests/t.rs", Some(f.commit)),
        flag("tests/t.rs", None),
        flag("tests/other.rs", Some(base)),
    ];
    assert_eq!(
        approvals::unapproved_among(&repo, &p, f.commit, &flags)
            .unwrap()
            .len(),
        3
    );

    // Alice approves tests/t.rs on the commit that changed it.
    let a = approval_update(&repo, &f, "alice", Role::Human);
    approvals::create_ref(&repo, &a.name, a.new).unwrap();
    let left = approvals::unapproved_among(&repo, &p, f.commit, &flags).unwrap();
    assert_eq!(
        left,
        vec![flags[2].clone()],
        "the cumulative restatement is cleared too"
    );

    // An approval of the deploy target naming tests/other.rs does not clear the earlier
    // commit's flag: its approver saw the target, not that commit.
    let mut r = record(&f, "bob", Role::Human);
    r.flags = vec!["tests.changed:tests/other.rs".into()];
    let b = blob_update(&repo, f.commit, &r.payload().unwrap());
    approvals::create_ref(&repo, &b.name, b.new).unwrap();
    assert_eq!(
        approvals::unapproved_among(&repo, &p, f.commit, &flags).unwrap(),
        vec![flags[2].clone()]
    );
    // A flag found only on the cumulative change is cleared by an approval of the target.
    let cumulative = vec![flag("tests/other.rs", None)];
    assert!(
        approvals::unapproved_among(&repo, &p, f.commit, &cumulative)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        approvals::unapproved_among(&repo, &p, base, &cumulative).unwrap(),
        cumulative
    );
}

//! Histories shaped to slip past the server's door, pushed for real: a change too big for one
//! push split over several pushes or branches, and content brought into an agent branch
//! through a merge whose first parent is not the branch as it was.

mod support;

use std::path::Path;

use support::git::*;
use support::server::*;

/// `n` numbered lines.
fn lines(tag: &str, n: usize) -> String {
    (0..n).map(|i| format!("{tag} line {i}\n")).collect()
}

/// Commit a new file of `n` lines in `work` and push the current branch as `user`.
fn push_lines(work: &Path, file: &str, n: usize, user: &str) -> std::process::Output {
    commit_file(work, file, lines(file, n), &format!("add {file}"));
    let branch = git(work, &["branch", "--show-current"]);
    push_as(work, user, &["origin", branch.trim()])
}

#[test]
fn caps_hold_for_the_whole_proposal_not_for_each_push() {
    let (_t, bare, work) = guarded_clone("", &["--host", "http"], Some("agent/x"));
    let o = push_lines(&work, "a.txt", 200, "bot");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = push_lines(&work, "b.txt", 200, "bot");
    assert!(o.status.success(), "400 lines is the cap:\n{}", stderr(&o));
    commit_file(&work, "c.txt", lines("c", 200), "add c");
    let o = push_rejected(&work, "bot", "agent/x", &bare, "caps.lines");
    let main = rev(&bare, "main");
    assert_remote_says(
        &o,
        &format!(
            "600 lines added or removed by agent/x against main since {} (this push: 200), the cap is 400",
            &main[..12]
        ),
    );
    assert_remote_says(&o, "the cap holds for the whole branch against main");
}

#[test]
fn a_proposal_split_over_branches_is_still_one_proposal() {
    let (t, bare, work) = guarded_clone("", &["--host", "http"], Some("agent/a"));
    let o = push_lines(&work, "a.txt", 300, "bot");
    assert!(o.status.success(), "{}", stderr(&o));
    // A new branch on top of the first: its merge base with main is still main's tip.
    git(&work, &["switch", "-q", "-c", "agent/b"]);
    commit_file(&work, "b.txt", lines("b", 200), "add b");
    let o = push_rejected(&work, "bot", "agent/b", &bare, "caps.lines");
    assert_remote_says(&o, "500 lines added or removed by agent/b against main");
    // Files are counted the same way.
    let (_t2, bare2, work2) = guarded_clone("", &["--host", "http"], Some("agent/f"));
    for i in 0..6 {
        write(&work2, &format!("f{i}.txt"), "x\n");
    }
    commit_all(&work2, "six files");
    assert!(
        push_as(&work2, "bot", &["origin", "agent/f"])
            .status
            .success()
    );
    for i in 6..12 {
        write(&work2, &format!("f{i}.txt"), "x\n");
    }
    commit_all(&work2, "six more");
    let o = push_rejected(&work2, "bot", "agent/f", &bare2, "caps.files");
    assert_remote_says(&o, "12 files changed by agent/f against main");
    drop(t);
}

#[test]
fn once_the_base_has_taken_part_of_it_the_rest_is_measured_from_there() {
    let (t, bare, work) = guarded_clone("", &["--host", "http"], Some("agent/x"));
    assert!(push_lines(&work, "a.txt", 300, "bot").status.success());
    // A human merges what is done.
    let human = clone(t.path(), &bare, "human");
    git(&human, &["fetch", "-q", "origin", "agent/x"]);
    git(&human, &["merge", "-q", "--ff-only", "FETCH_HEAD"]);
    let o = push_as(&human, "alice", &["origin", "main"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The agent goes on on the same branch: 300 more lines are a proposal of 300 lines.
    let o = push_lines(&work, "b.txt", 300, "bot");
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn humans_pushing_outside_the_agent_namespace_are_capped_per_push() {
    let (_t, _bare, work) = guarded_clone("", &["--host", "http"], Some("feature"));
    assert!(push_lines(&work, "a.txt", 300, "alice").status.success());
    let o = push_lines(&work, "b.txt", 300, "alice");
    assert!(o.status.success(), "{}", stderr(&o));
}

const KEY: &str = "AKIAZ7Q3WLMNQ4RTK2XY";

/// A server whose branch `vendor` holds a file with a key, pushed by an admin (who bypasses
/// the rule, on the record), and an agent clone on `agent/x` one commit ahead of main.
fn vendor_with_a_key() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let (t, bare, work) = guarded_clone("", &["--host", "http"], Some("agent/x"));
    let admin = clone_on(t.path(), &bare, "admin", "vendor");
    commit_file(
        &admin,
        "vendor/keys.txt",
        format!("aws_key = {KEY}\n"),
        "vendor",
    );
    let o = push_as(&admin, "root-admin", &["origin", "vendor"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_remote_says(&o, "bypassed by admin");
    commit_file(&work, "a.txt", "agent work\n", "agent work");
    assert!(
        push_as(&work, "bot", &["origin", "agent/x"])
            .status
            .success()
    );
    git(&work, &["fetch", "-q", "origin"]);
    (t, bare, work)
}

#[test]
fn a_merge_brings_nothing_unjudged_into_an_agent_branch() {
    // The plain merge: what vendor brings is the merge's own change.
    let (_t, bare, work) = vendor_with_a_key();
    git(&work, &["merge", "-q", "--no-edit", "origin/vendor"]);
    push_rejected(&work, "bot", "agent/x", &bare, "secrets.aws-access-key");
}

#[test]
fn a_merge_whose_first_parent_is_not_the_branch_is_judged_against_the_branch() {
    let (_t, bare, work) = vendor_with_a_key();
    let old = rev(&work, "HEAD");
    git(&work, &["merge", "-q", "--no-edit", "origin/vendor"]);
    let tree = rev(&work, "HEAD^{tree}");
    // The same tree, the parents swapped: against its first parent it adds only a.txt.
    let vendor = rev(&work, "origin/vendor");
    let swapped = commit_tree(
        &work,
        &tree,
        &[&vendor, &old],
        "merge agent work into vendor",
    );
    git(&work, &["update-ref", "refs/heads/agent/x", &swapped]);
    let o = push_rejected(&work, "bot", "agent/x", &bare, "secrets.aws-access-key");
    assert_remote_says(&o, &swapped[..12]);
    // And again with a commit on top: the line from the tip still misses the old tip.
    let top = commit_tree(&work, &tree, &[&swapped], "on top");
    git(&work, &["update-ref", "refs/heads/agent/x", &top]);
    push_rejected(&work, "bot", "agent/x", &bare, "secrets.aws-access-key");
}

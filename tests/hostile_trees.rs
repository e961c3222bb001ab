//! Trees shaped to slip past the server's door, pushed for real: files that change how git or
//! an agent harness reads the tree, trees `git fsck` rejects, and symlinks that hide a path or
//! reach out of the tree. Each is caught at receive time with its own rule id.

mod support;

use std::path::{Path, PathBuf};

use support::git::*;
use support::server::*;

/// The files that change how git reads the tree, or what an agent harness is told and allowed,
/// at the depths where they take effect.
const HOW_THE_TREE_IS_READ: &[&str] = &[
    ".gitattributes",
    "src/lib/.gitattributes",
    ".gitmodules",
    ".mailmap",
    "CLAUDE.md",
    "pkg/CLAUDE.md",
    ".claude/settings.json",
    "AGENTS.md",
    "pkg/AGENTS.md",
    ".codex/config.toml",
    ".cursor/rules/style.mdc",
    ".cursorrules",
    ".gemini/settings.json",
    "GEMINI.md",
    ".aider.conf.yml",
    ".aiderignore",
    ".mcp.json",
    ".github/copilot-instructions.md",
];

#[test]
fn files_that_change_how_the_tree_is_read_are_protected_by_default() {
    let (_t, _bare, work) = guarded_clone(
        "[caps]\nmax_files = 100\n",
        &["--host", "http"],
        Some("agent/x"),
    );
    for p in HOW_THE_TREE_IS_READ {
        write(&work, p, "anything\n");
    }
    commit_all(&work, "harness and git configuration");
    let o = push_as(&work, "bot", &["origin", "agent/x"]);
    assert!(o.status.success(), "flags do not block:\n{}", stderr(&o));
    let lines = remote_lines(&o);
    for p in HOW_THE_TREE_IS_READ {
        assert!(
            lines
                .iter()
                .any(|l| l.contains("flag[paths.protected]") && l.contains(&format!(" {p}: "))),
            "{p} is not flagged:\n{}",
            stderr(&o)
        );
    }
}

/// A file that is none of them is not flagged.
#[test]
fn look_alikes_of_protected_files_are_not_flagged() {
    let (_t, _bare, work) = guarded_clone("", &["--host", "http"], Some("agent/x"));
    for p in ["docs/claude.txt", "src/agents.rs", "gitattributes.md"] {
        write(&work, p, "anything\n");
    }
    commit_all(&work, "ordinary files");
    let o = push_as(&work, "bot", &["origin", "agent/x"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("flag[paths.protected]"),
        "{}",
        stderr(&o)
    );
}

/// A server that takes the test policy, with git's own object checks off (as on a host that
/// does not let the admin turn them on), and a clone on `agent/x`.
fn server_without_git_fsck() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (t, bare, work) = guarded_clone("", &["--host", "http"], Some("agent/x"));
    git(&bare, &["config", "receive.fsckObjects", "false"]);
    (t, bare, work)
}

/// A tree entry as written: mode, name, object id.
type Entry<'a> = (&'a str, &'a [u8], &'a str);

/// A commit on top of `work`'s HEAD whose root tree is README.md and `entries` (as written:
/// mode, name, id), and `agent/x` moved to it.
fn commit_raw_root(work: &Path, entries: &[(&str, &[u8], &str)]) -> String {
    let readme = rev(work, "HEAD:README.md");
    let mut all: Vec<(&str, &[u8], &str)> = vec![("100644", b"README.md", &readme)];
    all.extend_from_slice(entries);
    let tree = raw_tree(work, &all);
    let head = rev(work, "HEAD");
    let c = commit_tree(work, &tree, &[&head], "a tree git would not write");
    git(work, &["update-ref", "refs/heads/agent/x", &c]);
    c
}

#[test]
fn trees_git_fsck_rejects_are_rejected_at_receive_with_their_own_rule() {
    let (_t, bare, work) = server_without_git_fsck();
    let b = blob(&work, b"payload\n");
    let config = raw_tree(&work, &[("100644", b"config", &b)]);
    // (what, entries after README.md, what git's fsck calls it)
    let cases: Vec<(&str, Vec<Entry>, &str)> = vec![
        (
            "a .git directory",
            vec![("40000", b".git", &config)],
            "hasDotgit",
        ),
        ("upper case", vec![("40000", b".GIT", &config)], "hasDotgit"),
        (
            "NTFS short name",
            vec![("40000", b"git~1", &config)],
            "hasDotgit",
        ),
        (
            "NTFS trailing dot and space",
            vec![("40000", b".git. ", &config)],
            "hasDotgit",
        ),
        (
            "NTFS data stream",
            vec![("40000", b".git::$INDEX_ALLOCATION", &config)],
            "hasDotgit",
        ),
        (
            "HFS+ ignorable",
            vec![("40000", ".g\u{200c}it".as_bytes(), &config)],
            "hasDotgit",
        ),
        (
            "a backslash",
            vec![("40000", b"x\\.git", &config)],
            "hasDotgit",
        ),
        ("dot", vec![("100644", b".", &b)], "hasDot"),
        ("dot dot", vec![("40000", b"..", &config)], "hasDotdot"),
        (
            "a slash",
            vec![("100644", b"etc/passwd", &b)],
            "fullPathname",
        ),
        (
            "a duplicate",
            vec![("100644", b"dup", &b), ("100644", b"dup", &b)],
            "duplicateEntries",
        ),
        (
            "a file and a tree of one name",
            vec![("100644", b"d", &b), ("40000", b"d", &config)],
            "duplicateEntries",
        ),
        (
            "out of order",
            vec![("100644", b"z", &b), ("100644", b"a", &b)],
            "treeNotSorted",
        ),
        (
            "group-writable mode",
            vec![("100664", b"f", &b)],
            "badFilemode",
        ),
        ("unknown mode", vec![("100600", b"f", &b)], "badFilemode"),
        (
            "zero-padded mode",
            vec![("040000", b"sub", &config)],
            "zeroPaddedFilemode",
        ),
        (
            "a .gitmodules symlink",
            vec![("120000", b".gitmodules", &b)],
            "gitmodulesSymlink",
        ),
    ];
    // An empty name is not here: git's own pack-objects refuses to send one.
    for (what, entries, fsck_id) in cases {
        commit_raw_root(&work, &entries);
        let o = push_rejected(&work, "bot", "agent/x", &bare, "tree.malformed");
        assert!(
            remote_lines(&o)
                .iter()
                .any(|l| l.contains("error[tree.malformed]") && l.contains(fsck_id)),
            "{what}: no tree.malformed naming {fsck_id}:\n{}",
            stderr(&o)
        );
    }
}

#[test]
fn a_malformed_tree_deep_in_the_history_is_found_and_no_role_or_mode_lets_it_in() {
    let (_t, bare, work) = server_without_git_fsck();
    let b = blob(&work, b"payload\n");
    let config = raw_tree(&work, &[("100644", b"config", &b)]);
    let hooks = raw_tree(&work, &[("40000", b".git", &config)]);
    let deep = raw_tree(&work, &[("40000", b"vendor", &hooks)]);
    let readme = rev(&work, "HEAD:README.md");
    let root = raw_tree(
        &work,
        &[("100644", b"README.md", &readme), ("40000", b"src", &deep)],
    );
    let head = rev(&work, "HEAD");
    let bad = commit_tree(&work, &root, &[&head], "hidden deep");
    // A well-formed commit on top: the tip alone looks clean.
    let clean = commit_tree(&work, &rev(&work, "HEAD^{tree}"), &[&bad], "clean tip");
    git(&work, &["update-ref", "refs/heads/agent/x", &clean]);
    let o = push_rejected(&work, "bot", "agent/x", &bare, "tree.malformed");
    assert_remote_says(&o, "src/vendor/");
    // An admin does not bypass it, nor does a dry run let it through.
    let o = push_rejected(&work, "root-admin", "agent/x", &bare, "tree.malformed");
    assert!(!stderr(&o).contains("bypassed by admin"), "{}", stderr(&o));
    let t2 = tempfile::tempdir().unwrap();
    let bare2 = seeded_bare(t2.path(), &[]);
    let warn = t2.path().join("policy.toml");
    std::fs::write(&warn, format!("mode = \"warn\"\n{TEST_POLICY}")).unwrap();
    install_server(
        t2.path(),
        &bare2,
        &["--host", "http", "--policy", warn.to_str().unwrap()],
    );
    let work2 = clone_on(t2.path(), &bare2, "work", "agent/x");
    git(&bare2, &["config", "receive.fsckObjects", "false"]);
    let b2 = blob(&work2, b"payload\n");
    let config2 = raw_tree(&work2, &[("100644", b"config", &b2)]);
    commit_raw_root(&work2, &[("40000", b".git", &config2)]);
    push_rejected(&work2, "bot", "agent/x", &bare2, "tree.malformed");
}

#[test]
fn install_turns_on_git_s_own_checks_of_pushed_objects_and_says_so() {
    let t = tempfile::tempdir().unwrap();
    let bare = seeded_bare(t.path(), &[]);
    let o = guard_ok(
        t.path(),
        &[
            "install",
            "--server",
            "--host",
            "http",
            bare.to_str().unwrap(),
        ],
    );
    assert_contains(&stdout(&o), "receive.fsckObjects: true (was unset)");
    assert_eq!(
        git(&bare, &["config", "receive.fsckObjects"]).trim(),
        "true"
    );
    // Installing again changes nothing.
    let o = guard_ok(
        t.path(),
        &[
            "install",
            "--server",
            "--host",
            "http",
            bare.to_str().unwrap(),
        ],
    );
    assert_contains(&stdout(&o), "nothing changed");
    // And git itself now refuses a malformed tree before the hooks run.
    let work = clone_on(t.path(), &bare, "work", "agent/x");
    let b = blob(&work, b"payload\n");
    let config = raw_tree(&work, &[("100644", b"config", &b)]);
    commit_raw_root(&work, &[("40000", b".git", &config)]);
    let before = snapshot(&bare);
    let o = push_as(&work, "bot", &["origin", "agent/x"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert_contains(&stderr(&o), "hasDotgit");
    assert_eq!(snapshot(&bare), before);
    // A GitLab layout leaves the configuration to Gitaly, and says so.
    let t = tempfile::tempdir().unwrap();
    let bare = seeded_bare(t.path(), &[]);
    let o = guard_ok(
        t.path(),
        &[
            "install",
            "--server",
            "--layout",
            "gitlab",
            bare.to_str().unwrap(),
        ],
    );
    assert_contains(&stdout(&o), "receive.fsckObjects: not set");
    assert!(
        git_out(&bare, &["config", "receive.fsckObjects"])
            .stdout
            .is_empty()
    );
}

/// Make a symlink `path -> target` in the work tree of `dir`.
fn symlink(dir: &Path, path: &str, target: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, p).unwrap();
}

#[test]
fn a_symlinked_directory_does_not_hide_a_denied_path() {
    let (_t, bare, work) = guarded_clone("", &["--host", "http"], Some("agent/x"));
    // `config/production.*` is denied; `cfg/production.yml` is not, until a link names it so.
    commit_file(&work, "cfg/production.yml", "db: prod\n", "cfg");
    let o = push_as(&work, "bot", &["origin", "agent/x"]);
    assert!(o.status.success(), "{}", stderr(&o));
    symlink(&work, "config", "cfg");
    commit_all(&work, "config is cfg");
    let o = push_rejected(&work, "bot", "agent/x", &bare, "paths.deny");
    assert_remote_says(
        &o,
        "config/production.yml matches paths.deny (`config/production.*`): it is cfg/production.yml, reached through the symlink config -> cfg",
    );
    // Through a chain of links, and through a link to the file itself.
    git(&work, &["reset", "-q", "--hard", "HEAD~1"]);
    symlink(&work, "conf", "cfg");
    symlink(&work, "config", "conf");
    commit_all(&work, "config is conf is cfg");
    push_rejected(&work, "bot", "agent/x", &bare, "paths.deny");
    git(&work, &["reset", "-q", "--hard", "HEAD~1"]);
    symlink(&work, "config/production.yml", "../cfg/production.yml");
    commit_all(&work, "a link to the file");
    push_rejected(&work, "bot", "agent/x", &bare, "paths.deny");
}

#[test]
fn a_file_changed_behind_an_existing_link_is_judged_by_the_path_it_is_reached_as() {
    let t = tempfile::tempdir().unwrap();
    let seed = t.path().join("seed");
    init_repo(&seed);
    write(&seed, "README.md", "hello\n");
    write(&seed, "cfg/app.yml", "app: 1\n");
    write(&seed, "tools/husky/pre-commit", "#!/bin/sh\n");
    symlink(&seed, "config", "cfg");
    symlink(&seed, ".husky", "tools/husky");
    commit_all(&seed, "seed with links");
    let bare = clone_bare(t.path(), &seed, "server.git");
    let policy = policy_file(t.path(), "");
    install_server(
        t.path(),
        &bare,
        &["--host", "http", "--policy", policy.to_str().unwrap()],
    );
    let work = clone_on(t.path(), &bare, "work", "agent/x");
    commit_file(&work, "cfg/production.yml", "db: prod\n", "prod config");
    let o = push_rejected(&work, "bot", "agent/x", &bare, "paths.deny");
    assert_remote_says(&o, "config/production.yml matches paths.deny");
    git(&work, &["reset", "-q", "--hard", "HEAD~1"]);
    commit_file(
        &work,
        "tools/husky/pre-commit",
        "#!/bin/sh\nexit 0\n",
        "skip the hook",
    );
    let o = push_as(&work, "bot", &["origin", "agent/x"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_remote_says(&o, "flag[paths.protected] refs/heads/agent/x");
    assert_remote_says(
        &o,
        ".husky/pre-commit is protected (`.husky/`): it is tools/husky/pre-commit, reached through the symlink .husky -> tools/husky",
    );
}

#[test]
fn a_symlink_that_leaves_the_tree_is_a_violation_unless_the_policy_allows_it() {
    let cases = [
        ("etc-passwd", "/etc/passwd"),
        ("deep/up", "../../.."),
        ("home", "../"),
    ];
    for (path, target) in cases {
        let (_t, bare, work) = guarded_clone("", &["--host", "http"], Some("agent/x"));
        symlink(&work, path, target);
        commit_all(&work, "a link out");
        let o = push_rejected(&work, "bot", "agent/x", &bare, "paths.symlink-outside");
        assert_remote_says(
            &o,
            &format!("{path} is a symlink to {target}, which leaves the tree"),
        );
    }
    // Its text stays inside, but `s` is the root: `s/s/..` is the root's parent.
    let (_t, bare, work) = guarded_clone("", &["--host", "http"], Some("agent/x"));
    symlink(&work, "s", ".");
    symlink(&work, "x", "s/s/..");
    symlink(&work, "inside", "s/README.md");
    commit_all(&work, "links through links");
    let o = push_rejected(&work, "bot", "agent/x", &bare, "paths.symlink-outside");
    assert_remote_says(&o, "x is a symlink to s/s/.., which leaves the tree");
    assert!(
        !stderr(&o).contains("inside is a symlink"),
        "{}",
        stderr(&o)
    );
    // The policy may allow them.
    let (_t, _bare, work) = guarded_clone(
        "[paths]\nallow_outside_symlinks = true\n",
        &["--host", "http"],
        Some("agent/x"),
    );
    symlink(&work, "etc-passwd", "/etc/passwd");
    commit_all(&work, "a link out, allowed");
    let o = push_as(&work, "bot", &["origin", "agent/x"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn guard_deploy_never_writes_a_symlink_that_leaves_the_release() {
    use support::deploy::Fixture;
    let allow = "[paths]\nallow_outside_symlinks = true";
    let f = Fixture::new(
        "reload_command = \"true\"\nhealth_command = \"true\"\n",
        allow,
    );
    let first = f.deploy();
    symlink(&f.repo, "secrets-link", "../../../../etc");
    commit_all(&f.repo, "a link out of the release");
    let o = f.run(&["deploy", "main"]);
    assert!(!o.status.success(), "{}", all(&o));
    assert_contains(
        &all(&o),
        "refusing to write the symlink secrets-link -> ../../../../etc",
    );
    assert_eq!(f.current().unwrap(), first);
    f.assert_no_leftovers();
    // The plumbing refuses too, and writes nothing.
    let dir = f.tmp.path().join("out");
    let o = guard_cmd("guard-deploy", &f.repo)
        .args(["materialise", "HEAD"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", all(&o));
    assert!(!dir.exists());
    // Without the switch the policy check refuses first.
    f.set_policy("reload_command = \"true\"\nhealth_command = \"true\"\n", "");
    let o = f.run(&["deploy", "main"]);
    assert_contains(&stdout(&o), "paths.symlink-outside");
    assert_eq!(f.current().unwrap(), first);
}

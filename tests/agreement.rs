//! The change model agrees with git: for every commit of a varied history (and of this
//! project's own history), the paths, kinds and line counts equal what
//! `git diff-tree -r -M --name-status` and `--numstat` print against the first parent.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use git_guard::engine::changes::{ChangeKind, FileChange, RefUpdate, UpdateKind};
use git_guard::engine::model::{self, ModelOptions};
use gix::ObjectId;
use support::git::*;

/// One line of comparison: letter, old path (renames), path, added, removed, binary.
type Row = (char, Option<String>, String, u32, u32, bool);

fn split_z(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.split('\0').collect();
    if v.last() == Some(&"") {
        v.pop();
    }
    v
}

/// What git says one commit changes against its first parent.
fn git_rows(dir: &Path, commit: &str) -> Vec<Row> {
    let parents = git(dir, &["rev-list", "--parents", "-n", "1", commit]);
    let first_parent = parents.split_whitespace().nth(1).map(str::to_string);
    let run = |fmt: &str| match &first_parent {
        Some(p) => git(dir, &["diff-tree", "-r", "-M", "-z", fmt, p, commit]),
        None => git(dir, &["diff-tree", "-r", "-M", "-z", "--root", fmt, commit]),
    };
    let strip_header = |s: String| -> String {
        // `--root` and single-commit forms print the commit id first.
        match s.strip_prefix(&format!("{commit}\0")) {
            Some(rest) => rest.to_string(),
            None => s,
        }
    };
    let status = strip_header(run("--name-status"));
    let numstat = strip_header(run("--numstat"));

    let mut kinds = Vec::new();
    let f = split_z(&status);
    let mut i = 0;
    while i < f.len() {
        let letter = f[i].chars().next().unwrap();
        if letter == 'R' || letter == 'C' {
            kinds.push((letter, Some(f[i + 1].to_string()), f[i + 2].to_string()));
            i += 3;
        } else {
            kinds.push((letter, None, f[i + 1].to_string()));
            i += 2;
        }
    }
    let mut counts = std::collections::HashMap::new();
    let f = split_z(&numstat);
    let mut i = 0;
    while i < f.len() {
        let mut cols = f[i].splitn(3, '\t');
        let a = cols.next().unwrap().to_string();
        let r = cols.next().unwrap().to_string();
        let path = cols.next().unwrap();
        let path = if path.is_empty() {
            // A rename: the old and new paths follow as their own fields.
            i += 2;
            f[i].to_string()
        } else {
            path.to_string()
        };
        counts.insert(path, (a, r));
        i += 1;
    }
    let mut rows: Vec<Row> = kinds
        .into_iter()
        .map(|(letter, old, path)| {
            let (a, r) = counts
                .get(&path)
                .unwrap_or_else(|| panic!("numstat lacks {path} in {commit}"));
            let binary = a == "-";
            let n = |s: &str| if binary { 0 } else { s.parse().unwrap() };
            (letter, old, path, n(a), n(r), binary)
        })
        .collect();
    rows.sort();
    rows
}

fn model_rows(files: &[FileChange]) -> Vec<Row> {
    let mut rows: Vec<Row> = files
        .iter()
        .map(|f| {
            let old = (f.kind == ChangeKind::Rename).then(|| f.old_path.clone().unwrap());
            (
                f.kind.letter(),
                old,
                f.path().to_string(),
                f.added,
                f.removed,
                f.binary,
            )
        })
        .collect();
    rows.sort();
    rows
}

fn open(dir: &Path) -> gix::Repository {
    git_guard::engine::repo::open(dir).expect("repository opens")
}

fn oid(s: &str) -> ObjectId {
    ObjectId::from_hex(s.trim().as_bytes()).unwrap()
}

/// Compare every commit reachable from `revs`; return the rows compared.
fn assert_agrees_on_all_commits(dir: &Path, revs: &[&str]) -> Vec<Row> {
    let repo = open(dir);
    let mut args = vec!["rev-list"];
    args.extend_from_slice(revs);
    let list = git(dir, &args);
    let mut compared = Vec::new();
    for c in list.lines() {
        let ours = model::commit(&repo, oid(c), ModelOptions::default())
            .unwrap_or_else(|e| panic!("model fails on {c}: {e:#}"));
        let expected = git_rows(dir, c);
        let got = model_rows(&ours.files);
        assert_eq!(
            got, expected,
            "commit {c} ({}) disagrees with git diff-tree",
            ours.summary
        );
        compared.extend(got);
    }
    compared
}

/// A small deterministic generator, so the edit history is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn text(rng: &mut Rng, lines: usize) -> String {
    const WORDS: &[&str] = &[
        "fn",
        "let",
        "}",
        "{",
        "return x;",
        "",
        "// note",
        "a = b + c;",
        "if x {",
        "else",
        "    indent",
        "end",
    ];
    (0..lines)
        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize].to_string() + "\n")
        .collect()
}

/// Insert, delete and replace random lines; repeated short lines make the diff ambiguous,
/// which is where diff implementations part ways.
fn mutate(rng: &mut Rng, s: &str) -> String {
    let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
    for _ in 0..(1 + rng.below(6)) {
        let at = rng.below(lines.len() as u64 + 1) as usize;
        match rng.below(3) {
            0 => {
                let n = 1 + rng.below(3) as usize;
                lines.insert(at, text(rng, n).trim_end().to_string())
            }
            1 if at < lines.len() => {
                lines.remove(at);
            }
            _ if at < lines.len() => lines[at] = format!("changed {}", rng.below(5)),
            _ => lines.push("tail".into()),
        }
    }
    let mut out = lines.join("\n");
    if rng.below(5) != 0 {
        out.push('\n');
    }
    out
}

/// A history with every kind of change the model must report like git.
fn build_varied_history(dir: &Path, object_format: &str) {
    std::fs::create_dir_all(dir).unwrap();
    git(
        dir,
        &[
            "init",
            "-q",
            "-b",
            "main",
            &format!("--object-format={object_format}"),
        ],
    );
    let mut rng = Rng(0x9e3779b97f4a7c15);

    // Root: text, CRLF, no final newline, empty, binary, executable, symlink, large, nested.
    write(dir, "src/lib.rs", text(&mut rng, 40));
    write(dir, "src/util.rs", text(&mut rng, 30));
    write(dir, "crlf.txt", "one\r\ntwo\r\nthree\r\n");
    write(dir, "nonl.txt", "first\nlast without newline");
    write(dir, "empty.txt", "");
    write(dir, "empty2.txt", "");
    write(
        dir,
        "image.bin",
        b"\x89PNG\r\n\x1a\n\0\0\0binary".as_slice(),
    );
    write(dir, "run.sh", "#!/bin/sh\necho hi\n");
    write(
        dir,
        "big.txt",
        (0..20_000)
            .map(|i| format!("line {i}\n"))
            .collect::<String>(),
    );
    write(dir, "doc/a/b/deep.md", "# deep\n\ntext\n");
    write(dir, "moved/x.txt", text(&mut rng, 12));
    write(dir, "moved/y.txt", text(&mut rng, 12));
    write(dir, "blocker", "a file that becomes a directory\n");
    commit_all(dir, "root");
    git(dir, &["update-index", "--chmod=+x", "run.sh"]);
    std::os::unix::fs::symlink("src/lib.rs", dir.join("link")).unwrap();
    commit_all(dir, "symlink and executable bit");

    // Renames: pure, with edits, across directories, of an empty file, of a binary.
    git(dir, &["mv", "src/util.rs", "src/helpers.rs"]);
    git(dir, &["mv", "nonl.txt", "docs-nonl.txt"]);
    git(dir, &["mv", "empty.txt", "empty-renamed.txt"]);
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    git(dir, &["mv", "image.bin", "assets/image.bin"]);
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    git(dir, &["mv", "src/lib.rs", "src/core.rs"]);
    commit_file(dir, "src/core.rs", mutate(&mut rng, &lib), "renames");

    // A copy (git -M reports an addition), mode change only, CRLF and final-newline edits.
    std::fs::copy(dir.join("src/core.rs"), dir.join("src/core_copy.rs")).unwrap();
    git(dir, &["update-index", "--chmod=-x", "run.sh"]);
    write(dir, "run.sh", "#!/bin/sh\necho hi\n");
    write(dir, "crlf.txt", "one\r\ntwo changed\r\nthree\r\nfour\r\n");
    write(dir, "docs-nonl.txt", "first\nlast without newline\n");
    git(dir, &["add", "-A"]);
    git(dir, &["update-index", "--chmod=-x", "run.sh"]);
    git(
        dir,
        &[
            "commit",
            "-q",
            "-m",
            "copy, mode change, crlf, final newline",
        ],
    );

    // Binary edit, text to binary, large file edited in the middle, symlink retargeted.
    write(dir, "assets/image.bin", b"\x89PNG\0\0changed".as_slice());
    write(dir, "doc/a/b/deep.md", b"now binary \0 content".as_slice());
    let big: String = (0..20_000)
        .map(|i| {
            if i % 997 == 0 {
                format!("edited {i}\n")
            } else {
                format!("line {i}\n")
            }
        })
        .collect();
    write(dir, "big.txt", big);
    std::fs::remove_file(dir.join("link")).unwrap();
    std::os::unix::fs::symlink("src/helpers.rs", dir.join("link")).unwrap();
    commit_all(dir, "binary edits, large edit, symlink target");

    // File to symlink (type change), file to directory, deletion, gitlink added.
    std::fs::remove_file(dir.join("run.sh")).unwrap();
    std::os::unix::fs::symlink("src/core.rs", dir.join("run.sh")).unwrap();
    std::fs::remove_file(dir.join("blocker")).unwrap();
    write(dir, "blocker/inside.txt", "now a directory\n");
    std::fs::remove_file(dir.join("empty2.txt")).unwrap();
    git(dir, &["add", "-A"]);
    let head = git(dir, &["rev-parse", "HEAD"]).trim().to_string();
    git(
        dir,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{head},vendor/sub"),
        ],
    );
    git(
        dir,
        &[
            "commit",
            "-q",
            "-m",
            "type change, file to directory, delete, gitlink",
        ],
    );

    // Gitlink moved to another commit; a whole directory renamed; rename plus mode change.
    let root = git(dir, &["rev-list", "--max-parents=0", "HEAD"])
        .trim()
        .to_string();
    git(
        dir,
        &[
            "update-index",
            "--cacheinfo",
            &format!("160000,{root},vendor/sub"),
        ],
    );
    git(dir, &["mv", "moved", "renamed-dir"]);
    git(dir, &["mv", "docs-nonl.txt", "tool.sh"]);
    git(dir, &["update-index", "--chmod=+x", "tool.sh"]);
    git(
        dir,
        &[
            "commit",
            "-q",
            "-m",
            "gitlink update, directory rename, rename with mode",
        ],
    );

    // A regular file replaced by a gitlink, and a gitlink removed.
    git(dir, &["rm", "-q", "--cached", "crlf.txt"]);
    git(
        dir,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{root},crlf.txt"),
        ],
    );
    git(dir, &["update-index", "--force-remove", "vendor/sub"]);
    git(
        dir,
        &["commit", "-q", "-m", "file to gitlink, gitlink removed"],
    );
    std::fs::remove_file(dir.join("crlf.txt")).unwrap();
    git(dir, &["reset", "-q", "--hard"]);

    // A side branch and a merge with changes on both sides.
    git(dir, &["checkout", "-q", "-b", "side"]);
    write(dir, "side.txt", text(&mut rng, 20));
    let core = std::fs::read_to_string(dir.join("src/core.rs")).unwrap();
    commit_file(dir, "src/core.rs", mutate(&mut rng, &core), "side work");
    git(dir, &["checkout", "-q", "main"]);
    commit_file(dir, "main.txt", text(&mut rng, 20), "main work");
    git(dir, &["merge", "-q", "--no-edit", "--no-ff", "side"]);

    // Random edits over many files: the line counts must match git's on every one.
    let names: Vec<String> = (0..12).map(|i| format!("gen/file{i}.txt")).collect();
    for n in &names {
        let len = 10 + rng.below(60) as usize;
        write(dir, n, text(&mut rng, len));
    }
    commit_all(dir, "generated files");
    for round in 0..25 {
        for n in &names {
            if rng.below(2) == 0 && dir.join(n).exists() {
                let cur = std::fs::read_to_string(dir.join(n)).unwrap();
                write(dir, n, mutate(&mut rng, &cur));
            }
        }
        if round % 7 == 3 {
            let from = &names[rng.below(names.len() as u64) as usize];
            if dir.join(from).exists() {
                let to = format!("gen/renamed{round}.txt");
                git(dir, &["mv", from, &to]);
            }
        }
        git(dir, &["add", "-A"]);
        git(
            dir,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                &format!("round {round}"),
            ],
        );
    }
}

/// The history really holds what it claims to test: otherwise agreement proves little.
fn assert_covers_every_kind(rows: &[Row]) {
    assert!(
        rows.len() > 100,
        "only {} file changes compared",
        rows.len()
    );
    let letters: BTreeSet<char> = rows.iter().map(|r| r.0).collect();
    assert_eq!(
        letters,
        "ADMRT".chars().collect(),
        "kinds seen: {letters:?}"
    );
    let has = |f: &dyn Fn(&Row) -> bool| rows.iter().any(f);
    assert!(has(&|r| r.5), "no binary change");
    assert!(
        has(&|r| r.0 == 'R' && (r.3 > 0 || r.4 > 0)),
        "no rename with edits"
    );
    assert!(
        has(&|r| r.0 == 'R' && r.2 == "empty-renamed.txt"),
        "no empty rename"
    );
    assert!(
        has(&|r| r.2 == "vendor/sub" && r.0 == 'M'),
        "no gitlink update"
    );
    assert!(
        has(&|r| r.2 == "crlf.txt" && r.0 == 'T'),
        "no file to gitlink"
    );
    assert!(
        has(&|r| r.2 == "blocker/inside.txt"),
        "no file to directory"
    );
    assert!(has(&|r| r.2 == "src/core_copy.rs" && r.0 == 'A'), "no copy");
}

#[test]
fn every_commit_of_a_varied_history_agrees_with_git() {
    let (_tmp, dir) = tmp_repo_with(|d| build_varied_history(d, "sha1"));
    let rows = assert_agrees_on_all_commits(&dir, &["--all"]);
    assert_covers_every_kind(&rows);
}

#[test]
fn sha256_repository_agrees_with_git() {
    let (_tmp, dir) = tmp_repo_with(|d| build_varied_history(d, "sha256"));
    let repo = open(&dir);
    assert_eq!(repo.object_hash(), gix::hash::Kind::Sha256);
    let rows = assert_agrees_on_all_commits(&dir, &["--all"]);
    assert_covers_every_kind(&rows);
    let c = model::commit(
        &repo,
        oid(&git(&dir, &["rev-parse", "HEAD"])),
        ModelOptions::default(),
    )
    .unwrap();
    assert_eq!(c.id.unwrap().to_string().len(), 64);
}

#[test]
fn the_projects_own_history_agrees_with_git() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let probe = support::git::git_out(root, &["rev-parse", "--verify", "-q", "HEAD"]);
    if !probe.status.success() {
        eprintln!("skipped: {} is not a git checkout", root.display());
        return;
    }
    assert_agrees_on_all_commits(root, &["HEAD"]);
}

#[test]
fn staged_changes_agree_with_git_diff_cached() {
    let (_tmp, dir) = tmp_repo();
    // An unborn HEAD: everything staged is an addition against the empty tree.
    write(&dir, "a.txt", "one\ntwo\n");
    write(&dir, "b.txt", "keep\n".repeat(20));
    git(&dir, &["add", "-A"]);
    let unit = model::staged(&open(&dir), ModelOptions::default()).unwrap();
    assert_eq!(unit.base, None);
    assert_eq!(
        model_rows(&unit.cumulative),
        vec![
            ('A', None, "a.txt".into(), 2, 0, false),
            ('A', None, "b.txt".into(), 20, 0, false)
        ]
    );
    git(&dir, &["commit", "-q", "-m", "first"]);

    // A rename with an edit, a modification, an addition, a deletion, an intent-to-add file.
    git(&dir, &["mv", "b.txt", "c.txt"]);
    write(&dir, "c.txt", "keep\n".repeat(19) + "changed\n");
    write(&dir, "a.txt", "one\n2\n");
    write(&dir, "new.txt", "x\0binary");
    write(&dir, "later.txt", "not staged\n");
    git(&dir, &["add", "c.txt", "a.txt", "new.txt"]);
    git(&dir, &["add", "-N", "later.txt"]);
    let unit = model::staged(&open(&dir), ModelOptions::default()).unwrap();

    let status = git(&dir, &["diff", "--cached", "-M", "--name-status", "-z"]);
    let numstat = git(&dir, &["diff", "--cached", "-M", "--numstat", "-z"]);
    assert!(status.contains("R0") || status.contains("R9"), "{status:?}");
    assert!(!status.contains("later.txt"));
    let got = model_rows(&unit.cumulative);
    let expected = vec![
        ('A', None, "new.txt".to_string(), 0, 0, true),
        ('M', None, "a.txt".to_string(), 1, 1, false),
        (
            'R',
            Some("b.txt".to_string()),
            "c.txt".to_string(),
            1,
            1,
            false,
        ),
    ];
    let mut expected = expected;
    expected.sort();
    assert_eq!(got, expected, "git says:\n{status:?}\n{numstat:?}");
    assert!(numstat.contains("-\t-\tnew.txt"));
    assert!(numstat.contains("1\t1\ta.txt"));
    assert_eq!(unit.base, Some(oid(&git(&dir, &["rev-parse", "HEAD"]))));
    // The added line is collected with its new line number.
    let a = unit
        .cumulative
        .iter()
        .find(|f| f.path() == "a.txt")
        .unwrap();
    assert_eq!(a.added_lines.len(), 1);
    assert_eq!(
        (a.added_lines[0].number, a.added_lines[0].text.as_str()),
        (2, "2")
    );
    assert_eq!(a.removed_lines, vec!["two".to_string()]);
}

/// The index's cache-tree lets unchanged directories be skipped; what is staged in the others,
/// and whole directories removed or added, must still be reported exactly as git does.
#[test]
fn staged_changes_with_a_cache_tree_agree_with_git() {
    let (_tmp, dir) = tmp_repo();
    for d in ["a", "b", "c/d", "c/e", "gone"] {
        for f in 0..5 {
            write(
                &dir,
                &format!("{d}/f{f}.txt"),
                format!("{d} {f}\n").repeat(f + 1),
            );
        }
    }
    commit_all(&dir, "tree");
    let cases: &[&[&str]] = &[&["c/d/f2.txt"], &["c/e/f0.txt", "top.txt"]];
    for paths in cases {
        for p in *paths {
            write(&dir, p, "staged edit\n");
        }
        git(&dir, &["add", "-A"]);
        let unit = model::staged(&open(&dir), ModelOptions::default()).unwrap();
        assert_eq!(model_rows(&unit.cumulative), git_cached_rows(&dir));
        git(&dir, &["commit", "-q", "-m", "step"]);
    }
    git(&dir, &["rm", "-q", "-r", "gone"]);
    write(&dir, "new/dir/x.txt", "x\n");
    git(&dir, &["mv", "b/f3.txt", "a/moved.txt"]);
    git(&dir, &["add", "-A"]);
    let unit = model::staged(&open(&dir), ModelOptions::default()).unwrap();
    let rows = model_rows(&unit.cumulative);
    assert_eq!(rows, git_cached_rows(&dir));
    assert_eq!(rows.len(), 7, "{rows:?}");
}

/// `git diff --cached -M` as rows.
fn git_cached_rows(dir: &Path) -> Vec<Row> {
    let status = git(dir, &["diff", "--cached", "-M", "--name-status"]);
    let numstat = git(dir, &["diff", "--cached", "-M", "--numstat"]);
    let mut rows: Vec<Row> = status
        .lines()
        .zip(numstat.lines())
        .map(|(s, n)| {
            let s: Vec<&str> = s.split('\t').collect();
            let n: Vec<&str> = n.split('\t').collect();
            let letter = s[0].chars().next().unwrap();
            let (old, path) = if s.len() == 3 {
                (Some(s[1].to_string()), s[2].to_string())
            } else {
                (None, s[1].to_string())
            };
            let binary = n[0] == "-";
            let num = |x: &str| if binary { 0 } else { x.parse().unwrap() };
            (letter, old, path, num(n[0]), num(n[1]), binary)
        })
        .collect();
    rows.sort();
    rows
}

fn rev_list(dir: &Path, args: &[&str]) -> Vec<ObjectId> {
    let mut a = vec!["rev-list"];
    a.extend_from_slice(args);
    git(dir, &a).lines().map(oid).collect()
}

/// A small history with a branch and a merge, for ranges and ref updates.
fn branched(dir: &Path) {
    init_repo(dir);
    for i in 0..3 {
        write(dir, &format!("base{i}.txt"), format!("{i}\n"));
        commit_all(dir, &format!("base {i}"));
    }
    git(dir, &["checkout", "-q", "-b", "topic"]);
    for i in 0..4 {
        write(dir, &format!("topic{i}.txt"), format!("{i}\n"));
        commit_all(dir, &format!("topic {i}"));
    }
    git(dir, &["checkout", "-q", "main"]);
    commit_file(dir, "main.txt", "main\n", "main moves");
    git(dir, &["checkout", "-q", "topic"]);
    git(dir, &["merge", "-q", "--no-edit", "main"]);
    commit_file(dir, "after.txt", "after\n", "after merge");
    git(dir, &["checkout", "-q", "main"]);
}

#[test]
fn range_holds_the_commits_git_lists_parents_first() {
    let (_tmp, dir) = tmp_repo_with(branched);
    let repo = open(&dir);
    let unit = model::range(&repo, "main~1..topic", ModelOptions::default()).unwrap();
    let ids: Vec<ObjectId> = unit.commits.iter().map(|c| c.id.unwrap()).collect();
    let expected = rev_list(&dir, &["main~1..topic"]);
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>(),
        expected.iter().collect::<BTreeSet<_>>()
    );
    for (i, c) in unit.commits.iter().enumerate() {
        for p in &c.parents {
            if let Some(j) = ids.iter().position(|x| x == p) {
                assert!(j < i, "parent {p} listed after its child");
            }
        }
    }
    // Cumulative: merge-base(A, B) -> B, as `git diff A...B` shows it.
    assert_eq!(
        unit.base,
        Some(oid(&git(&dir, &["merge-base", "main~1", "topic"])))
    );
    let names = git(&dir, &["diff", "--name-only", "main~1...topic"]);
    let got: Vec<&str> = unit.cumulative.iter().map(|f| f.path()).collect();
    assert_eq!(got, names.lines().collect::<Vec<_>>());

    // A single revision is that commit against its first parent.
    let one = model::range(&repo, "topic~1", ModelOptions::default()).unwrap();
    assert_eq!(one.commits.len(), 1);
    assert_eq!(
        one.commits[0].id,
        Some(oid(&git(&dir, &["rev-parse", "topic~1"])))
    );
    assert_eq!(one.base, Some(oid(&git(&dir, &["rev-parse", "topic~2"]))));
}

#[test]
fn ref_updates_judge_only_commits_new_to_the_repository() {
    let (_tmp, dir) = tmp_repo_with(branched);
    let repo = open(&dir);
    let zero = ObjectId::null(repo.object_hash());
    let topic = oid(&git(&dir, &["rev-parse", "topic"]));
    let main = oid(&git(&dir, &["rev-parse", "main"]));

    // A new ref whose history is partly known: only commits `git rev-list new --not main`.
    let known = vec![main];
    let create = RefUpdate {
        old: zero,
        new: topic,
        name: "refs/heads/new".into(),
    };
    let units = model::updates(
        &repo,
        std::slice::from_ref(&create),
        &known,
        ModelOptions::default(),
    )
    .unwrap();
    let u = &units[0];
    assert_eq!(u.kind, Some(UpdateKind::Create));
    let expected = rev_list(&dir, &["topic", "--not", "main"]);
    let got: BTreeSet<ObjectId> = u.commits.iter().map(|c| c.id.unwrap()).collect();
    assert_eq!(got, expected.iter().copied().collect());
    // The base is the first parent of the oldest new commit, never the empty tree.
    let oldest = &u.commits[0];
    assert_eq!(u.base, oldest.parents.first().copied());
    assert!(u.base.is_some());
    assert!(!u.cumulative.iter().any(|f| f.path() == "base0.txt"));

    // With every ref known, nothing is new.
    let all = model::all_ref_tips(&repo).unwrap();
    assert!(all.contains(&topic) && all.contains(&main));
    let units = model::updates(&repo, &[create], &all, ModelOptions::default()).unwrap();
    assert!(units[0].commits.is_empty());
    assert!(units[0].cumulative.is_empty());

    // Fast-forward, non-fast-forward, delete, unchanged.
    let main_parent = oid(&git(&dir, &["rev-parse", "main~1"]));
    let upd = |old, new| RefUpdate {
        old,
        new,
        name: "refs/heads/main".into(),
    };
    let kinds: Vec<UpdateKind> = model::updates(
        &repo,
        &[
            upd(main_parent, main),
            upd(main, main_parent),
            upd(main, zero),
            upd(main, main),
            upd(main, topic),
        ],
        &[],
        ModelOptions::default(),
    )
    .unwrap()
    .iter()
    .map(|u| u.kind.unwrap())
    .collect();
    assert_eq!(
        kinds,
        vec![
            UpdateKind::FastForward,
            UpdateKind::NonFastForward,
            UpdateKind::Delete,
            UpdateKind::Unchanged,
            UpdateKind::FastForward,
        ]
    );
    // A fast-forward's cumulative change is old -> new.
    let ff = model::updates(&repo, &[upd(main, topic)], &[main], ModelOptions::default()).unwrap();
    let names = git(&dir, &["diff", "--name-only", "main", "topic"]);
    let got: Vec<&str> = ff[0].cumulative.iter().map(|f| f.path()).collect();
    assert_eq!(got, names.lines().collect::<Vec<_>>());
    assert_eq!(ff[0].base, Some(main));
}

#[test]
fn a_new_ref_with_entirely_new_history_starts_from_the_empty_tree() {
    let (_tmp, dir) = tmp_repo();
    commit_file(&dir, "a.txt", "a\n", "one");
    write(&dir, "b.txt", "b\n");
    let tip = oid(&commit_all(&dir, "two"));
    let repo = open(&dir);
    let units = model::updates(
        &repo,
        &[RefUpdate {
            old: ObjectId::null(repo.object_hash()),
            new: tip,
            name: "refs/heads/main".into(),
        }],
        &[],
        ModelOptions::default(),
    )
    .unwrap();
    assert_eq!(units[0].commits.len(), 2);
    assert_eq!(units[0].base, None);
    assert_eq!(units[0].cumulative.len(), 2);
}

#[test]
fn bad_input_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let e = git_guard::engine::repo::open(&plain)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not a git repository") && e.contains("plain"),
        "{e}"
    );

    let dir = tmp.path().join("repo");
    init_repo(&dir);
    commit_file(&dir, "a.txt", "a\n", "one");
    let repo = open(&dir);
    let e = format!(
        "{:#}",
        model::range(&repo, "nope..main", ModelOptions::default()).unwrap_err()
    );
    assert!(e.contains("nope..main") && e.contains("hint"), "{e}");

    // A missing blob: the commit cannot be judged, and the error names the object.
    let blob = git(&dir, &["rev-parse", "HEAD:a.txt"]).trim().to_string();
    let obj = dir.join(".git/objects").join(&blob[..2]).join(&blob[2..]);
    std::fs::remove_file(obj).unwrap();
    let repo = open(&dir);
    let head = oid(&git(&dir, &["rev-parse", "HEAD"]));
    let e = format!(
        "{:#}",
        model::commit(&repo, head, ModelOptions::default()).unwrap_err()
    );
    assert!(e.contains(&blob) && e.contains("git fsck"), "{e}");
}

/// A long history with side branches merged back, renames, deletions and, part way, two
/// commits whose trees `git fsck` rejects (a `.GIT` entry and a duplicate name), the same bad
/// subtree brought by both: enough commits for the model to spread them over threads.
fn long_history_with_bad_trees(dir: &Path) -> String {
    init_repo(dir);
    let mut script = String::new();
    let mut mark = 0;
    let mut last = 0;
    for i in 0..300 {
        mark += 1;
        script.push_str(&format!(
            "commit refs/heads/main\nmark :{mark}\ncommitter T <t@e> {} +0000\ndata {}\nstep {i:03}\n",
            1_700_000_000 + i,
            9
        ));
        if last > 0 {
            script.push_str(&format!("from :{last}\n"));
        }
        // A side commit merged every 50 commits: a second parent the walk must order.
        if i % 50 == 25 && last > 0 {
            script.push_str(&format!("merge :{}\n", last - 3));
        }
        let body = format!("value_{i} = {}\nshared = 1\n", i * 7);
        script.push_str(&format!(
            "M 100644 inline src/m{}/f{}.py\ndata {}\n{body}\n",
            i % 7,
            i % 13,
            body.len()
        ));
        if i % 17 == 3 {
            script.push_str(&format!("D src/m{}/f{}.py\n", (i + 1) % 7, (i + 5) % 13));
        }
        if i % 23 == 7 {
            script.push_str(&format!(
                "R src/m{}/f{}.py src/renamed/r{i}.py\n",
                i % 7,
                i % 13
            ));
        }
        script.push('\n');
        last = mark;
    }
    let o = run_with_input(
        git_cmd(dir).args(["fast-import", "--quiet", "--force"]),
        script.as_bytes(),
    );
    assert_code(&o, 0);
    // Two bad trees in the middle of the line, each commit carrying on from the last.
    let blob_id = blob(dir, b"bad\n");
    let bad_sub = raw_tree(
        dir,
        &[
            ("100644", b"dup.txt", &blob_id),
            ("100644", b"dup.txt", &blob_id),
        ],
    );
    let mut tip = git(dir, &["rev-parse", "main"]).trim().to_string();
    for (i, extra) in [&b".GIT"[..], &b"other"[..]].into_iter().enumerate() {
        let base_tree = git(dir, &["rev-parse", &format!("{tip}^{{tree}}")]);
        let mut entries: Vec<(String, Vec<u8>, String)> = git(dir, &["ls-tree", base_tree.trim()])
            .lines()
            .map(|l| {
                let (meta, name) = l.split_once('\t').unwrap();
                let f: Vec<&str> = meta.split(' ').collect();
                // ls-tree pads a tree's mode to six digits; a tree object holds `40000`.
                let mode = f[0].trim_start_matches('0').to_string();
                (mode, name.as_bytes().to_vec(), f[2].to_string())
            })
            .collect();
        entries.push(("40000".into(), extra.to_vec(), bad_sub.clone()));
        let tree = sorted_tree(dir, &mut entries);
        tip = commit_tree(dir, &tree, &[&tip], &format!("bad tree {i}"));
        // Forty more commits on top, each changing one file (trees written directly: git's
        // index refuses the bad path).
        for j in 0..40 {
            let id = blob(dir, format!("{i} {j}\n").as_bytes());
            entries.retain(|e| e.1 != b"after.txt");
            entries.push(("100644".into(), b"after.txt".to_vec(), id));
            let tree = sorted_tree(dir, &mut entries);
            tip = commit_tree(dir, &tree, &[&tip], &format!("after {i} {j}"));
        }
    }
    git(dir, &["update-ref", "refs/heads/main", &tip]);
    tip
}

/// A tree of `entries` (mode, name, id), sorted by name first (no entry here is a prefix of
/// another, so that is git's order); its id.
fn sorted_tree(dir: &Path, entries: &mut [(String, Vec<u8>, String)]) -> String {
    entries.sort_by(|a, b| a.1.cmp(&b.1));
    let refs: Vec<(&str, &[u8], &str)> = entries
        .iter()
        .map(|(m, n, id)| (m.as_str(), n.as_slice(), id.as_str()))
        .collect();
    raw_tree(dir, &refs)
}

#[test]
fn the_model_is_the_same_on_any_number_of_threads() {
    let (_tmp, dir) = tmp_repo_with(|d| {
        long_history_with_bad_trees(d);
    });
    let repo = open(&dir);
    let tip = oid(&git(&dir, &["rev-parse", "main"]));
    let create = RefUpdate {
        old: ObjectId::null(repo.object_hash()),
        new: tip,
        name: "refs/heads/import".into(),
    };
    let model = |threads: usize| -> (String, Vec<Vec<u8>>) {
        let opts = ModelOptions {
            content: true,
            max_blob_scan_bytes: 1 << 20,
            threads,
            commit_bytes: false,
        };
        let units = model::updates(&repo, std::slice::from_ref(&create), &[], opts).unwrap();
        // Everything the rules read: the commits in order with their messages and files,
        // the tree problems in order, and the bytes of every side the tests rule parses
        // (those of the cumulative change; a walked commit keeps none).
        let shown = format!("{units:#?}");
        assert!(
            units
                .iter()
                .flat_map(|u| u.commits.iter().flat_map(|c| c.files.iter()))
                .all(|f| f.old_content.is_none() && f.new_content.is_none()),
            "walked commits hold no bytes"
        );
        let bytes: Vec<Vec<u8>> = units
            .iter()
            .flat_map(|u| u.cumulative.iter())
            .flat_map(|f| [f.old_content.as_ref(), f.new_content.as_ref()])
            .map(|b| b.map(|b| b.bytes().to_vec()).unwrap_or_default())
            .collect();
        (shown, bytes)
    };
    let one = model(1);
    assert!(
        one.1.iter().any(|b| !b.is_empty()),
        "the cumulative change keeps bytes to compare"
    );
    let units = model::updates(
        &repo,
        std::slice::from_ref(&create),
        &[],
        ModelOptions::default(),
    )
    .unwrap();
    assert_eq!(units[0].commits.len(), 382, "the history built");
    assert_eq!(
        units[0].commits.len(),
        rev_list(&dir, &["main"]).len(),
        "every commit of the history"
    );
    assert!(
        units[0].malformed.len() >= 2,
        "the bad trees are found: {:?}",
        units[0].malformed
    );
    for threads in [2, 3, 8] {
        let many = model(threads);
        assert!(
            one.0 == many.0,
            "{threads} threads describe the push differently"
        );
        assert!(one.1 == many.1, "{threads} threads read other contents");
    }
    // Judged commit by commit (`git guard flags` builds one unit per commit, its files as the
    // cumulative change), walked commits keep their bytes, on any number of threads.
    let root = git(&dir, &["rev-list", "--max-parents=0", "main"]);
    let spec = format!("{}..main", root.trim());
    for threads in [1, 8] {
        let opts = ModelOptions {
            content: true,
            max_blob_scan_bytes: 1 << 20,
            threads,
            commit_bytes: true,
        };
        let unit = model::range(&repo, &spec, opts).unwrap();
        let kept = unit
            .commits
            .iter()
            .flat_map(|c| c.files.iter())
            .filter(|f| f.new_content.is_some())
            .count();
        assert!(
            kept > 0,
            "{threads} threads: a range's commits keep their bytes"
        );
    }
}

/// One commit of `dir`'s current tree (after writing `rel`) on `parent`, dated `date` (seconds
/// since the epoch) by its committer; its id.
fn dated_commit(dir: &Path, parent: Option<&str>, rel: &str, date: i64, msg: &str) -> String {
    write(dir, rel, format!("{msg}\n"));
    git(dir, &["add", "-A"]);
    let tree = git(dir, &["write-tree"]).trim().to_string();
    let mut cmd = git_cmd(dir);
    cmd.args(["commit-tree", &tree, "-m", msg]);
    if let Some(p) = parent {
        cmd.args(["-p", p]);
    }
    let when = format!("@{date} +0000");
    cmd.env("GIT_COMMITTER_DATE", &when)
        .env("GIT_AUTHOR_DATE", &when);
    let out = cmd.output().expect("git runs");
    assert_code(&out, 0);
    stdout(&out).trim().to_string()
}

/// `n` commits on `from`, one new file `{name}{i}.txt` each, dated a second apart from
/// `date`; the last one's id.
fn dated_chain(dir: &Path, from: &str, name: &str, date: i64, n: i64) -> String {
    let mut at = from.to_string();
    for i in 0..n {
        at = dated_commit(dir, Some(&at), &format!("{name}{i}.txt"), date + i, name);
    }
    at
}

#[test]
fn commit_dates_out_of_order_never_make_old_commits_new() {
    // The known tip is dated long before the history it sits on (a clock set back): a walk by
    // date meets every old commit from the new tip's side before the known tip hides it. The
    // pushed commits are exactly those git lists, on any number of threads.
    let (_tmp, dir) = tmp_repo();
    let base = dated_commit(&dir, None, "base.txt", 1_000_000, "base");
    let fork = dated_chain(&dir, &base, "old", 2_000_000, 40);
    let known = dated_commit(&dir, Some(&fork), "known.txt", 500_000, "known, dated back");
    let tip = dated_chain(&dir, &fork, "new", 3_000_000, 40);
    git(&dir, &["update-ref", "refs/heads/main", &known]);
    let expected = rev_list(&dir, &["--topo-order", "--reverse", &tip, "--not", &known]);
    assert_eq!(expected.len(), 40);

    let repo = open(&dir);
    let create = RefUpdate {
        old: ObjectId::null(repo.object_hash()),
        new: oid(&tip),
        name: "refs/heads/new".into(),
    };
    for threads in [1, 4] {
        let opts = ModelOptions {
            threads,
            ..ModelOptions::default()
        };
        let units =
            model::updates(&repo, std::slice::from_ref(&create), &[oid(&known)], opts).unwrap();
        let got: Vec<ObjectId> = units[0].commits.iter().map(|c| c.id.unwrap()).collect();
        assert_eq!(got, expected, "on {threads} threads");
        let fork = format!("{tip}~40");
        assert_eq!(units[0].base, Some(oid(&git(&dir, &["rev-parse", &fork]))));
        let names = git(&dir, &["diff", "--name-only", &fork, &tip]);
        let paths: Vec<&str> = units[0].cumulative.iter().map(|f| f.path()).collect();
        assert_eq!(paths, names.lines().collect::<Vec<_>>());
    }
}

#[test]
fn test_files_parsed_beside_the_diff_judge_as_the_rules_own_parse() {
    // A push long enough for the walk to spread its commits over threads: the model parses the
    // cumulative change's test files while the commits are diffed. What the tests rule finds
    // from that parse is what it finds parsing them itself, on any number of threads.
    let (_tmp, dir) = tmp_repo();
    write(
        &dir,
        "tests/it.rs",
        "#[test]\nfn adds() {\n    assert_eq!(1 + 1, 2);\n}\n\n#[test]\nfn subtracts() {\n    assert_eq!(3 - 1, 2);\n}\n",
    );
    write(&dir, "src/lib.rs", "pub fn answer() -> u32 {\n    3\n}\n");
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "tests"]);
    let known = git(&dir, &["rev-parse", "HEAD"]).trim().to_string();
    let mut at = known.clone();
    for i in 0..40 {
        at = dated_commit(
            &dir,
            Some(&at),
            &format!("notes/{i}.txt"),
            1_000_000 + i,
            "note",
        );
    }
    write(
        &dir,
        "tests/it.rs",
        "#[test]\nfn adds() {\n    let _ = 1 + 1;\n}\n\n#[test]\nfn subtracts() {\n    assert_eq!(3 - 1, 2);\n}\n",
    );
    write(
        &dir,
        "src/lib.rs",
        "pub fn answer() -> u32 {\n    if cfg!(test) { 2 } else { 3 }\n}\n",
    );
    let tip = dated_commit(&dir, Some(&at), "notes/last.txt", 2_000_000, "weaken");

    let repo = open(&dir);
    let update = RefUpdate {
        old: ObjectId::null(repo.object_hash()),
        new: oid(&tip),
        name: "refs/heads/agent/x".into(),
    };
    let policy = git_guard::engine::policy::Policy::builtin();
    let actor = git_guard::engine::identity::Actor::new("agent", "test", &policy);
    let judge = |units: Vec<git_guard::engine::changes::Unit>| -> Vec<String> {
        git_guard::engine::judge_units(&policy, &actor, units)
            .findings
            .iter()
            .filter(|f| f.rule.starts_with("tests."))
            .map(|f| format!("{f:?}"))
            .collect()
    };
    let mut seen = Vec::new();
    // A hook lets each walked commit's bytes go (`commit_bytes: false`): the tests rule must
    // judge the same without them.
    for (threads, commit_bytes) in [(1, true), (1, false), (4, true), (4, false)] {
        let opts = ModelOptions {
            threads,
            commit_bytes,
            ..ModelOptions::default()
        };
        let units =
            model::updates(&repo, std::slice::from_ref(&update), &[oid(&known)], opts).unwrap();
        assert_eq!(units[0].commits.len(), 41);
        assert!(
            units[0].parses.is_some(),
            "parsed by the model on {threads}"
        );
        let mut unparsed = units.clone();
        unparsed[0].parses = None;
        let beside = judge(units);
        let own = judge(unparsed);
        assert_eq!(beside, own, "on {threads} threads");
        for rule in ["tests.weakened", "tests.cheat"] {
            assert!(
                beside.iter().any(|f| f.contains(&format!("\"{rule}\""))),
                "{rule} on {threads} threads: {beside:#?}"
            );
        }
        seen.push(beside);
    }
    for (i, other) in seen.iter().enumerate().skip(1) {
        assert_eq!(
            &seen[0], other,
            "run {i} (threads, bytes kept) judges otherwise"
        );
    }
}

/// `n` distinct lines tagged `tag`, so that files share lines only where a test means them to.
fn numbered(tag: &str, n: usize) -> String {
    (0..n).map(|i| format!("{tag} line {i}\n")).collect()
}

/// `base` with its lines `changed` replaced.
fn edited(base: &str, changed: std::ops::Range<usize>) -> String {
    base.lines()
        .enumerate()
        .map(|(i, l)| {
            if changed.contains(&i) {
                format!("edited {i}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// Where several deleted files could each be the source of several added ones, the pairs
/// are git's: a file that keeps its name is paired first, the best scores across the whole
/// commit win (not the first destination in path order taking its best source), and files
/// far apart in size are never compared. Each commit here once paired differently from git.
#[test]
fn ambiguous_renames_pair_as_git_pairs_them() {
    let (_tmp, dir) = tmp_repo_with(|d| {
        std::fs::create_dir_all(d).unwrap();
        git(d, &["init", "-q", "-b", "main"]);
        let foo = numbered("foo", 40);
        let one = numbered("one", 40);
        let two = numbered("two", 40);
        write(d, "src/foo.rs", &foo);
        write(d, "src/one.rs", &one);
        write(d, "src/two.rs", &two);
        write(d, "big.txt", numbered("big", 400));
        commit_all(d, "base");

        // Same name, 60% alike; another name sorting first, 97% alike.
        git(d, &["rm", "-q", "src/foo.rs"]);
        write(d, "lib/foo.rs", edited(&foo, 0..16));
        write(d, "lib/bar.rs", edited(&foo, 0..1));
        commit_all(d, "a name kept beside a closer copy");

        // Two sources, three destinations: `0.rs` (first in path order) is half of each,
        // `a.rs` is `one.rs` much edited, `b.rs` is `two.rs` barely touched.
        git(d, &["rm", "-q", "src/one.rs", "src/two.rs"]);
        let half: String = one
            .lines()
            .take(20)
            .chain(two.lines().skip(20))
            .map(|l| format!("{l}\n"))
            .collect();
        write(d, "dst/0.rs", &half);
        write(d, "dst/a.rs", edited(&one, 0..12));
        write(d, "dst/b.rs", edited(&two, 0..2));
        commit_all(d, "sources wanted by more than one destination");

        // A small file cut from a large one, and the large one gone.
        git(d, &["rm", "-q", "big.txt"]);
        write(
            d,
            "small.txt",
            numbered("big", 400)
                .lines()
                .take(60)
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
        );
        commit_all(d, "a large file cut down");
    });
    let rows = assert_agrees_on_all_commits(&dir, &["main"]);
    assert!(
        rows.iter().any(|r| r.0 == 'R'),
        "the history has renames: {rows:?}"
    );
}

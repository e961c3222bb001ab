//! Hermetic git and the project's binaries: inherited GIT_* variables cleared, no global or
//! system configuration, a fixed identity and fixed dates. Repositories (in place or in a new
//! temp directory), clones, files and commits; what a command printed, and assertions on it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

// The project's binaries.

/// The path of one of the project's binaries, as cargo built it for the tests.
pub fn bin(name: &str) -> PathBuf {
    match name {
        "git-guard" => PathBuf::from(env!("CARGO_BIN_EXE_git-guard")),
        other => {
            let guard = PathBuf::from(env!("CARGO_BIN_EXE_git-guard"));
            guard.with_file_name(other)
        }
    }
}

/// The directory holding the binaries (put on PATH so `git guard` and the hooks find them).
pub fn bin_dir() -> PathBuf {
    bin("git-guard").parent().unwrap().to_path_buf()
}

/// A command for one of the project's binaries, hermetic like git.
pub fn guard_cmd(name: &str, dir: &Path) -> Command {
    let mut c = Command::new(bin(name));
    c.current_dir(dir);
    hermetic(&mut c);
    c
}

/// `git guard ARGS` in `dir`, whatever the outcome.
pub fn guard(dir: &Path, args: &[&str]) -> Output {
    guard_cmd("git-guard", dir)
        .args(args)
        .output()
        .expect("git-guard runs")
}

/// `git guard ARGS` in `dir`, which must succeed.
#[track_caller]
pub fn guard_ok(dir: &Path, args: &[&str]) -> Output {
    let o = guard(dir, args);
    assert_code(&o, 0);
    o
}

// Hermetic git.

/// A git command isolated from the machine's configuration, with fixed dates and identity.
pub fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir);
    hermetic(&mut c);
    c
}

/// Clear inherited GIT_* variables and pin configuration, identity and dates.
pub fn hermetic(c: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("GIT_") {
            c.env_remove(k);
        }
    }
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    c.env("PATH", path)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GUARD_FORMAT")
        .env_remove("RUST_LOG");
}

/// Run git; panic with its output when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed in {}:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run git and return its whole output, whatever the status.
pub fn git_out(dir: &Path, args: &[&str]) -> Output {
    git_cmd(dir).args(args).output().expect("git runs")
}

/// `git rev-parse REV`, trimmed.
pub fn rev(dir: &Path, rev: &str) -> String {
    git(dir, &["rev-parse", rev]).trim().to_string()
}

/// Whether `name` resolves in the repository at `dir`.
pub fn has_ref(dir: &Path, name: &str) -> bool {
    git_out(dir, &["rev-parse", "-q", "--verify", name])
        .status
        .success()
}

// Repositories, in place or in a new temp directory, and clones.

/// A new repository (main branch) at `dir`.
pub fn init_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
}

/// A new, empty bare repository (main branch) at `path`.
pub fn init_bare(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    git(path, &["init", "-q", "--bare", "-b", "main"]);
}

/// A new repository (main branch) at `dir/name`; its path.
pub fn repo_at(dir: &Path, name: &str) -> PathBuf {
    let repo = dir.join(name);
    init_repo(&repo);
    repo
}

/// A temp directory with a new, empty repository `repo` in it.
pub fn tmp_repo() -> (tempfile::TempDir, PathBuf) {
    tmp_repo_with(init_repo)
}

/// A temp directory and the path `repo` in it, which `make` makes into a repository.
pub fn tmp_repo_with(make: impl FnOnce(&Path)) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    make(&dir);
    (tmp, dir)
}

/// A temp directory holding a policy file `policy.toml` of `text`: the directory and the file.
pub fn tmp_with_policy(text: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, text).unwrap();
    (tmp, policy)
}

/// A working clone of `from` (a path or a URL) at `dir/name`.
pub fn clone(dir: &Path, from: impl AsRef<Path>, name: &str) -> PathBuf {
    clone_with(dir, &[], from, name)
}

/// A bare clone of `from` at `dir/name`.
pub fn clone_bare(dir: &Path, from: impl AsRef<Path>, name: &str) -> PathBuf {
    clone_with(dir, &["--bare"], from, name)
}

/// `git clone -q FLAGS FROM DIR/NAME`; the clone's path.
pub fn clone_with(dir: &Path, flags: &[&str], from: impl AsRef<Path>, name: &str) -> PathBuf {
    let to = dir.join(name);
    let mut args = vec!["clone", "-q"];
    args.extend_from_slice(flags);
    args.push(from.as_ref().to_str().unwrap());
    args.push(to.to_str().unwrap());
    git(dir, &args);
    to
}

// Files and commits.

/// Write a file (creating directories) relative to `dir`.
pub fn write(dir: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// Set the permission bits of `path`.
pub fn set_mode(path: impl AsRef<Path>, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Stage everything and commit; return the commit id.
pub fn commit_all(dir: &Path, msg: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--no-verify", "-m", msg]);
    git(dir, &["rev-parse", "HEAD"]).trim().to_string()
}

/// Write one file and commit everything; the commit id.
pub fn commit_file(dir: &Path, rel: &str, content: impl AsRef<[u8]>, msg: &str) -> String {
    write(dir, rel, content);
    commit_all(dir, msg)
}

/// Write a library `src/lib.rs` and its test `tests/t.rs` in `dir` and commit everything; the
/// commit id.
pub fn commit_lib_and_test(dir: &Path, lib: &str, test: &str, msg: &str) -> String {
    write(dir, "src/lib.rs", lib);
    write(dir, "tests/t.rs", test);
    commit_all(dir, msg)
}

/// A tree object written byte for byte as given, past git's own checks (`git hash-object -t
/// tree --literally`): entries of (octal mode as written, name, object id in hex). Its id.
pub fn raw_tree(dir: &Path, entries: &[(&str, &[u8], &str)]) -> String {
    let mut bytes = Vec::new();
    for (mode, name, id) in entries {
        bytes.extend_from_slice(mode.as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(name);
        bytes.push(0);
        let hex = id.as_bytes();
        assert!(hex.len() % 2 == 0, "{id} is not an object id");
        for pair in hex.chunks(2) {
            let pair = std::str::from_utf8(pair).unwrap();
            bytes.push(u8::from_str_radix(pair, 16).unwrap());
        }
    }
    let mut cmd = git_cmd(dir);
    cmd.args(["hash-object", "-t", "tree", "--literally", "-w", "--stdin"]);
    let o = run_with_input(&mut cmd, &bytes);
    assert_code(&o, 0);
    stdout(&o).trim().to_string()
}

/// A blob holding `content` in the repository at `dir`; its id.
pub fn blob(dir: &Path, content: &[u8]) -> String {
    let mut cmd = git_cmd(dir);
    cmd.args(["hash-object", "-w", "--stdin"]);
    let o = run_with_input(&mut cmd, content);
    assert_code(&o, 0);
    stdout(&o).trim().to_string()
}

/// `git commit-tree TREE -p PARENT... -m MSG`: a commit of any tree; its id.
pub fn commit_tree(dir: &Path, tree: &str, parents: &[&str], msg: &str) -> String {
    let mut args = vec!["commit-tree", tree];
    for p in parents {
        args.extend(["-p", p]);
    }
    args.extend(["-m", msg]);
    git(dir, &args).trim().to_string()
}

// Running a command, and what it printed.

/// Run `cmd` with `input` on its standard input; its whole output.
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A program may refuse before it reads all of its input (that is what some tests check):
    // the pipe closed under the write is not the test's failure.
    match child.stdin.take().unwrap().write_all(input) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}

/// What a command printed on its standard output.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What a command printed on its standard error.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Both streams of a command's output, for a failure message.
pub fn all(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// Insist on an exit code; the standard output.
#[track_caller]
pub fn stdout_of(o: &Output, code: i32) -> String {
    assert_code(o, code);
    stdout(o)
}

// Assertions that show what they looked at.

/// Insist on an exit code, showing both streams when it differs.
#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}", all(o));
}

/// Assert that `text` contains `part`, showing the text when it does not.
#[track_caller]
pub fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "{part:?} is not in:\n{text}");
}

/// Assert that a command failed, and that its output contains `part`.
#[track_caller]
pub fn assert_fails_with(o: &Output, part: &str) {
    assert!(!o.status.success(), "it should fail:\n{}", all(o));
    assert_contains(&all(o), part);
}

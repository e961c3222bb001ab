//! Every spelling of a refused command the judge must see through, on a real workspace,
//! through the same entry a harness adapter calls (`exec::judge_for`): wrappers, xargs and
//! find, eval/trap/source in any quoting, git's global options, configuration and variables
//! that run programs, long options equal to denied short ones, pushes.

mod support;

use std::path::{Path, PathBuf};

use git_guard::exec::judge_for;
use support::git::*;

fn workspace(t: &Path) -> PathBuf {
    let up = t.join("up");
    init_repo(&up);
    write(&up, "README.md", "hi\n");
    commit_all(&up, "first");
    let root = t.join("ws");
    let out = guard_cmd("git-guard", t)
        .args(["workspace", "create", "--topic", "t", "--from"])
        .arg(&up)
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    root
}

/// (line, the rule that must refuse it).
const DENIED: &[(&str, &str)] = &[
    // wrappers
    ("env git merge x", "commands.deny"),
    ("env -i FOO=1 git merge x", "commands.deny"),
    ("env -S 'git merge x'", "commands.deny"),
    ("command git merge x", "commands.deny"),
    ("builtin command git merge x", "commands.shell"),
    ("exec git merge x", "commands.deny"),
    ("nice -n 5 git merge x", "commands.deny"),
    ("ionice -c 3 git merge x", "commands.deny"),
    ("nohup git merge x", "commands.deny"),
    ("stdbuf -o0 git merge x", "commands.deny"),
    ("setsid git merge x", "commands.deny"),
    ("time git merge x", "commands.deny"),
    ("timeout -s KILL 5 git merge x", "commands.deny"),
    ("timeout --kill-after=1 5 git merge x", "commands.deny"),
    ("setpriv --reuid=1000 git merge x", "commands.deny"),
    ("script -q -c 'git merge x' /dev/null", "commands.deny"),
    ("script --command='git merge x'", "commands.deny"),
    ("flock ./lock git merge x", "commands.deny"),
    ("flock ./lock -c 'git merge x'", "commands.deny"),
    ("taskset 0x1 git merge x", "commands.deny"),
    ("taskset -c 0 git merge x", "commands.deny"),
    ("chrt 10 git merge x", "commands.deny"),
    ("chrt -r 10 git merge x", "commands.deny"),
    ("prlimit --nofile=10 git merge x", "commands.deny"),
    ("strace -f -o ./t.log git merge x", "commands.deny"),
    ("ltrace git merge x", "commands.deny"),
    ("watch -n 1 git merge x", "commands.deny"),
    ("unbuffer git merge x", "commands.deny"),
    ("busybox sh -c 'git merge x'", "commands.deny"),
    ("sudo -u root ls", "commands.deny"),
    ("doas git merge x", "commands.deny"),
    ("su -c 'ls'", "commands.deny"),
    ("sh -c 'git merge x'", "commands.deny"),
    ("bash -ec 'git merge x'", "commands.deny"),
    ("rbash -c 'git merge x'", "commands.deny"),
    ("dash -c 'ls && git merge x'", "commands.deny"),
    ("sh -s", "commands.shell"),
    ("bash", "commands.shell"),
    ("sh -", "commands.shell"),
    ("nice sh -c 'env timeout 5 git merge x'", "commands.deny"),
    // xargs: its arguments and the words it reads
    ("xargs git merge", "commands.deny"),
    ("xargs -n 1 git", "commands.shell"),
    ("xargs -0 sh -c", "commands.shell"),
    ("xargs -I % git merge %", "commands.deny"),
    ("xargs git checkout", "commands.deny"),
    ("xargs rm -rf", "commands.deny"),
    ("xargs chmod", "commands.deny"),
    ("xargs env", "commands.shell"),
    // what xargs reads may be an option: `--hard`, `--amend`, `--no-verify`, a `-c` value
    ("echo --hard | xargs -I % git reset %", "commands.deny"),
    ("xargs -I % git commit -m x %", "commands.deny"),
    ("xargs -I % git -c % commit -m x", "commands.deny"),
    // find: every -exec, -execdir, -ok, -okdir
    ("find . -exec git merge {} ';'", "commands.deny"),
    (
        "find . -name x -exec ls ';' -exec git merge x ';'",
        "commands.deny",
    ),
    ("find . -execdir git merge x '+'", "commands.deny"),
    ("find . -ok git merge x ';'", "commands.deny"),
    ("find . -okdir git merge x ';'", "commands.deny"),
    ("find . -exec sh -c 'git merge x' ';'", "commands.deny"),
    ("find . -exec git checkout {} ';'", "commands.deny"),
    ("find . -exec sh -c 'cat {}' ';'", "commands.shell"),
    ("find . -exec {} ';'", "commands.shell"),
    ("find . -exec git {} ';'", "commands.shell"),
    // eval, trap, source, in any quoting and behind any wrapper
    ("eval git merge x", "commands.shell"),
    ("'eval' 'git merge x'", "commands.shell"),
    ("\"eval\" ls", "commands.shell"),
    ("e\\val ls", "commands.shell"),
    ("command eval ls", "commands.shell"),
    ("builtin eval ls", "commands.shell"),
    ("env eval ls", "commands.shell"),
    ("trap 'git merge x' EXIT", "commands.shell"),
    ("'trap' ls EXIT", "commands.shell"),
    ("command trap ls EXIT", "commands.shell"),
    ("source ./x.sh", "commands.shell"),
    ("'source' ./x.sh", "commands.shell"),
    (". ./x.sh", "commands.shell"),
    ("'.' ./x.sh", "commands.shell"),
    ("sh -c 'eval ls'", "commands.shell"),
    // git's global options, parsed as git parses them
    ("git -C . merge x", "commands.deny"),
    ("git -C / status", "commands.guard"),
    ("git --git-dir=/tmp/x status", "commands.guard"),
    ("git --git-dir /tmp/x status", "commands.guard"),
    ("git --work-tree /tmp status", "commands.guard"),
    ("git --namespace x merge y", "commands.deny"),
    ("git --attr-source HEAD merge x", "commands.deny"),
    ("git --exec-path=./bin status", "commands.guard"),
    ("git --no-pager -P --bare merge x", "commands.deny"),
    ("git -c user.name=x merge y", "commands.deny"),
    (
        "git --no-replace-objects --literal-pathspecs merge x",
        "commands.deny",
    ),
    // configuration that runs programs, however it comes
    (
        "git -c core.hooksPath=/dev/null commit -m x",
        "commands.guard",
    ),
    ("git -c CORE.HOOKSPATH=/dev/null status", "commands.guard"),
    ("git -c core.fsmonitor=./x status", "commands.guard"),
    ("git -c core.editor=./x commit", "commands.guard"),
    ("git -c core.pager=./x log", "commands.guard"),
    ("git -c core.sshCommand=./x fetch", "commands.guard"),
    ("git -c alias.st=!sh status", "commands.guard"),
    ("git -c credential.helper=./x fetch", "commands.guard"),
    ("git -c diff.external=./x diff", "commands.guard"),
    ("git -c diff.x.textconv=./x diff", "commands.guard"),
    ("git -c filter.x.smudge=./x checkout .", "commands.guard"),
    ("git -c include.path=./x status", "commands.guard"),
    ("git -c protocol.ext.allow=always fetch", "commands.guard"),
    (
        "git --config-env=core.editor=EDITOR commit",
        "commands.guard",
    ),
    ("git --config-env core.pager=P log", "commands.guard"),
    ("git config core.fsmonitor ./x", "commands.guard"),
    (
        "git config --local core.hooksPath /dev/null",
        "commands.guard",
    ),
    ("git config alias.st '!sh'", "commands.guard"),
    ("git config --add diff.x.textconv ./x", "commands.guard"),
    ("git config set core.editor ./x", "commands.guard"),
    (
        "GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.hooksPath GIT_CONFIG_VALUE_0=/dev/null git status",
        "commands.guard",
    ),
    ("GIT_CONFIG_PARAMETERS=x git status", "commands.guard"),
    ("env GIT_CONFIG_PARAMETERS=x git status", "commands.guard"),
    ("export GIT_CONFIG_COUNT=1", "commands.guard"),
    ("export GIT_CONFIG_PARAMETERS", "commands.guard"),
    ("declare -x GIT_CONFIG_KEY_0=core.pager", "commands.guard"),
    ("GIT_DIR=/tmp/x git status", "commands.guard"),
    // variables that name programs
    ("EDITOR=./x git commit", "commands.guard"),
    ("VISUAL=./x git commit", "commands.guard"),
    ("PAGER=./x git log", "commands.guard"),
    ("GIT_PAGER=./x git log", "commands.guard"),
    ("GIT_EDITOR=./x git commit", "commands.guard"),
    ("GIT_SSH=./x git fetch", "commands.guard"),
    ("GIT_SSH_COMMAND=./x git fetch", "commands.guard"),
    ("LD_PRELOAD=./x.so ls", "commands.guard"),
    ("env LD_PRELOAD=./x.so ls", "commands.guard"),
    ("export EDITOR=./x", "commands.guard"),
    ("export LD_PRELOAD=./x.so", "commands.guard"),
    ("PATH=./bin git status", "commands.guard"),
    // long options equal to denied short ones
    ("rm --recursive --force /", "commands.deny"),
    ("rm -R -f /", "commands.deny"),
    ("rm --force --recursive /etc", "commands.deny"),
    ("chmod 0777 x", "commands.deny"),
    ("chmod --recursive 777 .", "commands.deny"),
    ("chmod a+rwx x", "commands.deny"),
    ("chmod -R ugo+rwx .", "commands.deny"),
    ("git branch --force x", "commands.deny"),
    ("git branch --delete --force x", "commands.deny"),
    ("git branch -D x", "commands.deny"),
    ("git commit --no-verify -m x", "commands.guard"),
    ("git commit --no-veri -m x", "commands.guard"),
    ("git commit -qn -m x", "commands.guard"),
    ("git commit --amend", "commands.deny"),
    ("git commit --am", "commands.deny"),
    ("git reset --hard", "commands.deny"),
    ("git checkout main", "commands.deny"),
    ("git switch --force main", "commands.deny"),
    // pushes
    ("git push origin main", "commands.push"),
    ("git push origin HEAD:main", "commands.push"),
    ("git push --force origin main", "commands.push"),
    ("git push origin :agent/t", "commands.push"),
    ("git push --mirror origin", "commands.push"),
    ("git push --all origin", "commands.push"),
    ("git push origin", "commands.push"),
    ("git send-pack ../up main", "commands.push"),
    ("git -C . push origin main", "commands.push"),
    ("git push origin agent/t", "commands.push"),
    // unquoted globs that could expand to a subcommand, a branch or a program (a file named
    // `main` or `git` in the directory): the judge never sees what they become
    ("git checkout ma*", "commands.shell"),
    ("g?t merge x", "commands.shell"),
    ("git merge [x]", "commands.shell"),
    // a `cd` that may not happen: what follows is judged from every directory it may run in
    (
        "cd .git/none/x; echo x > ../../../../sandbox/y",
        "commands.cwd",
    ),
    ("(cd /); ls", "commands.cwd"),
    ("for d in a b; do cd ..; done", "commands.cwd"),
    // the shell grammar sees into compound commands, subshells, groups, functions,
    // here-documents and substitutions that only feed data: each command in them is judged
    ("(git merge x)", "commands.deny"),
    ("{ git merge x; }", "commands.deny"),
    ("! git merge x", "commands.deny"),
    ("ls | (cd ../sandbox && git merge x)", "commands.deny"),
    ("if true; then git merge x; fi", "commands.deny"),
    (
        "if false; then ls; elif true; then ls; else git merge x; fi",
        "commands.deny",
    ),
    ("while false; do git merge x; done", "commands.deny"),
    ("until true; do git merge x; done", "commands.deny"),
    ("for f in a b; do git merge x; done", "commands.deny"),
    ("case a in b) ls;; *) git merge x;; esac", "commands.deny"),
    ("f() { git merge x; }", "commands.deny"),
    ("f() ( git merge x )", "commands.deny"),
    ("X=$(git merge x)", "commands.deny"),
    ("X=\"$(git merge x)\" ls", "commands.deny"),
    ("for f in $(git merge x); do ls; done", "commands.deny"),
    ("case $(git merge x) in *) ls;; esac", "commands.deny"),
    ("cat <<EOF\n$(git merge x)\nEOF", "commands.deny"),
    ("cat <<EOF | git merge x\nhi\nEOF", "commands.deny"),
    ("cat <<EOF && git merge x\nhi\nEOF", "commands.deny"),
    ("(git push origin main)", "commands.push"),
    (
        "if true; then git -c core.hooksPath=/dev/null commit; fi",
        "commands.guard",
    ),
    ("f() { export GIT_CONFIG_COUNT=1; }", "commands.guard"),
    ("{ ls; } > /etc/x", "commands.cwd"),
    ("while false; do ls; done > ../../x", "commands.cwd"),
    // what cannot be known before it runs, or what sh would read otherwise: refused
    ("echo $(git merge x)", "commands.shell"),
    ("git \"$(echo merge)\" x", "commands.shell"),
    ("$(echo git) merge x", "commands.shell"),
    ("`echo git` merge x", "commands.shell"),
    ("for f in merge; do git $f x; done", "commands.shell"),
    ("X=merge; git $X x", "commands.shell"),
    ("echo ${x:-$(git merge x)}", "commands.shell"),
    ("X=${!y}", "commands.shell"),
    ("X=`git merge x`", "commands.shell"),
    ("echo $((1+2))", "commands.shell"),
    ("((x=1))", "commands.shell"),
    ("echo $'\\x41'", "commands.shell"),
    ("[[ -f x ]] && ls", "commands.shell"),
    ("ls |& cat", "commands.shell"),
    ("function f { ls; }", "commands.shell"),
    ("a=(1 2)", "commands.shell"),
    ("cat <<< x", "commands.shell"),
    ("diff <(ls) <(ls)", "commands.shell"),
    ("gi\\\nt merge x", "commands.shell"),
    ("git $ merge x", "commands.shell"),
    ("cat <<EOF\nhi\n", "commands.shell"),
    ("cat <<EOF\n`git merge x`\nEOF", "commands.shell"),
    ("cat <<-EOF\nx\n  EOF\ngit merge x\nEOF", "commands.shell"),
    ("sleep 1 &", "commands.shell"),
    ("ls; ; ls", "commands.shell"),
];

const ALLOWED: &[&str] = &[
    "git status",
    "git commit -m 'push it'",
    "git log --oneline main",
    "git -c user.name=x commit -m x",
    "git branch -d old",
    "rm -rf build",
    "chmod 644 x",
    "chmod -R u+rw .",
    "xargs grep -n TODO",
    "find . -name '*.rs' -exec grep -n x {} ';'",
    "env FOO=1 cargo test",
    "timeout 5 cargo test",
    "sh -c 'echo ok | wc -l'",
    "GIT_AUTHOR_NAME=x git commit -m x",
    "export FOO=1",
    "command -v git",
    "watch -n 1 ls",
    "(ls)",
    "{ ls; echo done; }",
    "if [ -f README.md ]; then cat README.md; fi",
    "for f in a b; do echo hi; done",
    "while false; do ls; done",
    "case a in a) ls;; esac",
    "f() { ls; }; f",
    "! git diff --quiet",
    "X=$(git rev-parse HEAD)",
    "cat <<'EOF' > notes.txt\nhello $X `id`\nEOF",
    "cat <<EOF | wc -l\nhello $USER $(date)\nEOF",
    "cd ../sandbox && ls > out.txt",
    "ls ./*.rs src/*.rs",
    "ls # a comment",
    "git log --format='%h %s' -n 3",
    "find . -name x -exec mv {} {}.bak ';'",
];

#[test]
fn every_spelling_is_judged_as_what_it_runs() {
    let t = tempfile::tempdir().unwrap();
    let root = workspace(t.path());
    let mut wrong = Vec::new();
    for (line, rule) in DENIED {
        match judge_for(&root, None, line) {
            Ok(j) => match &j.denial {
                Some(d) if d.rule == *rule && !d.hint.is_empty() && !d.hint.contains('\n') => {}
                Some(d) => wrong.push(format!(
                    "{line:?}: refused by {} ({}), not {rule}",
                    d.rule, d.reason
                )),
                None => wrong.push(format!("{line:?}: allowed, should be refused by {rule}")),
            },
            Err(e) => wrong.push(format!("{line:?}: cannot judge: {e:#}")),
        }
    }
    for line in ALLOWED {
        match judge_for(&root, None, line) {
            Ok(j) if j.allowed() => {}
            Ok(j) => {
                let d = j.denial.unwrap();
                wrong.push(format!("{line:?}: refused by {}: {}", d.rule, d.reason))
            }
            Err(e) => wrong.push(format!("{line:?}: cannot judge: {e:#}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every judgement is recorded.
    let log = std::fs::read_to_string(root.join("logs/audit.log")).unwrap();
    assert_eq!(log.lines().count(), DENIED.len() + ALLOWED.len());
}

//! Unit tests of the judge and the splitter.

use super::judge::CommandRules;
use super::pattern::is_protected_name;
use super::shell::split_shell_line;
use super::{Denial, Roots};
use crate::engine::policy::{Policy, PolicySource};

fn rules(extra: &str) -> CommandRules {
    let p = Policy::parse(extra, PolicySource::Builtin).unwrap();
    CommandRules::new(&p.commands, &p.refs.protected).unwrap()
}

fn roots() -> (tempfile::TempDir, Roots) {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("code-repo")).unwrap();
    std::fs::create_dir(d.path().join("sandbox")).unwrap();
    let r = Roots::of_workspace(d.path()).unwrap();
    (d, r)
}

fn argv(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn judge(r: &CommandRules, roots: &Roots, a: &[&str]) -> Result<(), Denial> {
    let v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    r.judge_argv(&v, &roots.writable[0], roots)
}

#[test]
fn default_denials_hold_through_spelling_variants() {
    let r = rules("");
    let (_d, ro) = roots();
    for denied in [
        &["git", "push"][..],
        &["/usr/bin/git", "push", "origin", "agent/x"],
        &["git", "-C", ".", "push"],
        &["git", "-c", "user.name=x", "push"],
        &["git", "commit", "-m", "msg", "--amend"],
        &["git", "commit", "--am"],
        &["git", "commit", "-qn", "-m", "x"],
        &["git", "commit", "--no-verify", "-m", "x"],
        &["git", "commit", "--no-ver", "-m", "x"],
        &["git", "-c", "CORE.HOOKSPATH=/dev/null", "commit"],
        &["git", "-c", "core.hooksPath=/dev/null", "status"],
        &["git", "--config-env=core.hooksPath=X", "status"],
        &["git", "-c", "alias.p=push", "p"],
        &["git", "config", "--local", "core.HooksPath", "/dev/null"],
        &["git", "checkout", "main"],
        &["git", "checkout", "-f", "origin/main"],
        &["git", "switch", "release/1.2"],
        &["git", "reset", "--soft", "main~1"],
        &["git", "reset", "--hard"],
        &["git", "branch", "-fq", "x"],
        &["rm", "-fr", "/"],
        &["rm", "-r", "-f", "/etc"],
        &["chmod", "-R", "777", "."],
        &["sudo", "ls"],
        &["docker", "compose", "up", "-d"],
        &["env", "FOO=1", "git", "push"],
        &["timeout", "-s", "KILL", "5", "git", "push"],
        &["nice", "-n", "5", "git", "merge", "x"],
        &["sh", "-c", "echo hi && git push"],
        &["bash", "-ec", "git   rebase main"],
        &["find", ".", "-exec", "git", "push", ";"],
        &["env", "GIT_CONFIG_COUNT=1", "git", "status"],
        &["git", "-C", "/", "status"],
    ] {
        assert!(judge(&r, &ro, denied).is_err(), "{denied:?} passed");
    }
    for allowed in [
        &["git", "status"][..],
        &["git", "commit", "-m", "push it"],
        &["git", "switch", "-c", "agent/y", "origin/main"],
        &["git", "checkout", "agent/x"],
        &["git", "log", "main"],
        &["git", "branch", "agent/z"],
        &["rm", "-rf", "build"],
        &["cargo", "test"],
        &["ls", "-la"],
        &["sh", "-c", "echo ok | wc -l"],
        &["git", "-c", "user.name=x", "commit", "-m", "x"],
    ] {
        assert_eq!(judge(&r, &ro, allowed), Ok(()), "{allowed:?}");
    }
}

#[test]
fn allow_list_limits_what_runs() {
    let r = rules("[commands]\nallow = [\"cargo *\", \"git status\"]\n");
    let (_d, ro) = roots();
    assert_eq!(judge(&r, &ro, &["cargo", "build"]), Ok(()));
    assert_eq!(judge(&r, &ro, &["git", "status", "-s"]), Ok(()));
    let e = judge(&r, &ro, &["ls"]).unwrap_err();
    assert_eq!(e.rule, "commands.allow");
    // The allow list does not lift the guard's own refusals.
    let e = judge(&r, &ro, &["cargo", "install", "x"]).unwrap_err();
    assert_eq!(e.rule, "commands.deny");
}

#[test]
fn splitter_splits_with_quoting() {
    let c = split_shell_line("git commit -m 'a && b' && echo \"x;y\" | wc -l ; ls").unwrap();
    let words: Vec<Vec<String>> = c.iter().map(|c| c.words.clone()).collect();
    assert_eq!(
        words,
        vec![
            argv("git commit -m"),
            argv("echo"),
            argv("wc -l"),
            argv("ls"),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, mut w)| {
            if i == 0 {
                w.push("a && b".into());
            }
            if i == 1 {
                w.push("x;y".into());
            }
            w
        })
        .collect::<Vec<_>>()
    );
    let c = split_shell_line("FOO=1 make 2>&1 >out.txt").unwrap();
    assert_eq!(c[0].assignments, vec![("FOO".into(), "1".into())]);
    assert_eq!(c[0].words, argv("make"));
    assert_eq!(c[0].redirects.len(), 2);
    assert!(!c[0].redirects[0].writes);
    assert!(c[0].redirects[1].writes);
    assert_eq!(c[0].redirects[1].target, "out.txt");
}

#[test]
fn splitter_refuses_what_it_cannot_judge() {
    for bad in [
        "echo $(git push)",
        "echo `git push`",
        "git commit -m \"$MSG\"",
        "X=push; git $X",
        "eval git push",
        "diff <(ls) <(ls)",
        "(git push)",
        "sleep 5 &",
        "if true; then git push; fi",
        "cat <<EOF",
        "git commit -*",
        "ls ~/x",
        "git commit --no-{verify,x}",
        "echo 'unterminated",
        "ls &&",
        "| ls",
        "source x.sh",
    ] {
        assert!(split_shell_line(bad).is_err(), "{bad:?} was split");
    }
    assert!(split_shell_line("ls ./*.rs src/*.rs; echo done;").is_ok());
}

#[test]
fn shell_line_follows_cd_and_redirections() {
    let r = rules("");
    let (d, ro) = roots();
    let cwd = ro.writable[0].clone();
    assert_eq!(
        r.judge_line("cd ../sandbox && ls > out.txt", &cwd, &ro),
        Ok(())
    );
    assert!(r.judge_line("cd / && ls", &cwd, &ro).is_err());
    assert!(r.judge_line("ls > ../../outside.txt", &cwd, &ro).is_err());
    assert_eq!(r.judge_line("ls >/dev/null 2>&1", &cwd, &ro), Ok(()));
    assert!(r.judge_line("GIT_DIR=/x git status", &cwd, &ro).is_err());
    assert!(
        r.judge_line("echo ok && git   'push'", &cwd, &ro)
            .unwrap_err()
            .reason
            .contains("git push")
    );
    // A symlink out of a root is followed.
    std::os::unix::fs::symlink("/", d.path().join("sandbox/escape")).unwrap();
    assert!(r.judge_line("cd ../sandbox/escape/etc", &cwd, &ro).is_err());
}

#[test]
fn protected_names() {
    let p = Policy::builtin();
    let pr = &p.refs.protected;
    for yes in [
        "main",
        "origin/main",
        "refs/heads/main",
        "main~2",
        "release/1.0",
        "+main",
    ] {
        assert!(is_protected_name(yes, pr), "{yes}");
    }
    for no in ["agent/x", "feature", "mainly", "refs/tags/main"] {
        assert!(!is_protected_name(no, pr), "{no}");
    }
}

#[test]
fn parser_finds_every_simple_command_wherever_it_stands() {
    use super::shell::parse_shell_line;
    let words = |line: &str| -> Vec<String> {
        parse_shell_line(line)
            .unwrap_or_else(|e| panic!("{line:?}: {e}"))
            .commands
            .iter()
            .map(|c| c.words.join(" "))
            .collect()
    };
    assert_eq!(words("(a 1) && { b 2; } || ! c 3"), ["a 1", "b 2", "c 3"]);
    assert_eq!(
        words("if a; then b; elif c; then d; else e; fi"),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        words("while a; do b; done; until c; do d; done"),
        ["a", "b", "c", "d"]
    );
    assert_eq!(words("for x in 1 2; do a; done"), ["a"]);
    assert_eq!(words("case w in p) a;; q|r) b;; esac"), ["a", "b"]);
    assert_eq!(words("f() { a; }; f"), ["a", "f"]);
    assert_eq!(words("X=$(a 1) b"), ["a 1", "b"]);
    assert_eq!(
        words("cat <<EOF | wc\n$(a 1) $HOME\nEOF"),
        ["a 1", "cat", "wc"]
    );
    assert_eq!(words("cat <<'EOF'\n$(a 1)\nEOF"), ["cat"]);
    assert_eq!(
        words("[ -f 'x y' ] && test -d z"),
        ["[ -f x y ]", "test -d z"]
    );
    assert_eq!(words("echo a > f b"), ["echo a b"]);
    // Redirections of a group reach every command in it; loops and functions repeat.
    let l = parse_shell_line("{ a; b; } > out.txt; while c; do cd d; done").unwrap();
    assert_eq!(l.commands[1].redirects[0].target, "out.txt");
    assert!(!l.commands[0].repeats && l.commands[3].repeats);
    assert_eq!(l.compound.as_deref(), Some("a group `{ }`"));
    assert_eq!(parse_shell_line("a | b && c").unwrap().compound, None);
}

#[test]
fn parser_refuses_where_the_grammar_and_sh_could_disagree() {
    use super::shell::parse_shell_line;
    for bad in [
        // the grammar reads two words, sh reads `git`
        "gi\\\nt push",
        // the grammar drops a lone `$`
        "git $ push",
        // the grammar ends the body at `  EOF`; sh (tabs only for <<-) does not
        "cat <<-EOF\nx\n  EOF\ngit push\nEOF",
        "cat <<EOF\nx\n",
        "cat <<EOF\n`git push`\nEOF",
        "cat <<EOF\n$((1+2))\nEOF",
        "x+=1 ls",
        "a[0]=1 ls",
        "echo $'\\x41'",
        "[[ -f x ]]",
        "[ -v 'a[$(id)]' ]",
        "ls <>rw",
        "cat <<A <<B\na\nA\nb\nB",
        "git push |& cat",
        "sleep 1 & ls",
        "",
        "# only a comment",
    ] {
        assert!(parse_shell_line(bad).is_err(), "{bad:?} was parsed");
    }
}

#[test]
fn characters_the_grammar_cannot_read_are_refused_not_parsed() {
    // Each of these crashed the process inside the bash grammar's lexer.
    for line in ["{\u{c06b8}", "a{\u{e0001}", "echo {\u{10ffff}"] {
        let e = super::split_shell_line(line).unwrap_err();
        assert!(e.contains("cannot read safely"), "{line:?}: {e}");
    }
    assert!(super::split_shell_line("echo caf\u{e9} \u{4e2d}").is_ok());
}

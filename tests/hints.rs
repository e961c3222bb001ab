//! Every hint the project can show an agent, read from the code that builds it, checked the way
//! the agent meets it: each git command a hint names is judged by the agent's own guard-exec in
//! a real workspace under the default policy and must be allowed there; and no hint tells how
//! to switch a rule off (a policy key, the secret allow marker, skipping the hooks).
//!
//! The hints are the last argument of every `Finding::violation / flag / note / new` call and of
//! every `Denial::hint` call in `src/`, outside test code; a hint held in a constant, a local or
//! a function (or captured by a format string) is followed to the text that defines it, and one
//! passed in as a parameter to what the callers pass, so a hint cannot escape the check by moving.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use support::git::*;
use support::workspace::small_workspace;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Ident(String),
    Punct(char),
}

/// The tokens of a Rust source file, comments dropped, string literals decoded as far as a
/// hint's text needs (escapes, line continuations, raw strings).
fn lex(src: &str) -> Vec<(Tok, usize)> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                line += usize::from(b[i] == '\n');
                i += 1;
            }
            i += 2;
        } else if c == 'r' && matches!(b.get(i + 1), Some('"') | Some('#')) && {
            let mut j = i + 1;
            while b.get(j) == Some(&'#') {
                j += 1;
            }
            b.get(j) == Some(&'"')
        } {
            let at = line;
            let mut j = i + 1;
            let mut hashes = 0;
            while b[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            let mut s = String::new();
            loop {
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                line += usize::from(b[j] == '\n');
                s.push(b[j]);
                j += 1;
            }
            out.push((Tok::Str(s), at));
            i = j;
        } else if c == '"' || (c == 'b' && b.get(i + 1) == Some(&'"')) {
            let at = line;
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            let mut s = String::new();
            while b[j] != '"' {
                if b[j] == '\\' {
                    j += 1;
                    match b[j] {
                        '\n' => {
                            line += 1;
                            j += 1;
                            while b[j].is_whitespace() {
                                line += usize::from(b[j] == '\n');
                                j += 1;
                            }
                            continue;
                        }
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        other => s.push(other),
                    }
                    j += 1;
                } else {
                    line += usize::from(b[j] == '\n');
                    s.push(b[j]);
                    j += 1;
                }
            }
            out.push((Tok::Str(s), at));
            i = j + 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\'') or a lifetime ('a).
            if b.get(i + 1) == Some(&'\\') {
                // Past the backslash and the escaped character, to the closing quote.
                let mut j = i + 3;
                while b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphanumeric() || c == '_' {
            let mut j = i;
            while j < b.len() && (b[j].is_alphanumeric() || b[j] == '_') {
                j += 1;
            }
            out.push((Tok::Ident(b[i..j].iter().collect()), line));
            i = j;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

fn is_p(t: &Tok, c: char) -> bool {
    *t == Tok::Punct(c)
}

fn is_i(t: &Tok, s: &str) -> bool {
    matches!(t, Tok::Ident(x) if x == s)
}

/// The index just past the bracket closing the one at `open`.
fn close(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0i32;
    let mut i = open;
    while i < toks.len() {
        match toks[i] {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    toks.len()
}

/// The source with `#[cfg(test)]` items taken out; the names of the test-only modules it
/// declares (`#[cfg(test)] mod x;`).
fn without_tests(toks: Vec<(Tok, usize)>) -> (Vec<(Tok, usize)>, Vec<String>) {
    let t: Vec<Tok> = toks.iter().map(|(t, _)| t.clone()).collect();
    let mut out = Vec::new();
    let mut test_mods = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let cfg_test = is_p(&t[i], '#')
            && t.get(i + 1).is_some_and(|x| is_p(x, '['))
            && t.get(i + 2).is_some_and(|x| is_i(x, "cfg"))
            && t.get(i + 4).is_some_and(|x| is_i(x, "test"))
            && t.get(i + 5).is_some_and(|x| is_p(x, ')'));
        if !cfg_test {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        let mut j = close(&t, i + 1);
        let mut name = None;
        while j < t.len() && !is_p(&t[j], ';') && !is_p(&t[j], '{') {
            if is_i(&t[j], "mod")
                && let Some(Tok::Ident(n)) = t.get(j + 1)
            {
                name = Some(n.clone());
            }
            j += 1;
        }
        if j < t.len() && is_p(&t[j], '{') {
            j = close(&t, j);
        } else {
            j += 1;
            test_mods.extend(name);
        }
        i = j;
    }
    (out, test_mods)
}

/// The names a format string captures: `{name}`, `{name:?}`.
fn captures(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(a) = rest.find('{') {
        rest = &rest[a + 1..];
        let end = rest.find(['}', ':']).unwrap_or(rest.len());
        let name = &rest[..end];
        if !name.is_empty()
            && name.chars().all(|c| c.is_alphanumeric() || c == '_')
            && !name.chars().all(|c| c.is_ascii_digit())
        {
            out.push(name.to_string());
        }
    }
    out
}

/// One source file's tokens, outside test code.
struct Source {
    path: PathBuf,
    toks: Vec<Tok>,
    lines: Vec<usize>,
}

impl Source {
    /// The strings of `toks[from..to]`, following names defined in this file (also those a
    /// format string captures, `{name}`). An argument that is a parameter alone stands for
    /// what the callers of its function or closure pass in that place.
    fn texts(&self, from: usize, to: usize, seen: &mut HashSet<String>, out: &mut Vec<String>) {
        if to == from + 1
            && let Tok::Ident(n) = &self.toks[from]
            && self.definitions(n).is_empty()
        {
            for (a, b) in self.arguments_for(n) {
                if seen.insert(format!("{n}@{a}")) {
                    self.texts(a, b, seen, out);
                }
            }
            return;
        }
        for i in from..to {
            // A match arm's pattern (`"commands.deny" =>`) is no text of the hint.
            let pattern = self.toks.get(i + 1).is_some_and(|x| is_p(x, '|'))
                || (self.toks.get(i + 1).is_some_and(|x| is_p(x, '='))
                    && self.toks.get(i + 2).is_some_and(|x| is_p(x, '>')));
            let names: Vec<String> = match &self.toks[i] {
                Tok::Str(_) if pattern => Vec::new(),
                Tok::Str(s) => {
                    out.push(s.clone());
                    captures(s)
                }
                Tok::Ident(n) => vec![n.clone()],
                _ => Vec::new(),
            };
            for n in names {
                if seen.insert(n.clone()) {
                    for (a, b) in self.definitions(&n) {
                        self.texts(a, b, seen, out);
                    }
                }
            }
        }
    }

    /// Where parameter `name` gets its values: for each function or closure of the file that
    /// takes it, the token ranges of the arguments its calls pass in its place.
    fn arguments_for(&self, name: &str) -> Vec<(usize, usize)> {
        let t = &self.toks;
        let mut out = Vec::new();
        for p in 1..t.len() {
            if !(is_i(&t[p], name) && t.get(p + 1).is_some_and(|x| is_p(x, ':'))) {
                continue;
            }
            // Back to the start of the parameter list, counting the parameters before it.
            let (mut depth, mut index, mut j) = (0i32, 0usize, p);
            let callee = loop {
                if j == 0 {
                    break None;
                }
                j -= 1;
                match &t[j] {
                    Tok::Punct(')' | ']' | '>') => depth += 1,
                    Tok::Punct('[' | '<') => depth -= 1,
                    Tok::Punct(',') if depth == 0 => index += 1,
                    Tok::Punct('(') if depth == 0 => {
                        break match t.get(j.wrapping_sub(1)) {
                            Some(Tok::Ident(f)) if j >= 2 && is_i(&t[j - 2], "fn") => {
                                Some(f.clone())
                            }
                            _ => None,
                        };
                    }
                    Tok::Punct('(') => depth -= 1,
                    Tok::Punct('|') if depth == 0 => {
                        break match (t.get(j.wrapping_sub(1)), t.get(j.wrapping_sub(2))) {
                            (Some(x), Some(Tok::Ident(f))) if is_p(x, '=') => Some(f.clone()),
                            _ => None,
                        };
                    }
                    _ => {}
                }
            };
            let Some(f) = callee else { continue };
            for c in 0..t.len().saturating_sub(1) {
                let call =
                    is_i(&t[c], &f) && is_p(&t[c + 1], '(') && (c == 0 || !is_i(&t[c - 1], "fn"));
                if !call {
                    continue;
                }
                let end = close(t, c + 1) - 1;
                let (mut depth, mut k, mut start) = (0i32, 0usize, c + 2);
                for (j, tok) in t.iter().enumerate().take(end + 1).skip(c + 2) {
                    let last = j == end;
                    match tok {
                        Tok::Punct('(' | '[' | '{') if !last => depth += 1,
                        Tok::Punct(')' | ']' | '}') if !last => depth -= 1,
                        Tok::Punct(',') | Tok::Punct(')') if depth == 0 => {
                            if k == index {
                                out.push((start, j));
                            }
                            k += 1;
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
            }
        }
        out
    }

    /// Where `name` is defined in this file (`const`, `static`, `let`, `fn`): the token ranges
    /// of the definitions' values or bodies.
    fn definitions(&self, name: &str) -> Vec<(usize, usize)> {
        let t = &self.toks;
        let mut out = Vec::new();
        for i in 0..t.len() {
            if !is_i(&t[i], name) || i == 0 {
                continue;
            }
            let before = &t[i - 1];
            let is_def = is_i(before, "const")
                || is_i(before, "static")
                || is_i(before, "let")
                || (is_i(before, "mut") && i >= 2 && is_i(&t[i - 2], "let"));
            if is_def {
                let mut j = i;
                while j < t.len() && !is_p(&t[j], '=') {
                    j += 1;
                }
                let start = j;
                let mut depth = 0i32;
                while j < t.len() {
                    match t[j] {
                        Tok::Punct('(' | '[' | '{') => depth += 1,
                        Tok::Punct(')' | ']' | '}') => depth -= 1,
                        Tok::Punct(';') if depth == 0 => break,
                        _ => {}
                    }
                    j += 1;
                }
                out.push((start, j));
            } else if is_i(before, "fn") {
                let mut j = i;
                while j < t.len() && !is_p(&t[j], '{') {
                    j += 1;
                }
                out.push((j, close(t, j)));
            }
        }
        out
    }

    /// Every hint this file builds: (line, its possible texts).
    fn hints(&self) -> Vec<(usize, Vec<String>)> {
        let t = &self.toks;
        let mut out = Vec::new();
        for i in 0..t.len() {
            let finding = is_i(&t[i], "Finding")
                && t.get(i + 1).is_some_and(|x| is_p(x, ':'))
                && t.get(i + 3).is_some_and(|x| {
                    ["violation", "flag", "note", "new"]
                        .iter()
                        .any(|k| is_i(x, k))
                })
                && t.get(i + 4).is_some_and(|x| is_p(x, '('));
            let denial = is_p(&t[i], '.')
                && t.get(i + 1).is_some_and(|x| is_i(x, "hint"))
                && t.get(i + 2).is_some_and(|x| is_p(x, '('));
            let default =
                is_i(&t[i], "fn") && t.get(i + 1).is_some_and(|x| is_i(x, "default_hint"));
            let (from, to) = if finding || denial {
                let open = if finding { i + 4 } else { i + 2 };
                let end = close(t, open) - 1;
                // The last argument at depth 0.
                let mut depth = 0i32;
                let mut last = open + 1;
                for (j, tok) in t.iter().enumerate().take(end).skip(open + 1) {
                    match tok {
                        Tok::Punct('(' | '[' | '{') => depth += 1,
                        Tok::Punct(')' | ']' | '}') => depth -= 1,
                        Tok::Punct(',') if depth == 0 && j + 1 < end => last = j + 1,
                        _ => {}
                    }
                }
                (last, end)
            } else if default {
                let mut j = i;
                while !is_p(&t[j], '{') {
                    j += 1;
                }
                (j, close(t, j))
            } else {
                continue;
            };
            let mut texts = Vec::new();
            self.texts(from, to, &mut HashSet::new(), &mut texts);
            out.push((self.lines[i], texts));
        }
        out
    }
}

fn sources(dir: &Path, out: &mut Vec<Source>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let mut test_mods = Vec::new();
    let mut files = Vec::new();
    for p in &entries {
        if p.extension().is_some_and(|e| e == "rs") {
            let (toks, mods) = without_tests(lex(&std::fs::read_to_string(p).unwrap()));
            test_mods.extend(mods);
            files.push((p.clone(), toks));
        }
    }
    for (p, toks) in files {
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        if test_mods.contains(&stem) {
            continue;
        }
        out.push(Source {
            path: p,
            lines: toks.iter().map(|(_, l)| *l).collect(),
            toks: toks.into_iter().map(|(t, _)| t).collect(),
        });
    }
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() && !test_mods.contains(&name) {
            sources(&p, out);
        }
    }
}

/// The git commands a text names: `git` and the words after it, up to the end of the phrase.
fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let words: Vec<&str> = text.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let w = w.trim_start_matches(['`', '(', '"', '\'']);
        if w != "git" {
            continue;
        }
        let mut cmd = vec!["git".to_string()];
        for next in &words[i + 1..] {
            let end = next.find(['`', ')', ',', ';']);
            let word = &next[..end.unwrap_or(next.len())];
            let stop = [
                "for", "then", "and", "or", "to", "instead", "if", "so", "with",
            ];
            if stop.contains(&word) {
                break;
            }
            if !word.is_empty() {
                cmd.push(word.to_string());
            }
            if end.is_some() {
                break;
            }
        }
        if cmd.len() > 1 {
            out.push(cmd.join(" "));
        }
    }
    out
}

/// A command with its placeholders filled in, as the agent would type it, split into words.
fn argv(cmd: &str) -> Vec<String> {
    let mut filled = String::new();
    let mut rest = cmd;
    while let Some(a) = rest.find('{') {
        filled.push_str(&rest[..a]);
        let b = rest[a..].find('}').map_or(rest.len(), |b| a + b + 1);
        filled.push_str("agent/my-change");
        rest = &rest[b..];
    }
    filled.push_str(rest);
    let filled = filled
        .replace("<topic>", "my-change")
        .replace("<value>", "x")
        .replace("PATH", "file.txt")
        .replace("BASE", "HEAD~1")
        .replace("FETCHED-TIP", "FETCH_HEAD")
        .replace("BRANCH", "agent/my-change")
        .replace("WHY", "why")
        .replace("REV", "HEAD");
    filled
        .split_whitespace()
        .map(|w| w.trim_matches(['"', '\'']).to_string())
        .collect()
}

/// The dotted keys of the default policy (`secrets.exclude`, `hooks.max_blob_scan_bytes`).
fn policy_keys() -> Vec<String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policy.toml")).unwrap();
    let table: toml::Table = text.parse().unwrap();
    let mut keys = Vec::new();
    for (section, v) in &table {
        if let toml::Value::Table(t) = v {
            keys.extend(t.keys().map(|k| format!("{section}.{k}")));
        }
    }
    keys
}

#[test]
fn every_hint_names_only_commands_the_agents_guard_exec_allows() {
    let mut all = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut all);
    let mut hints: Vec<(String, String)> = Vec::new();
    for s in &all {
        let rel = s
            .path
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display()
            .to_string();
        for (line, texts) in s.hints() {
            for t in texts {
                hints.push((format!("{rel}:{line}"), t));
            }
        }
    }
    assert!(
        hints.len() > 50,
        "too few hints found, the reader is broken: {hints:?}"
    );
    // The reader sees the rules' hints, wherever they are kept.
    for known in [
        "split the change into smaller commits",
        "a human must review this change to the tests",
        "remove it from every commit of the change and rotate it",
        "keep the runner running every test",
    ] {
        assert!(
            hints.iter().any(|(_, h)| h.contains(known)),
            "no hint says {known:?}"
        );
    }

    let t = tempfile::tempdir().unwrap();
    let (_, root) = small_workspace(t.path(), None);
    let mut judged: BTreeMap<Vec<String>, Option<String>> = BTreeMap::new();
    let mut denied = Vec::new();
    for (at, h) in &hints {
        for c in commands(h) {
            let words = argv(&c);
            let verdict = judged.entry(words.clone()).or_insert_with(|| {
                let o = guard_cmd("guard-exec", t.path())
                    .arg("--dry-run")
                    .arg("--root")
                    .arg(&root)
                    .arg("--")
                    .args(&words)
                    .output()
                    .unwrap();
                (!o.status.success()).then(|| stderr(&o).trim().to_string())
            });
            if let Some(why) = verdict {
                denied.push(format!("{at}: `{}`: {why}", words.join(" ")));
            }
        }
    }
    assert!(
        judged.len() > 5,
        "too few commands found in the hints: {judged:?}"
    );
    assert!(
        denied.is_empty(),
        "hints name commands the agent's guard-exec refuses:\n{}",
        denied.join("\n")
    );
}

#[test]
fn no_hint_tells_how_to_switch_a_rule_off() {
    let mut all = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut all);
    let keys = policy_keys();
    let mut bad = Vec::new();
    for s in &all {
        for (line, texts) in s.hints() {
            for h in texts {
                let lower = h.to_lowercase();
                // Who may approve (`actors.humans`) is no switch; every other key is one.
                let mut why: Vec<String> = keys
                    .iter()
                    .filter(|k| !k.starts_with("actors.") && lower.contains(k.as_str()))
                    .map(|k| format!("names the policy key {k}"))
                    .collect();
                for (needle, what) in [
                    ("guard:allow-secret", "names the secret allow marker"),
                    ("allow_marker", "names the secret allow marker"),
                    ("core.hookspath", "names the hooks path"),
                    ("mode = \"warn\"", "names warn mode"),
                    ("git -c", "names a configuration override"),
                ] {
                    if lower.contains(needle) {
                        why.push(what.to_string());
                    }
                }
                if lower.contains("--no-verify") && !lower.contains("without") {
                    why.push("names --no-verify".into());
                }
                // History rewriting the default [commands] deny, named without the word git.
                for verb in [
                    "rebase",
                    "--amend",
                    "filter-branch",
                    "update-ref",
                    "--force",
                ] {
                    if lower.contains(verb) && !lower.contains(&format!("without {verb}")) {
                        why.push(format!("names {verb}, which guard-exec denies"));
                    }
                }
                if lower.contains("merge") && !lower.contains("a human to merge") {
                    why.push("names merge, which guard-exec denies".into());
                }
                if !why.is_empty() {
                    bad.push(format!(
                        "{}:{line}: {h:?}: {}",
                        s.path.display(),
                        why.join(", ")
                    ));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "hints that switch a rule off:\n{}",
        bad.join("\n")
    );
}

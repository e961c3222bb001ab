//! The judgement of git commands, on the command line as [`super::argv`] takes it apart: the
//! refusals on git that hold whatever the policy says because they switch the guard itself
//! off or run a program the judge cannot see, and the judgement of a push by its refspecs.
//! Runs nothing.

use std::path::Path;

use super::argv::{Normal, runs_a_program};
use super::judge::CommandRules;
use super::{Denial, Roots};

/// Options of `git push` that push more than the refspecs name, or delete, or choose the
/// receiving program.
const PUSH_REFUSED: &[&str] = &[
    "--all",
    "--branches",
    "--mirror",
    "--tags",
    "--follow-tags",
    "--delete",
    "-d",
    "--prune",
    "--receive-pack",
    "--exec",
    "--repo",
];
/// Options of `git push` and `git send-pack` whose value is the next word.
const PUSH_VALUE_OPTIONS: &[&str] = &["-o", "--push-option", "--receive-pack", "--exec", "--repo"];

impl CommandRules {
    /// The refusals that hold whatever the policy says: they switch the guard off or run a
    /// program the judge cannot see.
    pub(crate) fn git_guard_rules(
        &self,
        n: &Normal,
        cwd: &Path,
        roots: &Roots,
    ) -> Result<(), Denial> {
        let guard =
            |reason: String, hint: &str| Err(Denial::new("commands.guard", reason).hint(hint));
        for d in &n.dirs {
            if !roots.contains(cwd, d) {
                return guard(
                    format!("git is pointed at {d}, outside the workspace's writable roots"),
                    "run git in the clone: drop -C/--git-dir/--work-tree, or name a directory inside code-repo/ or sandbox/",
                );
            }
        }
        if let Some(d) = &n.exec_path {
            return guard(
                format!("`--exec-path={d}` makes git run its commands from another directory"),
                "drop --exec-path: git's own programs are the ones that run",
            );
        }
        for o in &n.options {
            if let Some(kv) = o.strip_prefix("--config=") {
                let key = kv.split('=').next().unwrap_or("");
                if runs_a_program(key) {
                    return guard(
                        format!(
                            "`-c {key}=...` sets configuration that runs a program or switches the hooks off"
                        ),
                        "drop the -c: the clone's configuration is what git uses here",
                    );
                }
            } else if let Some(long) = o.strip_prefix("--") {
                let name = long.split('=').next().unwrap_or("");
                if name.len() >= 4 && "no-verify".starts_with(name) {
                    return guard(
                        format!("`{o}` skips the client hooks"),
                        "commit and push with the hooks on: fix what they report instead",
                    );
                }
            }
        }
        let sub = n.words.first().map(String::as_str).unwrap_or("");
        if sub == "commit"
            && n.options
                .iter()
                .any(|o| !o.starts_with("--") && o.contains('n'))
        {
            return guard(
                "`git commit -n` skips the client hooks".into(),
                "commit without -n/--no-verify and fix what the hooks report",
            );
        }
        if sub == "config"
            && let Some(key) = n
                .words
                .iter()
                .skip(1)
                .chain(n.options.iter())
                .map(|w| w.to_ascii_lowercase())
                .map(|w| {
                    w.trim_start_matches("--")
                        .split('=')
                        .next()
                        .unwrap_or("")
                        .to_string()
                })
                .find(|w| runs_a_program(w))
        {
            return guard(
                format!(
                    "`git config {key}` sets configuration that runs a program or switches the hooks off"
                ),
                "leave that key alone; set only keys such as user.name or branch.*",
            );
        }
        Ok(())
    }

    /// A push (`git push`, `git send-pack`): only the agent namespace, only to the upstream.
    pub(crate) fn judge_push(&self, argv: &[String], n: &Normal) -> Result<(), Denial> {
        let sub_at = n.sub_index.unwrap_or(1);
        let sub = argv.get(sub_at).map(String::as_str).unwrap_or("");
        let Some(target) = &self.push else {
            return Err(Denial::new(
                "commands.push",
                format!("`git {sub}` outside a workspace has no upstream to go to"),
            )
            .hint("run guard-exec with --root of the workspace whose upstream you push to"));
        };
        let own = format!("git push origin {}", target.branch);
        let deny = |reason: String| {
            Err(Denial::new("commands.push", reason)
                .hint(&format!("push your own branch: `{own}`")))
        };
        let mut words = Vec::new();
        let mut i = sub_at + 1;
        let mut dashdash = false;
        while i < argv.len() {
            let a = argv[i].as_str();
            i += 1;
            if dashdash || !a.starts_with('-') || a == "-" {
                words.push(a.to_string());
                continue;
            }
            if a == "--" {
                dashdash = true;
                continue;
            }
            let name = a.split('=').next().unwrap_or(a);
            let refused = PUSH_REFUSED.iter().any(|r| {
                *r == name
                    || (name.len() > 3
                        && name.starts_with("--")
                        && r.starts_with(name)
                        && r.len() > 2)
            });
            if refused {
                return deny(format!(
                    "`git {sub} {a}` pushes or deletes more than the branch named"
                ));
            }
            if PUSH_VALUE_OPTIONS.contains(&a) {
                i += 1;
            }
        }
        let Some((remote, refspecs)) = words.split_first() else {
            return deny(format!(
                "`git {sub}` without a remote and a branch pushes what the configuration says"
            ));
        };
        let to_upstream = target.remotes.iter().any(|r| r == remote)
            || Path::new(remote)
                .canonicalize()
                .is_ok_and(|p| p == target.upstream);
        if !to_upstream {
            return deny(format!(
                "`{remote}` is not the workspace's upstream ({})",
                target.upstream.display()
            ));
        }
        if refspecs.is_empty() {
            return deny(format!(
                "`git {sub} {remote}` without a branch pushes what the configuration says"
            ));
        }
        for spec in refspecs {
            let s = spec.trim_start_matches('+');
            let (src, dst) = match s.split_once(':') {
                Some((a, b)) => (a, b),
                None => (s, s),
            };
            if src.is_empty() {
                return deny(format!("`{spec}` deletes {dst}"));
            }
            if s.contains('*') {
                return deny(format!(
                    "`{spec}` is a pattern: it can push more than one branch"
                ));
            }
            let dst = if dst == "HEAD" || dst == "@" {
                match &target.head {
                    Some(h) => h.as_str(),
                    None => return deny(format!("`{spec}`: the clone has no branch checked out")),
                }
            } else {
                dst
            };
            let full = if dst.starts_with("refs/") {
                dst.to_string()
            } else {
                format!("refs/heads/{dst}")
            };
            if !target.namespace.is_match(&full) {
                return deny(format!(
                    "`{spec}` updates {full}, outside the agent namespace {}",
                    target.namespace_text
                ));
            }
        }
        Ok(())
    }
}

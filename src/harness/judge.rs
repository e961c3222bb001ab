//! The harness door's judgement of one tool call, for the workspace it was installed for.
//!
//! - A shell tool is judged as guard-exec judges a command line (its public
//!   [`crate::exec::judge_for`], in the payload's working directory), and every file the line
//!   redirects into is judged as a file the agent writes.
//! - A file tool is judged by where it writes (the walls: inside `code-repo` or `sandbox`,
//!   never in a `.git` directory, symlinks resolved) and by what the file will be after the
//!   tool ran, through the engine and the workspace's policy: one [`Unit`] of file changes,
//!   as the staged index would be, so `paths.deny`, `paths.protected`, the caps on blobs,
//!   secrets and the tests rules judge it as they judge a commit.
//!
//! What refuses: every violation (in `warn` mode, none but the kill switch), and every flag
//! but `tests.changed` (a plain change to a test is the agent's work; its flag waits for a
//! human before deploy). `caps.files`, `caps.lines` and `risk.max` measure a commit, which one
//! tool call is not: they are left to the commit and receive doors.
//!
//! Reads the workspace's record, its policy and the files the call changes; appends one audit
//! line per file judgement; writes nothing else and runs no process (guard-exec's judgement
//! runs none either).

use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::rebuild::{PatchOp, apply_cell_edit, apply_edits, apply_hunks, parse_patch};
use super::{Call, Refusal, ToolCall};
use crate::contain::paths::{lexical_normal, resolve_existing};
use crate::engine::changes::{CommitChanges, FileChange, Unit};
use crate::engine::identity::Actor;
use crate::engine::model::{ModelOptions, change_of_bytes};
use crate::engine::policy::{Mode, Policy, Role};
use crate::engine::verdict::{AGENTS_DISABLED, Finding, Severity};
use crate::site::audit::{self, Event};

/// Rules that measure a whole commit; one tool call is not one.
const COMMIT_ONLY: &[&str] = &["caps.files", "caps.lines", "risk.max"];

/// Words quoted for a shell line (an argv a harness hands over as a list).
pub fn argv_line(words: &[String]) -> String {
    if let [sh, flag, line] = words
        && matches!(
            Path::new(sh).file_name().and_then(|n| n.to_str()),
            Some("sh" | "bash" | "zsh" | "dash")
        )
        && matches!(flag.as_str(), "-c" | "-lc" | "-cl")
    {
        return line.clone();
    }
    words
        .iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The workspace as the door sees it.
struct Place {
    root: PathBuf,
    code_repo: PathBuf,
    sandbox: PathBuf,
    policy: Policy,
    actor: Actor,
}

/// Makes a file's new side from its old one (`None`: no such file; `Ok(None)`: deleted).
type NewSide<'a> = &'a dyn Fn(Option<&[u8]>) -> Result<Option<Vec<u8>>>;

/// One file the call writes: where it is, and both sides.
struct Target {
    /// Inside which root, and the path relative to it.
    in_repo: bool,
    rel: String,
    old: Option<Vec<u8>>,
    new: Option<Vec<u8>>,
}

/// Judge one call; an empty list is an allowed call. `Err`: nothing could be judged.
pub fn judge(root: &Path, call: &Call) -> Result<Vec<Refusal>> {
    let place = Place::open(root)?;
    let cwd = match &call.cwd {
        Some(c) if c.is_absolute() => c.clone(),
        Some(c) => place.code_repo.join(c),
        None => place.code_repo.clone(),
    };
    match &call.call {
        ToolCall::ReadOnly => Ok(Vec::new()),
        ToolCall::Unknown => Ok(vec![Refusal::new(
            "harness.tool",
            format!(
                "`{}` is not a tool the guard knows to write nothing, so it cannot tell what it would change",
                call.tool
            ),
            "use the harness's own Write, Edit or shell tools, which the guard judges; an admin can ask for this tool to be known",
        )]),
        ToolCall::Shell { command } => place.shell(&cwd, command),
        other => {
            let mut refusals = Vec::new();
            let targets = match place.targets(&cwd, other, &mut refusals) {
                Ok(t) => t,
                Err(e) => {
                    return Ok(vec![Refusal::new(
                        "harness.edit",
                        format!("{} cannot apply: {e:#}", call.tool),
                        "read the file again and make the edit against what it holds now",
                    )]);
                }
            };
            if refusals.is_empty() {
                refusals = place.files(&call.tool, targets)?;
            }
            Ok(refusals)
        }
    }
}

impl Place {
    fn open(root: &Path) -> Result<Place> {
        let root = root
            .canonicalize()
            .with_context(|| format!("cannot find the workspace {}", root.display()))?;
        let record = crate::site::workspace::load_record(&root)?;
        let policy = Policy::load(&record.policy)
            .with_context(|| format!("the workspace's policy {}", record.policy.display()))?;
        let resolve = |sub: &str| -> Result<PathBuf> {
            let p = root.join(sub);
            p.canonicalize()
                .with_context(|| format!("the workspace has no {}", p.display()))
        };
        let name = record
            .agent_user
            .clone()
            .unwrap_or_else(crate::engine::identity::unix_user);
        Ok(Place {
            code_repo: resolve("code-repo")?,
            sandbox: resolve("sandbox")?,
            root,
            policy,
            // The harness speaks for the agent, whatever the policy's lists say of the name.
            actor: Actor {
                name,
                role: Role::Agent,
                source: "harness".into(),
            },
        })
    }

    /// guard-exec's judgement of the line, then every file it redirects into.
    fn shell(&self, cwd: &Path, command: &str) -> Result<Vec<Refusal>> {
        let j = crate::exec::judge_for(&self.root, Some(cwd), command)?;
        if let Some(d) = j.denial {
            return Ok(vec![Refusal::new(&d.rule, d.reason, d.hint)]);
        }
        // The line passed, so it splits; each redirection's file is judged as a write.
        let Ok(commands) = crate::exec::split_shell_line(command) else {
            return Ok(Vec::new());
        };
        let mut dir = j.cwd.clone();
        let mut refusals = Vec::new();
        let mut targets = Vec::new();
        for c in &commands {
            if c.words.first().map(String::as_str) == Some("cd")
                && let Some(d) = c.words.get(1)
            {
                dir = lexical_normal(&dir.join(d));
            }
            for r in c.redirects.iter().filter(|r| r.writes) {
                if r.target.starts_with("/dev/") {
                    continue;
                }
                if let Some((in_repo, rel, abs)) = self.wall(&dir, &r.target, &mut refusals) {
                    let old = std::fs::read(&abs).ok();
                    // The content is the command's output, which cannot be known before it runs.
                    targets.push(Target {
                        in_repo,
                        rel,
                        new: Some(old.clone().unwrap_or_default()),
                        old,
                    });
                }
            }
        }
        if !refusals.is_empty() || targets.is_empty() {
            return Ok(refusals);
        }
        self.files("shell redirection", targets)
    }

    /// One file the tool writes, with both sides (`new` makes the new side from the old);
    /// `None` and a refusal when it is outside the walls.
    fn target(
        &self,
        cwd: &Path,
        path: &str,
        refusals: &mut Vec<Refusal>,
        new: NewSide<'_>,
    ) -> Result<Option<Target>> {
        let Some((in_repo, rel, abs)) = self.wall(cwd, path, refusals) else {
            return Ok(None);
        };
        let old = read_file(&abs)?;
        let new = new(old.as_deref())?;
        Ok(Some(Target {
            in_repo,
            rel,
            old,
            new,
        }))
    }

    /// The files a file tool writes, with both sides; a refusal for each outside the walls.
    fn targets(
        &self,
        cwd: &Path,
        call: &ToolCall,
        refusals: &mut Vec<Refusal>,
    ) -> Result<Vec<Target>> {
        let mut out = Vec::new();
        match call {
            ToolCall::Write { path, content } => {
                out.extend(self.target(cwd, path, refusals, &|_| {
                    Ok(Some(content.clone().into_bytes()))
                })?)
            }
            ToolCall::Edit { path, edits } => {
                out.extend(self.target(cwd, path, refusals, &|old| {
                    Ok(Some(
                        apply_edits(text(old)?.as_deref(), edits)?.into_bytes(),
                    ))
                })?)
            }
            ToolCall::Notebook { path, edit } => {
                out.extend(self.target(cwd, path, refusals, &|old| {
                    Ok(Some(
                        apply_cell_edit(text(old)?.as_deref(), edit)?.into_bytes(),
                    ))
                })?)
            }
            ToolCall::Delete { path } => {
                out.extend(self.target(cwd, path, refusals, &|_| Ok(None))?)
            }
            ToolCall::Patch { patch } => {
                for op in parse_patch(patch)? {
                    match op {
                        PatchOp::Add { path, content } => {
                            out.extend(self.target(cwd, &path, refusals, &|_| {
                                Ok(Some(content.clone().into_bytes()))
                            })?)
                        }
                        PatchOp::Delete { path } => {
                            out.extend(self.target(cwd, &path, refusals, &|old| {
                                if old.is_none() {
                                    bail!("{path} does not exist");
                                }
                                Ok(None)
                            })?)
                        }
                        PatchOp::Update {
                            path,
                            move_to,
                            hunks,
                        } => {
                            let updated = self.target(cwd, &path, refusals, &|old| {
                                let old = old.with_context(|| format!("{path} does not exist"))?;
                                let new =
                                    apply_hunks(&text(Some(old))?.unwrap_or_default(), &hunks)
                                        .with_context(|| format!("in {path}"))?;
                                Ok(Some(new.into_bytes()))
                            })?;
                            let Some(mut t) = updated else { continue };
                            match move_to {
                                None => out.push(t),
                                Some(to) => {
                                    let content = t.new.take();
                                    out.push(t);
                                    out.extend(
                                        self.target(cwd, &to, refusals, &|_| Ok(content.clone()))?,
                                    );
                                }
                            }
                        }
                    }
                }
            }
            ToolCall::Shell { .. } | ToolCall::ReadOnly | ToolCall::Unknown => {}
        }
        Ok(out)
    }

    /// Where `path` (absolute, or relative to `cwd`) lands: inside code-repo (`true`) or the
    /// sandbox, the path relative to it, and the resolved path; else a refusal is pushed.
    fn wall(
        &self,
        cwd: &Path,
        path: &str,
        refusals: &mut Vec<Refusal>,
    ) -> Option<(bool, String, PathBuf)> {
        let named = lexical_normal(&cwd.join(path));
        let resolved = resolve_existing(&named);
        let inside = |p: &Path| -> Option<(bool, PathBuf)> {
            if let Ok(rel) = p.strip_prefix(&self.code_repo) {
                Some((true, rel.to_path_buf()))
            } else {
                p.strip_prefix(&self.sandbox)
                    .ok()
                    .map(|rel| (false, rel.to_path_buf()))
            }
        };
        let Some((in_repo, rel)) = inside(&resolved) else {
            refusals.push(Refusal::new(
                "harness.walls",
                format!(
                    "{} is outside the workspace's writable roots ({} and {})",
                    resolved.display(),
                    self.code_repo.display(),
                    self.sandbox.display()
                ),
                "write only inside code-repo/ or sandbox/ (hooks/, deployments/ and the rest of the workspace belong to people)",
            ));
            return None;
        };
        let git_dir = |p: &Path| {
            p.components().any(
                |c| matches!(c, Component::Normal(n) if n.to_string_lossy().eq_ignore_ascii_case(".git")),
            )
        };
        let named_rel = inside(&named).map(|(_, r)| r);
        if git_dir(&rel) || named_rel.as_deref().is_some_and(git_dir) {
            refusals.push(Refusal::new(
                "harness.walls",
                format!("{} is inside a .git directory", resolved.display()),
                "change the repository through git commands (commit, branch), never its .git files",
            ));
            return None;
        }
        if rel.as_os_str().is_empty() {
            refusals.push(Refusal::new(
                "harness.walls",
                format!(
                    "{} is a root of the workspace, not a file",
                    resolved.display()
                ),
                "name a file inside code-repo/ or sandbox/",
            ));
            return None;
        }
        Some((in_repo, rel.to_string_lossy().into_owned(), resolved))
    }

    /// The engine over the files, one unit per root; the findings that refuse, as refusals.
    fn files(&self, tool: &str, targets: Vec<Target>) -> Result<Vec<Refusal>> {
        let opts = ModelOptions::default();
        let mut units = Vec::new();
        for in_repo in [true, false] {
            let changes: Vec<FileChange> = targets
                .iter()
                .filter(|t| t.in_repo == in_repo)
                .filter(|t| t.old != t.new || t.old.is_none())
                .map(|t| change_of_bytes(&t.rel, t.old.as_deref(), t.new.as_deref(), None, opts))
                .collect();
            if changes.is_empty() {
                continue;
            }
            units.push(Unit {
                update: None,
                kind: None,
                base: None,
                commits: vec![CommitChanges {
                    id: None,
                    tree: None,
                    parents: Vec::new(),
                    summary: String::new(),
                    message: String::new(),
                    files: changes.clone(),
                }],
                cumulative: changes,
                tags: Vec::new(),
                ..Default::default()
            });
        }
        // A redirection into an existing file changes nothing the door can see yet; its path
        // is still judged.
        if units.is_empty() {
            let changes: Vec<FileChange> = targets
                .iter()
                .map(|t| {
                    let mut fc = change_of_bytes(&t.rel, None, t.new.as_deref(), None, opts);
                    fc.added_lines.clear();
                    fc
                })
                .collect();
            if changes.is_empty() {
                return Ok(Vec::new());
            }
            units.push(Unit {
                update: None,
                kind: None,
                base: None,
                commits: Vec::new(),
                cumulative: changes,
                tags: Vec::new(),
                ..Default::default()
            });
        }
        let verdict = crate::engine::judge_units(&self.policy, &self.actor, units);
        let refusing: Vec<&Finding> = verdict
            .findings
            .iter()
            .filter(|f| refuses(&self.policy, f))
            .collect();
        let refusals: Vec<Refusal> = refusing
            .iter()
            .map(|f| {
                let at = match (&f.path, f.line) {
                    (Some(p), Some(l)) => format!("{p}:{l}: "),
                    (Some(p), None) => format!("{p}: "),
                    _ => String::new(),
                };
                Refusal::new(&f.rule, format!("{at}{}", f.message), hint(f))
            })
            .collect();
        self.record(tool, &targets, &verdict.rule_ids(), refusals.is_empty())?;
        Ok(refusals)
    }

    fn record(
        &self,
        tool: &str,
        targets: &[Target],
        rules: &[String],
        allowed: bool,
    ) -> Result<()> {
        let log = self
            .policy
            .audit
            .log
            .clone()
            .unwrap_or_else(|| self.root.join("logs").join("audit.log"));
        let paths: Vec<String> = targets
            .iter()
            .map(|t| {
                if t.in_repo {
                    format!("code-repo/{}", t.rel)
                } else {
                    format!("sandbox/{}", t.rel)
                }
            })
            .collect();
        audit::append(
            &log,
            &Event {
                door: "harness".into(),
                action: format!("{tool} {}", paths.join(" ")),
                actor: self.actor.name.clone(),
                role: Some(Role::Agent),
                outcome: if allowed { "passed" } else { "denied" }.into(),
                rules: rules.to_vec(),
                detail: serde_json::json!({ "paths": paths }),
            },
        )
        .with_context(|| format!("this judgement cannot be recorded in {}", log.display()))
    }
}

/// Whether a finding refuses the tool call (see the module doc).
fn refuses(policy: &Policy, f: &Finding) -> bool {
    if f.rule == AGENTS_DISABLED {
        return true;
    }
    if policy.mode == Mode::Warn {
        return false;
    }
    match f.severity {
        Severity::Violation => !COMMIT_ONLY.contains(&f.rule.as_str()),
        Severity::Flag => f.rule != "tests.changed",
        Severity::Note => false,
    }
}

/// The hint for the agent, who is about to write rather than to commit.
fn hint(f: &Finding) -> String {
    let rule = f.rule.as_str();
    if rule == "paths.deny" {
        "the policy keeps this path out of the repository (paths.deny): do not write it; keep \
         secrets out of files and read them from the environment at run time"
            .into()
    } else if rule == "paths.protected" {
        "this path is protected (paths.protected): the agent may not change it; ask a human to \
         make the change"
            .into()
    } else if rule.starts_with("secrets.") {
        "do not write secrets into files: read the key from the environment or a secret store \
         at run time"
            .into()
    } else {
        f.hint.clone()
    }
}

/// A file's bytes, `None` when it does not exist; a directory is an error.
fn read_file(p: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(p) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
    }
}

fn text(b: Option<&[u8]>) -> Result<Option<String>> {
    b.map(|b| String::from_utf8(b.to_vec()).context("the file is not UTF-8 text"))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_lines_quote_what_needs_it() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(argv_line(&w(&["bash", "-lc", "git push"])), "git push");
        assert_eq!(
            argv_line(&w(&["git", "commit", "-m", "a b"])),
            "git commit -m 'a b'"
        );
    }
}

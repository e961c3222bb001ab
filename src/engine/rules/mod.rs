//! The rules: one module each, each a pure function of its policy section, the changes and
//! the actor. A rule pushes [`Finding`]s; it never prints and never fails: what it cannot
//! judge was already an error when the changes were built.
//!
//! Every rule id, what triggers it and what it says: `docs/RULES.md`.

pub mod caps;
pub mod commits;
pub mod paths;
pub mod refs;
pub mod risk;
pub mod secrets;
pub mod tests;
pub mod tree;

use crate::engine::changes::{FileChange, Unit};
use crate::engine::identity::Actor;
use crate::engine::policy::Policy;
use crate::engine::verdict::{Finding, Risk};

/// What every rule sees.
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub actor: &'a Actor,
    pub unit: &'a Unit,
}

impl Context<'_> {
    /// The ref being updated, if the unit is a ref update.
    pub fn refname(&self) -> Option<&str> {
        self.unit.refname()
    }

    /// Whether the unit is the staged index (a pseudo-commit without an id), not commits.
    pub fn is_staged(&self) -> bool {
        self.unit.update.is_none()
            && !self.unit.commits.is_empty()
            && self.unit.commits.iter().all(|c| c.id.is_none())
    }

    /// Every file change of the unit with where it comes from: each commit's changes, oldest
    /// first, then the cumulative change. Rules that must see a file added then removed again
    /// walk the commits; the cumulative change covers a unit with no new commit of its own (a
    /// new branch at a commit the repository already has).
    ///
    /// When the new tip's first-parent line misses the previous tip
    /// ([`Unit::off_first_parent_line`]), the cumulative change (from the previous tip) is also
    /// given as the new tip's own, so every rule that reads commits reads what came in through
    /// the other parents too.
    pub fn all_changes(&self) -> impl Iterator<Item = (Origin, &FileChange)> {
        let rejudged = self
            .unit
            .update
            .as_ref()
            .filter(|_| self.unit.off_first_parent_line)
            .map(|u| u.new);
        self.unit
            .commits
            .iter()
            .flat_map(|c| c.files.iter().map(move |f| (Origin::Commit(c.id), f)))
            .chain(rejudged.into_iter().flat_map(move |tip| {
                self.unit
                    .cumulative
                    .iter()
                    .map(move |f| (Origin::Commit(Some(tip)), f))
            }))
            .chain(self.unit.cumulative.iter().map(|f| (Origin::Cumulative, f)))
    }
}

/// Where a file change comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// One commit of the unit (`None`: the staged index, not a commit yet).
    Commit(Option<gix::ObjectId>),
    /// The change from the base to the tip, taken as one.
    Cumulative,
}

impl Origin {
    pub fn commit(self) -> Option<gix::ObjectId> {
        match self {
            Origin::Commit(c) => c,
            Origin::Cumulative => None,
        }
    }
}

/// Run every rule over one unit; return the unit's risk.
pub fn run_all(ctx: &Context<'_>, out: &mut Vec<Finding>) -> Risk {
    let start = out.len();
    // The content rules (secrets, tests) read every added line: on a long push they run on a
    // thread of their own beside the others. Findings are joined in the same order whatever
    // ran where.
    let (content, others) = if ctx.unit.commits.len() >= PARALLEL_RULES_COMMITS {
        std::thread::scope(|s| {
            let content = s.spawn(|| content_rules(ctx));
            let others = other_rules(ctx);
            let content = content
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (content, others)
        })
    } else {
        (content_rules(ctx), other_rules(ctx))
    };
    let (before, after) = others;
    out.extend(before);
    out.extend(content);
    out.extend(after);
    risk::check(ctx, start, out)
}

/// Below this many commits in a unit the rules run on one thread.
const PARALLEL_RULES_COMMITS: usize = 64;

fn content_rules(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    secrets::check(ctx, &mut out);
    tests::check(ctx, &mut out);
    out
}

/// The findings of the rules told before the content rules, and of those told after.
fn other_rules(ctx: &Context<'_>) -> (Vec<Finding>, Vec<Finding>) {
    let mut before = Vec::new();
    refs::check(ctx, &mut before);
    tree::check(ctx, &mut before);
    paths::check(ctx, &mut before);
    caps::check(ctx, &mut before);
    let mut after = Vec::new();
    commits::check(ctx, &mut after);
    (before, after)
}

/// Many lines searched at once: one regex pass over the lines joined by `\n` costs far less
/// than one search per line. Patterns used with it must not match across a `\n`.
#[derive(Default)]
pub(crate) struct LineScan {
    buffer: Vec<u8>,
    starts: Vec<usize>,
}

impl LineScan {
    /// Load `lines`, lowered to ASCII lower case when `lower`.
    pub(crate) fn load<'a>(&mut self, lines: impl Iterator<Item = &'a str>, lower: bool) {
        self.buffer.clear();
        self.starts.clear();
        for line in lines {
            self.starts.push(self.buffer.len());
            if lower {
                self.buffer
                    .extend(line.bytes().map(|b| b.to_ascii_lowercase()));
            } else {
                self.buffer.extend_from_slice(line.as_bytes());
            }
            self.buffer.push(b'\n');
        }
    }

    /// The index of each loaded line `regex` matches, with the text of its first match there.
    pub(crate) fn hits(&self, regex: &regex::bytes::Regex) -> Vec<(usize, &[u8])> {
        let mut out: Vec<(usize, &[u8])> = Vec::new();
        for m in regex.find_iter(&self.buffer) {
            let i = self.starts.partition_point(|s| *s <= m.start()) - 1;
            if out.last().map(|h| h.0) != Some(i) {
                out.push((i, m.as_bytes()));
            }
        }
        out
    }
}

/// `n thing` or `n things`.
pub(crate) fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("{n} {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// Patterns as a message names them: `` `a`, `b` ``.
pub(crate) fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Builders for rule tests: units, commits and file changes made by hand.
#[cfg(test)]
pub(crate) mod testkit {
    use super::Context;
    use crate::engine::changes::{
        ChangeKind, CommitChanges, FileChange, Line, RefUpdate, Unit, UpdateKind,
    };
    use crate::engine::identity::Actor;
    use crate::engine::policy::{Policy, PolicySource, Role};
    use crate::engine::verdict::{Finding, Severity};
    use gix::ObjectId;

    pub fn oid(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    pub fn null() -> ObjectId {
        ObjectId::null(gix::hash::Kind::Sha1)
    }

    /// A policy from TOML text; every key left out keeps its default.
    pub fn policy(toml: &str) -> Policy {
        Policy::parse(toml, PolicySource::Builtin).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn actor(name: &str, role: Role) -> Actor {
        Actor {
            name: name.into(),
            role,
            source: "test".into(),
        }
    }

    pub fn agent() -> Actor {
        actor("bot", Role::Agent)
    }

    pub fn human() -> Actor {
        actor("alice", Role::Human)
    }

    fn change(kind: ChangeKind, old: Option<&str>, new: Option<&str>) -> FileChange {
        FileChange {
            kind,
            old_path: old.map(str::to_string),
            new_path: new.map(str::to_string),
            old_mode: old.map(|_| 0o100644),
            new_mode: new.map(|_| 0o100644),
            old_id: old.map(|_| oid(0xa1)),
            new_id: new.map(|_| oid(0xb2)),
            binary: false,
            size: 0,
            added: 0,
            removed: 0,
            added_lines: Vec::new(),
            added_encoding: Default::default(),
            removed_lines: Vec::new(),
            old_content: None,
            new_content: None,
        }
    }

    pub fn add(path: &str) -> FileChange {
        change(ChangeKind::Add, None, Some(path))
    }

    pub fn modify(path: &str) -> FileChange {
        change(ChangeKind::Modify, Some(path), Some(path))
    }

    pub fn delete(path: &str) -> FileChange {
        change(ChangeKind::Delete, Some(path), None)
    }

    pub fn rename(old: &str, new: &str) -> FileChange {
        change(ChangeKind::Rename, Some(old), Some(new))
    }

    /// Chainable setters for a file change.
    pub trait FileChangeExt {
        fn lines_added(self, lines: &[&str]) -> FileChange;
        fn lines_removed(self, lines: &[&str]) -> FileChange;
        fn counts(self, added: u32, removed: u32) -> FileChange;
        fn binary(self, size: u64) -> FileChange;
        fn size(self, size: u64) -> FileChange;
        fn blob(self, n: u8) -> FileChange;
    }

    impl FileChangeExt for FileChange {
        fn lines_added(mut self, lines: &[&str]) -> FileChange {
            self.added_lines = lines
                .iter()
                .enumerate()
                .map(|(i, t)| Line {
                    number: i as u32 + 1,
                    text: t.to_string(),
                })
                .collect();
            self.added = lines.len() as u32;
            self
        }
        fn lines_removed(mut self, lines: &[&str]) -> FileChange {
            self.removed_lines = lines.iter().map(|t| t.to_string()).collect();
            self.removed = lines.len() as u32;
            self
        }
        fn counts(mut self, added: u32, removed: u32) -> FileChange {
            self.added = added;
            self.removed = removed;
            self
        }
        fn binary(mut self, size: u64) -> FileChange {
            self.binary = true;
            self.size = size;
            self.added = 0;
            self.removed = 0;
            self
        }
        fn size(mut self, size: u64) -> FileChange {
            self.size = size;
            self
        }
        fn blob(mut self, n: u8) -> FileChange {
            if self.new_id.is_some() {
                self.new_id = Some(oid(n));
            }
            self
        }
    }

    pub fn commit(n: u8, message: &str, files: Vec<FileChange>) -> CommitChanges {
        CommitChanges {
            id: Some(oid(n)),
            tree: Some(oid(n.wrapping_add(100))),
            parents: Vec::new(),
            summary: message.lines().next().unwrap_or_default().to_string(),
            message: message.to_string(),
            files,
        }
    }

    /// The staged index: a pseudo-commit without an id.
    pub fn staged(files: Vec<FileChange>) -> CommitChanges {
        CommitChanges {
            id: None,
            tree: None,
            parents: Vec::new(),
            summary: String::new(),
            message: String::new(),
            files,
        }
    }

    /// A unit without a ref update (staged or range); the cumulative change is given.
    pub fn unit(commits: Vec<CommitChanges>, cumulative: Vec<FileChange>) -> Unit {
        Unit {
            update: None,
            kind: None,
            base: None,
            commits,
            cumulative,
            tags: Vec::new(),
            ..Default::default()
        }
    }

    /// A staged unit: the pseudo-commit and the same changes as the cumulative change.
    pub fn staged_unit(files: Vec<FileChange>) -> Unit {
        unit(vec![staged(files.clone())], files)
    }

    /// A ref update of `kind` on `name` (old and new ids follow the kind).
    pub fn update(name: &str, kind: UpdateKind) -> Unit {
        let (old, new) = match kind {
            UpdateKind::Create => (null(), oid(2)),
            UpdateKind::Delete => (oid(1), null()),
            UpdateKind::Unchanged => (oid(1), oid(1)),
            UpdateKind::FastForward | UpdateKind::NonFastForward => (oid(1), oid(2)),
        };
        Unit {
            update: Some(RefUpdate {
                old,
                new,
                name: name.into(),
            }),
            kind: Some(kind),
            base: None,
            commits: Vec::new(),
            cumulative: Vec::new(),
            tags: Vec::new(),
            ..Default::default()
        }
    }

    /// Run one rule and return what it found.
    pub fn run(
        check: impl Fn(&Context<'_>, &mut Vec<Finding>),
        policy: &Policy,
        actor: &Actor,
        unit: &Unit,
    ) -> Vec<Finding> {
        let ctx = Context {
            policy,
            actor,
            unit,
        };
        let mut out = Vec::new();
        check(&ctx, &mut out);
        out
    }

    /// The rule ids found, in order.
    pub fn ids(found: &[Finding]) -> Vec<&str> {
        found.iter().map(|f| f.rule.as_str()).collect()
    }

    pub fn only(found: &[Finding], rule: &str) -> Vec<Finding> {
        found.iter().filter(|f| f.rule == rule).cloned().collect()
    }

    pub fn assert_severity(found: &[Finding], severity: Severity) {
        for f in found {
            assert_eq!(f.severity, severity, "{f:?}");
        }
    }
}

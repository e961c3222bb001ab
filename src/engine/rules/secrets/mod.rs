//! Rule module `secrets`: credentials in what a change adds.
//!
//! Read: the lines each commit (or the staged index) adds to a file whose new side is text,
//! UTF-16 decoded; the printable runs of a new binary blob, by the high-confidence rules
//! only (a fixed prefix or armour); and every commit and annotated tag message of a push.
//! Never read: context or removed lines, the cumulative change again, `secrets.exclude`.
//!
//! Each finding is `secrets.<id>` with the path and line, the secret redacted ([`redact`]).
//! A line holding `secrets.allow_marker` is silent when a human or admin adds it; added by an
//! agent, the marker does not silence anything: the finding becomes a flag a human approves.
//!
//! The rules: [`catalog`] (built-in, one table per provider family), the policy's own
//! (`secrets.extra`, `secrets.gitleaks_config`), run by [`scanner`]. Prints nothing.

pub mod catalog;
#[cfg(test)]
pub(crate) mod corpus;
pub mod decode;
pub mod entropy;
pub mod gitleaks;
pub mod placeholders;
pub mod prefilter;
pub mod rule;
#[cfg(test)]
pub(crate) mod sample;
pub mod scanner;

#[cfg(test)]
mod tests;

use std::collections::HashSet;

use super::{Context, Origin};
use crate::engine::changes::{Encoding, FileChange};
use crate::engine::policy::Role;
use crate::engine::verdict::Finding;

pub use catalog::keys::GENERIC;
pub use entropy::entropy;
pub use rule::{Check, Spec};
pub use scanner::{CompiledRule, Hit, Lines, Scanner};

/// What one finding is about: where it was, and whether the marker was on its line.
struct Place<'a> {
    commit: Option<gix::ObjectId>,
    path: Option<&'a str>,
    line: u32,
    what: &'a str,
}

pub fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let sp = &ctx.policy.secrets;
    if !sp.builtin && sp.extra.is_empty() {
        return;
    }
    let scanner = Scanner::new(sp.builtin, &sp.extra, sp.min_entropy);
    let marker = sp.allow_marker.as_bytes();
    let max_scan = ctx.policy.hooks.max_blob_scan_bytes;
    // The files whose added lines are read, in the order they are reported; read first (on
    // several threads when there is much to read), then reported one by one below.
    let excluded = |path: &str| !sp.exclude.is_empty() && sp.exclude.is_match(path);
    let read: Vec<&FileChange> = ctx
        .all_changes()
        .filter(|(origin, fc)| {
            matches!(origin, Origin::Commit(_))
                && !fc.added_lines.is_empty()
                && !excluded(fc.path())
        })
        .map(|(_, fc)| fc)
        .collect();
    let mut scanned = scan_all(&scanner, &read).into_iter();
    let mut unscanned = HashSet::new();
    for (origin, fc) in ctx.all_changes() {
        // Added lines are read from the commits; the cumulative change adds nothing new.
        let Origin::Commit(commit) = origin else {
            continue;
        };
        let path = fc.path();
        if excluded(path) {
            continue;
        }
        if fc.new_id.is_some() {
            path_rules(ctx, commit, path, out);
        }
        if fc.size > max_scan && fc.added_lines.is_empty() && fc.new_id.is_some() {
            if unscanned.insert(path.to_string()) {
                out.push(
                    Finding::note(
                        "secrets.not-scanned",
                        format!(
                            "{path} is {} bytes, over hooks.max_blob_scan_bytes ({max_scan}): not scanned for secrets",
                            fc.size
                        ),
                        "keep large files out of git; a human must read this one, since no rule did",
                    )
                    .at_ref(ctx.refname())
                    .at_commit(commit)
                    .at_path(path),
                );
            }
            continue;
        }
        if fc.added_lines.is_empty() {
            continue;
        }
        let hits = scanned
            .next()
            .expect("every file with added lines was read, in this order");
        for (i, hit) in hits {
            let line = &fc.added_lines[i];
            let marked = !marker.is_empty() && placeholders::contains(line.text.as_bytes(), marker);
            let what = match fc.added_encoding {
                Encoding::Text => "",
                Encoding::Utf16 => " (UTF-16 text)",
                Encoding::Binary => " (in binary content)",
            };
            let place = Place {
                commit,
                path: Some(path),
                line: line.number,
                what,
            };
            report(ctx, &hit, &place, marked, out);
        }
    }
    messages(ctx, &scanner, marker, out);
}

/// Added bytes under which the files are read on one thread: starting threads, and warming
/// each one's regex caches, costs more than it saves on a commit of a few files.
const PARALLEL_FROM: usize = 256 << 10;

/// The hits of every file, in the order given. With enough to read and more than one core,
/// the files are shared among threads (each takes the next unread file); the result is the
/// same as reading them in turn.
fn scan_all(scanner: &Scanner<'_>, files: &[&FileChange]) -> Vec<Vec<(usize, Hit)>> {
    let scan = |lines: &mut Lines, fc: &FileChange| {
        lines.load(fc.added_lines.iter().map(|l| l.text.as_bytes()));
        let binary = fc.added_encoding == Encoding::Binary;
        scanner.scan(lines, binary, Some(fc.path()))
    };
    let bytes: usize = files
        .iter()
        .flat_map(|fc| fc.added_lines.iter())
        .map(|l| l.text.len() + 1)
        .sum();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len())
        .min(8);
    if bytes < PARALLEL_FROM || threads < 2 {
        let mut lines = Lines::default();
        return files.iter().map(|fc| scan(&mut lines, fc)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Vec<(usize, Hit)>>> = (0..files.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut lines = Lines::default();
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(fc) = files.get(i) else {
                            return done;
                        };
                        done.push((i, scan(&mut lines, fc)));
                    }
                })
            })
            .collect();
        for w in workers {
            // A panic in a worker is a bug in the scanner: raise it here, as one thread would.
            let done = w.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            for (i, hits) in done {
                results[i] = Some(hits);
            }
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every file was taken by a worker"))
        .collect()
}

/// Rules about a path alone (gitleaks rules with a `path` and no `regex`): a file added or
/// changed there is the finding.
fn path_rules(
    ctx: &Context<'_>,
    commit: Option<gix::ObjectId>,
    path: &str,
    out: &mut Vec<Finding>,
) {
    for r in ctx
        .policy
        .secrets
        .extra
        .iter()
        .filter(|r| r.regex.is_none())
    {
        if r.path.as_ref().is_some_and(|p| p.is_match(path.as_bytes())) {
            out.push(
                Finding::violation(
                    format!("secrets.{}", r.spec.id),
                    format!("{} added: {path}", r.spec.description),
                    "remove it from every commit of the change and rotate what it holds",
                )
                .at_ref(ctx.refname())
                .at_commit(commit)
                .at_path(path),
            );
        }
    }
}

/// Commit messages (of commits, not the staged index) and annotated tag messages.
fn messages(ctx: &Context<'_>, scanner: &Scanner<'_>, marker: &[u8], out: &mut Vec<Finding>) {
    let mut lines = Lines::default();
    let commits = ctx.unit.commits.iter().filter_map(|c| {
        c.id.map(|id| (Some(id), c.message.as_str(), "commit message"))
    });
    let tags = ctx
        .unit
        .tags
        .iter()
        .map(|t| (Some(t.id), t.message.as_str(), "tag message"));
    for (id, message, what) in commits.chain(tags) {
        if message.is_empty() {
            continue;
        }
        let text: Vec<&[u8]> = message.as_bytes().split(|b| *b == b'\n').collect();
        lines.load(text.iter().copied());
        for (i, hit) in scanner.scan(&lines, false, None) {
            let marked = !marker.is_empty() && placeholders::contains(text[i], marker);
            let place = Place {
                commit: id,
                path: None,
                line: i as u32 + 1,
                what,
            };
            report(ctx, &hit, &place, marked, out);
        }
    }
}

fn report(ctx: &Context<'_>, hit: &Hit, place: &Place<'_>, marked: bool, out: &mut Vec<Finding>) {
    let shown = if hit.secret.is_empty() {
        String::new()
    } else {
        format!(" `{}`", redact(&hit.secret))
    };
    let rule = format!("secrets.{}", hit.id);
    let (where_, suffix) = match place.path {
        Some(_) => (String::new(), place.what.to_string()),
        None => (
            format!(" in the {} (line {})", place.what, place.line),
            String::new(),
        ),
    };
    let finding = if marked {
        // A human's marker says "not a secret"; an agent's is a claim a human must check.
        if ctx.actor.role != Role::Agent {
            return;
        }
        Finding::flag(
            rule,
            format!(
                "{}{shown} added{suffix}{where_}, on a line marked `{}`: the marker does not clear it",
                hit.description, ctx.policy.secrets.allow_marker
            ),
            "a human must look at it and approve it before it is deployed; if it is a real \
             credential, remove it from every commit of the change and rotate it",
        )
    } else {
        Finding::violation(
            rule,
            format!("{}{shown} added{suffix}{where_}", hit.description),
            if place.path.is_some() {
                "remove it from every commit of the change and rotate it; load secrets from \
                 the environment or a secret store"
            } else {
                "make the commit again without it in the message (`git reset --soft HEAD~1`, \
                 then `git commit`) and rotate it"
            },
        )
    };
    let mut finding = finding.at_ref(ctx.refname()).at_commit(place.commit);
    if let Some(p) = place.path {
        finding = finding.at_path(p).at_line(place.line);
    }
    out.push(finding);
}

/// At most the first four characters and never more than a quarter of the secret, then
/// `****`: a 12-character password shows 3, an 8-character one 2, a 3-character one none.
pub fn redact(secret: &[u8]) -> String {
    let shown = (secret.len() / 4).min(4);
    // Never cut a UTF-8 character in half.
    let mut n = shown;
    while n > 0 && std::str::from_utf8(&secret[..n]).is_err() {
        n -= 1;
    }
    let head = String::from_utf8_lossy(&secret[..n]);
    format!("{head}****")
}

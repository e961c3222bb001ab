//! Admin imports: pushes by an admin that outlasted the deadline, accepted by pre-receive on
//! the condition that they are judged in the background (`hooks.admin_import = "background"`).
//!
//! Each one leaves files in `<git common dir>/guard/imports/` (never in the quarantine), named
//! by the key of its push (the same key as the pre-receive to post-receive hand-off):
//! - `<key>.json`: the pending import, written whole by pre-receive before it accepts the push
//!   (a push whose record cannot be written is rejected); removed by the background judge only
//!   once the judged event is in the audit log. A judge that fails records its error in it
//!   (`failed`) and leaves it.
//! - `<key>.log`: what the background judge printed.
//! - `<key>.violations.json`: written when the judge found violations in what was imported,
//!   kept until an admin has dealt with them and removes it.
//!
//! `git guard doctor REPO` lists all three kinds, so an import is never accepted unjudged in
//! silence.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use crate::engine::policy::Role;

/// The record format's version.
pub const VERSION: u32 = 1;

/// The directory of a repository's imports.
pub fn dir(common_dir: &Path) -> PathBuf {
    common_dir.join("guard").join("imports")
}

/// The pending record of the push with `key`.
pub fn record_path(common_dir: &Path, key: &str) -> PathBuf {
    dir(common_dir).join(format!("{key}.json"))
}

/// An admin's push accepted over the deadline, waiting to be judged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportRecord {
    pub version: u32,
    /// The push's key (see the hand-off): post-receive finds the record of its own push by it.
    pub key: String,
    /// When pre-receive accepted the push (RFC 3339, UTC).
    pub accepted: String,
    /// The repository's git common directory.
    pub repository: PathBuf,
    /// Who pushed, as the host named them when the push was accepted.
    pub pusher: String,
    pub role: Role,
    /// Where the name came from (the host's variable, or the unix user).
    pub source: String,
    /// The policy the push is judged under, as text (`policy.toml at refs/heads/main 1a2b3c`).
    pub policy: String,
    /// How to read that policy again: the file configured for the hook, else `policy.toml` at
    /// `policy_tip` of `policy_base`, else the built-in default.
    pub policy_file: Option<PathBuf>,
    pub policy_base: Option<String>,
    pub policy_tip: Option<String>,
    pub audit_log: PathBuf,
    /// The deadline the push outlasted.
    pub deadline_ms: u64,
    pub updates: Vec<ImportUpdate>,
    /// The commit tips of every ref before the push: what the pushed commits are measured
    /// against (the commits an update brought are those reachable from its new id and from
    /// none of these).
    pub known: Vec<String>,
    /// The branch proposals are measured against, as it stood before the push.
    pub proposal_base: Option<ImportBase>,
    /// Set when the background judge failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<ImportFailure>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportUpdate {
    #[serde(rename = "ref")]
    pub name: String,
    pub old: String,
    pub new: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportBase {
    pub name: String,
    pub tip: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportFailure {
    pub at: String,
    pub error: String,
}

/// What a judge that found violations leaves for the admin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportViolations {
    pub key: String,
    pub accepted: String,
    pub judged: String,
    pub pusher: String,
    pub updates: Vec<ImportUpdate>,
    pub rules: Vec<String>,
    pub violations: usize,
    pub audit_log: PathBuf,
}

impl ImportRecord {
    /// Read a record, naming the file when it cannot be read or is not one.
    pub fn read(path: &Path) -> Result<ImportRecord> {
        let data = std::fs::read(path)
            .with_context(|| format!("cannot read the import record {}", path.display()))?;
        let r: ImportRecord = serde_json::from_slice(&data)
            .with_context(|| format!("{} is not an import record", path.display()))?;
        if r.version != VERSION {
            bail!(
                "{}: import record version {} (this git-guard reads version {VERSION})",
                path.display(),
                r.version
            );
        }
        Ok(r)
    }

    /// Write it whole or not at all, and durably: a temporary file, synced, renamed into
    /// place, and the directory synced.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }

    /// The refs it names, for people: `refs/heads/main` or `3 refs`.
    pub fn refs_text(&self) -> String {
        refs_text(&self.updates)
    }
}

fn refs_text(updates: &[ImportUpdate]) -> String {
    match updates {
        [one] => one.name.clone(),
        many => format!("{} refs", many.len()),
    }
}

/// Write `value` as JSON at `path`, whole or not at all, and durably.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .with_context(|| format!("{} has no directory", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let data = serde_json::to_vec_pretty(value).context("cannot encode the import record")?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// One import as `git guard doctor` reports it.
#[derive(Debug, Clone)]
pub enum ImportState {
    /// Accepted and not judged yet; `judging` when a background judge holds it now.
    Pending {
        path: PathBuf,
        record: ImportRecord,
        judging: bool,
    },
    /// The background judge failed.
    Failed {
        path: PathBuf,
        record: ImportRecord,
        error: String,
    },
    /// Judged, with violations the admin must deal with.
    Violations {
        path: PathBuf,
        found: ImportViolations,
    },
    /// A file of the directory that does not read as any of these.
    Unreadable { path: PathBuf, error: String },
}

impl ImportState {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            ImportState::Pending {
                path,
                record,
                judging,
            } => format!(
                "the admin import of {} by {} accepted over the deadline at {} is not judged yet{} ({})",
                record.refs_text(),
                record.pusher,
                record.accepted,
                if *judging {
                    ": the background judge is at work"
                } else {
                    ", and no background judge is at work on it"
                },
                path.display()
            ),
            ImportState::Failed {
                path,
                record,
                error,
            } => format!(
                "the admin import of {} by {} accepted over the deadline at {} could not be judged: {error} ({})",
                record.refs_text(),
                record.pusher,
                record.accepted,
                path.display()
            ),
            ImportState::Violations { path, found } => format!(
                "the admin import of {} by {} accepted over the deadline at {} was judged at {} with {} violation{} ({}): its commits are in the repository ({})",
                refs_text(&found.updates),
                found.pusher,
                found.accepted,
                found.judged,
                found.violations,
                if found.violations == 1 { "" } else { "s" },
                found.rules.join(", "),
                path.display()
            ),
            ImportState::Unreadable { path, error } => {
                format!("{} cannot be read: {error}", path.display())
            }
        }
    }
}

/// Whether a background judge holds the record now (it keeps an exclusive lock on it while it
/// works).
pub fn being_judged(path: &Path) -> bool {
    use nix::fcntl::{Flock, FlockArg};
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    Flock::lock(f, FlockArg::LockSharedNonblock).is_err()
}

/// Every import of the repository whose git common directory is `common_dir` that is pending,
/// failed or judged with violations (none when the directory does not exist).
pub fn list(common_dir: &Path) -> Result<Vec<ImportState>> {
    let dir = dir(common_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(_key) = name.strip_suffix(".violations.json") {
            let read = std::fs::read(&path)
                .map_err(anyhow::Error::from)
                .and_then(|d| Ok(serde_json::from_slice::<ImportViolations>(&d)?));
            out.push(match read {
                Ok(found) => ImportState::Violations { path, found },
                Err(e) => ImportState::Unreadable {
                    path,
                    error: format!("{e:#}"),
                },
            });
        } else if name.ends_with(".json") {
            out.push(match ImportRecord::read(&path) {
                Ok(record) => match record.failed.clone() {
                    Some(f) => ImportState::Failed {
                        path,
                        record,
                        error: f.error,
                    },
                    None => ImportState::Pending {
                        judging: being_judged(&path),
                        path,
                        record,
                    },
                },
                Err(e) => ImportState::Unreadable {
                    path,
                    error: format!("{e:#}"),
                },
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str) -> ImportRecord {
        ImportRecord {
            version: VERSION,
            key: key.into(),
            accepted: "2026-01-01T00:00:00.000Z".into(),
            repository: PathBuf::from("/srv/git/app.git"),
            pusher: "root-admin".into(),
            role: Role::Admin,
            source: "REMOTE_USER".into(),
            policy: "(built-in default policy)".into(),
            policy_file: None,
            policy_base: None,
            policy_tip: None,
            audit_log: PathBuf::from("/srv/git/app.git/guard/audit.log"),
            deadline_ms: 3000,
            updates: vec![ImportUpdate {
                name: "refs/heads/main".into(),
                old: "0".repeat(40),
                new: "1".repeat(40),
            }],
            known: vec![],
            proposal_base: None,
            failed: None,
        }
    }

    #[test]
    fn pending_failed_violating_and_broken_imports_are_all_listed() {
        let t = tempfile::tempdir().unwrap();
        assert!(
            list(t.path()).unwrap().is_empty(),
            "no directory, no imports"
        );
        let pending = record("a");
        pending.write(&record_path(t.path(), "a")).unwrap();
        assert_eq!(
            ImportRecord::read(&record_path(t.path(), "a")).unwrap(),
            pending
        );
        let mut failed = record("b");
        failed.failed = Some(ImportFailure {
            at: "2026-01-01T00:00:01.000Z".into(),
            error: "its new id 1111 is not in the repository".into(),
        });
        failed.write(&record_path(t.path(), "b")).unwrap();
        let found = ImportViolations {
            key: "c".into(),
            accepted: "2026-01-01T00:00:00.000Z".into(),
            judged: "2026-01-01T00:00:02.000Z".into(),
            pusher: "root-admin".into(),
            updates: record("c").updates,
            rules: vec!["secrets.aws-access-key".into()],
            violations: 1,
            audit_log: PathBuf::from("/srv/git/app.git/guard/audit.log"),
        };
        write_json(&dir(t.path()).join("c.violations.json"), &found).unwrap();
        std::fs::write(dir(t.path()).join("d.json"), "not json").unwrap();
        std::fs::write(dir(t.path()).join("a.log"), "a judge's output").unwrap();

        let states = list(t.path()).unwrap();
        let text: Vec<String> = states.iter().map(ImportState::describe).collect();
        assert_eq!(states.len(), 4, "{text:#?}");
        assert!(
            matches!(&states[0], ImportState::Pending { judging: false, .. }),
            "{text:#?}"
        );
        assert!(
            text[0].contains("refs/heads/main by root-admin"),
            "{}",
            text[0]
        );
        assert!(matches!(&states[1], ImportState::Failed { .. }));
        assert!(
            text[1].contains("could not be judged: its new id"),
            "{}",
            text[1]
        );
        assert!(matches!(&states[2], ImportState::Violations { .. }));
        assert!(
            text[2].contains("1 violation (secrets.aws-access-key)"),
            "{}",
            text[2]
        );
        assert!(matches!(&states[3], ImportState::Unreadable { .. }));
        assert!(text[3].contains("is not an import record"), "{}", text[3]);
    }

    #[test]
    fn a_record_held_by_a_judge_reads_as_being_judged() {
        use nix::fcntl::{Flock, FlockArg};
        let t = tempfile::tempdir().unwrap();
        let path = record_path(t.path(), "a");
        record("a").write(&path).unwrap();
        assert!(!being_judged(&path));
        let held = Flock::lock(
            std::fs::File::open(&path).unwrap(),
            FlockArg::LockExclusiveNonblock,
        )
        .unwrap();
        assert!(being_judged(&path));
        drop(held);
        assert!(!being_judged(&path));
    }
}

//! The hand-off from pre-receive to the post-receive of the same push, so post-receive need not
//! walk the pushed commits again. Only an optimisation: anything missing, stale or not matching
//! is ignored and post-receive works it out itself; it never decides what is accepted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gix::ObjectId;
use serde::{Deserialize, Serialize};

use crate::approvals;
use crate::engine::changes::{RefUpdate, Unit};
use crate::engine::identity::Actor;
use crate::engine::policy::{Policy, Role};
use crate::site::audit;

/// How long an unclaimed hand-off is kept: one is left behind only when a push passed
/// pre-receive and then failed (a ref could not be locked, a later hook refused).
pub(super) const HANDOFF_STALE: Duration = Duration::from_secs(3600);

/// What pre-receive learnt about a push that passed, for the post-receive of the same push:
/// the commits each ref brought (so post-receive need not walk them again), who pushed, the
/// policy and the audit log. Kept in `<git common dir>/guard/pending/<key>`, never in the
/// quarantine; the key hashes receive-pack's process id and the exact update lines, so a
/// post-receive finds only the hand-off of its own push. Anything missing, stale or not
/// matching, and post-receive works it out again itself.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Handoff {
    pub(super) version: u32,
    pub(super) key: String,
    pub(super) pusher: String,
    pub(super) role: Role,
    pub(super) source: String,
    pub(super) policy: String,
    pub(super) audit_log: PathBuf,
    pub(super) refs: Vec<HandoffRef>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct HandoffRef {
    #[serde(rename = "ref")]
    pub(super) name: String,
    pub(super) old: String,
    pub(super) new: String,
    /// The commits the update brought, newest first (as a push record lists them).
    pub(super) commits: Vec<String>,
}

pub(super) fn pending_dir(common_dir: &Path) -> PathBuf {
    common_dir.join("guard").join("pending")
}

/// The hand-off's name: the SHA-256 of receive-pack's process id (the parent of both hooks,
/// which `exec` from their shims) and the update lines exactly as git gave them.
pub(super) fn handoff_key(stdin: &[u8]) -> String {
    let mut keyed = format!("{}\n", std::os::unix::process::parent_id()).into_bytes();
    keyed.extend_from_slice(stdin);
    audit::sha256_hex(&keyed)
}

impl Handoff {
    pub(super) fn new(
        key: &str,
        actor: &Actor,
        policy: &Policy,
        audit_log: &Path,
        units: &[Unit],
    ) -> Self {
        let refs = units
            .iter()
            .filter_map(|unit| {
                let u = unit.update.as_ref()?;
                // Every commit of a push has its id; a unit without them is not handed off.
                let commits: Option<Vec<String>> = unit
                    .commits
                    .iter()
                    .rev()
                    .map(|c| c.id.map(|id| id.to_string()))
                    .collect();
                Some(HandoffRef {
                    name: u.name.clone(),
                    old: u.old.to_string(),
                    new: u.new.to_string(),
                    commits: commits?,
                })
            })
            .collect();
        Handoff {
            version: 1,
            key: key.to_string(),
            pusher: actor.name.clone(),
            role: actor.role,
            source: actor.source.clone(),
            policy: policy.source.to_string(),
            audit_log: audit_log.to_path_buf(),
            refs,
        }
    }

    /// Write it whole or not at all (a temporary file renamed into place), and clear
    /// hand-offs that pushes which failed after pre-receive left behind. Failures are
    /// ignored: without a hand-off, post-receive walks.
    pub(super) fn write(&self, path: &Path) {
        let Some(dir) = path.parent() else { return };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.metadata().is_ok_and(|m| is_stale(&m)) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let Ok(data) = serde_json::to_vec(self) else {
            return;
        };
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &data).is_err() || std::fs::rename(&tmp, path).is_err() {
            let _ = std::fs::remove_file(&tmp);
            let _ = std::fs::remove_file(path);
        }
    }

    /// Read and remove the hand-off named `key`; `None` when there is none, or it is stale,
    /// damaged or for another push.
    pub(super) fn take(common_dir: &Path, key: &str) -> Option<Handoff> {
        let path = pending_dir(common_dir).join(key);
        let data = std::fs::read(&path).ok();
        let stale = std::fs::metadata(&path).map_or(true, |m| is_stale(&m));
        let _ = std::fs::remove_file(&path);
        let h: Handoff = serde_json::from_slice(&data?).ok()?;
        (!stale && h.version == 1 && h.key == key).then_some(h)
    }

    /// The commits `u` brought, when the hand-off names this exact update and every id parses.
    pub(super) fn commits_of(&self, u: &RefUpdate) -> Option<Vec<ObjectId>> {
        let r = self.refs.iter().find(|r| {
            r.name == u.name && approvals::is_id(&r.old, &u.old) && approvals::is_id(&r.new, &u.new)
        })?;
        r.commits
            .iter()
            .map(|c| ObjectId::from_hex(c.as_bytes()).ok())
            .collect()
    }
}

pub(super) fn is_stale(m: &std::fs::Metadata) -> bool {
    m.modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age > HANDOFF_STALE)
}

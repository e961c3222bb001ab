//! What a deploy root records: `status.json` (what the last run was doing), the release
//! records `releases/<id>.json`, the `current` link and how it is switched, the list of
//! releases, pruning, and the policy of the deployed commit.
//!
//! Reads and writes files under the root only; it may not run a process.

use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use gix::ObjectId;
use serde::{Deserialize, Serialize};

use super::Layout;
use super::util::{short, write_atomic};
use crate::contain::release;
use crate::engine::policy::Policy;

/// What the last run was doing, written at every step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// `deploy` or `rollback`.
    pub action: String,
    /// `running`, `done`, `refused`, `rolled-back`, `failed`.
    pub state: String,
    pub step: String,
    /// The release this run puts in place.
    pub release: Option<String>,
    pub commit: Option<String>,
    /// The release `current` pointed at when the run started.
    pub previous: Option<String>,
    pub when: String,
    pub who: String,
    pub pid: u32,
    pub token: String,
    pub error: Option<String>,
    /// The rule ids of the violations a refused run was refused for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
    /// The flags (`rule:path`) a refused run was refused for: not approved, which is not a
    /// violation and must not be counted as one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

impl Status {
    /// Where `current` should point once this run is over.
    pub fn expected_current(&self) -> Option<&str> {
        if self.state == "done" {
            self.release.as_deref()
        } else {
            self.previous.as_deref()
        }
    }
}

/// What one release is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseMeta {
    pub id: String,
    pub commit: String,
    pub tree: String,
    /// The release that was current when this one was made: the backup while it runs.
    pub previous: Option<String>,
    pub created: String,
    pub who: String,
    /// `new`, `deployed`, `failed`.
    pub state: String,
    pub reason: Option<String>,
    pub skipped_gitlinks: Vec<String>,
}

/// Read `status.json`: `Ok(None)` when there is none, an error naming the file when it is
/// not a status record.
pub fn read_status(layout: &Layout) -> Result<Option<Status>> {
    let path = layout.status();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        anyhow!(
            "{} is corrupt ({e}); the `current` link and releases/*.json still tell what is \
             deployed (`guard-deploy status`, `guard-deploy list`); move the file aside \
             (`mv {0} {0}.bad`) and run again",
            path.display()
        )
    })
}

pub fn read_meta(layout: &Layout, id: &str) -> Result<ReleaseMeta> {
    let path = layout.meta(id);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a release record: restore it or deploy again",
            path.display()
        )
    })
}

pub(super) fn write_meta(layout: &Layout, meta: &ReleaseMeta) -> Result<()> {
    let json = serde_json::to_vec_pretty(meta)?;
    write_atomic(&layout.meta(&meta.id), &json)
}

/// The release `current` points at, `None` when nothing is deployed.
pub fn read_current(layout: &Layout) -> Result<Option<String>> {
    let link = layout.current();
    let target = match std::fs::read_link(&link) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "{} is not a symlink: move it aside; guard-deploy manages it",
                    link.display()
                )
            });
        }
    };
    let id = target
        .strip_prefix("releases")
        .ok()
        .and_then(|p| p.to_str())
        .filter(|s| !s.is_empty() && !s.contains('/'))
        .ok_or_else(|| {
            anyhow!(
                "{} points at {}, not at releases/<id>: guard-deploy did not make it",
                link.display(),
                target.display()
            )
        })?;
    if !layout.release(id).is_dir() {
        bail!(
            "{} points at releases/{id}, which is missing: switch to a release that exists \
             with `guard-deploy rollback RELEASE` (see `guard-deploy list`)",
            link.display()
        );
    }
    Ok(Some(id.to_string()))
}

/// Point `current` at `id` atomically: a new symlink renamed over the old one.
pub(super) fn switch_current(
    layout: &Layout,
    id: &str,
    token: &str,
    pause: &dyn Fn(&str),
) -> Result<()> {
    let tmp = layout.root.join(format!("current.tmp-{token}"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(Path::new("releases").join(id), &tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    pause("switch-rename");
    std::fs::rename(&tmp, layout.current()).with_context(|| {
        format!(
            "cannot rename {} over {}",
            tmp.display(),
            layout.current().display()
        )
    })?;
    release::sync_dir(&layout.root)
}

/// The release ids under `releases/`, oldest first (ids begin with their UTC stamp).
pub fn release_ids(layout: &Layout) -> Result<Vec<String>> {
    let dir = layout.releases();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut ids = Vec::new();
    for e in rd {
        let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            ids.push(name);
        }
    }
    ids.sort();
    Ok(ids)
}

/// The release a rollback goes back to: the one that was current when `current` was made.
pub fn backup_of(layout: &Layout, current: Option<&str>) -> Option<String> {
    let meta = read_meta(layout, current?).ok()?;
    meta.previous.filter(|p| layout.release(p).is_dir())
}

/// Remove releases beyond the newest `keep`, never `current` nor `backup`.
pub fn prune(
    layout: &Layout,
    keep: usize,
    current: &str,
    backup: Option<&str>,
) -> Result<Vec<String>> {
    let ids = release_ids(layout)?;
    let cut = ids.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for id in &ids[..cut] {
        if id == current || Some(id.as_str()) == backup {
            continue;
        }
        std::fs::remove_dir_all(layout.release(id))
            .with_context(|| format!("cannot remove {}", layout.release(id).display()))?;
        let _ = std::fs::remove_file(layout.meta(id));
        removed.push(id.clone());
    }
    // Records whose release is gone (a run killed before materialising).
    if let Ok(rd) = std::fs::read_dir(layout.releases()) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = n.strip_suffix(".json") {
                if !n.starts_with('.') && id != current && !layout.release(id).is_dir() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
    Ok(removed)
}

/// The policy a deploy runs under when none is named: `policy.toml` at the deployed commit
/// (already judged and deployed, so not the commit being judged), else `None` (the caller
/// falls back to the built-in default).
pub fn policy_at_deployed(repo: &gix::Repository, layout: &Layout) -> Result<Option<Policy>> {
    let Some(id) = read_current(layout)? else {
        return Ok(None);
    };
    let meta = read_meta(layout, &id)?;
    let commit = ObjectId::from_hex(meta.commit.as_bytes())
        .with_context(|| format!("release record of {id} names a bad commit id"))?;
    let tree = repo
        .find_object(commit)
        .with_context(|| {
            format!(
                "the deployed commit {} is not in the repository",
                meta.commit
            )
        })?
        .peel_to_tree()?;
    let Some(entry) = tree.lookup_entry_by_path("policy.toml")? else {
        return Ok(None);
    };
    let blob = entry.object()?;
    let text = std::str::from_utf8(&blob.data)
        .with_context(|| format!("policy.toml at {} is not UTF-8", short(&meta.commit)))?;
    let policy = Policy::parse(
        text,
        crate::engine::policy::PolicySource::Commit(meta.commit.clone()),
    )
    .map_err(|e| anyhow!("{e}"))?;
    Ok(Some(policy))
}

/// Materialise `rev` into `dir` (plumbing, for benchmarks and inspection).
pub fn materialise_rev(
    repo: &gix::Repository,
    rev: &str,
    dir: &Path,
) -> Result<release::Materialised> {
    let id = repo
        .rev_parse_single(rev)
        .with_context(|| format!("cannot resolve {rev:?}"))?
        .detach();
    release::materialise(repo, id, dir, &mut || {})
}

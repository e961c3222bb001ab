//! The push log: who pushed which commits, as the server recorded it at post-receive
//! (`refs/guard/pushes/<tip>`), never from author or committer fields.
//!
//! Written only by post-receive ([`record_push`]); read once per command ([`push_log`]).

use anyhow::{Context as _, Result, anyhow, bail};
use gix::ObjectId;
use serde::{Deserialize, Serialize};

use crate::engine::changes::RefUpdate;
use crate::engine::identity::Actor;
use crate::engine::policy::Role;

use super::*;

/// One push record: who pushed which new commits, to which ref, when. Stored as one line of
/// JSON in the blob `refs/guard/pushes/<tip>` points at, one per accepted ref update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRecord {
    pub version: u32,
    /// Who pushed, as the host names them, their role and where the name came from.
    pub pusher: String,
    pub role: Role,
    pub source: String,
    /// The ref updated, and the id it was set to.
    #[serde(rename = "ref")]
    pub refname: String,
    pub tip: String,
    /// When, in UTC (RFC 3339), and in nanoseconds since the epoch (what orders the records).
    pub at: String,
    pub at_nanos: u64,
    /// Every commit the update brought, newest first.
    pub commits: Vec<String>,
}

/// Record that `actor` pushed `commits` (the commits new to the repository in `update`), as one
/// blob at `refs/guard/pushes/<update.new>`. Called by post-receive once per accepted ref update
/// that brought new commits: one object and one ref per update, however many commits it holds.
/// Returns the ref written, or `None` when there was nothing to record or a record of the same
/// tip already exists (the same tip pushed again after its branch was deleted, or two refs of
/// one push moved to it): the first record stands, since the first push brought the commits.
pub fn record_push(
    repo: &gix::Repository,
    actor: &Actor,
    update: &RefUpdate,
    commits: &[ObjectId],
) -> Result<Option<String>> {
    if commits.is_empty() || update.new.is_null() {
        return Ok(None);
    }
    let refname = format!("{PUSHES_PREFIX}{}", update.new);
    if repo
        .try_find_reference(refname.as_str())
        .with_context(|| format!("cannot read {refname}"))?
        .is_some()
    {
        return Ok(None);
    }
    let at_nanos = unix_nanos();
    let rec = PushRecord {
        version: 1,
        pusher: actor.name.clone(),
        role: actor.role,
        source: actor.source.clone(),
        refname: update.name.clone(),
        tip: update.new.to_string(),
        at: rfc3339(i64::try_from(at_nanos / 1_000_000_000).unwrap_or(i64::MAX)),
        at_nanos,
        commits: commits.iter().map(ObjectId::to_string).collect(),
    };
    let mut data = serde_json::to_vec(&rec)?;
    data.push(b'\n');
    let blob = repo
        .write_blob(&data)
        .context("cannot write a push record")?
        .detach();
    if let Err(e) = create_ref(repo, &refname, blob) {
        // Another post-receive recorded the same tip in the meantime: its record stands.
        if repo.try_find_reference(refname.as_str())?.is_some() {
            return Ok(None);
        }
        return Err(e);
    }
    Ok(Some(refname))
}

/// Nanoseconds since the epoch: orders push records, even two made within the same second.
pub(super) fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Who pushed one commit first, as the repository recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pusher {
    pub commit: ObjectId,
    pub pusher: String,
    pub role: Role,
    pub source: String,
    /// The ref the push updated.
    pub refname: String,
    pub at: String,
    /// The push record naming the commit (`refs/guard/pushes/<tip>`).
    pub record: String,
}

/// Every push record of a repository, read once: who pushed each commit first.
#[derive(Debug, Default)]
pub struct PushLog {
    /// The records, oldest first, each with its ref name.
    records: Vec<(String, PushRecord)>,
    /// For each commit, the index of the oldest record naming it.
    first: std::collections::HashMap<ObjectId, usize>,
}

impl PushLog {
    /// Read every record under `refs/guard/pushes/`. A record that does not parse is an error
    /// (only post-receive writes them; a damaged one must not silently let a pusher approve).
    pub fn read(repo: &gix::Repository) -> Result<Self> {
        Self::from_refs(repo, &refs_under(repo, PUSHES_PREFIX)?)
    }

    fn from_refs(repo: &gix::Repository, refs: &[(String, ObjectId)]) -> Result<Self> {
        let mut records = Vec::with_capacity(refs.len());
        for (name, id) in refs {
            let data = read_blob(repo, *id).with_context(|| format!("cannot read {name}"))?;
            let rec = parse_push_record(&data).with_context(|| {
                format!("{name} is not a push record (hint: post-receive writes them; remove a damaged one with `git update-ref -d {name}`)")
            })?;
            records.push((name.clone(), rec));
        }
        records.sort_by(|(an, a), (bn, b)| (a.at_nanos, an).cmp(&(b.at_nanos, bn)));
        let mut first = std::collections::HashMap::new();
        for (i, (name, rec)) in records.iter().enumerate() {
            for c in &rec.commits {
                let id = ObjectId::from_hex(c.as_bytes())
                    .map_err(|e| anyhow!("{name} names {c:?}, not a commit id: {e}"))?;
                first.entry(id).or_insert(i);
            }
        }
        Ok(Self { records, first })
    }

    /// Who pushed `commit` first, or `None` when no record names it.
    pub fn pusher_of(&self, commit: ObjectId) -> Option<Pusher> {
        let (name, rec) = &self.records[*self.first.get(&commit)?];
        Some(Pusher {
            commit,
            pusher: rec.pusher.clone(),
            role: rec.role,
            source: rec.source.clone(),
            refname: rec.refname.clone(),
            at: rec.at.clone(),
            record: name.clone(),
        })
    }

    /// Whether any record names `commit` (it came in through a guarded receive).
    pub fn names(&self, commit: ObjectId) -> bool {
        self.first.contains_key(&commit)
    }

    /// The records, oldest first, with their ref names.
    pub fn records(&self) -> &[(String, PushRecord)] {
        &self.records
    }
}

pub(super) fn parse_push_record(data: &[u8]) -> Result<PushRecord> {
    let rec: PushRecord = serde_json::from_slice(data)?;
    if rec.version != 1 {
        bail!(
            "push record version {} is not supported (this git-guard reads version 1)",
            rec.version
        );
    }
    Ok(rec)
}

/// A push log and the refs it was read from.
type CachedPushLog = Option<(Vec<(String, ObjectId)>, std::rc::Rc<PushLog>)>;

thread_local! {
    /// The last push log read, with the refs it was read from. Records are blobs, so the same
    /// ref names pointing at the same ids are the same log: one command asking about many
    /// commits reads the records once, and a record written since is never missed.
    static PUSH_LOG: std::cell::RefCell<CachedPushLog> = const { std::cell::RefCell::new(None) };
}

/// The push log of `repo`: read once, then reused while its records stay the same.
pub fn push_log(repo: &gix::Repository) -> Result<std::rc::Rc<PushLog>> {
    let refs = refs_under(repo, PUSHES_PREFIX)?;
    let cached = PUSH_LOG.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(r, _)| *r == refs)
            .map(|(_, log)| log.clone())
    });
    if let Some(log) = cached {
        return Ok(log);
    }
    let log = std::rc::Rc::new(PushLog::from_refs(repo, &refs)?);
    PUSH_LOG.with(|c| *c.borrow_mut() = Some((refs, log.clone())));
    Ok(log)
}

/// Who pushed `commit` first, as this repository recorded it.
pub fn pusher_of(repo: &gix::Repository, commit: ObjectId) -> Result<Option<Pusher>> {
    Ok(push_log(repo)?.pusher_of(commit))
}

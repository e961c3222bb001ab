//! Approval and revocation records: what one says, how it is stored as a blob, how it is read back.
//!
//! Only the format: nothing here reads refs, judges a record or decides whether it counts.

use anyhow::{Context as _, Result, anyhow, bail};
use gix::ObjectId;
use serde::{Deserialize, Serialize};

use crate::engine::policy::Role;

use super::*;

/// What a record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    Approve,
    Revoke,
}

/// One approval or revocation, as stored (the first line of the blob).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub version: u32,
    pub kind: RecordKind,
    /// The commit approved, and its tree: both must match for the approval to count.
    pub commit: String,
    pub tree: String,
    /// The flag ids cleared (for a revocation: those of the approval it revokes).
    pub flags: Vec<String>,
    /// For a revocation: the id of the approval revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revokes: Option<String>,
    /// Who approved, as the host names them, and where that name came from.
    pub approver: String,
    pub role: Role,
    pub source: String,
    /// The machine the record was made on.
    pub host: String,
    /// When, in UTC (RFC 3339) and as unix seconds.
    pub at: String,
    pub at_unix: i64,
    pub why: String,
    /// Who pushed the commit, as far as the approver's repository knew; `None`: unknown.
    pub pusher: Option<String>,
}

impl Record {
    /// The exact bytes a signature covers: the record as one line of JSON and its newline.
    pub fn payload(&self) -> Result<Vec<u8>> {
        let mut line = serde_json::to_vec(self)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// A record as read back: its blob's text split into the signed line and the signature.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The record's id: the id of the blob holding it.
    pub id: ObjectId,
    pub refname: String,
    pub record: Record,
    pub payload: Vec<u8>,
    pub signature: Option<String>,
}

impl Stored {
    pub fn short_id(&self) -> String {
        short(&self.id)
    }
}

/// Parse a record blob: one line of JSON, then optionally an armored SSH signature.
pub fn parse_blob(data: &[u8]) -> Result<(Record, Vec<u8>, Option<String>)> {
    let nl = data
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| anyhow!("not an approval record: no newline after the JSON line"))?;
    let (line, rest) = data.split_at(nl + 1);
    let record: Record = serde_json::from_slice(line).context("not an approval record")?;
    if record.version != 1 {
        bail!(
            "approval record version {} is not supported (this git-guard reads version 1)",
            record.version
        );
    }
    // The signed bytes must be the canonical form, so two records that mean the same thing
    // cannot differ in what was signed.
    if record.payload()? != line {
        bail!("approval record is not in canonical form (it was not written by git-guard)");
    }
    let rest = std::str::from_utf8(rest).context("approval signature is not text")?;
    let signature = match rest.trim() {
        "" => None,
        s if s.starts_with(SIGNATURE_BEGIN) => Some(format!("{s}\n")),
        _ => bail!("unexpected text after the approval record (only an SSH signature may follow)"),
    };
    Ok((record, line.to_vec(), signature))
}

//! Hook input: the `old new ref` lines of pre-receive and post-receive, the arguments of
//! update, the lines of pre-push, parsed into typed values. Malformed input is an error naming
//! the line; nothing here opens a repository or judges.

use anyhow::{Result, bail};
use gix::ObjectId;

use crate::engine::changes::RefUpdate;

/// A line of hook input that is not what git writes.
#[derive(Debug, thiserror::Error)]
#[error("line {line} of standard input, {text:?}: {problem}")]
pub struct LineError {
    pub line: usize,
    pub text: String,
    pub problem: String,
}

/// Parse one object id of the repository's format. The all-zero id is kept as the null id: git
/// writes it for the side of an update that does not exist (a creation's old, a deletion's new).
pub fn parse_oid(s: &str, kind: gix::hash::Kind) -> Result<ObjectId, String> {
    let want = kind.len_in_hex();
    if s.len() != want {
        return Err(format!(
            "{s:?} is not an object id: expected {want} hex digits ({kind}), found {}",
            s.len()
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "{s:?} is not an object id: only lowercase hex digits are allowed"
        ));
    }
    ObjectId::from_hex(s.as_bytes()).map_err(|e| format!("{s:?} is not an object id: {e}"))
}

/// Check a full ref name as git does (`refs/...`, no `..`, no control characters, ...).
pub fn check_ref_name(name: &str) -> Result<(), String> {
    if !name.starts_with("refs/") {
        return Err(format!("{name:?} is not a full ref name (refs/...)"));
    }
    gix::validate::reference::name(name.as_bytes().into())
        .map(|_| ())
        .map_err(|e| format!("{name:?} is not a valid ref name: {e}"))
}

/// Parse pre-receive and post-receive input: one `<old> <new> <ref>` line per update.
pub fn parse_update_lines(
    input: &[u8],
    kind: gix::hash::Kind,
) -> Result<Vec<RefUpdate>, LineError> {
    let mut out = Vec::new();
    for (i, raw) in split_lines(input).enumerate() {
        let n = i + 1;
        let err = |problem: String| LineError {
            line: n,
            text: String::from_utf8_lossy(raw).into_owned(),
            problem,
        };
        let line = std::str::from_utf8(raw).map_err(|_| err("not UTF-8".into()))?;
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() != 3 {
            return Err(err(format!(
                "expected `<old-id> <new-id> <ref>` separated by single spaces, found {} field{}",
                fields.len(),
                if fields.len() == 1 { "" } else { "s" }
            )));
        }
        let old = parse_oid(fields[0], kind).map_err(&err)?;
        let new = parse_oid(fields[1], kind).map_err(&err)?;
        check_ref_name(fields[2]).map_err(&err)?;
        if old.is_null() && new.is_null() {
            return Err(err(
                "both ids are zero: nothing is created or deleted".into()
            ));
        }
        out.push(RefUpdate {
            old,
            new,
            name: fields[2].to_string(),
        });
    }
    if out.is_empty() {
        return Err(LineError {
            line: 0,
            text: String::new(),
            problem: "no ref updates on standard input".into(),
        });
    }
    Ok(out)
}

/// One line of pre-push input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushLine {
    pub local_ref: String,
    pub local: ObjectId,
    pub remote_ref: String,
    pub remote: ObjectId,
}

/// Parse pre-push input: `<local ref> <local id> <remote ref> <remote id>` per line. A push
/// with nothing to send gives no lines.
pub fn parse_push_lines(input: &[u8], kind: gix::hash::Kind) -> Result<Vec<PushLine>, LineError> {
    let mut out = Vec::new();
    for (i, raw) in split_lines(input).enumerate() {
        let err = |problem: String| LineError {
            line: i + 1,
            text: String::from_utf8_lossy(raw).into_owned(),
            problem,
        };
        let line = std::str::from_utf8(raw).map_err(|_| err("not UTF-8".into()))?;
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() != 4 {
            return Err(err(format!(
                "expected `<local-ref> <local-id> <remote-ref> <remote-id>`, found {} fields",
                fields.len()
            )));
        }
        let local = parse_oid(fields[1], kind).map_err(&err)?;
        let remote = parse_oid(fields[3], kind).map_err(&err)?;
        check_ref_name(fields[2]).map_err(&err)?;
        out.push(PushLine {
            local_ref: fields[0].to_string(),
            local,
            remote_ref: fields[2].to_string(),
            remote,
        });
    }
    Ok(out)
}

pub(super) fn split_lines(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let input = input.strip_suffix(b"\n").unwrap_or(input);
    let empty = input.is_empty();
    input.split(|b| *b == b'\n').filter(move |_| !empty)
}
pub(super) enum UpdateInput {
    Lines(Vec<u8>),
    Args(Vec<String>),
}

pub(super) fn parse_update_args(args: &[String], kind: gix::hash::Kind) -> Result<Vec<RefUpdate>> {
    let [name, old, new] = args else {
        bail!(
            "the update hook takes `<ref> <old-id> <new-id>`, got {} argument{}",
            args.len(),
            if args.len() == 1 { "" } else { "s" }
        );
    };
    let line = format!("{old} {new} {name}\n");
    Ok(parse_update_lines(line.as_bytes(), kind)?)
}

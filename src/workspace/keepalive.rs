//! Keep-alive refs: what the clone borrows from the upstream is held alive there under
//! `refs/guard/workspaces/<id>/`, so an upstream prune cannot corrupt the clone.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::site::workspace::{KEEPALIVE_PREFIX, Record};

use super::*;

// ----------------------------------------------------------------------------------------
// keep-alive refs
// ----------------------------------------------------------------------------------------

/// Point the workspace's keep-alive refs in the upstream at what the clone borrows: `base`
/// (when given, else kept) and each remote-tracking branch of the clone. Returns how many
/// refs it holds.
pub fn refresh_keepalive(root: &Path, record: &Record, base: Option<&str>) -> Result<usize> {
    let prefix = format!("{KEEPALIVE_PREFIX}{}/", record.id);
    let existing = git(
        &record.upstream,
        &["for-each-ref", "--format=%(refname) %(objectname)", &prefix],
    )?;
    let mut want: Vec<(String, String)> = Vec::new();
    match base {
        Some(b) => want.push((format!("{prefix}base"), b.to_string())),
        None => {
            if let Some(line) = existing
                .lines()
                .find(|l| l.starts_with(&format!("{prefix}base ")))
            {
                let id = line.split(' ').nth(1).unwrap_or("").to_string();
                want.push((format!("{prefix}base"), id));
            }
        }
    }
    let remotes = clone_git(
        root,
        record,
        &[
            "for-each-ref",
            "--format=%(refname:lstrip=2) %(objectname)",
            "refs/remotes/",
        ],
    )?;
    for line in remotes.lines() {
        let Some((name, id)) = line.split_once(' ') else {
            continue;
        };
        if name.ends_with("/HEAD") {
            continue;
        }
        // Only what the upstream has can be kept there; the rest is the clone's own.
        if git(
            &record.upstream,
            &["cat-file", "-e", &format!("{id}^{{commit}}")],
        )
        .is_ok()
        {
            want.push((format!("{prefix}remotes/{name}"), id.to_string()));
        }
    }
    let mut stdin = String::new();
    for line in existing.lines() {
        let r = line.split(' ').next().unwrap_or("");
        if !r.is_empty() && !want.iter().any(|(w, _)| w == r) {
            stdin.push_str(&format!("delete {r}\n"));
        }
    }
    for (r, id) in &want {
        stdin.push_str(&format!("update {r} {id}\n"));
    }
    let mut c = git_cmd(&record.upstream, None);
    c.args(["update-ref", "--stdin"])
        .stdin(std::process::Stdio::piped());
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c
        .spawn()
        .context("cannot run git update-ref in the upstream")?;
    {
        use std::io::Write as _;
        let mut si = child.stdin.take().context("no stdin for git update-ref")?;
        si.write_all(stdin.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "cannot write the keep-alive refs in {}: {}",
            record.upstream.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(want.len())
}

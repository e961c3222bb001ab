//! The file as it will be after the tool runs: string replacements (`Edit`, `MultiEdit`,
//! `replace`, `StrReplace`), a notebook cell edit, or a patch in the `apply_patch` format.
//!
//! Pure functions of the text they are given: they read no file and print nothing. An edit
//! that cannot apply (the text to replace is missing, or not unique) is an error naming it,
//! since the door then cannot know what would be written.

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::{CellEdit, Replace};

/// `current` (absent: no such file yet) after `edits`, in order, as the edit tools apply them.
pub fn apply_edits(current: Option<&str>, edits: &[Replace]) -> Result<String> {
    let mut text = current.unwrap_or_default().to_string();
    for (i, e) in edits.iter().enumerate() {
        if e.old.is_empty() {
            // An empty old string writes a new file (Claude Code's Edit creates it so).
            if current.is_some() && !text.is_empty() {
                bail!(
                    "edit {} has an empty old_string but the file is not empty",
                    i + 1
                );
            }
            text = e.new.clone();
            continue;
        }
        let n = text.matches(e.old.as_str()).count();
        match (n, e.all) {
            (0, _) => bail!(
                "edit {}: the text to replace is not in the file ({:?})",
                i + 1,
                excerpt(&e.old)
            ),
            (1, _) | (_, true) => text = text.replace(e.old.as_str(), &e.new),
            (n, false) => bail!(
                "edit {}: the text to replace occurs {n} times, and the edit replaces one",
                i + 1
            ),
        }
    }
    Ok(text)
}

fn excerpt(s: &str) -> String {
    let mut e: String = s.chars().take(60).collect();
    if e.len() < s.len() {
        e.push('…');
    }
    e
}

/// A notebook (`.ipynb` JSON text; absent: a new one) after one cell edit.
pub fn apply_cell_edit(current: Option<&str>, edit: &CellEdit) -> Result<String> {
    let mut nb: Value = match current {
        Some(t) if !t.trim().is_empty() => {
            serde_json::from_str(t).context("the notebook is not JSON")?
        }
        _ => serde_json::json!({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
    };
    let cells = nb
        .get_mut("cells")
        .and_then(Value::as_array_mut)
        .context("the notebook has no cells list")?;
    let at = match &edit.cell_id {
        None => None,
        Some(id) => Some(
            cells
                .iter()
                .position(|c| c.get("id").and_then(Value::as_str) == Some(id))
                .or_else(|| {
                    // `cell-N` and plain numbers name a cell by its index.
                    id.trim_start_matches("cell-")
                        .parse::<usize>()
                        .ok()
                        .filter(|i| *i < cells.len())
                })
                .with_context(|| format!("the notebook has no cell {id:?}"))?,
        ),
    };
    let new_cell = || {
        serde_json::json!({
            "cell_type": edit.cell_type.clone().unwrap_or_else(|| "code".into()),
            "metadata": {},
            "source": edit.source,
        })
    };
    match edit.mode.as_str() {
        "insert" => {
            let i = at.map_or(0, |i| i + 1);
            cells.insert(i, new_cell());
        }
        "delete" => {
            let i = at.context("a cell delete without cell_id")?;
            cells.remove(i);
        }
        "replace" | "" => {
            let i = at.unwrap_or(0);
            match cells.get_mut(i) {
                Some(c) => {
                    c["source"] = Value::String(edit.source.clone());
                    if let Some(t) = &edit.cell_type {
                        c["cell_type"] = Value::String(t.clone());
                    }
                }
                None => cells.push(new_cell()),
            }
        }
        other => bail!("unknown edit_mode {other:?} (replace, insert or delete)"),
    }
    Ok(serde_json::to_string_pretty(&nb)? + "\n")
}

/// One file a patch touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchOp {
    Add {
        path: String,
        content: String,
    },
    Delete {
        path: String,
    },
    Update {
        path: String,
        move_to: Option<String>,
        hunks: Vec<Hunk>,
    },
}

/// Lines of one `@@` hunk: what must be there (context and removed lines) and what replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hunk {
    pub old: Vec<String>,
    pub new: Vec<String>,
    /// `*** End of File`: the hunk ends at the file's end.
    pub at_end: bool,
}

/// Parse a patch in the `apply_patch` format:
///
/// ```text
/// *** Begin Patch
/// *** Add File: PATH        then lines starting with `+`
/// *** Delete File: PATH
/// *** Update File: PATH     then optionally `*** Move to: PATH`, then hunks: `@@ ...` and
///                           lines starting with ` ` (context), `-` or `+`
/// *** End Patch
/// ```
pub fn parse_patch(text: &str) -> Result<Vec<PatchOp>> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "*** Begin Patch")
        .context("the patch does not start with `*** Begin Patch`")?;
    let mut ops = Vec::new();
    let mut i = start + 1;
    let mut ended = false;
    while i < lines.len() {
        let l = lines[i];
        if l.trim() == "*** End Patch" {
            ended = true;
            break;
        }
        if let Some(p) = l.strip_prefix("*** Add File: ") {
            let mut content = String::new();
            i += 1;
            while i < lines.len() && !lines[i].starts_with("*** ") {
                let body = lines[i].strip_prefix('+').with_context(|| {
                    format!(
                        "line {} of the patch: an added file's line must start with `+`",
                        i + 1
                    )
                })?;
                content.push_str(body);
                content.push('\n');
                i += 1;
            }
            ops.push(PatchOp::Add {
                path: p.trim().to_string(),
                content,
            });
            continue;
        }
        if let Some(p) = l.strip_prefix("*** Delete File: ") {
            ops.push(PatchOp::Delete {
                path: p.trim().to_string(),
            });
            i += 1;
            continue;
        }
        if let Some(p) = l.strip_prefix("*** Update File: ") {
            i += 1;
            let mut move_to = None;
            if let Some(m) = lines.get(i).and_then(|l| l.strip_prefix("*** Move to: ")) {
                move_to = Some(m.trim().to_string());
                i += 1;
            }
            let mut hunks: Vec<Hunk> = Vec::new();
            let mut cur: Option<Hunk> = None;
            while i < lines.len() {
                let l = lines[i];
                if l.trim() == "*** End of File" {
                    if let Some(h) = cur.as_mut() {
                        h.at_end = true;
                    }
                    i += 1;
                    continue;
                }
                if l.starts_with("*** ") {
                    break;
                }
                if l.starts_with("@@") {
                    hunks.extend(
                        cur.take()
                            .filter(|h| !h.old.is_empty() || !h.new.is_empty()),
                    );
                    cur = Some(Hunk::default());
                } else {
                    let h = cur.get_or_insert_with(Hunk::default);
                    match l.chars().next() {
                        Some('+') => h.new.push(l[1..].to_string()),
                        Some('-') => h.old.push(l[1..].to_string()),
                        Some(' ') => {
                            h.old.push(l[1..].to_string());
                            h.new.push(l[1..].to_string());
                        }
                        // An empty line inside a hunk is an empty context line.
                        None => {
                            h.old.push(String::new());
                            h.new.push(String::new());
                        }
                        Some(_) => bail!(
                            "line {} of the patch: a hunk line must start with ` `, `-` or `+`: {l:?}",
                            i + 1
                        ),
                    }
                }
                i += 1;
            }
            hunks.extend(
                cur.take()
                    .filter(|h| !h.old.is_empty() || !h.new.is_empty()),
            );
            ops.push(PatchOp::Update {
                path: p.trim().to_string(),
                move_to,
                hunks,
            });
            continue;
        }
        if l.trim().is_empty() {
            i += 1;
            continue;
        }
        bail!(
            "line {} of the patch is not an `*** Add/Delete/Update File:` header: {l:?}",
            i + 1
        );
    }
    if !ended {
        bail!("the patch does not end with `*** End Patch`");
    }
    if ops.is_empty() {
        bail!("the patch changes no file");
    }
    Ok(ops)
}

/// `current` after the hunks of one `*** Update File:`, each found after the one before (with
/// trailing white space ignored when the exact lines are not there, as the tool does).
pub fn apply_hunks(current: &str, hunks: &[Hunk]) -> Result<String> {
    let mut lines: Vec<String> = current.lines().map(str::to_string).collect();
    let mut from = 0;
    for (n, h) in hunks.iter().enumerate() {
        let at = if h.old.is_empty() {
            if h.at_end {
                lines.len()
            } else {
                from.min(lines.len())
            }
        } else {
            find(&lines, &h.old, from, h.at_end).with_context(|| {
                format!(
                    "hunk {} does not match the file (its lines {:?} are not there)",
                    n + 1,
                    h.old.iter().take(3).collect::<Vec<_>>()
                )
            })?
        };
        lines.splice(at..at + h.old.len(), h.new.iter().cloned());
        from = at + h.new.len();
    }
    let mut out = lines.join("\n");
    if !lines.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

fn find(lines: &[String], want: &[String], from: usize, at_end: bool) -> Option<usize> {
    let fits = |i: usize, eq: &dyn Fn(&str, &str) -> bool| {
        i + want.len() <= lines.len() && want.iter().zip(&lines[i..]).all(|(w, l)| eq(w, l))
    };
    let candidates: Vec<usize> = if at_end {
        lines.len().checked_sub(want.len()).into_iter().collect()
    } else {
        (from..=lines.len().saturating_sub(want.len())).collect()
    };
    let exact = |a: &str, b: &str| a == b;
    let loose = |a: &str, b: &str| a.trim_end() == b.trim_end();
    let trimmed = |a: &str, b: &str| a.trim() == b.trim();
    for eq in [&exact as &dyn Fn(&str, &str) -> bool, &loose, &trimmed] {
        if let Some(i) = candidates.iter().copied().find(|i| fits(*i, eq)) {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(old: &str, new: &str, all: bool) -> Replace {
        Replace {
            old: old.into(),
            new: new.into(),
            all,
        }
    }

    #[test]
    fn edits_apply_in_order_and_refuse_what_cannot_apply() {
        let t = apply_edits(Some("a b a\n"), &[r("b", "c", false), r("a", "x", true)]).unwrap();
        assert_eq!(t, "x c x\n");
        assert!(apply_edits(Some("a a"), &[r("a", "b", false)]).is_err());
        assert!(apply_edits(Some("a"), &[r("z", "b", false)]).is_err());
        assert_eq!(
            apply_edits(None, &[r("", "new\n", false)]).unwrap(),
            "new\n"
        );
    }

    #[test]
    fn a_patch_adds_updates_moves_and_deletes() {
        let p = "*** Begin Patch\n*** Add File: .env\n+KEY=1\n*** Update File: src/a.py\n*** Move to: src/b.py\n@@ def f():\n def f():\n-    return 1\n+    return 2\n*** Delete File: old.txt\n*** End Patch\n";
        let ops = parse_patch(p).unwrap();
        assert_eq!(
            ops[0],
            PatchOp::Add {
                path: ".env".into(),
                content: "KEY=1\n".into()
            }
        );
        let PatchOp::Update { move_to, hunks, .. } = &ops[1] else {
            panic!()
        };
        assert_eq!(move_to.as_deref(), Some("src/b.py"));
        let after = apply_hunks("x = 0\ndef f():\n    return 1\n", hunks).unwrap();
        assert_eq!(after, "x = 0\ndef f():\n    return 2\n");
        assert!(apply_hunks("nothing here\n", hunks).is_err());
        assert!(parse_patch("*** Begin Patch\n*** Add File: a\n+x\n").is_err());
        assert!(parse_patch("garbage").is_err());
    }

    #[test]
    fn a_notebook_cell_is_replaced() {
        let nb = r#"{"cells":[{"id":"c1","cell_type":"code","metadata":{},"source":"x=1"}],"metadata":{},"nbformat":4,"nbformat_minor":5}"#;
        let e = CellEdit {
            cell_id: Some("c1".into()),
            source: "KEY='abc'".into(),
            mode: "replace".into(),
            cell_type: None,
        };
        let out = apply_cell_edit(Some(nb), &e).unwrap();
        assert!(out.contains("KEY='abc'"), "{out}");
        assert!(!out.contains("x=1"));
    }
}

//! The agent's clone: objects borrowed from the upstream (alternates), working files reflinked
//! or copied from a clean upstream work tree, else checked out; ownership given to the agent.
//!
//! Used by `make.rs` only.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::site::workspace::Record;

use super::*;

/// Clone the upstream into DIR/code-repo sharing its objects, check out the agent's branch.
pub(super) fn make_clone(
    root: &Path,
    record: &Record,
    base_commit: &str,
) -> Result<(FilesMode, String, usize)> {
    let code = root.join("code-repo");
    let code_s = code.display().to_string();
    let up_s = record.upstream.display().to_string();
    git(
        root,
        &[
            "clone",
            "--quiet",
            "--shared",
            "--no-checkout",
            "--origin",
            "origin",
            &up_s,
            &code_s,
        ],
    )?;
    git(
        &code,
        &["branch", "--no-track", &record.branch, base_commit],
    )?;
    git(
        &code,
        &[
            "symbolic-ref",
            "HEAD",
            &format!("refs/heads/{}", record.branch),
        ],
    )?;

    // Reflink the working files when the upstream has a clean working tree at the base commit.
    let source = reflink_source(&record.upstream, base_commit);
    let (mode, note) = match source {
        Ok(worktree) => match copy_tracked_files(&record.upstream, &worktree, &code) {
            Ok(mode) => {
                git(&code, &["reset", "--quiet"])?;
                git(&code, &["update-index", "-q", "--refresh"]).ok();
                let dirty = git(&code, &["status", "--porcelain", "--untracked-files=no"])?;
                if dirty.trim().is_empty() {
                    (mode, String::new())
                } else {
                    git(&code, &["checkout", "--quiet", "--force", &record.branch])?;
                    (
                        FilesMode::CheckedOut,
                        "the copied files did not match the base commit".into(),
                    )
                }
            }
            Err(e) => {
                git(&code, &["checkout", "--quiet", "--force", &record.branch])?;
                (
                    FilesMode::CheckedOut,
                    format!("could not copy the upstream's files: {e:#}"),
                )
            }
        },
        Err(why) => {
            git(&code, &["checkout", "--quiet", "--force", &record.branch])?;
            (FilesMode::CheckedOut, why)
        }
    };
    let count = git(&code, &["ls-files", "-z"])?
        .split('\0')
        .filter(|s| !s.is_empty())
        .count();
    // Last: from here on the hooks run on every commit and ref update in the clone.
    git(
        &code,
        &[
            "config",
            "core.hooksPath",
            &root.join("hooks").display().to_string(),
        ],
    )?;
    Ok((mode, note, count))
}

/// The upstream's working tree, if it is clean at `commit`; else why not.
pub(super) fn reflink_source(
    upstream: &Path,
    commit: &str,
) -> std::result::Result<PathBuf, String> {
    let bare = git(upstream, &["rev-parse", "--is-bare-repository"]).map_err(|e| e.to_string())?;
    if bare.trim() == "true" {
        return Err(
            "the upstream is bare, so the files were written from the shared objects".into(),
        );
    }
    let top = git(upstream, &["rev-parse", "--show-toplevel"]).map_err(|e| e.to_string())?;
    let head = git(upstream, &["rev-parse", "HEAD"]).map_err(|e| e.to_string())?;
    if head.trim() != commit {
        return Err("the upstream's working tree is not at the base commit, so the files were written from the shared objects".into());
    }
    let dirty = git(upstream, &["status", "--porcelain", "--untracked-files=no"])
        .map_err(|e| e.to_string())?;
    if !dirty.trim().is_empty() {
        return Err("the upstream's working tree has changes, so the files were written from the shared objects".into());
    }
    Ok(PathBuf::from(top.trim()))
}

/// Copy the tracked files of `worktree` into `dest`, reflinking while the file system allows.
pub(super) fn copy_tracked_files(
    upstream: &Path,
    worktree: &Path,
    dest: &Path,
) -> Result<FilesMode> {
    let list = git(upstream, &["ls-files", "-z", "--stage"])?;
    let mut reflink = true;
    let mut any = false;
    for entry in list.split('\0').filter(|s| !s.is_empty()) {
        let (meta, path) = entry
            .split_once('\t')
            .context("unexpected ls-files output")?;
        let mode = meta.split(' ').next().unwrap_or("");
        let src = worktree.join(path);
        let dst = dest.join(path);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match mode {
            "120000" => {
                let target = std::fs::read_link(&src)
                    .with_context(|| format!("cannot read link {}", src.display()))?;
                std::os::unix::fs::symlink(target, &dst)?;
            }
            "100644" | "100755" => {
                if reflink {
                    match reflink_file(&src, &dst) {
                        Ok(()) => any = true,
                        Err(_) => {
                            reflink = false;
                            let _ = std::fs::remove_file(&dst);
                        }
                    }
                }
                if !reflink {
                    std::fs::copy(&src, &dst)
                        .with_context(|| format!("cannot copy {}", src.display()))?;
                }
                let m = if mode == "100755" { 0o755 } else { 0o644 };
                set_mode(&dst, m)?;
            }
            // Submodules (160000) are left for the agent to initialise.
            _ => {}
        }
    }
    Ok(if reflink && any {
        FilesMode::Reflinked
    } else {
        FilesMode::Copied
    })
}

/// `ioctl(FICLONE)`: share the source's blocks; fails where the file system cannot.
pub(super) fn reflink_file(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let from = std::fs::File::open(src)?;
    let to = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)?;
    // SAFETY: both descriptors are open for the duration of the call; FICLONE takes the
    // source descriptor as its argument and writes no memory of ours.
    let r = unsafe { nix::libc::ioctl(to.as_raw_fd(), nix::libc::FICLONE, from.as_raw_fd()) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub(super) fn chown_tree(p: &Path, a: &AgentUser) -> Result<()> {
    std::os::unix::fs::lchown(p, Some(a.uid), Some(a.gid))
        .with_context(|| format!("cannot give {} to {}", p.display(), a.name))?;
    let meta = std::fs::symlink_metadata(p)?;
    if meta.is_dir() {
        for e in std::fs::read_dir(p)? {
            chown_tree(&e?.path(), a)?;
        }
    }
    Ok(())
}

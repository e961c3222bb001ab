//! Materialise the tree of a commit into a directory, straight from git objects with gix.
//!
//! A release is complete or absent: everything is written into a temporary directory beside
//! the target and renamed into place at the end, so a process killed half way leaves only a
//! `.tmp-release-*` directory that nothing points at (the deploy lock holder removes those).
//!
//! Blobs are written with their modes (executable or not, the umask applies as for
//! `git checkout`), symlinks as symlinks, directories as directories. Gitlinks (submodule
//! commits) have no content in this repository: they are skipped and reported by path.
//! Tree entry names that could escape the directory or write into a `.git` are refused, and so
//! is a tree holding a symlink whose target leaves it.
//!
//! It is the only way git-guard turns a tree into files, for test checkouts and releases
//! alike. It writes each blob exactly as stored: no `.gitattributes` of the judged tree is
//! read, so `export-ignore`, `export-subst`, `filter`, `text`/`eol` and `ident` change
//! nothing, and the files tested are byte for byte the files deployed.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, Result, bail};
use gix::ObjectId;
use gix::objs::tree::EntryKind;

use crate::engine::fsck;
use crate::engine::links::TreeLinks;

/// Names this materialiser in test records: a recorded run counts at deploy only when the
/// checkout it saw was written by the same materialiser as the release. Bump the version
/// whenever what it writes for a tree changes.
pub const MATERIALISER: &str = "git-guard-release/1";

/// What one materialisation wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Materialised {
    pub files: usize,
    pub symlinks: usize,
    pub dirs: usize,
    pub bytes: u64,
    /// Paths of gitlinks (submodules), which have no content here and were not written.
    pub skipped_gitlinks: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Executable,
    Symlink,
}

struct Entry {
    /// Relative path, `/`-separated bytes as git stores them.
    path: Vec<u8>,
    id: ObjectId,
    kind: Kind,
}

/// Write the tree of `commit` (a commit or tree id) into `target`, which must not exist.
/// `before_rename` runs when every file is written and the temporary directory is not yet
/// renamed into place (a test hook: a kill there must leave no release behind).
pub fn materialise(
    repo: &gix::Repository,
    commit: ObjectId,
    target: &Path,
    before_rename: &mut dyn FnMut(),
) -> Result<Materialised> {
    if target.symlink_metadata().is_ok() {
        bail!(
            "cannot materialise into {}: it already exists (a release directory is written once)",
            target.display()
        );
    }
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;

    let tree = repo
        .find_object(commit)
        .with_context(|| format!("cannot read object {commit}"))?
        .peel_to_tree()
        .with_context(|| format!("{commit} is not a commit or tree"))?;

    let mut report = Materialised::default();
    let mut dirs: Vec<Vec<u8>> = Vec::new();
    let mut files: Vec<Entry> = Vec::new();
    collect(
        repo,
        tree.id,
        Vec::new(),
        &mut dirs,
        &mut files,
        &mut report,
    )?;

    refuse_links_out(repo, &dirs, &files)?;

    let tmp = tempfile::Builder::new()
        .prefix(".tmp-release-")
        .tempdir_in(parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })?;
    let base = tmp.path().to_path_buf();
    for d in &dirs {
        let p = base.join(OsStr::from_bytes(d));
        std::fs::create_dir(&p).with_context(|| format!("cannot create {}", p.display()))?;
    }
    report.dirs = dirs.len();

    let written = write_parallel(repo, &base, &files)?;
    report.bytes = written;
    report.files = files.iter().filter(|e| e.kind != Kind::Symlink).count();
    report.symlinks = files.len() - report.files;

    // tempdir creates its directory private (0700); a release is read by the service.
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot set permissions of {}", base.display()))?;
    before_rename();
    let kept = tmp.keep();
    if let Err(e) = std::fs::rename(&kept, target) {
        let _ = std::fs::remove_dir_all(&kept);
        return Err(e)
            .with_context(|| format!("cannot rename {} to {}", kept.display(), target.display()));
    }
    sync_dir(parent)?;
    Ok(report)
}

/// A release never holds a symlink whose target leaves it (absolute, or `..` past its root,
/// following the tree's own links as the kernel would): the service would read or write
/// outside the release through it.
fn refuse_links_out(repo: &gix::Repository, dirs: &[Vec<u8>], files: &[Entry]) -> Result<()> {
    if files.iter().all(|e| e.kind != Kind::Symlink) {
        return Ok(());
    }
    let mut tree = TreeLinks::default();
    for d in dirs {
        tree.add_dir(String::from_utf8_lossy(d).into_owned());
    }
    for e in files {
        let path = String::from_utf8_lossy(&e.path).into_owned();
        if e.kind == Kind::Symlink {
            let blob = repo
                .find_blob(e.id)
                .with_context(|| format!("cannot read the symlink {path} ({})", e.id))?;
            tree.add_link(
                path.clone(),
                String::from_utf8_lossy(&blob.data).into_owned(),
            );
        }
        tree.add_file(path);
    }
    if let Some((path, target)) = tree.outside().first() {
        bail!(
            "refusing to write the symlink {path} -> {target}: its target leaves the release \
             directory (absolute, or `..` past its root); point it inside the repository"
        );
    }
    Ok(())
}

/// Make a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))
}

fn collect(
    repo: &gix::Repository,
    root: ObjectId,
    prefix: Vec<u8>,
    dirs: &mut Vec<Vec<u8>>,
    files: &mut Vec<Entry>,
    report: &mut Materialised,
) -> Result<()> {
    // An explicit stack: a deep tree must not overflow ours.
    let mut stack = vec![(root, prefix)];
    while let Some((id, prefix)) = stack.pop() {
        let tree = repo
            .find_tree(id)
            .with_context(|| format!("cannot read tree {id}"))?;
        let decoded = tree
            .decode()
            .with_context(|| format!("cannot decode tree {id}"))?;
        for e in &decoded.entries {
            let name: &[u8] = e.filename.as_ref();
            check_name(name, &prefix)?;
            let mut path = prefix.clone();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name);
            let oid = e.oid.to_owned();
            match e.mode.kind() {
                EntryKind::Tree => {
                    dirs.push(path.clone());
                    stack.push((oid, path));
                }
                EntryKind::Blob => files.push(Entry {
                    path,
                    id: oid,
                    kind: Kind::File,
                }),
                EntryKind::BlobExecutable => files.push(Entry {
                    path,
                    id: oid,
                    kind: Kind::Executable,
                }),
                EntryKind::Link => files.push(Entry {
                    path,
                    id: oid,
                    kind: Kind::Symlink,
                }),
                EntryKind::Commit => report
                    .skipped_gitlinks
                    .push(String::from_utf8_lossy(&path).into_owned()),
            }
        }
    }
    // Parents are pushed before their children are popped, so `dirs` is already in an order
    // where every directory follows its parent.
    Ok(())
}

/// Refuse names git itself would refuse to check out ([`fsck::entry_name_problem`]: `.`,
/// `..`, `/` in a name, `.git` in any spelling git knows): they could escape the release
/// directory or write into a repository's `.git`.
fn check_name(name: &[u8], prefix: &[u8]) -> Result<()> {
    let bad = name.contains(&0) || fsck::entry_name_problem(name).is_some();
    if bad {
        bail!(
            "refusing tree entry {:?} under {:?}: the name could escape the release directory \
             (the commit is malformed; run `git fsck` on the repository)",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(prefix)
        );
    }
    Ok(())
}

/// Write every entry, spread over the available cores. Each thread has its own repository
/// handle (object caches are per handle) and takes the next entry from a shared counter.
fn write_parallel(repo: &gix::Repository, base: &Path, files: &[Entry]) -> Result<u64> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(files.len().max(1));
    let sync = repo.clone().into_sync();
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let total = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut repo = sync.to_thread_local();
                repo.object_cache_size_if_unset(4 * 1024 * 1024);
                let mut bytes = 0u64;
                loop {
                    if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(entry) = files.get(i) else { break };
                    match write_one(&repo, base, entry) {
                        Ok(n) => bytes += n,
                        Err(e) => {
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(e);
                            }
                            break;
                        }
                    }
                }
                total.fetch_add(bytes, Ordering::Relaxed);
            });
        }
    });
    match first_error.into_inner() {
        Ok(None) => Ok(total.into_inner()),
        Ok(Some(e)) => Err(e),
        Err(_) => bail!("a writer thread panicked while materialising"),
    }
}

fn write_one(repo: &gix::Repository, base: &Path, entry: &Entry) -> Result<u64> {
    let path: PathBuf = base.join(OsStr::from_bytes(&entry.path));
    let blob = repo.find_blob(entry.id).with_context(|| {
        format!(
            "cannot read blob {} for {}",
            entry.id,
            String::from_utf8_lossy(&entry.path)
        )
    })?;
    let data = &blob.data;
    match entry.kind {
        Kind::Symlink => {
            std::os::unix::fs::symlink(OsStr::from_bytes(data), &path)
                .with_context(|| format!("cannot create symlink {}", path.display()))?;
        }
        Kind::File | Kind::Executable => {
            let mode = if entry.kind == Kind::Executable {
                0o777
            } else {
                0o666
            };
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            f.write_all(data)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(data.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "A")
            .env("GIT_AUTHOR_EMAIL", "a@example.com")
            .env("GIT_COMMITTER_NAME", "C")
            .env("GIT_COMMITTER_EMAIL", "c@example.com")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn modes_symlinks_and_gitlinks_match_git() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("r");
        std::fs::create_dir(&r).unwrap();
        git(&r, &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(r.join("a/b")).unwrap();
        std::fs::write(r.join("a/b/c.txt"), "deep\n").unwrap();
        std::fs::write(r.join("run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(r.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("a/b/c.txt", r.join("link")).unwrap();
        git(&r, &["add", "-A"]);
        // A gitlink, as a submodule leaves one, without a submodule to fetch.
        git(
            &r,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                "160000,1111111111111111111111111111111111111111,sub",
            ],
        );
        git(&r, &["commit", "-q", "-m", "one"]);
        let head = git(&r, &["rev-parse", "HEAD"]);
        let repo = gix::open(&r).unwrap();
        let out = t.path().join("rel");
        let mut called = false;
        let m = materialise(
            &repo,
            ObjectId::from_hex(head.as_bytes()).unwrap(),
            &out,
            &mut || called = true,
        )
        .unwrap();
        assert!(called);
        assert_eq!((m.files, m.symlinks, m.dirs), (2, 1, 2));
        assert_eq!(m.skipped_gitlinks, vec!["sub".to_string()]);
        assert_eq!(
            std::fs::read_to_string(out.join("a/b/c.txt")).unwrap(),
            "deep\n"
        );
        assert_eq!(
            std::fs::read_link(out.join("link")).unwrap(),
            PathBuf::from("a/b/c.txt")
        );
        let exec = std::fs::metadata(out.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_ne!(exec & 0o100, 0, "run.sh must be executable");
        let plain = std::fs::metadata(out.join("a/b/c.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(plain & 0o111, 0, "c.txt must not be executable");
        assert!(!out.join("sub").exists());
        // Nothing is left beside the release.
        let names: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        // A release is written once.
        let err = materialise(
            &repo,
            ObjectId::from_hex(head.as_bytes()).unwrap(),
            &out,
            &mut || {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
    }

    #[test]
    fn dot_dot_entry_is_refused_and_nothing_is_left() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("r");
        std::fs::create_dir(&r).unwrap();
        git(&r, &["init", "-q", "-b", "main"]);
        let blob = {
            let mut c = Command::new("git")
                .current_dir(&r)
                .args(["hash-object", "-w", "--stdin"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(b"x").unwrap();
            let o = c.wait_with_output().unwrap();
            String::from_utf8(o.stdout).unwrap().trim().to_string()
        };
        let mut mk = Command::new("git")
            .current_dir(&r)
            .args(["mktree", "--missing"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        mk.stdin
            .take()
            .unwrap()
            .write_all(format!("100644 blob {blob}\t..\n").as_bytes())
            .unwrap();
        let o = mk.wait_with_output().unwrap();
        let tree = String::from_utf8(o.stdout).unwrap().trim().to_string();
        assert!(!tree.is_empty(), "git mktree builds the malformed tree");
        let repo = gix::open(&r).unwrap();
        let out = t.path().join("rel");
        let err = materialise(
            &repo,
            ObjectId::from_hex(tree.as_bytes()).unwrap(),
            &out,
            &mut || {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("escape"), "{err}");
        assert!(!out.exists());
    }
}

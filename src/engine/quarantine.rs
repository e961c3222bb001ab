//! Opening the repository a receive hook runs in, so that it sees the objects being pushed.
//!
//! While pre-receive runs, git keeps the pushed objects in a quarantine directory and tells the
//! hook where through `GIT_OBJECT_DIRECTORY` (the quarantine) and
//! `GIT_ALTERNATE_OBJECT_DIRECTORIES` (the repository's own store, and any other alternates).
//! gix reads neither variable, so a plain open does not see the pushed objects.
//!
//! The object store is therefore opened on a temporary directory *outside* the quarantine: an
//! empty object directory whose `info/alternates` lists the quarantine first, then every entry
//! of `GIT_ALTERNATE_OBJECT_DIRECTORIES`. Nothing is ever written inside the quarantine (git
//! moves or deletes it after the hook, and a stray file there would land in the repository).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// The object directories git told the hook about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectEnv {
    /// `GIT_OBJECT_DIRECTORY`: during pre-receive, the quarantine.
    pub object_directory: Option<PathBuf>,
    /// `GIT_ALTERNATE_OBJECT_DIRECTORIES`, in order.
    pub alternates: Vec<PathBuf>,
    /// `GIT_QUARANTINE_PATH`, kept to refuse ever writing there.
    pub quarantine: Option<PathBuf>,
}

impl ObjectEnv {
    /// Read the variables through `env` (the process environment, or a test's own).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<ObjectEnv> {
        let nonempty = |k: &str| env(k).filter(|v| !v.is_empty());
        let alternates = match nonempty("GIT_ALTERNATE_OBJECT_DIRECTORIES") {
            Some(v) => {
                parse_alternate_dirs(&v).context("cannot read GIT_ALTERNATE_OBJECT_DIRECTORIES")?
            }
            None => Vec::new(),
        };
        Ok(ObjectEnv {
            object_directory: nonempty("GIT_OBJECT_DIRECTORY").map(PathBuf::from),
            alternates,
            quarantine: nonempty("GIT_QUARANTINE_PATH").map(PathBuf::from),
        })
    }

    /// Whether the objects live somewhere a plain open of the repository would not look.
    pub fn is_redirected(&self) -> bool {
        self.object_directory.is_some() || !self.alternates.is_empty()
    }
}

/// Split `GIT_ALTERNATE_OBJECT_DIRECTORIES` as git does: entries separated by `:`, an entry
/// starting with `"` is C-quoted (that is how a path holding a `:` is written), empty entries
/// are skipped.
pub fn parse_alternate_dirs(value: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut rest = value.as_bytes();
    while !rest.is_empty() {
        if rest[0] == b'"' {
            let (unquoted, consumed) = gix::quote::ansi_c::undo(rest.into())
                .map_err(|e| anyhow::anyhow!("bad quoting in {value:?}: {e}"))?;
            out.push(PathBuf::from(OsStr::from_bytes(&unquoted)));
            rest = &rest[consumed..];
            match rest.first() {
                None => {}
                Some(b':') => rest = &rest[1..],
                Some(_) => bail!("a quoted entry must be followed by ':' or the end, in {value:?}"),
            }
        } else {
            let end = rest.iter().position(|b| *b == b':').unwrap_or(rest.len());
            if end > 0 {
                out.push(PathBuf::from(OsStr::from_bytes(&rest[..end])));
            }
            rest = &rest[(end + 1).min(rest.len())..];
        }
    }
    Ok(out)
}

/// An object store assembled outside the quarantine. Keep it alive while the repository opened
/// on it is in use; dropping it removes the temporary directory.
#[derive(Debug)]
pub struct ObjectStore {
    dir: Option<tempfile::TempDir>,
}

impl ObjectStore {
    /// Build the alternates-only object directory for `env`, or nothing when git did not
    /// redirect the object store. `cwd` anchors relative paths (git runs hooks in the git dir).
    pub fn prepare(env: &ObjectEnv, cwd: &Path) -> Result<ObjectStore> {
        if !env.is_redirected() {
            return Ok(ObjectStore { dir: None });
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        dirs.extend(env.object_directory.iter().cloned());
        dirs.extend(env.alternates.iter().cloned());
        let dirs: Vec<PathBuf> = dirs
            .into_iter()
            .map(|d| if d.is_absolute() { d } else { cwd.join(d) })
            .collect();
        let tmp = tempfile::Builder::new()
            .prefix("git-guard-objects-")
            .tempdir()
            .context("cannot create a temporary object directory")?;
        if let Some(q) = &env.quarantine {
            let q = if q.is_absolute() {
                q.clone()
            } else {
                cwd.join(q)
            };
            if tmp.path().starts_with(&q) {
                bail!(
                    "the temporary directory {} is inside the quarantine {}: set TMPDIR elsewhere",
                    tmp.path().display(),
                    q.display()
                );
            }
        }
        let objects = tmp.path().join("objects");
        std::fs::create_dir_all(objects.join("info"))
            .and_then(|_| std::fs::create_dir_all(objects.join("pack")))
            .with_context(|| format!("cannot create {}", objects.display()))?;
        let mut text = Vec::new();
        for d in &dirs {
            text.extend_from_slice(&alternates_line(d));
            text.push(b'\n');
        }
        let file = objects.join("info/alternates");
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
        Ok(ObjectStore { dir: Some(tmp) })
    }

    /// The assembled objects directory, when there is one.
    pub fn objects_dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("objects"))
    }
}

/// One line of an alternates file: the path as is, or C-quoted when it could be misread.
fn alternates_line(path: &Path) -> Vec<u8> {
    let bytes = path.as_os_str().as_bytes();
    let needs_quote = bytes.first() == Some(&b'"')
        || bytes.first() == Some(&b'#')
        || bytes.iter().any(|b| *b == b'\n' || *b == b'\\');
    if !needs_quote {
        return bytes.to_vec();
    }
    let mut out = vec![b'"'];
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(b),
        }
    }
    out.push(b'"');
    out
}

/// Open the repository holding `git_dir` (honouring `GIT_DIR`, `GIT_INDEX_FILE` and the like), with
/// its object store replaced by `objects_dir` when given.
pub fn open(git_dir: &Path, objects_dir: Option<&Path>) -> Result<gix::ThreadSafeRepository> {
    let mut repo = gix::ThreadSafeRepository::discover_with_environment_overrides(git_dir)
        .with_context(|| format!("cannot open the repository at {}", git_dir.display()))?;
    if let Some(dir) = objects_dir {
        let store = gix::odb::Store::at_opts(
            dir.to_path_buf(),
            repo.objects.object_hash(),
            &mut repo.objects.replacements(),
            gix::odb::store::init::Options {
                slots: Default::default(),
                use_multi_pack_index: repo.objects.use_multi_pack_index(),
                alloc_limit_bytes: None,
                loose_compression: Default::default(),
                current_dir: None,
                // The judges only read the quarantined objects; nothing is written here, so
                // `core.sharedRepository` has nothing to apply to.
                shared_repository_permissions: Default::default(),
            },
        )
        .with_context(|| format!("cannot open the object store at {}", dir.display()))?;
        repo.objects = std::sync::Arc::new(store);
    }
    Ok(repo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternates_split_on_colons_and_unquote() {
        let v = parse_alternate_dirs("/a/objects:\"/b:c/objects\"::/d").unwrap();
        assert_eq!(
            v,
            vec![
                PathBuf::from("/a/objects"),
                PathBuf::from("/b:c/objects"),
                PathBuf::from("/d")
            ]
        );
        let v = parse_alternate_dirs("\"/x\\\\y\\\"z\"").unwrap();
        assert_eq!(v, vec![PathBuf::from("/x\\y\"z")]);
        assert!(parse_alternate_dirs("\"/unterminated").is_err());
        assert!(parse_alternate_dirs("\"/a\"junk").is_err());
    }

    #[test]
    fn nothing_is_assembled_when_git_did_not_redirect() {
        let env = ObjectEnv::from_env(|_| None).unwrap();
        let store = ObjectStore::prepare(&env, Path::new("/")).unwrap();
        assert!(store.objects_dir().is_none());
    }

    #[test]
    fn alternates_file_lists_quarantine_first_and_lives_outside_it() {
        let q = tempfile::tempdir().unwrap();
        let qobj = q.path().join("objects");
        let env = ObjectEnv::from_env(|k| match k {
            "GIT_OBJECT_DIRECTORY" => Some(qobj.display().to_string()),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES" => Some("/repo/objects:\"/odd:dir\"".into()),
            "GIT_QUARANTINE_PATH" => Some(q.path().display().to_string()),
            _ => None,
        })
        .unwrap();
        let store = ObjectStore::prepare(&env, Path::new("/")).unwrap();
        let dir = store.objects_dir().unwrap();
        assert!(!dir.starts_with(q.path()));
        let text = std::fs::read_to_string(dir.join("info/alternates")).unwrap();
        assert_eq!(
            text,
            format!("{}\n/repo/objects\n/odd:dir\n", qobj.display())
        );
        assert_eq!(std::fs::read_dir(q.path()).unwrap().count(), 0);
        drop(store);
        assert!(!dir.exists());
    }

    #[test]
    fn odd_paths_are_quoted_in_the_alternates_file() {
        assert_eq!(alternates_line(Path::new("/a b")), b"/a b".to_vec());
        assert_eq!(alternates_line(Path::new("/a\nb")), b"\"/a\\nb\"".to_vec());
        assert_eq!(alternates_line(Path::new("#x")), b"\"#x\"".to_vec());
    }
}

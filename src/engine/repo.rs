//! Opening the repository to judge, tuned for reading many objects quickly.

use std::path::Path;

use anyhow::{Result, anyhow};

/// Decoded objects kept in memory: trees and commits are read again and again while diffing
/// a range, and the cache makes the second read free. Those reads are of recent objects (a
/// commit's parent, its trees), so a small cache hits as often as a large one: 32 MiB per
/// thread gave the same speed with twice the peak memory.
pub const OBJECT_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// Delta bases kept while unpacking: a hash map, because gix's default (a 64-slot list
/// searched linearly) showed up as a tenth of the time of a long range. 16 MiB per thread
/// is as fast as 64 MiB on the benchmark's ranges.
pub const PACK_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Open the repository holding `dir` (searching upwards, honouring `GIT_DIR` and the other
/// variables git sets for hooks), with an object cache.
pub fn discover(dir: &Path) -> Result<gix::Repository> {
    let dir = &absolute(dir);
    let sync =
        gix::ThreadSafeRepository::discover_with_environment_overrides(dir).map_err(|e| {
            anyhow!(
                "not a git repository: {} ({e}); hint: run inside a clone, or pass its path",
                dir.display()
            )
        })?;
    Ok(tune(sync.to_thread_local()))
}

/// Open exactly the repository at `dir` (a work tree or a `.git` / bare directory).
pub fn open(dir: &Path) -> Result<gix::Repository> {
    let dir = &absolute(dir);
    let repo = gix::open(dir).map_err(|e| {
        anyhow!(
            "not a git repository: {} ({e}); hint: pass the path of a clone or a bare repository",
            dir.display()
        )
    })?;
    Ok(tune(repo))
}

/// Give a repository handle (one per thread) its caches.
pub fn tune(mut repo: gix::Repository) -> gix::Repository {
    repo.object_cache_size_if_unset(OBJECT_CACHE_BYTES);
    repo.objects.set_pack_cache(|| {
        Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(
            PACK_CACHE_BYTES,
        ))
    });
    repo
}

/// Messages name the directory as the user can find it, not as `.`.
fn absolute(dir: &Path) -> std::path::PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

//! Why a revision does not resolve, said so that a person can act on it: an empty repository,
//! a name that is not here (pointing at the remote's branch of that name when there is one), a
//! walk back past the root commit. gix's own message names its internals
//! (`delegate.traverse(NthAncestor(10))`); it goes to the debug log only.
//!
//! Reads refs and commits; prints nothing.

use super::objects::repo_dir;

/// The error for `spec`, which gix could not resolve in `repo` (`cause` is gix's message).
pub fn unresolved(
    repo: &gix::Repository,
    spec: &str,
    cause: &dyn std::fmt::Display,
) -> anyhow::Error {
    tracing::debug!(spec, %cause, "revision did not resolve");
    let dir = repo_dir(repo);
    if is_empty(repo) {
        return anyhow::anyhow!(
            "bad revision '{spec}': the repository {dir} has no commits yet; hint: make a first \
             commit (`git guard check --staged` judges what is staged)"
        );
    }
    let sides = match spec.split_once("...").or_else(|| spec.split_once("..")) {
        Some((a, b)) => vec![a, b],
        None => vec![spec],
    };
    for side in sides.into_iter().filter(|s| !s.is_empty()) {
        if repo.rev_parse_single(side).is_ok() {
            continue;
        }
        let base = strip_navigation(side);
        if base != side {
            if let Ok(id) = repo.rev_parse_single(base) {
                let depth = first_parent_depth(repo, id.detach());
                return anyhow::anyhow!(
                    "bad revision '{spec}': '{side}' goes back past the root commit: {base} has {depth} commit{} on its \
                     first-parent line; hint: `git log --oneline {base}` shows how far back it goes",
                    if depth == 1 { "" } else { "s" }
                );
            }
        }
        let remote = format!("refs/remotes/origin/{base}");
        if repo
            .try_find_reference(remote.as_str())
            .ok()
            .flatten()
            .is_some()
        {
            return anyhow::anyhow!(
                "bad revision '{spec}': '{base}' is not a branch of {dir}, but origin/{base} is; hint: name origin/{base}, \
                 or `git switch {base}` to make the local branch"
            );
        }
        return anyhow::anyhow!(
            "bad revision '{spec}': '{base}' names no commit, branch or tag in {dir}; hint: `git branch -a` lists the \
             branches, and `git fetch origin` brings the remote's"
        );
    }
    anyhow::anyhow!(
        "bad revision '{spec}' in {dir}; hint: name a commit or a range \
         `A..B` that `git rev-parse` accepts"
    )
}

/// Whether the repository holds no commit: HEAD unborn and no ref at all.
fn is_empty(repo: &gix::Repository) -> bool {
    let unborn = repo.head().map(|h| h.is_unborn()).unwrap_or(false);
    let no_refs = repo
        .references()
        .ok()
        .and_then(|r| r.all().ok().map(|mut all| all.next().is_none()))
        .unwrap_or(false);
    unborn && no_refs
}

/// `name` without its trailing `~N`, `^N`, `~` and `^` steps.
fn strip_navigation(side: &str) -> &str {
    let mut s = side;
    loop {
        let t = s.trim_end_matches(|c: char| c.is_ascii_digit());
        match t.strip_suffix('~').or_else(|| t.strip_suffix('^')) {
            Some(rest) if !rest.is_empty() => s = rest,
            _ => return s,
        }
    }
}

/// How many commits the first-parent line from `id` holds (itself included), up to a bound.
fn first_parent_depth(repo: &gix::Repository, id: gix::ObjectId) -> usize {
    let mut n = 0;
    let mut next = Some(id);
    while let Some(id) = next {
        if n >= 1_000_000 {
            break;
        }
        n += 1;
        next = repo
            .find_commit(id)
            .ok()
            .and_then(|c| c.parent_ids().next().map(|p| p.detach()));
    }
    n
}

#[cfg(test)]
mod tests {
    use super::strip_navigation;

    #[test]
    fn navigation_steps_are_stripped_to_the_name() {
        assert_eq!(strip_navigation("HEAD~10"), "HEAD");
        assert_eq!(strip_navigation("main^2~3"), "main");
        assert_eq!(strip_navigation("v1.2"), "v1.2");
        assert_eq!(strip_navigation("~3"), "~3");
    }
}

//! How the symbolic links of a tree resolve inside it, as the kernel would follow them once the
//! tree is checked out: component by component, following the tree's own links on the way, so
//! `s -> .` makes `x -> s/s/..` leave the tree although its text has one `..`.
//!
//! Two questions, both pure functions of the tree's paths, links and targets (no object
//! access, nothing printed, no process run): does a link's target leave the tree (absolute, or
//! `..` past the root), and under which other paths is a path of the tree reachable (a file
//! reached through `config -> cfg` is `cfg/...` and `config/...`). The model answers them for
//! the tip of an update, the materialiser refuses a tree with a link that leaves it.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// How many links one resolution follows before giving up, as Linux does (`ELOOP`).
const MAX_HOPS: usize = 40;
/// How deep aliases of aliases go (`a -> b`, `b -> c`: `c/x` is `b/x` and `a/x`).
const MAX_ALIAS_DEPTH: usize = 4;
/// How many aliases one path is given at most (a link to `.` aliases without end).
const MAX_ALIASES: usize = 64;

/// The paths of a tree that matter to its links: every link with its target, every directory,
/// every file.
#[derive(Debug, Default, Clone)]
pub struct TreeLinks {
    links: HashMap<String, String>,
    dirs: HashSet<String>,
    files: Vec<String>,
    /// [`TreeLinks::reaching`], worked out once the tree is complete.
    reaching: OnceLock<Vec<(String, String)>>,
}

/// Where a link leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A path inside the tree (`""`: its root), which may not exist.
    Inside(String),
    /// Out of the tree: an absolute target, or `..` past the root.
    Outside,
}

impl TreeLinks {
    pub fn add_link(&mut self, path: String, target: String) {
        self.links.insert(path, target);
    }
    pub fn add_dir(&mut self, path: String) {
        self.dirs.insert(path);
    }
    pub fn add_file(&mut self, path: String) {
        self.files.push(path);
    }
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
    /// The target of the link at `path`, if there is one.
    pub fn target(&self, path: &str) -> Option<&str> {
        self.links.get(path).map(String::as_str)
    }
    pub fn links(&self) -> impl Iterator<Item = (&str, &str)> {
        self.links.iter().map(|(p, t)| (p.as_str(), t.as_str()))
    }

    /// Where the link at `link` with `target` leads, following the tree's links on the way.
    pub fn resolve(&self, link: &str, target: &str) -> Resolved {
        if target.starts_with('/') {
            return Resolved::Outside;
        }
        let mut at: Vec<String> = link.split('/').map(str::to_string).collect();
        at.pop();
        let mut pending: Vec<String> = components(target);
        pending.reverse();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            match c.as_str() {
                "" | "." => {}
                ".." => {
                    if at.pop().is_none() {
                        return Resolved::Outside;
                    }
                }
                name => {
                    at.push(name.to_string());
                    let here = at.join("/");
                    if let Some(t) = self.links.get(&here) {
                        hops += 1;
                        if hops > MAX_HOPS {
                            // The kernel stops here too (ELOOP): nothing is reached.
                            return Resolved::Inside(here);
                        }
                        if t.starts_with('/') {
                            return Resolved::Outside;
                        }
                        at.pop();
                        let mut more = components(t);
                        more.reverse();
                        pending.extend(more);
                    }
                }
            }
        }
        Resolved::Inside(at.join("/"))
    }

    /// Every link of the tree whose target leaves it, with that target.
    pub fn outside(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = self
            .links()
            .filter(|(p, t)| self.resolve(p, t) == Resolved::Outside)
            .collect();
        out.sort();
        out
    }

    /// The links that lead to a directory or a file of the tree: (link, what it reaches).
    /// Worked out on first use: add nothing after asking.
    fn reaching(&self) -> &[(String, String)] {
        self.reaching.get_or_init(|| {
            let files: HashSet<&str> = self.files.iter().map(String::as_str).collect();
            let mut out = Vec::new();
            for (p, t) in self.links() {
                if let Resolved::Inside(r) = self.resolve(p, t)
                    && (r.is_empty() || self.dirs.contains(&r) || files.contains(r.as_str()))
                    && r != p
                {
                    out.push((p.to_string(), r));
                }
            }
            out.sort();
            out
        })
    }

    /// The other paths `path` is reachable as, through the tree's links: (alias, link).
    pub fn aliases_of(&self, path: &str) -> Vec<(String, String)> {
        let reaching = self.reaching();
        let mut out: Vec<(String, String)> = Vec::new();
        let mut frontier = vec![path.to_string()];
        for _ in 0..MAX_ALIAS_DEPTH {
            let mut next = Vec::new();
            for p in &frontier {
                for (link, real) in reaching {
                    let Some(alias) = rebase(p, real, link) else {
                        continue;
                    };
                    if alias != path
                        && !out.iter().any(|(a, _)| *a == alias)
                        && out.len() < MAX_ALIASES
                    {
                        out.push((alias.clone(), link.clone()));
                        next.push(alias);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        out
    }

    /// What the link at `link` makes reachable: every file of the tree it leads to, as
    /// (the path through the link, the file's path in the tree).
    pub fn exposed_by(&self, link: &str) -> Vec<(String, String)> {
        let Some(target) = self.target(link) else {
            return Vec::new();
        };
        let Resolved::Inside(real) = self.resolve(link, target) else {
            return Vec::new();
        };
        self.files
            .iter()
            .filter_map(|f| rebase(f, &real, link).map(|alias| (alias, f.clone())))
            .filter(|(alias, f)| alias != f)
            .take(MAX_ALIASES * 1024)
            .collect()
    }
}

/// `path` moved from under `from` to under `to` (`from` itself becomes `to`); `None` when
/// `path` is not `from` nor under it.
fn rebase(path: &str, from: &str, to: &str) -> Option<String> {
    if from.is_empty() {
        return Some(format!("{to}/{path}"));
    }
    if path == from {
        return Some(to.to_string());
    }
    path.strip_prefix(from)
        .and_then(|rest| rest.strip_prefix('/'))
        .map(|rest| format!("{to}/{rest}"))
}

fn components(target: &str) -> Vec<String> {
    target.split('/').map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(links: &[(&str, &str)], dirs: &[&str], files: &[&str]) -> TreeLinks {
        let mut t = TreeLinks::default();
        for (p, target) in links {
            t.add_link(p.to_string(), target.to_string());
        }
        for d in dirs {
            t.add_dir(d.to_string());
        }
        for f in files {
            t.add_file(f.to_string());
        }
        t
    }

    #[test]
    fn targets_that_leave_the_tree() {
        let t = tree(&[("s", "."), ("d/up", "../..")], &["d"], &[]);
        assert_eq!(t.resolve("a", "/etc/passwd"), Resolved::Outside);
        assert_eq!(t.resolve("a", ".."), Resolved::Outside);
        assert_eq!(t.resolve("d/e/a", "../../.."), Resolved::Outside);
        assert_eq!(t.resolve("d/a", "../b"), Resolved::Inside("b".into()));
        assert_eq!(t.resolve("a", "./b/../c"), Resolved::Inside("c".into()));
        // `s` is the root: `s/s/..` is the root's parent, whatever the text says.
        assert_eq!(t.resolve("x", "s/s/.."), Resolved::Outside);
        // Through a link that leaves.
        assert_eq!(t.resolve("x", "d/up/etc"), Resolved::Outside);
        assert_eq!(t.outside(), [("d/up", "../..")]);
    }

    #[test]
    fn loops_reach_nothing_and_end() {
        let t = tree(&[("a", "b"), ("b", "a")], &[], &[]);
        assert!(matches!(t.resolve("x", "a/f"), Resolved::Inside(_)));
        assert_eq!(t.outside(), Vec::<(&str, &str)>::new());
    }

    #[test]
    fn a_path_is_reachable_through_directory_and_file_links() {
        let t = tree(
            &[
                ("config", "cfg"),
                ("etc", "config"),
                ("prod.yml", "cfg/production.yml"),
            ],
            &["cfg"],
            &["cfg/production.yml", "src/main.rs"],
        );
        let mut a = t.aliases_of("cfg/production.yml");
        a.sort();
        assert_eq!(
            a,
            [
                ("config/production.yml".to_string(), "config".to_string()),
                ("etc/production.yml".to_string(), "etc".to_string()),
                ("prod.yml".to_string(), "prod.yml".to_string()),
            ]
        );
        assert!(t.aliases_of("src/main.rs").is_empty());
        assert_eq!(
            t.exposed_by("config"),
            [(
                "config/production.yml".to_string(),
                "cfg/production.yml".to_string()
            )]
        );
    }

    #[test]
    fn a_link_to_the_root_aliases_boundedly() {
        let t = tree(&[("l", ".")], &[], &["a"]);
        let a = t.aliases_of("a");
        assert!(a.iter().any(|(p, _)| p == "l/a"), "{a:?}");
        assert!(a.len() <= MAX_ALIASES);
    }
}

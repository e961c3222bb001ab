//! `git guard policy explain PATH...`: which of the policy's path lists match a path, with
//! the patterns that match, and what that means for a change to it.
//!
//! Paths are taken relative to the repository root, as the policy's patterns are; the lists
//! follow `paths.case_insensitive` exactly as the rules do, since they share the compiled
//! [`PathPatterns`].

use std::io::{self, Write};

use serde::Serialize;

use crate::engine::policy::{CHANGE_KIND_NAMES, PathPatterns, Policy};

/// What a path's explanation concludes, strictest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Any change to the path is a violation.
    Rejected,
    /// A change is allowed but raises a flag a human must approve before deploy.
    NeedsApproval,
    /// A change is judged like any other (caps, secrets, risk).
    Allowed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Rejected => "rejected",
            Outcome::NeedsApproval => "needs approval",
            Outcome::Allowed => "allowed",
        }
    }
}

/// One path list that has something to say about a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListMatch {
    /// The policy key of the list (`paths.deny`).
    pub list: &'static str,
    /// The patterns of the list that match, as written in the policy; empty when what the list
    /// says is that nothing in it matches (a path outside `paths.allow_only`).
    pub patterns: Vec<String>,
    /// What it means for a change to the path.
    pub meaning: String,
}

/// Everything the policy's path lists say about one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathExplanation {
    /// The path as the policy sees it (relative to the repository root).
    pub path: String,
    pub matches: Vec<ListMatch>,
    pub outcome: Outcome,
}

/// A path as given on the command line, made relative to the repository root the way the
/// policy's patterns see it (`./src/x` is `src/x`). Absolute paths and `..` are refused: the
/// policy only knows paths inside the repository.
pub fn normalize(path: &str) -> Result<String, String> {
    if path.starts_with('/') {
        return Err(format!(
            "{path:?} is absolute: give the path relative to the repository root (e.g. src/lib.rs)"
        ));
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(format!(
            "{path:?} leaves the repository: give the path relative to the repository root"
        ));
    }
    if parts.is_empty() {
        return Err(format!(
            "{path:?} names no file: give a path such as src/lib.rs"
        ));
    }
    Ok(parts.join("/"))
}

fn quoted(patterns: &[String]) -> String {
    let list: Vec<String> = patterns.iter().map(|p| format!("`{p}`")).collect();
    let word = if patterns.len() == 1 {
        "pattern"
    } else {
        "patterns"
    };
    format!("{word} {}", list.join(", "))
}

/// The list's match for `path`, if any of its patterns matches.
fn hit(
    list: &'static str,
    set: &PathPatterns,
    path: &str,
    meaning: impl Fn(&str) -> String,
) -> Option<ListMatch> {
    let patterns: Vec<String> = set.matching(path).into_iter().map(String::from).collect();
    if patterns.is_empty() {
        return None;
    }
    let meaning = meaning(&quoted(&patterns));
    Some(ListMatch {
        list,
        patterns,
        meaning,
    })
}

/// What every path list of `policy` says about `path` (already [`normalize`]d).
pub fn explain_path(policy: &Policy, path: &str) -> PathExplanation {
    let mut matches = Vec::new();
    let mut outcome = Outcome::Allowed;

    if let Some(m) = hit("paths.deny", &policy.paths.deny, path, |p| {
        format!(
            "denied: any change is rejected, whether the path is added, modified, deleted or \
             either side of a rename ({p})"
        )
    }) {
        matches.push(m);
        outcome = Outcome::Rejected;
    }
    let allow_only = &policy.paths.allow_only;
    if !allow_only.is_empty() {
        match hit("paths.allow_only", allow_only, path, |p| {
            format!("inside the allow-only list: changes may be made here ({p})")
        }) {
            Some(m) => matches.push(m),
            None => {
                matches.push(ListMatch {
                    list: "paths.allow_only",
                    patterns: Vec::new(),
                    meaning: "outside the allow-only list: any change is rejected (no pattern \
                              of paths.allow_only matches)"
                        .into(),
                });
                outcome = Outcome::Rejected;
            }
        }
    }
    if let Some(m) = hit("paths.protected", &policy.paths.protected, path, |p| {
        format!("protected: a change raises a flag a human must approve before deploy ({p})")
    }) {
        matches.push(m);
        outcome = outcome.min(Outcome::NeedsApproval);
    }
    let flag_on = &policy.tests.flag_on;
    let test_meaning = if flag_on.is_empty() {
        "test path, but tests.flag_on is empty: a change raises no flag".to_string()
    } else if flag_on.len() == CHANGE_KIND_NAMES.len() {
        "test path: any change raises a flag a human must approve before deploy".to_string()
    } else {
        format!(
            "test path: a change of kind {} raises a flag a human must approve before deploy",
            flag_on.join(", ")
        )
    };
    if let Some(m) = hit("tests.paths", &policy.tests.paths, path, |p| {
        format!("{test_meaning} ({p})")
    }) {
        matches.push(m);
        if !flag_on.is_empty() {
            outcome = outcome.min(Outcome::NeedsApproval);
        }
    }
    let others: [(&'static str, &PathPatterns, &str); 3] = [
        (
            "caps.exclude",
            &policy.caps.exclude,
            "left out of the file and line counts of the caps",
        ),
        (
            "secrets.exclude",
            &policy.secrets.exclude,
            "not scanned for secrets",
        ),
        (
            "risk.high_risk_paths",
            &policy.risk.high_risk_paths,
            "high risk: a change raises the risk score",
        ),
    ];
    for (list, set, what) in others {
        if let Some(m) = hit(list, set, path, |p| format!("{what} ({p})")) {
            matches.push(m);
        }
    }
    PathExplanation {
        path: path.to_string(),
        matches,
        outcome,
    }
}

/// The explanations for people: the path, one indented line per list, then the outcome.
pub fn render_text(explanations: &[PathExplanation], out: &mut dyn Write) -> io::Result<()> {
    for e in explanations {
        writeln!(out, "{}", e.path)?;
        if e.matches.is_empty() {
            writeln!(
                out,
                "  no path list matches: a change is judged like any other (caps, secrets, risk)"
            )?;
        }
        for m in &e.matches {
            writeln!(out, "  {}: {}", m.list, m.meaning)?;
        }
        writeln!(out, "  => {}", e.outcome.as_str())?;
    }
    Ok(())
}

/// The explanations as one JSON document (`{"policy": ..., "paths": [...]}`).
pub fn render_json(
    policy: &Policy,
    explanations: &[PathExplanation],
    out: &mut dyn Write,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct Doc<'a> {
        policy: String,
        case_insensitive: bool,
        paths: &'a [PathExplanation],
    }
    serde_json::to_writer_pretty(
        &mut *out,
        &Doc {
            policy: policy.source.to_string(),
            case_insensitive: policy.paths.case_insensitive,
            paths: explanations,
        },
    )?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::policy::PolicySource;

    fn builtin() -> Policy {
        Policy::parse("", PolicySource::Builtin).unwrap()
    }

    #[test]
    fn denied_path_in_any_case() {
        let e = explain_path(&builtin(), ".ENV");
        assert_eq!(e.outcome, Outcome::Rejected);
        assert_eq!(e.matches.len(), 1, "{e:?}");
        assert_eq!(e.matches[0].list, "paths.deny");
        assert_eq!(e.matches[0].patterns, vec![".env"]);
        assert!(
            e.matches[0]
                .meaning
                .starts_with("denied: any change is rejected"),
            "{e:?}"
        );
        assert!(e.matches[0].meaning.ends_with("(pattern `.env`)"), "{e:?}");
    }

    #[test]
    fn several_lists_at_once() {
        let p = Policy::parse(
            "[paths]\nallow_only = [\"src/\"]\n[risk]\nhigh_risk_paths = [\"src/auth/\"]\n\
             [secrets]\nexclude = [\"*.lock\", \"src/auth/*.lock\"]\n",
            PolicySource::Builtin,
        )
        .unwrap();
        let e = explain_path(&p, "src/auth/Cargo.lock");
        let lists: Vec<&str> = e.matches.iter().map(|m| m.list).collect();
        assert_eq!(
            lists,
            vec![
                "paths.allow_only",
                "secrets.exclude",
                "risk.high_risk_paths"
            ]
        );
        assert_eq!(e.matches[1].patterns, vec!["*.lock", "src/auth/*.lock"]);
        assert_eq!(e.outcome, Outcome::Allowed);
        let e = explain_path(&p, "README.md");
        assert_eq!(e.outcome, Outcome::Rejected);
        assert!(
            e.matches[0]
                .meaning
                .starts_with("outside the allow-only list")
        );
    }

    #[test]
    fn test_paths_follow_flag_on() {
        let p = Policy::parse("[tests]\nflag_on = []\n", PolicySource::Builtin).unwrap();
        let e = explain_path(&p, "tests/a.rs");
        assert_eq!(e.matches[0].list, "tests.paths");
        assert_eq!(e.outcome, Outcome::Allowed);
        let e = explain_path(&builtin(), "tests/a.rs");
        assert_eq!(e.outcome, Outcome::NeedsApproval);
        assert!(e.matches[0].meaning.contains("any change"), "{e:?}");
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize("./src//lib.rs").unwrap(), "src/lib.rs");
        assert!(normalize("/etc/passwd").is_err());
        assert!(normalize("../x").is_err());
        assert!(normalize("./").is_err());
    }
}

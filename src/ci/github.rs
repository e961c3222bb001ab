//! The subject of a GitHub Actions job: the event file `GITHUB_EVENT_PATH` names (a
//! `push`, `pull_request`, `pull_request_target` or `merge_group` payload), and the actor
//! from `GITHUB_ACTOR`, which GitHub sets to the account that caused the run.
//!
//! Reads only variables and the event file GitHub writes for the job; never the repository.

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::subject::{Change, Env, Provider, Subject, full_ref, is_zero, need};

/// The subject of this GitHub Actions job.
pub fn subject(env: Env) -> Result<Subject> {
    let event_name = need(
        env,
        "GITHUB_EVENT_NAME",
        "GitHub Actions sets it for every job",
    )?;
    let path = need(
        env,
        "GITHUB_EVENT_PATH",
        "GitHub Actions writes the event there for every job",
    )?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the event file {path} (GITHUB_EVENT_PATH)"))?;
    let event: Value = serde_json::from_str(&text)
        .with_context(|| format!("the event file {path} (GITHUB_EVENT_PATH) is not JSON"))?;
    let actor = need(
        env,
        "GITHUB_ACTOR",
        "GitHub sets it to the account that caused the run; without it nobody can be judged",
    )?;
    from_event(&event_name, &event, actor).with_context(|| format!("in {path}"))
}

/// The subject of one event payload, as GitHub documents it for each event.
pub fn from_event(event_name: &str, event: &Value, actor: String) -> Result<Subject> {
    let actor = Some((actor, "GITHUB_ACTOR".to_string()));
    match event_name {
        "pull_request" | "pull_request_target" => {
            let pr = field(event, &["pull_request"])?;
            let base_ref = string(pr, &["base", "ref"])?;
            let base_sha = sha(pr, &["base", "sha"])?;
            let head_sha = sha(pr, &["head", "sha"])?;
            let head_ref = string(pr, &["head", "ref"]).unwrap_or_else(|_| head_sha.clone());
            let number = pr.get("number").and_then(Value::as_u64).unwrap_or(0);
            let base_branch = base_ref.trim_start_matches("refs/heads/").to_string();
            let tracking = format!("refs/remotes/origin/{base_branch}");
            Ok(Subject {
                provider: Provider::Github,
                description: format!("pull request {number}: {head_ref} -> {base_branch}"),
                change: Change::Review {
                    base: vec![tracking.clone(), base_sha.clone()],
                    head: head_sha,
                },
                policy_at: vec![tracking, base_sha],
                actor,
                author: string(pr, &["user", "login"])
                    .ok()
                    .map(|a| (a, "pull_request.user.login".to_string())),
            })
        }
        "merge_group" => {
            let mg = field(event, &["merge_group"])?;
            let base_sha = sha(mg, &["base_sha"])?;
            let head_sha = sha(mg, &["head_sha"])?;
            let base_ref = string(mg, &["base_ref"]).unwrap_or_else(|_| base_sha.clone());
            Ok(Subject {
                provider: Provider::Github,
                description: format!("merge queue -> {base_ref}"),
                change: Change::Review {
                    base: vec![base_sha.clone()],
                    head: head_sha,
                },
                policy_at: vec![base_sha],
                actor,
                author: None,
            })
        }
        "push" => {
            let refname = full_ref(&string(event, &["ref"])?);
            let before = sha(event, &["before"])?;
            let after = sha(event, &["after"])?;
            let deleted = event.get("deleted").and_then(Value::as_bool) == Some(true);
            let default = string(event, &["repository", "default_branch"])?;
            let default_ref = full_ref(&default);
            let tracking = format!("refs/remotes/origin/{default}");
            let before = (!is_zero(&before)).then_some(before);
            let after = (!deleted && !is_zero(&after)).then_some(after);
            // Pushing to the default branch, the policy is the branch before the push: its
            // tip as fetched is the change itself. Elsewhere, the default branch as fetched.
            let (policy_at, known) = if refname == default_ref {
                (before.iter().cloned().collect(), Vec::new())
            } else {
                (vec![tracking.clone()], vec![tracking])
            };
            Ok(Subject {
                provider: Provider::Github,
                description: format!("push to {refname}"),
                change: Change::Push {
                    refname,
                    before,
                    after,
                    known,
                },
                policy_at,
                actor,
                author: None,
            })
        }
        other => bail!(
            "git guard ci cannot judge a `{other}` event: run it `on: [push, pull_request]` \
             (or merge_group)"
        ),
    }
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = match cur.get(key) {
            Some(next) if !next.is_null() => next,
            _ => bail!(
                "the event has no `{}`: is this the payload GitHub wrote for the job?",
                path.join(".")
            ),
        };
    }
    Ok(cur)
}

fn string(v: &Value, path: &[&str]) -> Result<String> {
    match field(v, path)?.as_str() {
        Some(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => bail!("the event's `{}` is not a non-empty string", path.join(".")),
    }
}

/// An object id: 40 or 64 hex digits.
fn sha(v: &Value, path: &[&str]) -> Result<String> {
    let s = string(v, path)?;
    if !matches!(s.len(), 40 | 64) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "the event's `{}` is {s:?}, not an object id (40 or 64 hex digits)",
            path.join(".")
        );
    }
    Ok(s.to_ascii_lowercase())
}

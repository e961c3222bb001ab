//! The subject of a GitLab CI job, from GitLab's predefined variables: a merge request
//! pipeline (`CI_MERGE_REQUEST_*`), a branch pipeline (`CI_COMMIT_BRANCH`,
//! `CI_COMMIT_BEFORE_SHA`, `CI_COMMIT_SHA`) or a tag pipeline (`CI_COMMIT_TAG`), and the actor
//! from `GITLAB_USER_LOGIN`, the account that started the pipeline.
//!
//! Reads only the variables GitLab sets for the job; never the repository.

use anyhow::{Result, bail};

use super::subject::{Change, Env, Provider, Subject, full_ref, is_zero, need, opt};

/// The subject of this GitLab CI job.
pub fn subject(env: Env) -> Result<Subject> {
    let actor = need(
        env,
        "GITLAB_USER_LOGIN",
        "GitLab sets it to the account that started the pipeline; without it nobody can be judged",
    )?;
    let actor = Some((actor, "GITLAB_USER_LOGIN".to_string()));
    let commit = need(env, "CI_COMMIT_SHA", "GitLab sets it for every job")?;
    check_id("CI_COMMIT_SHA", &commit)?;
    let merge_request = opt(env, "CI_MERGE_REQUEST_IID").is_some()
        || opt(env, "CI_PIPELINE_SOURCE").as_deref() == Some("merge_request_event");
    if merge_request {
        let target = need(
            env,
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
            "GitLab sets it in merge request pipelines",
        )?;
        let diff_base = need(
            env,
            "CI_MERGE_REQUEST_DIFF_BASE_SHA",
            "GitLab sets it in merge request pipelines",
        )?;
        check_id("CI_MERGE_REQUEST_DIFF_BASE_SHA", &diff_base)?;
        // In a merged results pipeline CI_COMMIT_SHA is GitLab's merge commit; the request's
        // own head is CI_MERGE_REQUEST_SOURCE_BRANCH_SHA.
        let head = match opt(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") {
            Some(h) => {
                check_id("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", &h)?;
                h
            }
            None => commit,
        };
        let source = opt(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME").unwrap_or_default();
        let iid = opt(env, "CI_MERGE_REQUEST_IID").unwrap_or_default();
        let tracking = format!("refs/remotes/origin/{target}");
        return Ok(Subject {
            provider: Provider::Gitlab,
            description: format!("merge request !{iid}: {source} -> {target}"),
            change: Change::Review {
                base: vec![tracking.clone(), diff_base.clone()],
                head,
            },
            policy_at: vec![tracking, diff_base],
            actor,
            author: None,
        });
    }
    let default = need(env, "CI_DEFAULT_BRANCH", "GitLab sets it for every job")?;
    let tracking = format!("refs/remotes/origin/{default}");
    let (refname, before) = match (opt(env, "CI_COMMIT_BRANCH"), opt(env, "CI_COMMIT_TAG")) {
        (Some(branch), _) => {
            let before = opt(env, "CI_COMMIT_BEFORE_SHA").filter(|b| !is_zero(b));
            if let Some(b) = &before {
                check_id("CI_COMMIT_BEFORE_SHA", b)?;
            }
            (full_ref(&branch), before)
        }
        (None, Some(tag)) => (format!("refs/tags/{tag}"), None),
        (None, None) => bail!(
            "neither CI_COMMIT_BRANCH, CI_COMMIT_TAG nor CI_MERGE_REQUEST_IID is set: run the \
             job in branch, tag or merge request pipelines"
        ),
    };
    let (policy_at, known) = if refname == full_ref(&default) {
        (before.iter().cloned().collect(), Vec::new())
    } else {
        (vec![tracking.clone()], vec![tracking])
    };
    Ok(Subject {
        provider: Provider::Gitlab,
        description: format!("push to {refname}"),
        change: Change::Push {
            refname,
            before,
            after: Some(commit),
            known,
        },
        policy_at,
        actor,
        author: None,
    })
}

fn check_id(key: &str, id: &str) -> Result<()> {
    if !matches!(id.len(), 40 | 64) || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{key} is {id:?}, not an object id (40 or 64 hex digits)");
    }
    Ok(())
}

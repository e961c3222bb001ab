//! Which CI runs this job and the subject it gives: GitHub's or GitLab's own variables, or
//! for any other CI what `--base`, `--head` and `--as` say. Reads variables only: runs nothing.

use anyhow::{Result, bail};

use super::subject::{Change, Env, Given, Provider, Subject};
use super::{github, gitlab};

/// The subject of this job.
pub fn find(provider: Option<Provider>, given: &Given, env: Env) -> Result<Subject> {
    let provider = provider.unwrap_or_else(|| Provider::detect(env));
    if provider != Provider::Plain && given.any() {
        bail!(
            "--base, --head and --as are for --ci plain: on {} the change and the actor \
             come from the CI's own variables, which the change under review cannot set",
            provider.name()
        );
    }
    match provider {
        Provider::Github => github::subject(env),
        Provider::Gitlab => gitlab::subject(env),
        Provider::Plain => plain(given),
    }
}

/// Any other CI: `--base REV` (the protected branch, also where the policy is read), `--head
/// REV` (default `HEAD`) and `--as NAME` (who the CI says pushed).
fn plain(given: &Given) -> Result<Subject> {
    let Some(base) = given.base.clone().filter(|b| !b.trim().is_empty()) else {
        bail!(
            "no CI found (neither GITHUB_ACTIONS nor GITLAB_CI is true): pass --base REV, the \
             protected branch the change goes to (for example `--base origin/main`)"
        );
    };
    let Some(actor) = given.actor.clone().filter(|a| !a.trim().is_empty()) else {
        bail!(
            "--ci plain needs --as NAME: the identity your CI says pushed the change (never a \
             commit's author field, which anyone can write)"
        );
    };
    let head = given.head.clone().unwrap_or_else(|| "HEAD".into());
    let change = Change::Review {
        base: vec![base.clone()],
        head: head.clone(),
    };
    Ok(Subject {
        provider: Provider::Plain,
        description: format!("{base}..{head}"),
        change,
        policy_at: vec![base],
        actor: Some((actor.trim().to_string(), "--as".into())),
        author: None,
    })
}

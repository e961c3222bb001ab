//! Who a CI job judges: the account the CI names in its own variables (`GITHUB_ACTOR`,
//! `GITLAB_USER_LOGIN`, or `--as` from the job's configuration), never a commit's author or
//! committer field, which anyone can write.
//!
//! A pull request is judged as whichever of the actor and the request's author the policy
//! trusts less: a person re-running or pushing to an agent's request must not lend it their
//! role. Both count as having pushed the change, so neither can approve its flags.

use anyhow::{Result, bail};

use super::subject::Subject;
use crate::engine::identity::Actor;
use crate::engine::policy::Policy;

/// The actor judged, and the names that count as having pushed the change.
pub struct Judged {
    pub actor: Actor,
    pub pushers: Vec<String>,
}

pub fn judged(subject: &Subject, policy: &Policy) -> Result<Judged> {
    let Some((name, source)) = &subject.actor else {
        bail!("the CI names no actor: cannot tell who pushed the change");
    };
    let mut actor = Actor::new(name.as_str(), source.as_str(), policy);
    let mut pushers = vec![name.clone()];
    if let Some((author, source)) = &subject.author {
        let by_author = Actor::new(author.as_str(), source.as_str(), policy);
        if by_author.role < actor.role {
            actor = by_author;
        }
        if !pushers.contains(author) {
            pushers.push(author.clone());
        }
    }
    Ok(Judged { actor, pushers })
}

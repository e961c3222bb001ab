//! Who is acting, and in what role.
//!
//! Identity comes from the hosting server, never from commit author or committer fields,
//! which anyone can write. A hook trusts only the variable of the host it was installed for:
//! over a local path the pusher sets the environment, so a plain install uses the unix user.

use serde::Serialize;

use crate::engine::policy::{Policy, Role};

/// The hosting server a hook was installed for; it decides which variable names the pusher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Host {
    /// A bare repository reached over ssh or a local path: the unix user of the process.
    #[default]
    Plain,
    /// GitLab: `GL_USERNAME`.
    Gitlab,
    /// gitolite: `GL_USER`.
    Gitolite,
    /// Gitea and Forgejo: `GITEA_PUSHER_NAME`.
    Gitea,
    /// GitHub Enterprise Server: `GITHUB_USER_LOGIN`.
    Github,
    /// Smart HTTP behind a web server that authenticates: `REMOTE_USER`.
    Http,
}

impl Host {
    pub fn variable(self) -> Option<&'static str> {
        match self {
            Host::Plain => None,
            Host::Gitlab => Some("GL_USERNAME"),
            Host::Gitolite => Some("GL_USER"),
            Host::Gitea => Some("GITEA_PUSHER_NAME"),
            Host::Github => Some("GITHUB_USER_LOGIN"),
            Host::Http => Some("REMOTE_USER"),
        }
    }

    pub fn parse(s: &str) -> Option<Host> {
        Some(match s {
            "plain" => Host::Plain,
            "gitlab" => Host::Gitlab,
            "gitolite" => Host::Gitolite,
            "gitea" | "forgejo" => Host::Gitea,
            "github" => Host::Github,
            "http" => Host::Http,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Host::Plain => "plain",
            Host::Gitlab => "gitlab",
            Host::Gitolite => "gitolite",
            Host::Gitea => "gitea",
            Host::Github => "github",
            Host::Http => "http",
        }
    }
}

/// An identity and the role the policy gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub name: String,
    pub role: Role,
    /// Where the name came from (`GL_USER`, `unix user`, `--as`).
    pub source: String,
}

impl Actor {
    pub fn new(name: impl Into<String>, source: impl Into<String>, policy: &Policy) -> Actor {
        let name = name.into();
        Actor {
            role: policy.actors.role_of(&name),
            name,
            source: source.into(),
        }
    }

    /// The actor of this process, as the given host names it. `env` reads a variable (tests
    /// pass their own). A host variable that is missing or empty is an error: the hook must
    /// not guess.
    pub fn from_host(
        host: Host,
        policy: &Policy,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Actor> {
        match host.variable() {
            Some(var) => match env(var).filter(|v| !v.trim().is_empty()) {
                Some(name) => Ok(Actor::new(name.trim(), var, policy)),
                None => anyhow::bail!(
                    "the hook was installed for {} but {var} is not set: cannot tell who is pushing",
                    host.name()
                ),
            },
            None => Ok(Actor::new(unix_user(), "unix user", policy)),
        }
    }
}

/// The name of the effective unix user, or its uid when it has no name.
pub fn unix_user() -> String {
    let uid = nix::unistd::geteuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => u.name,
        _ => format!("uid:{uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::policy::PolicySource;

    #[test]
    fn host_variable_is_the_only_one_trusted() {
        let p = Policy::parse("[actors]\nhumans=[\"alice\"]\n", PolicySource::Builtin).unwrap();
        let env = |k: &str| match k {
            "GL_USER" => Some("alice".to_string()),
            "GL_USERNAME" => Some("mallory".to_string()),
            _ => None,
        };
        let a = Actor::from_host(Host::Gitolite, &p, env).unwrap();
        assert_eq!((a.name.as_str(), a.role), ("alice", Role::Human));
        let a = Actor::from_host(Host::Plain, &p, env).unwrap();
        assert_eq!(a.source, "unix user");
        assert!(Actor::from_host(Host::Gitea, &p, env).is_err());
    }
}

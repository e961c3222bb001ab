//! After the switch: reload the service (a command, or a signal to a pidfile) and check its
//! health (a command, or an `http://` or `https://` GET through ureq with rustls, with retries
//! within a time limit); and the check of
//! these settings before a run starts.
//!
//! It may not switch `current` or decide a rollback: it reports, the pipeline acts.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::Deployer;
use super::shell::{run_shell, with_tail};
use super::steps::Run;
use crate::engine::policy::Policy;

/// GET an `http://` or `https://` URL; `Ok(())` on a 2xx answer. Redirects are not followed
/// (a 3xx is not healthy) and no proxy from the environment is used: the check is of the
/// service itself. `https://` is verified against the Mozilla roots (webpki-roots).
pub(super) fn http_get(url: &str, limit: Duration) -> std::result::Result<(), String> {
    http_get_with_roots(url, limit, None)
}

/// [`http_get`], trusting exactly `roots` (DER certificates) for `https://` when given.
pub(super) fn http_get_with_roots(
    url: &str,
    limit: Duration,
    roots: Option<&[Vec<u8>]>,
) -> std::result::Result<(), String> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let limit = limit.max(Duration::from_millis(10));
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(limit))
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .user_agent("guard-deploy");
    if let Some(roots) = roots {
        let certs: Vec<Certificate<'static>> = roots
            .iter()
            .map(|der| Certificate::from_der(der).to_owned())
            .collect();
        config = config.tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&certs))
                .build(),
        );
    }
    let agent: ureq::Agent = config.build().into();
    match agent.get(url).call() {
        Ok(resp) => {
            let st = resp.status();
            if st.is_success() {
                Ok(())
            } else {
                Err(format!(
                    "{url} answered `{} {}`",
                    st.as_u16(),
                    st.canonical_reason().unwrap_or("")
                ))
            }
        }
        Err(e) => Err(format!("{url}: {e}")),
    }
}

pub(super) fn parse_signal(s: &str) -> Result<Signal> {
    s.parse::<Signal>()
        .or_else(|_| format!("SIG{s}").parse::<Signal>())
        .map_err(|_| anyhow!("deploy.reload_signal {s:?} is not a signal (try HUP, USR1, USR2)"))
}

/// What the policy asks of a deploy, checked before the lock is taken so a bad setting
/// changes nothing.
pub fn validate(policy: &Policy) -> Result<()> {
    let d = &policy.deploy;
    parse_signal(&d.reload_signal)?;
    if d.reload_command.is_none() && d.pidfile.is_none() {
        // Nothing to reload is allowed: a static site served from `current`.
    }
    if let Some(url) = &d.health_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("deploy.health_url {url:?}: only http:// and https:// URLs are supported");
        }
    }
    Ok(())
}

impl Deployer<'_> {
    /// Reload, then health-check; `Some(reason)` when either failed.
    pub(super) fn reload_and_check(
        &self,
        run: &mut Run<'_, '_>,
        id: &str,
        commit: &str,
    ) -> Result<Option<String>> {
        run.step("reload", serde_json::json!({ "release": id }))?;
        match self.reload(id, commit) {
            Ok(what) => run.say(format!("reload: {what}"))?,
            Err(e) => return Ok(Some(format!("reload failed: {e:#}"))),
        }
        run.step("health", serde_json::json!({ "release": id }))?;
        match self.health(id, commit) {
            Ok(what) => {
                run.say(format!("health: {what}"))?;
                Ok(None)
            }
            Err(e) => Ok(Some(format!("health check failed: {e}"))),
        }
    }

    pub(super) fn env_for(&self, id: &str, commit: &str) -> Vec<(&'static str, String)> {
        vec![
            ("GUARD_DEPLOY_ROOT", self.layout.root.display().to_string()),
            ("GUARD_RELEASE", id.to_string()),
            (
                "GUARD_RELEASE_DIR",
                self.layout.release(id).display().to_string(),
            ),
            ("GUARD_COMMIT", commit.to_string()),
        ]
    }

    pub(super) fn reload(&self, id: &str, commit: &str) -> Result<String> {
        let d = &self.policy.deploy;
        if let Some(cmd) = &d.reload_command {
            let limit = Duration::from_secs(d.health_timeout_secs.max(1));
            let ran = run_shell(cmd, &self.layout.root, &self.env_for(id, commit), limit)?;
            if ran.ok {
                return Ok(format!("ran `{cmd}`"));
            }
            bail!("`{cmd}` {}{}", ran.how, with_tail(&ran.tail));
        }
        if let Some(pidfile) = &d.pidfile {
            let sig = parse_signal(&d.reload_signal)?;
            let text = std::fs::read_to_string(pidfile).with_context(|| {
                format!(
                    "cannot read the pidfile {} (deploy.pidfile): is the service running?",
                    pidfile.display()
                )
            })?;
            let pid: i32 = text.trim().parse().map_err(|_| {
                anyhow!(
                    "the pidfile {} holds {:?}, not a process id",
                    pidfile.display(),
                    text.trim()
                )
            })?;
            if pid <= 1 {
                bail!(
                    "the pidfile {} names pid {pid}: refusing to signal it",
                    pidfile.display()
                );
            }
            nix::sys::signal::kill(Pid::from_raw(pid), sig).map_err(|e| {
                anyhow!(
                    "cannot send {sig} to pid {pid} from {}: {e} (is the service running?)",
                    pidfile.display()
                )
            })?;
            return Ok(format!("sent {sig} to pid {pid} ({})", pidfile.display()));
        }
        Ok("nothing to reload (no deploy.reload_command or deploy.pidfile)".into())
    }

    pub(super) fn health(&self, id: &str, commit: &str) -> std::result::Result<String, String> {
        let d = &self.policy.deploy;
        if d.health_command.is_none() && d.health_url.is_none() {
            return Ok(
                "no health check configured (deploy.health_command, deploy.health_url)".into(),
            );
        }
        let limit = Duration::from_secs(d.health_timeout_secs.max(1));
        let deadline = Instant::now() + limit;
        let tries = d.health_retries.max(1);
        let mut last = String::new();
        for attempt in 1..=tries {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "no healthy answer within {}s (deploy.health_timeout_secs) after {} attempt{}: {last}",
                    limit.as_secs(),
                    attempt - 1,
                    if attempt == 2 { "" } else { "s" }
                ));
            }
            let r = if let Some(cmd) = &d.health_command {
                match run_shell(cmd, &self.layout.root, &self.env_for(id, commit), left) {
                    Ok(r) if r.ok => Ok(format!("`{cmd}` passed")),
                    Ok(r) => Err(format!("`{cmd}` {}{}", r.how, with_tail(&r.tail))),
                    Err(e) => Err(format!("{e:#}")),
                }
            } else {
                let url = d.health_url.as_deref().unwrap_or_default();
                http_get(url, left).map(|()| format!("{url} answered 2xx"))
            };
            match r {
                Ok(what) => return Ok(format!("{what} (attempt {attempt} of {tries})")),
                Err(e) => last = e,
            }
            if attempt < tries {
                let left = deadline.saturating_duration_since(Instant::now());
                std::thread::sleep(Duration::from_millis(d.health_interval_ms).min(left));
            }
        }
        Err(format!(
            "unhealthy after {tries} attempt{}: {last}",
            if tries == 1 { "" } else { "s" }
        ))
    }
}

//! Signatures of approval records: `ssh-keygen -Y sign` and `-Y verify` in the
//! `git-guard-approval` namespace, and whether a record's signature satisfies the policy.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, anyhow, bail};

use crate::engine::policy::Policy;

use super::*;

/// A reason to refuse the signature of a record, or `None`.
pub(super) fn signature_problem(
    policy: &Policy,
    approver: &str,
    payload: &[u8],
    signature: Option<&str>,
) -> Option<String> {
    match (signature, policy.approvals.require_signature) {
        (None, true) => Some(
            "not signed, and the policy requires signed approvals (approvals.require_signature)"
                .into(),
        ),
        (None, false) => None,
        (Some(sig), required) => match &policy.approvals.allowed_signers {
            Some(signers) => verify(signers, approver, payload, sig)
                .err()
                .map(|e| format!("bad signature: {e:#}")),
            None if required => Some(
                "cannot verify the signature: the policy names no approvals.allowed_signers".into(),
            ),
            None => None,
        },
    }
}

/// Sign `payload` with `ssh-keygen -Y sign -f KEY -n git-guard-approval`; the armored signature.
pub fn sign(key: &Path, payload: &[u8]) -> Result<String> {
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", SIGNATURE_NAMESPACE, "-f"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run ssh-keygen (hint: install OpenSSH 8.2 or later to sign)")?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("ssh-keygen has no stdin"))?
        .write_all(payload)?;
    let out = child.wait_with_output()?;
    let sig = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || !sig.starts_with(SIGNATURE_BEGIN) {
        bail!(
            "ssh-keygen could not sign with {}: {}",
            key.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(sig)
}

/// Verify `signature` over `payload` as `identity` against an `allowed_signers` file.
pub fn verify(
    allowed_signers: &Path,
    identity: &str,
    payload: &[u8],
    signature: &str,
) -> Result<()> {
    if !allowed_signers.is_file() {
        bail!(
            "allowed_signers file {} does not exist",
            allowed_signers.display()
        );
    }
    let mut sig = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
    sig.write_all(signature.as_bytes())?;
    sig.flush()?;
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-n", SIGNATURE_NAMESPACE, "-f"])
        .arg(allowed_signers)
        .arg("-I")
        .arg(identity)
        .arg("-s")
        .arg(sig.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run ssh-keygen to verify a signature")?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("ssh-keygen has no stdin"))?
        .write_all(payload)?;
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        bail!(
            "ssh-keygen does not accept it as {identity}'s: {}",
            text.lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("verification failed")
                .trim()
        )
    }
}

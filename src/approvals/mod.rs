//! Approvals: the only way a flag is cleared.
//!
//! A flag is a finding of severity [`Severity::Flag`] (test files changed, tests switched off or
//! weakened, protected paths touched). It does not block a push; it blocks a deploy until a
//! person the policy lists as a human or an admin approves exactly that commit.
//!
//! An approval is a small record stored in the guarded repository itself, as a blob that
//! `refs/guard/approvals/<commit-id>/<blob-id>` points at, so approvals replicate wherever the
//! repository does. The blob's first line is the record as compact JSON (the exact bytes a
//! signature covers); an `ssh-keygen -Y sign` signature may follow it. The record is bound to
//! the commit id and its tree id and names the flag ids it clears ([`Finding::flag_id`]):
//! a new commit, an amended one or a different tree needs its own approval.
//!
//! The namespace is append-only. At receive time [`judge_ref_update`] lets only approvers create
//! refs under it (checking the record: right commit and tree, the approver is the pusher, is
//! allowed by the policy, did not push the commit, and signed when the policy asks) and lets
//! nobody rewrite or delete them. Revoking an approval therefore adds a revocation record next
//! to it; a revocation is always honoured, since it can only take permission away.
//!
//! Who pushed a commit is what the server recorded when it received it, never an author or
//! committer field: [`record_push`], called by post-receive, writes one record per accepted ref
//! update that brought new commits (`refs/guard/pushes/<new-tip-id>`, listing every one of them),
//! and [`push_log`] reads them all once into a commit-to-pusher map (the oldest record wins).
//!
//! One file per job: [`record`] (the format), [`store`] (git plumbing), [`context`] (policy and
//! identity of a command), [`flags`] (what needs a person), [`status`] (which approvals count),
//! [`gate`] (the deploy gate: every commit's flags approved for that commit),
//! [`signature`], [`pushlog`] (who pushed what), [`fetch`] (a reviewer's clone brought the
//! server's records), [`receive`] (judging `refs/guard/` at receive),
//! [`write`] (approve and revoke), [`consent`] (how many approvals a risk needs), and the human
//! overrides of one branch: [`overrides`] (the records under `refs/guard/overrides/`, which count,
//! judging them at receive), [`relax`] (a judgement under a branch's overrides), [`allow`]
//! (`git guard allow`).

mod allow;
mod consent;
mod context;
mod fetch;
mod flags;
mod gate;
mod overrides;
mod pushlog;
mod receive;
mod record;
mod relax;
mod signature;
mod status;
mod store;
mod write;

pub use allow::*;
pub use consent::*;
pub use context::*;
pub use fetch::*;
pub use flags::*;
pub use gate::*;
pub use overrides::*;
pub use pushlog::*;
pub use receive::*;
pub use record::*;
pub use relax::*;
pub use signature::*;
pub use status::*;
pub use store::*;
pub use write::*;

/// Everything under this prefix belongs to git-guard and is judged by [`judge_ref_update`].
pub const NAMESPACE: &str = "refs/guard/";
/// Approval and revocation records: `refs/guard/approvals/<commit-id>/<record-blob-id>`.
pub const APPROVALS_PREFIX: &str = "refs/guard/approvals/";
/// Push records, one per accepted ref update that brought new commits:
/// `refs/guard/pushes/<new-tip-id>` (see [`PushRecord`]).
pub const PUSHES_PREFIX: &str = "refs/guard/pushes/";
/// The `ssh-keygen -Y` namespace of approval signatures.
pub const SIGNATURE_NAMESPACE: &str = "git-guard-approval";

const SIGNATURE_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";

/// Whether `refname` is under git-guard's own namespace (the hooks send those updates to
/// [`judge_ref_update`] instead of the change rules: they point at records, not commits).
pub fn is_guard_ref(refname: &str) -> bool {
    refname.starts_with(NAMESPACE)
}

#[cfg(test)]
mod tests;

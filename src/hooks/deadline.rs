//! The hooks' deadline: judging runs on its own thread, and a hook that cannot judge in time
//! rejects (fail closed) instead of keeping the pusher waiting.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

use crate::engine::policy::Policy;
use crate::site::config::DEFAULT_DEADLINE_MS;

use super::*;

pub(super) enum Progress<T> {
    /// The deadline the policy sets, known once the policy is read.
    Deadline(Duration),
    Done(Result<T>),
}

/// Why a deadline-bound job did not give its result.
pub(super) enum Outcome<T> {
    Done(Result<T>),
    TimedOut { deadline: Duration },
}

/// Run `job` on its own thread and wait for it until the deadline, which starts as `initial`
/// and becomes whatever the job reports (measured from `start`). Past it, give up: the thread
/// is left to finish on its own while the hook answers (and the process exits).
pub(super) fn with_deadline<T: Send + 'static>(
    start: Instant,
    initial: Duration,
    job: impl FnOnce(&dyn Fn(Duration)) -> Result<T> + Send + 'static,
) -> Outcome<T> {
    let (tx, rx) = mpsc::channel::<Progress<T>>();
    let spawned = std::thread::Builder::new()
        .name("guard-judge".into())
        .spawn(move || {
            let tx2 = tx.clone();
            let report = move |d: Duration| {
                let _ = tx2.send(Progress::Deadline(d));
            };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&report)))
                .unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(anyhow!("internal error while judging: {msg}"))
                });
            let _ = tx.send(Progress::Done(r));
        });
    if let Err(e) = spawned {
        return Outcome::Done(Err(anyhow!("cannot start the judging thread: {e}")));
    }
    let mut deadline = initial;
    loop {
        let left = deadline.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(Progress::Deadline(d)) => deadline = d,
            Ok(Progress::Done(r)) => return Outcome::Done(r),
            Err(mpsc::RecvTimeoutError::Timeout) => return Outcome::TimedOut { deadline },
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Outcome::Done(Err(anyhow!("the judging thread stopped without a verdict")));
            }
        }
    }
}

pub(super) fn deadline_of(inv: &Invocation, policy: Option<&Policy>) -> Duration {
    let ms = inv
        .config
        .deadline_ms
        .or(policy.map(|p| p.hooks.deadline_ms))
        .unwrap_or(DEFAULT_DEADLINE_MS);
    Duration::from_millis(ms)
}

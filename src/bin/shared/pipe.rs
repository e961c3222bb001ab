//! A closed pipe (`git guard log | head -1`) ends the program quietly with git's status: git
//! dies of SIGPIPE, so the shell sees 141. Rust ignores SIGPIPE, so a write to the closed pipe
//! comes back as an error instead; the binaries' `main` hands its error here first. The work
//! itself is not cut short by a signal half-way (a deploy, an approval), only its report.

/// When `e` comes from writing to a closed pipe, end the process as git would: by SIGPIPE.
pub(crate) fn end_if_closed_pipe(e: &anyhow::Error) {
    let closed = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if !closed {
        return;
    }
    use nix::sys::signal::{SigHandler, Signal, raise, signal};
    // SAFETY: restoring the default action of SIGPIPE; no handler runs.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
    let _ = raise(Signal::SIGPIPE);
    // Should the signal be blocked, the status the shell would have shown.
    std::process::exit(141);
}

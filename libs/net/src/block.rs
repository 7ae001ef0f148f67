//! The one blocking helper every face uses: retry a non-blocking engine operation, waiting in between.

use core::task::Poll;
use core::time::Duration;

use skiff_pvcalls::{Errno, Frontend};

use crate::Stack;

/// A deadline that has already passed: [`block_on`] tries once and
/// returns the engine's `Pending` as it is. This is how non-blocking mode
/// is expressed.
pub const NON_BLOCKING: Option<u64> = Some(0);

/// The deadline `timeout` from now (`None`: no deadline).
pub fn deadline_after<S: Stack>(stack: &S, timeout: Option<Duration>) -> Option<u64> {
    timeout.map(|t| {
        let ns = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        stack.now_ns().saturating_add(ns)
    })
}

/// Runs `op` on the engine until it is ready, waiting for events in
/// between, or until `deadline_ns` (monotonic, see [`Stack::now_ns`])
/// passes.
///
/// Returns `op`'s result, or `Pending` once the deadline has passed (or
/// was [`NON_BLOCKING`]): callers turn that into `EAGAIN`, `EINPROGRESS`
/// or `TimedOut` as their face requires.
pub fn block_on<S, T>(
    stack: &S,
    deadline_ns: Option<u64>,
    mut op: impl FnMut(&mut Frontend<S::P>) -> Poll<Result<T, Errno>>,
) -> Poll<Result<T, Errno>>
where
    S: Stack,
{
    loop {
        if let Poll::Ready(r) = stack.with(&mut op) {
            return Poll::Ready(r);
        }
        if let Some(d) = deadline_ns
            && (d == 0 || stack.now_ns() >= d)
        {
            return Poll::Pending;
        }
        stack.wait(deadline_ns);
    }
}

/// [`block_on`] without a deadline: waits as long as `op` is pending.
pub fn block<S, T>(
    stack: &S,
    mut op: impl FnMut(&mut Frontend<S::P>) -> Poll<Result<T, Errno>>,
) -> Result<T, Errno>
where
    S: Stack,
{
    loop {
        if let Poll::Ready(r) = stack.with(&mut op) {
            return r;
        }
        stack.wait(None);
    }
}

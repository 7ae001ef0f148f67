//! `std::net`-shaped TCP: [`TcpStream`] and [`TcpListener`] with blocking, non-blocking and timeout modes.

mod listener;
mod stream;

use core::task::Poll;
use core::time::Duration;

use skiff_pvcalls::{Errno, Frontend};

pub use listener::{Incoming, TcpListener};
pub use stream::TcpStream;

use crate::{Error, ErrorKind, NON_BLOCKING, Result, Stack, block_on, deadline_after};

/// Runs an engine operation in a stream's mode: once if `nonblocking`
/// (`Pending` becomes [`ErrorKind::WouldBlock`], `EAGAIN`), else blocking
/// until `timeout` ([`ErrorKind::TimedOut`] when it expires).
pub(crate) fn run<S: Stack, T>(
    stack: &S,
    nonblocking: bool,
    timeout: Option<Duration>,
    op: impl FnMut(&mut Frontend<S::P>) -> Poll<core::result::Result<T, Errno>>,
) -> Result<T> {
    let deadline = if nonblocking { NON_BLOCKING } else { deadline_after(stack, timeout) };
    match block_on(stack, deadline, op) {
        Poll::Ready(r) => r.map_err(Error::from),
        Poll::Pending if nonblocking => Err(Error::from(Errno::EAGAIN)),
        Poll::Pending => Err(Error::timed_out()),
    }
}

/// `std` rejects a zero timeout (it would mean "never block" and "block
/// forever" at once).
pub(crate) fn check_timeout(t: Option<Duration>) -> Result<()> {
    if t == Some(Duration::ZERO) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            Some(Errno::EINVAL),
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

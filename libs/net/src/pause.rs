//! Accept pacing for poll-based servers: after a resource error, stop polling the listener for a while.

use skiff_pvcalls::Errno;

/// Stops a server from spinning on `accept` errors that repeat.
///
/// `accept` fails with `ENOMEM` when no data ring can be allocated (or
/// `ENFILE`/`EMFILE`/`ENOBUFS`), and the listener stays readable because
/// the connection is still waiting in dom0. A server that polls the
/// listener again at once gets the same error in a tight loop. With an
/// `AcceptPause` it leaves the listener out of its poll set until one of
/// its connections closes (resources came back) or [`PAUSE_NS`] passed.
///
/// Times are the caller's monotonic clock in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcceptPause {
    until_ns: Option<u64>,
}

/// Longest pause after a resource error.
pub const PAUSE_NS: u64 = 100_000_000;

impl AcceptPause {
    /// Not paused.
    pub const fn new() -> Self {
        AcceptPause { until_ns: None }
    }

    /// Whether to poll the listener at `now_ns`; ends a pause that ran out.
    pub fn accepting(&mut self, now_ns: u64) -> bool {
        match self.until_ns {
            Some(t) if now_ns < t => false,
            _ => {
                self.until_ns = None;
                true
            }
        }
    }

    /// The `poll` timeout in milliseconds: `-1` (none) unless paused, then
    /// the time left in the pause, rounded up.
    pub fn poll_timeout_ms(&self, now_ns: u64) -> i32 {
        match self.until_ns {
            None => -1,
            Some(t) => {
                let ms = t.saturating_sub(now_ns).div_ceil(1_000_000);
                i32::try_from(ms).unwrap_or(i32::MAX)
            }
        }
    }

    /// Records an `accept` error at `now_ns`. Resource errors start a pause
    /// and return true when it is a new one (report it then, once); other
    /// errors return false and change nothing.
    pub fn on_error(&mut self, e: Errno, now_ns: u64) -> bool {
        if !matches!(e, Errno::ENOMEM | Errno::ENFILE | Errno::EMFILE | Errno::ENOBUFS) {
            return false;
        }
        let new = self.until_ns.is_none();
        self.until_ns = Some(now_ns.saturating_add(PAUSE_NS));
        new
    }

    /// A connection closed, so resources are back: accept again.
    pub fn resume(&mut self) {
        self.until_ns = None;
    }

    /// Whether a pause is in effect (as of the last [`accepting`](Self::accepting)).
    pub fn is_paused(&self) -> bool {
        self.until_ns.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_errors_pause_until_timeout_or_resume() {
        let mut p = AcceptPause::new();
        assert!(p.accepting(0));
        assert_eq!(p.poll_timeout_ms(0), -1);
        assert!(p.on_error(Errno::ENOMEM, 1_000));
        assert!(!p.on_error(Errno::EMFILE, 2_000), "already paused: not a new pause");
        assert!(!p.accepting(50_000_000));
        assert_eq!(p.poll_timeout_ms(2_000 + PAUSE_NS - 1_500_000), 2);
        assert!(p.accepting(2_000 + PAUSE_NS));
        assert!(!p.is_paused());
        assert!(p.on_error(Errno::ENOBUFS, 0));
        p.resume();
        assert!(p.accepting(1));
    }

    #[test]
    fn other_errors_do_not_pause() {
        let mut p = AcceptPause::new();
        for e in [Errno::EAGAIN, Errno::ECONNABORTED, Errno::EBADF, Errno::EINVAL] {
            assert!(!p.on_error(e, 0));
            assert!(p.accepting(0));
        }
    }
}

//! Accept pacing for poll-based servers: after a resource error, stop polling the listener for a while.

use skiff_pvcalls::Errno;

/// Stops a server from spinning on `accept` errors that repeat.
///
/// A listener reports `ENOMEM` (or `ENFILE`/`EMFILE`/`ENOBUFS`) when no
/// data ring can be allocated for the next connection; `poll` then shows
/// the listener readable with an error, whether or not a client waits. A
/// server that polls it again at once gets the same error in a tight loop.
/// With an `AcceptPause` it leaves the listener out of its poll set until
/// one of its connections closes (resources may be back) or [`PAUSE_NS`]
/// passed, and reports the shortage once until an accept succeeds again.
///
/// Times are the caller's monotonic clock in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcceptPause {
    until_ns: Option<u64>,
    reported: bool,
}

/// Longest pause after a resource error.
pub const PAUSE_NS: u64 = 100_000_000;

impl AcceptPause {
    /// Not paused.
    pub const fn new() -> Self {
        AcceptPause { until_ns: None, reported: false }
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
    /// and return true the first time since the last successful accept
    /// (report the shortage then); other errors return false and change
    /// nothing.
    pub fn on_error(&mut self, e: Errno, now_ns: u64) -> bool {
        if !matches!(e, Errno::ENOMEM | Errno::ENFILE | Errno::EMFILE | Errno::ENOBUFS) {
            return false;
        }
        self.until_ns = Some(now_ns.saturating_add(PAUSE_NS));
        !core::mem::replace(&mut self.reported, true)
    }

    /// An accept succeeded: a later shortage is reported again.
    pub fn on_accept(&mut self) {
        self.reported = false;
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
        assert!(!p.on_error(Errno::EMFILE, 2_000), "already reported");
        assert!(!p.accepting(50_000_000));
        assert_eq!(p.poll_timeout_ms(2_000 + PAUSE_NS - 1_500_000), 2);
        assert!(p.accepting(2_000 + PAUSE_NS));
        assert!(!p.is_paused());
        // Still short after the pause: paused again, but not reported again.
        assert!(!p.on_error(Errno::ENOMEM, 3 * PAUSE_NS));
        assert!(!p.accepting(3 * PAUSE_NS + 1));
        p.resume();
        assert!(p.accepting(3 * PAUSE_NS + 2));
        p.on_accept();
        assert!(p.on_error(Errno::ENOBUFS, 0), "reported again after an accept");
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

//! Accept pacing for poll-based servers: after a resource error, stop polling the listener for a while.

use core::time::Duration;

use skiff_pvcalls::Errno;
use skiff_xen::time::Instant;

/// Stops a server from spinning on `accept` errors that repeat.
///
/// A listener reports `ENOMEM` (or `ENFILE`/`EMFILE`/`ENOBUFS`) when no
/// data ring can be allocated for the next connection; `poll` then shows
/// the listener readable with an error, whether or not a client waits. A
/// server that polls it again at once gets the same error in a tight loop.
/// With an `AcceptPause` it leaves the listener out of its poll set until
/// one of its connections closes (resources may be back) or [`PAUSE`]
/// passed, and reports the shortage once until an accept succeeds again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcceptPause {
    until: Option<Instant>,
    reported: bool,
}

/// Longest pause after a resource error.
pub const PAUSE: Duration = Duration::from_millis(100);

impl AcceptPause {
    /// Not paused.
    pub const fn new() -> Self {
        AcceptPause { until: None, reported: false }
    }

    /// Whether to poll the listener at `now`; ends a pause that ran out.
    pub fn accepting(&mut self, now: Instant) -> bool {
        match self.until {
            Some(t) if now < t => false,
            _ => {
                self.until = None;
                true
            }
        }
    }

    /// How long a poll may wait: no limit (`None`) unless paused, then the
    /// time left in the pause.
    pub fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        self.until.map(|t| t - now)
    }

    /// Records an `accept` error at `now`. Resource errors start a pause
    /// and return true the first time since the last successful accept
    /// (report the shortage then); other errors return false and change
    /// nothing.
    pub fn on_error(&mut self, e: Errno, now: Instant) -> bool {
        if !matches!(e, Errno::ENOMEM | Errno::ENFILE | Errno::EMFILE | Errno::ENOBUFS) {
            return false;
        }
        self.until = Some(now + PAUSE);
        !core::mem::replace(&mut self.reported, true)
    }

    /// An accept succeeded: a later shortage is reported again.
    pub fn on_accept(&mut self) {
        self.reported = false;
    }

    /// A connection closed, so resources are back: accept again.
    pub fn resume(&mut self) {
        self.until = None;
    }

    /// Whether a pause is in effect (as of the last [`accepting`](Self::accepting)).
    pub fn is_paused(&self) -> bool {
        self.until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ns: u64) -> Instant {
        Instant::from_nanos(ns)
    }

    const P: u64 = PAUSE.as_nanos() as u64;

    #[test]
    fn resource_errors_pause_until_timeout_or_resume() {
        let mut p = AcceptPause::new();
        assert!(p.accepting(at(0)));
        assert_eq!(p.poll_timeout(at(0)), None);
        assert!(p.on_error(Errno::ENOMEM, at(1_000)));
        assert!(!p.on_error(Errno::EMFILE, at(2_000)), "already reported");
        assert!(!p.accepting(at(50_000_000)));
        assert_eq!(p.poll_timeout(at(2_000 + P - 1_500_000)), Some(Duration::from_micros(1500)));
        assert!(p.accepting(at(2_000 + P)));
        assert!(!p.is_paused());
        // Still short after the pause: paused again, but not reported again.
        assert!(!p.on_error(Errno::ENOMEM, at(3 * P)));
        assert!(!p.accepting(at(3 * P + 1)));
        p.resume();
        assert!(p.accepting(at(3 * P + 2)));
        p.on_accept();
        assert!(p.on_error(Errno::ENOBUFS, at(0)), "reported again after an accept");
    }

    #[test]
    fn other_errors_do_not_pause() {
        let mut p = AcceptPause::new();
        for e in [Errno::EAGAIN, Errno::ECONNABORTED, Errno::EBADF, Errno::EINVAL] {
            assert!(!p.on_error(e, at(0)));
            assert!(p.accepting(at(0)));
        }
    }
}

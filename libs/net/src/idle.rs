//! When a poll-based server that went idle should report what it holds (leak checks over many connections).

use core::time::Duration;

use skiff_xen::time::Instant;

/// How often an idle server with a report due looks whether its closed
/// sockets have been released.
pub const IDLE_CHECK: Duration = Duration::from_millis(100);

/// How long an idle server waits for releases before it reports anyway
/// (what it then reports shows the sockets still closing).
pub const IDLE_REPORT_WAIT: Duration = Duration::from_secs(5);

/// How long after a report that showed sockets still closing the server
/// keeps looking, to report again once they are released. Longer than the
/// frontend's default linger (30 s), which bounds how long a closed
/// connection waits for the backend to take its last bytes.
pub const IDLE_FOLLOW_UP: Duration = Duration::from_secs(60);

/// Tells a server when to report what it holds: each time it has no
/// connection open after serving some, once the sockets it closed have been
/// released (their rings, grants and event channels given back), or after
/// [`IDLE_REPORT_WAIT`]. A report made with sockets still closing is
/// followed by another (after 0 connections) once they are released, or
/// after [`IDLE_FOLLOW_UP`]. Comparing such reports over a run shows
/// whether connections leak anything.
///
/// Closing is asynchronous (a closed connection first lets the backend
/// take what it has not sent, then the backend answers RELEASE), so an
/// idle server polls at least every [`IDLE_CHECK`] while a report is due
/// and asks [`take_due`](Self::take_due) after each poll.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdleReport {
    served: u64,
    idle_since: Option<Instant>,
    /// Until when to follow up a report that showed sockets closing.
    follow_up_until: Option<Instant>,
}

impl IdleReport {
    /// Nothing served yet, no report due.
    pub const fn new() -> Self {
        IdleReport { served: 0, idle_since: None, follow_up_until: None }
    }

    /// Counts an accepted connection.
    pub fn on_accept(&mut self) {
        self.served += 1;
        self.idle_since = None;
        // The next report covers the sockets still closing.
        self.follow_up_until = None;
    }

    /// Whether a report may be due with `open` connections (none open, and
    /// some served since the last report or a follow-up pending);
    /// [`take_due`](Self::take_due) decides.
    pub fn may_be_due(&self, open: usize) -> bool {
        open == 0 && (self.served > 0 || self.follow_up_until.is_some())
    }

    /// How long to poll with `open` connections, given what the server
    /// would use otherwise (`None`: no limit): at most [`IDLE_CHECK`] while
    /// a report may be due.
    pub fn poll_timeout(&self, open: usize, other: Option<Duration>) -> Option<Duration> {
        if !self.may_be_due(open) {
            return other;
        }
        Some(other.map_or(IDLE_CHECK, |t| t.min(IDLE_CHECK)))
    }

    /// After a poll: with no connection open, returns how many connections
    /// were served since the last report once `settled` (every closed
    /// socket released) or once idle for [`IDLE_REPORT_WAIT`] (then a
    /// follow-up is due, see the type's docs); the caller prints its report
    /// then. `None` otherwise.
    pub fn take_due(&mut self, open: usize, settled: bool, now: Instant) -> Option<u64> {
        if !self.may_be_due(open) {
            self.idle_since = None;
            return None;
        }
        let since = *self.idle_since.get_or_insert(now);
        if self.served == 0 {
            // A follow-up: report once settled, or when it runs out.
            let until = self.follow_up_until?;
            if !settled && now < until {
                return None;
            }
            self.follow_up_until = None;
            self.idle_since = None;
            return Some(0);
        }
        if !settled && now - since < IDLE_REPORT_WAIT {
            return None;
        }
        self.idle_since = None;
        self.follow_up_until = (!settled).then(|| now + IDLE_FOLLOW_UP);
        Some(core::mem::take(&mut self.served))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ns: u64) -> Instant {
        Instant::from_nanos(ns)
    }

    const WAIT: u64 = IDLE_REPORT_WAIT.as_nanos() as u64;
    const FOLLOW: u64 = IDLE_FOLLOW_UP.as_nanos() as u64;
    const CHECK: Option<Duration> = Some(IDLE_CHECK);

    #[test]
    fn nothing_is_due_before_a_connection() {
        let mut r = IdleReport::new();
        assert!(!r.may_be_due(0));
        assert_eq!(r.poll_timeout(0, None), None);
        assert_eq!(r.take_due(0, true, at(0)), None);
        assert_eq!(r.take_due(0, true, at(10 * WAIT)), None);
    }

    #[test]
    fn reports_once_settled_and_idle() {
        let mut r = IdleReport::new();
        r.on_accept();
        r.on_accept();
        assert!(!r.may_be_due(2) && r.may_be_due(0));
        assert_eq!(r.poll_timeout(2, None), None, "busy: the caller's timeout");
        assert_eq!(r.take_due(1, true, at(0)), None, "a connection is still open");
        assert_eq!(r.poll_timeout(0, None), CHECK);
        assert_eq!(
            r.poll_timeout(0, Some(Duration::from_millis(30))),
            Some(Duration::from_millis(30))
        );
        assert_eq!(r.poll_timeout(0, Some(Duration::from_millis(500))), CHECK);
        assert_eq!(r.take_due(0, false, at(1_000)), None, "releases outstanding");
        assert_eq!(r.take_due(0, true, at(2_000)), Some(2));
        assert_eq!(r.take_due(0, true, at(3_000)), None, "reported once");
        assert_eq!(r.poll_timeout(0, None), None, "nothing due any more");
    }

    #[test]
    fn reports_unsettled_after_the_wait() {
        let mut r = IdleReport::new();
        r.on_accept();
        assert_eq!(r.take_due(0, false, at(1_000)), None);
        assert_eq!(r.take_due(0, false, at(1_000 + WAIT - 1)), None);
        assert_eq!(r.take_due(0, false, at(1_000 + WAIT)), Some(1));
    }

    #[test]
    fn an_unsettled_report_is_followed_up_once_settled() {
        let mut r = IdleReport::new();
        r.on_accept();
        assert_eq!(r.take_due(0, false, at(0)), None);
        assert_eq!(r.take_due(0, false, at(WAIT)), Some(1), "reported unsettled");
        assert!(r.may_be_due(0), "a follow-up is due");
        assert_eq!(r.poll_timeout(0, None), CHECK);
        assert_eq!(r.take_due(0, false, at(WAIT + 1)), None);
        assert_eq!(r.take_due(0, true, at(WAIT + 2)), Some(0), "settled: follow-up");
        assert!(!r.may_be_due(0));
        assert_eq!(r.take_due(0, true, at(WAIT + 3)), None, "once");
    }

    #[test]
    fn a_follow_up_runs_out_or_gives_way_to_new_connections() {
        let mut r = IdleReport::new();
        r.on_accept();
        assert_eq!(r.take_due(0, false, at(0)), None);
        assert_eq!(r.take_due(0, false, at(WAIT)), Some(1));
        let end = WAIT + FOLLOW;
        assert_eq!(r.take_due(0, false, at(end - 1)), None);
        assert_eq!(r.take_due(0, false, at(end)), Some(0), "still unsettled: reported anyway");
        assert!(!r.may_be_due(0), "and not again");

        let mut r = IdleReport::new();
        r.on_accept();
        assert_eq!(r.take_due(0, false, at(0)), None);
        assert_eq!(r.take_due(0, false, at(WAIT)), Some(1));
        r.on_accept();
        assert_eq!(r.take_due(0, true, at(WAIT + 1)), Some(1), "the next report covers it");
        assert!(!r.may_be_due(0));
    }

    #[test]
    fn a_new_connection_restarts_the_wait() {
        let mut r = IdleReport::new();
        r.on_accept();
        assert_eq!(r.take_due(0, false, at(0)), None);
        r.on_accept();
        assert_eq!(r.take_due(1, false, at(WAIT)), None);
        assert_eq!(r.take_due(0, false, at(WAIT)), None, "idle again only now");
        assert_eq!(r.take_due(0, false, at(2 * WAIT)), Some(2));
    }
}

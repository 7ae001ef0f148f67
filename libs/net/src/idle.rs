//! When a poll-based server that went idle should report what it holds (leak checks over many connections).

/// How often, in milliseconds, an idle server with a report due looks
/// whether its closed sockets have been released.
pub const IDLE_CHECK_MS: i32 = 100;

/// How long an idle server waits for releases before it reports anyway
/// (what it then reports shows the sockets still closing).
pub const IDLE_REPORT_WAIT_NS: u64 = 5_000_000_000;

/// How long after a report that showed sockets still closing the server
/// keeps looking, to report again once they are released. Longer than the
/// frontend's default linger (30 s), which bounds how long a closed
/// connection waits for the backend to take its last bytes.
pub const IDLE_FOLLOW_UP_NS: u64 = 60_000_000_000;

/// Tells a server when to report what it holds: each time it has no
/// connection open after serving some, once the sockets it closed have been
/// released (their rings, grants and event channels given back), or after
/// [`IDLE_REPORT_WAIT_NS`]. A report made with sockets still closing is
/// followed by another (after 0 connections) once they are released, or
/// after [`IDLE_FOLLOW_UP_NS`]. Comparing such reports over a run shows
/// whether connections leak anything.
///
/// Closing is asynchronous (a closed connection first lets the backend
/// take what it has not sent, then the backend answers RELEASE), so an
/// idle server polls with [`IDLE_CHECK_MS`] while a report is due and asks
/// [`take_due`](Self::take_due) after each poll.
///
/// Times are the caller's monotonic clock in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdleReport {
    served: u64,
    idle_since_ns: Option<u64>,
    /// Until when to follow up a report that showed sockets closing.
    follow_up_until_ns: Option<u64>,
}

impl IdleReport {
    /// Nothing served yet, no report due.
    pub const fn new() -> Self {
        IdleReport { served: 0, idle_since_ns: None, follow_up_until_ns: None }
    }

    /// Counts an accepted connection.
    pub fn on_accept(&mut self) {
        self.served += 1;
        self.idle_since_ns = None;
        // The next report covers the sockets still closing.
        self.follow_up_until_ns = None;
    }

    /// Whether a report may be due with `open` connections (none open, and
    /// some served since the last report or a follow-up pending);
    /// [`take_due`](Self::take_due) decides.
    pub fn may_be_due(&self, open: usize) -> bool {
        open == 0 && (self.served > 0 || self.follow_up_until_ns.is_some())
    }

    /// The `poll` timeout to use with `open` connections, given the one the
    /// server would use otherwise (`-1`: none): at most [`IDLE_CHECK_MS`]
    /// while a report may be due.
    pub fn poll_timeout_ms(&self, open: usize, other_ms: i32) -> i32 {
        if !self.may_be_due(open) {
            return other_ms;
        }
        if other_ms < 0 { IDLE_CHECK_MS } else { other_ms.min(IDLE_CHECK_MS) }
    }

    /// After a poll: with no connection open, returns how many connections
    /// were served since the last report once `settled` (every closed
    /// socket released) or once idle for [`IDLE_REPORT_WAIT_NS`] (then a
    /// follow-up is due, see the type's docs); the caller prints its report
    /// then. `None` otherwise.
    pub fn take_due(&mut self, open: usize, settled: bool, now_ns: u64) -> Option<u64> {
        if !self.may_be_due(open) {
            self.idle_since_ns = None;
            return None;
        }
        let since = *self.idle_since_ns.get_or_insert(now_ns);
        if self.served == 0 {
            // A follow-up: report once settled, or when it runs out.
            let until = self.follow_up_until_ns?;
            if !settled && now_ns < until {
                return None;
            }
            self.follow_up_until_ns = None;
            self.idle_since_ns = None;
            return Some(0);
        }
        if !settled && now_ns.saturating_sub(since) < IDLE_REPORT_WAIT_NS {
            return None;
        }
        self.idle_since_ns = None;
        self.follow_up_until_ns = (!settled).then(|| now_ns.saturating_add(IDLE_FOLLOW_UP_NS));
        Some(core::mem::take(&mut self.served))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_due_before_a_connection() {
        let mut r = IdleReport::new();
        assert!(!r.may_be_due(0));
        assert_eq!(r.poll_timeout_ms(0, -1), -1);
        assert_eq!(r.take_due(0, true, 0), None);
        assert_eq!(r.take_due(0, true, 10 * IDLE_REPORT_WAIT_NS), None);
    }

    #[test]
    fn reports_once_settled_and_idle() {
        let mut r = IdleReport::new();
        r.on_accept();
        r.on_accept();
        assert!(!r.may_be_due(2) && r.may_be_due(0));
        assert_eq!(r.poll_timeout_ms(2, -1), -1, "busy: the caller's timeout");
        assert_eq!(r.take_due(1, true, 0), None, "a connection is still open");
        assert_eq!(r.poll_timeout_ms(0, -1), IDLE_CHECK_MS);
        assert_eq!(r.poll_timeout_ms(0, 30), 30);
        assert_eq!(r.poll_timeout_ms(0, 500), IDLE_CHECK_MS);
        assert_eq!(r.take_due(0, false, 1_000), None, "releases outstanding");
        assert_eq!(r.take_due(0, true, 2_000), Some(2));
        assert_eq!(r.take_due(0, true, 3_000), None, "reported once");
        assert_eq!(r.poll_timeout_ms(0, -1), -1, "nothing due any more");
    }

    #[test]
    fn reports_unsettled_after_the_wait() {
        let mut r = IdleReport::new();
        r.on_accept();
        assert_eq!(r.take_due(0, false, 1_000), None);
        assert_eq!(r.take_due(0, false, 1_000 + IDLE_REPORT_WAIT_NS - 1), None);
        assert_eq!(r.take_due(0, false, 1_000 + IDLE_REPORT_WAIT_NS), Some(1));
    }

    #[test]
    fn an_unsettled_report_is_followed_up_once_settled() {
        let mut r = IdleReport::new();
        r.on_accept();
        assert_eq!(r.take_due(0, false, 0), None);
        assert_eq!(r.take_due(0, false, IDLE_REPORT_WAIT_NS), Some(1), "reported unsettled");
        assert!(r.may_be_due(0), "a follow-up is due");
        assert_eq!(r.poll_timeout_ms(0, -1), IDLE_CHECK_MS);
        assert_eq!(r.take_due(0, false, IDLE_REPORT_WAIT_NS + 1), None);
        assert_eq!(r.take_due(0, true, IDLE_REPORT_WAIT_NS + 2), Some(0), "settled: follow-up");
        assert!(!r.may_be_due(0));
        assert_eq!(r.take_due(0, true, IDLE_REPORT_WAIT_NS + 3), None, "once");
    }

    #[test]
    fn a_follow_up_runs_out_or_gives_way_to_new_connections() {
        let mut r = IdleReport::new();
        r.on_accept();
        assert_eq!(r.take_due(0, false, 0), None);
        assert_eq!(r.take_due(0, false, IDLE_REPORT_WAIT_NS), Some(1));
        let end = IDLE_REPORT_WAIT_NS + IDLE_FOLLOW_UP_NS;
        assert_eq!(r.take_due(0, false, end - 1), None);
        assert_eq!(r.take_due(0, false, end), Some(0), "still unsettled: reported anyway");
        assert!(!r.may_be_due(0), "and not again");

        let mut r = IdleReport::new();
        r.on_accept();
        assert_eq!(r.take_due(0, false, 0), None);
        assert_eq!(r.take_due(0, false, IDLE_REPORT_WAIT_NS), Some(1));
        r.on_accept();
        assert_eq!(
            r.take_due(0, true, IDLE_REPORT_WAIT_NS + 1),
            Some(1),
            "the next report covers it"
        );
        assert!(!r.may_be_due(0));
    }

    #[test]
    fn a_new_connection_restarts_the_wait() {
        let mut r = IdleReport::new();
        r.on_accept();
        assert_eq!(r.take_due(0, false, 0), None);
        r.on_accept();
        assert_eq!(r.take_due(1, false, IDLE_REPORT_WAIT_NS), None);
        assert_eq!(r.take_due(0, false, IDLE_REPORT_WAIT_NS), None, "idle again only now");
        assert_eq!(r.take_due(0, false, 2 * IDLE_REPORT_WAIT_NS), Some(2));
    }
}

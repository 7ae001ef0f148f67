//! How long the backend may leave a command unanswered before the frontend calls it stuck.
//!
//! Linux's `pvcalls-back` works through the command ring in order, in one
//! thread, and answers every command but ACCEPT and POLL (which wait for a
//! connection) before it takes the next; CONNECT runs inline for as long as
//! dom0's TCP handshake takes. So the command that holds the ring up is the
//! oldest unanswered one of the others, and the backend could start on it
//! when it was sent or when the command before it was answered, whichever
//! came later. If that is longer ago than the bound for its kind, the
//! backend is stuck (a hung `pvcalls-back` never answers again, see
//! docs/pvcalls-back.md), and the frontend stops waiting for it.

use skiff_xen::pvcalls::PVCALLS_CONNECT;

use crate::cmd::{CmdClient, NR_REQ_IDS, ReqId};
use crate::wire::Request;

/// A command the backend left unanswered for too long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stuck {
    /// The command (`PVCALLS_*` number).
    pub cmd: u32,
    /// The socket it names.
    pub id: u64,
    /// How long the backend had it without answering (ns).
    pub waited_ns: u64,
}

impl Stuck {
    /// The command's name (`"RELEASE"`).
    pub fn cmd_name(&self) -> &'static str {
        crate::wire::cmd_name(self.cmd)
    }
}

/// Send times of outstanding commands and the time of the last in-order answer.
#[derive(Clone, Debug)]
pub(crate) struct Watchdog {
    sent: [u64; NR_REQ_IDS],
    last_answer: u64,
    command_ns: u64,
    connect_ns: u64,
}

/// Whether the backend answers `req` in order (not ACCEPT or POLL).
fn in_order(req: &Request) -> bool {
    !matches!(req, Request::Accept { .. } | Request::Poll { .. })
}

impl Watchdog {
    pub fn new(command_ns: u64, connect_ns: u64) -> Self {
        Watchdog { sent: [0; NR_REQ_IDS], last_answer: 0, command_ns, connect_ns }
    }

    pub fn on_submit(&mut self, id: ReqId, now: u64) {
        if let Some(t) = self.sent.get_mut(id.0 as usize) {
            *t = now;
        }
    }

    pub fn on_answer(&mut self, req: &Request, now: u64) {
        if in_order(req) {
            self.last_answer = self.last_answer.max(now);
        }
    }

    /// The command the backend holds up the ring with, when the backend
    /// could start on it, and when its time runs out.
    fn oldest(&self, cmd: &CmdClient) -> Option<(Request, u64, u64)> {
        let (req, sent) = cmd
            .outstanding_requests()
            .filter(|(_, r)| in_order(r))
            .map(|(id, r)| (*r, self.sent[id.0 as usize]))
            .min_by_key(|&(_, sent)| sent)?;
        let started = sent.max(self.last_answer);
        let bound = if req.cmd() == PVCALLS_CONNECT { self.connect_ns } else { self.command_ns };
        Some((req, started, started.saturating_add(bound)))
    }

    /// When the oldest in-order command's time runs out, if one is outstanding.
    pub fn next_deadline(&self, cmd: &CmdClient) -> Option<u64> {
        self.oldest(cmd).map(|(_, _, deadline)| deadline)
    }

    /// The stuck command, if the oldest in-order one has run out of time.
    pub fn check(&self, cmd: &CmdClient, now: u64) -> Option<Stuck> {
        let (req, started, deadline) = self.oldest(cmd)?;
        (now >= deadline).then(|| Stuck {
            cmd: req.cmd(),
            id: req.id(),
            waited_ns: now.saturating_sub(started),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::CMD_LAYOUT;
    use crate::wire::Response;
    use core::net::{Ipv4Addr, SocketAddrV4};
    use skiff_ring::{BackRing, HostMem};

    const S: u64 = 1_000_000_000;

    fn connect(id: u64) -> Request {
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80);
        Request::Connect { id, addr, ring_ref: 9, evtchn: 9 }
    }

    #[test]
    fn the_oldest_in_order_command_sets_the_deadline() {
        let mem = HostMem::pages(1);
        let mut c = CmdClient::init(&mem);
        let mut w = Watchdog::new(10 * S, 180 * S);
        assert_eq!(w.next_deadline(&c), None, "nothing outstanding");
        let a = c.submit(&mem, &Request::Accept { id: 1, id_new: 2, ring_ref: 3, evtchn: 4 });
        w.on_submit(a.unwrap(), 0);
        assert_eq!(w.next_deadline(&c), None, "an ACCEPT may wait for ever");
        let r = c.submit(&mem, &Request::Release { id: 5, reuse: false }).unwrap();
        w.on_submit(r, S);
        assert_eq!(w.next_deadline(&c), Some(11 * S));
        assert_eq!(w.check(&c, 11 * S - 1), None);
        let stuck = w.check(&c, 11 * S).unwrap();
        assert_eq!((stuck.cmd_name(), stuck.id, stuck.waited_ns), ("RELEASE", 5, 10 * S));
    }

    #[test]
    fn a_connect_gets_longer_and_the_clock_restarts_at_each_answer() {
        let mem = HostMem::pages(1);
        let mut c = CmdClient::init(&mem);
        let mut w = Watchdog::new(10 * S, 180 * S);
        let k = c.submit(&mem, &connect(1)).unwrap();
        w.on_submit(k, 0);
        let r = c.submit(&mem, &Request::Release { id: 2, reuse: false }).unwrap();
        w.on_submit(r, S);
        assert_eq!(w.next_deadline(&c), Some(180 * S), "the CONNECT holds the ring up");
        // The CONNECT is answered at 100 s: the RELEASE gets its 10 s from then.
        c.push(&mem);
        let mut back = BackRing::new(CMD_LAYOUT);
        let mut e = [0u8; 64];
        assert_eq!(back.take_request(&mem, &mut e), Ok(true));
        let rsp = Response { req_id: k.0, cmd: PVCALLS_CONNECT, ret: 0, id: 1 };
        back.push_response(&mem, &rsp.encode()).unwrap();
        back.push_responses(&mem);
        let done = c.poll(&mem).unwrap().expect("the CONNECT's answer");
        w.on_answer(&done.req, 100 * S);
        assert_eq!(w.next_deadline(&c), Some(110 * S));
    }
}

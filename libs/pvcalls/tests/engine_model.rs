//! Stateful property tests: random interleavings of socket calls and backend behaviour, checked against a model and the invariants.
//!
//! Each case drives one engine on the deterministic simulation (scripted
//! backend, fake platform) with a random sequence of calls (socket, bind,
//! listen, accept, connect, send, recv, close, poll, process) and backend
//! actions (answers right or with an error, in any order and as late as
//! the sequence likes, or never; data into `in`, data out of `out`,
//! resets, end of stream, `out` errors). After every step the engine's
//! results, the requests it sent, its socket table and its accounting
//! must agree with the model in `model/`; each case ends with a checked
//! shutdown.

mod model;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::task::Poll;

use model::{EOF, Model, Req, St};
use proptest::prelude::*;
use skiff_pvcalls::sim::{Answer, FakeFrontend, FakeWorld, Shutdown, pattern};
use skiff_pvcalls::wire::{AF_INET, SOCK_STREAM};
use skiff_pvcalls::{Errno, Options, SocketId};
use skiff_xen::pvcalls::{
    PVCALLS_ACCEPT, PVCALLS_BIND, PVCALLS_CONNECT, PVCALLS_LISTEN, PVCALLS_RELEASE, PVCALLS_SOCKET,
    data_ring_size,
};

/// Most `socket()` calls a case makes: with the connections they accept,
/// never more than 32 commands are in flight.
const MAX_SOCKETS: usize = 5;

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Ok,
    Err(u8),
}

#[derive(Clone, Debug)]
enum Op {
    Socket,
    Bind(u8),
    Listen(u8),
    Accept(u8),
    Connect(u8),
    Send(u8, u16),
    Recv(u8, u16),
    Close(u8),
    Poll(u8),
    Process,
    Answer(u8, Outcome),
    In(u8, u16),
    Out(u8, u16),
    Reset(u8),
    Eof(u8),
    OutError(u8),
    /// The call that moves socket `.0` on from where the model has it:
    /// `.1` chooses between connecting and listening, sending and receiving.
    Drive(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    let sock = any::<u8>();
    let outcome = prop_oneof![4 => Just(Outcome::Ok), 1 => any::<u8>().prop_map(Outcome::Err)];
    prop_oneof![
        3 => Just(Op::Socket),
        3 => sock.prop_map(Op::Bind),
        3 => sock.prop_map(Op::Listen),
        3 => sock.prop_map(Op::Accept),
        4 => sock.prop_map(Op::Connect),
        4 => (sock, 0..6000u16).prop_map(|(s, n)| Op::Send(s, n)),
        4 => (sock, 0..6000u16).prop_map(|(s, n)| Op::Recv(s, n)),
        2 => sock.prop_map(Op::Close),
        3 => sock.prop_map(Op::Poll),
        2 => Just(Op::Process),
        14 => (sock, outcome).prop_map(|(s, o)| Op::Answer(s, o)),
        3 => (sock, 0..6000u16).prop_map(|(s, n)| Op::In(s, n)),
        3 => (sock, 0..6000u16).prop_map(|(s, n)| Op::Out(s, n)),
        1 => sock.prop_map(Op::Reset),
        1 => sock.prop_map(Op::Eof),
        1 => sock.prop_map(Op::OutError),
        12 => (sock, any::<u8>()).prop_map(|(s, k)| Op::Drive(s, k)),
    ]
}

/// The error a backend answers `cmd` with, by `k`.
fn error_for(cmd: u32, k: u8) -> Errno {
    let list: &[Errno] = match cmd {
        PVCALLS_SOCKET => &[Errno::EAFNOSUPPORT],
        PVCALLS_BIND => &[Errno::EADDRINUSE, Errno::EACCES],
        PVCALLS_LISTEN => &[Errno::EINVAL],
        PVCALLS_CONNECT => &[Errno::ECONNREFUSED, Errno::ETIMEDOUT, Errno::ENETUNREACH],
        PVCALLS_ACCEPT => &[Errno::EAGAIN, Errno::EINTR, Errno::ECONNABORTED, Errno::ENOMEM],
        _ => &[Errno::EIO],
    };
    list[usize::from(k) % list.len()]
}

struct Run {
    w: FakeWorld,
    fe: FakeFrontend,
    m: Model,
    /// Every id handed out, for picking (stale ones included).
    ids: Vec<u64>,
    sockets: usize,
    seed: u64,
}

fn addr() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7)
}

impl Run {
    fn new() -> Self {
        let w = FakeWorld::new();
        let fe = w.connect(1, Options::default()).expect("frontend");
        Run { w, fe, m: Model::new(data_ring_size(1)), ids: Vec::new(), sockets: 0, seed: 0 }
    }

    fn pick(&self, p: u8) -> u64 {
        if self.ids.is_empty() {
            return u64::from(p);
        }
        self.ids[usize::from(p) % self.ids.len()]
    }

    /// A connection both the model and the backend have.
    fn conn(&self, p: u8) -> Option<u64> {
        let mapped = self.w.backend().ring_ids();
        let both: Vec<u64> =
            self.m.connections().into_iter().filter(|id| mapped.contains(id)).collect();
        (!both.is_empty()).then(|| both[usize::from(p) % both.len()])
    }

    /// Steps through `ops`, checking the engine against the model after
    /// each (for the scripted tests).
    fn steps(&mut self, ops: &[Op]) {
        for op in ops {
            self.step(op.clone()).unwrap();
            self.check().unwrap();
        }
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        self.m.sent.clear();
        let sid = |id| SocketId(id);
        match op {
            Op::Socket => {
                if self.sockets == MAX_SOCKETS {
                    return Ok(());
                }
                self.sockets += 1;
                let got = self.fe.socket(AF_INET, SOCK_STREAM, 0).map(|s| s.0);
                prop_assert_eq!(got, self.m.socket());
                self.ids.push(got.unwrap());
            }
            Op::Bind(p) => {
                let id = self.pick(p);
                prop_assert_eq!(self.fe.bind(sid(id), addr()), self.m.bind(id), "bind {}", id);
            }
            Op::Listen(p) => {
                let id = self.pick(p);
                prop_assert_eq!(self.fe.listen(sid(id), 8), self.m.listen(id), "listen {}", id);
            }
            Op::Accept(p) => {
                let id = self.pick(p);
                let got = self.fe.accept(sid(id)).map_ok(|s| s.0);
                prop_assert_eq!(got, self.m.accept(id), "accept {}", id);
                if let Poll::Ready(Ok(new)) = got {
                    self.ids.push(new);
                }
            }
            Op::Connect(p) => {
                let id = self.pick(p);
                prop_assert_eq!(
                    self.fe.connect(sid(id), addr()),
                    self.m.connect(id),
                    "connect {}",
                    id
                );
            }
            Op::Send(p, n) => {
                let id = self.pick(p);
                self.seed += 1;
                let data = pattern(usize::from(n), self.seed);
                let want = self.m.send(id, data.len(), self.seed);
                prop_assert_eq!(self.fe.send(sid(id), &data), want, "send {}", id);
            }
            Op::Recv(p, n) => {
                let id = self.pick(p);
                let mut buf = vec![0u8; usize::from(n)];
                let (want, bytes) = self.m.recv(id, buf.len());
                let got = self.fe.recv(sid(id), &mut buf);
                prop_assert_eq!(got, want, "recv {}", id);
                if let Poll::Ready(Ok(k)) = got {
                    prop_assert_eq!(&buf[..k], &bytes[..], "the bytes received on {}", id);
                }
            }
            Op::Close(p) => {
                let id = self.pick(p);
                prop_assert_eq!(self.fe.close(sid(id)), self.m.close(id), "close {}", id);
            }
            Op::Poll(p) => {
                let id = self.pick(p);
                prop_assert_eq!(self.fe.poll(sid(id)), self.m.poll(id), "poll {}", id);
            }
            Op::Process => {
                self.fe.process();
                self.m.process();
            }
            Op::Answer(p, outcome) => return self.answer(p, outcome),
            Op::In(p, n) => {
                let Some(id) = self.conn(p) else { return Ok(()) };
                let put = self.w.backend().write_in(id, usize::from(n));
                prop_assert_eq!(Some(put), self.m.backend_in(id, usize::from(n)));
            }
            Op::Out(p, n) => {
                let Some(id) = self.conn(p) else { return Ok(()) };
                let got = self.w.backend().read_out(id, usize::from(n));
                let want = self.m.backend_out(id, usize::from(n));
                prop_assert_eq!(Some(got), want, "bytes the backend read from {}", id);
            }
            Op::Reset(p) | Op::Eof(p) => {
                let Some(id) = self.conn(p) else { return Ok(()) };
                if self.m.socks[&id].conn.as_ref().is_some_and(|c| c.in_error == 0) {
                    let e = if matches!(op, Op::Eof(_)) { EOF } else { -Errno::ECONNRESET.0 };
                    self.w.backend().set_in_error(id, e);
                    self.m.backend_error(id, false, e);
                }
            }
            Op::Drive(p, k) => {
                let id = self.pick(p);
                let Some(st) = self.m.socks.get(&id).map(|s| s.st) else { return Ok(()) };
                let i = self.ids.iter().position(|&x| x == id).unwrap_or(0) as u8;
                let op = match st {
                    St::Fresh if k % 2 == 0 => Op::Connect(i),
                    St::Fresh | St::Binding => Op::Bind(i),
                    St::Bound | St::Listening => Op::Listen(i),
                    St::Listener => Op::Accept(i),
                    St::Connecting => Op::Connect(i),
                    St::Connected if k % 2 == 0 => Op::Send(i, u16::from(k) * 23),
                    St::Connected => Op::Recv(i, u16::from(k) * 23),
                    _ => Op::Process,
                };
                return self.step(op);
            }
            Op::OutError(p) => {
                let Some(id) = self.conn(p) else { return Ok(()) };
                if self.m.socks[&id].conn.as_ref().is_some_and(|c| c.out_error == 0) {
                    self.w.backend().set_out_error(id, -Errno::EPIPE.0);
                    self.m.backend_error(id, true, -Errno::EPIPE.0);
                }
            }
        }
        self.check_sent()
    }

    /// The backend answers one of the requests it holds.
    fn answer(&mut self, p: u8, outcome: Outcome) -> Result<(), TestCaseError> {
        let inbox = self.w.backend().inbox().to_vec();
        if inbox.is_empty() {
            return Ok(());
        }
        let i = usize::from(p) % inbox.len();
        let r = inbox[i];
        let id_new = match r.req {
            Some(skiff_pvcalls::wire::Request::Accept { id_new, .. }) => id_new,
            _ => 0,
        };
        let result = match outcome {
            // A RELEASE is always answered 0, as Linux does.
            Outcome::Err(k) if r.cmd != PVCALLS_RELEASE => Err(error_for(r.cmd, k)),
            _ => Ok(()),
        };
        let how = match result {
            Ok(()) => Answer::Right,
            Err(e) => Answer::Ret(-e.0),
        };
        prop_assert!(self.w.backend().answer(i, how));
        self.m.publish(r.cmd, r.id, id_new, result);
        Ok(())
    }

    /// The requests the call sent are the ones the model expects.
    fn check_sent(&mut self) -> Result<(), TestCaseError> {
        let before = self.w.backend().inbox().len();
        self.w.backend().take();
        let inbox = self.w.backend().inbox().to_vec();
        let mut got: Vec<Req> = inbox[before..].iter().map(|r| (r.cmd, r.id)).collect();
        let mut want = self.m.sent.clone();
        got.sort_unstable();
        want.sort_unstable();
        prop_assert_eq!(got, want, "requests sent");
        Ok(())
    }

    fn check(&self) -> Result<(), TestCaseError> {
        if let Err(v) = self.w.check(&self.fe) {
            return Err(TestCaseError::fail(v.to_string()));
        }
        let views: Vec<_> = self.fe.sockets().collect();
        prop_assert_eq!(
            views.len(),
            self.m.socks.len(),
            "sockets: {:?} vs {:?}",
            views,
            self.m.socks
        );
        for v in &views {
            if let Err(e) = self.m.agrees(v) {
                return Err(TestCaseError::fail(e));
            }
        }
        let open = self.m.socks.values().filter(|s| s.user_open).count();
        prop_assert_eq!(self.fe.open_sockets(), open);
        Ok(())
    }
}

// proptest's default: 256 cases, or PROPTEST_CASES.
proptest! {
    #[test]
    fn socket_calls_against_a_scripted_backend_match_the_model(
        ops in prop::collection::vec(op(), 1..240)
    ) {
        let mut run = Run::new();
        for op in ops {
            run.step(op)?;
            run.check()?;
        }
        let Run { w, fe, .. } = run;
        if let Err(v) = w.shutdown(fe, Shutdown::Clean { unmaps: true }) {
            return Err(TestCaseError::fail(v.to_string()));
        }
    }
}

/// After the sockets are made: connects socket 0 (its SOCKET and CONNECT
/// answered), sends 100 bytes and closes it with them still in `out`.
const CLOSE_WITH_100_UNSENT: [Op; 6] = [
    Op::Connect(0),
    Op::Answer(0, Outcome::Ok),
    Op::Answer(0, Outcome::Ok),
    Op::Connect(0),
    Op::Send(0, 100),
    Op::Close(0),
];

#[test]
fn a_connection_lingers_until_the_backend_drains_it() {
    let mut run = Run::new();
    run.steps(&[Op::Socket]);
    run.steps(&CLOSE_WITH_100_UNSENT);
    run.steps(&[Op::Process, Op::Out(0, 60), Op::Process, Op::Out(0, 60), Op::Process]);
    let last = run.w.backend().inbox().last().map(|r| (r.cmd, r.id));
    assert_eq!(last, Some((PVCALLS_RELEASE, 1)), "released once drained");
}

/// An application that never waits (a poll loop with timeout zero) never
/// calls `process`: its other socket calls release what has drained.
#[test]
fn a_drained_connection_is_released_by_the_next_call_without_a_wait() {
    let mut run = Run::new();
    run.steps(&[Op::Socket, Op::Socket]);
    run.steps(&CLOSE_WITH_100_UNSENT);
    run.steps(&[Op::Poll(1), Op::Out(0, 60), Op::Poll(1)]);
    let closed = run.ids[0];
    let released = |run: &Run| {
        run.w.backend().inbox().iter().any(|r| (r.cmd, r.id) == (PVCALLS_RELEASE, closed))
    };
    assert!(!released(&run), "40 bytes of out still unsent: no RELEASE yet");
    run.steps(&[Op::Out(0, 60), Op::Poll(1)]);
    assert!(released(&run), "released by a poll once out drained, with no process or wait");
}

//! Stateful property tests of the POSIX fd table: random call sequences over the engine and a cooperative scripted backend, against a model.
//!
//! The model knows which fds are open and what each is (fresh, bound,
//! listening, connected with the bytes in its rings), and from that every
//! result, errno and `poll` bit the table must give: fds are the lowest
//! free from 3, anything else (closed, negative, huge, `i32::MIN`) is
//! `EBADF` (`POLLNVAL` in `poll`, skipped if negative). The backend answers
//! every request right and drains every `out` whenever a call blocks (a
//! "round"); between calls the test writes into `in`, resets, ends streams.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::rc::Rc;

use proptest::prelude::*;
use skiff_net::posix::consts::*;
use skiff_net::posix::{Fd, FdTable, PollFd};
use skiff_net::{Errno, SockAddr};
use skiff_pvcalls::Options;
use skiff_pvcalls::sim::{Autopilot, FakeFrontend, FakeWorld, Shutdown, pattern};
use skiff_xen::pvcalls::data_ring_size;

type Table = FdTable<Rc<RefCell<FakeFrontend>>>;

#[derive(Clone, Debug, Default)]
struct Conn {
    inq: VecDeque<u8>,
    produced: u64,
    in_error: i32,
    out_used: usize,
}

#[derive(Clone, Debug)]
enum Kind {
    Fresh,
    Bound,
    /// Listening; an ACCEPT is armed (by `poll`), or a connection is ready.
    Listening {
        armed: bool,
        ready: bool,
    },
    Connected(Conn),
}

#[derive(Clone, Copy, Debug)]
enum Pick {
    Open(u8),
    Raw(i32),
}

#[derive(Clone, Debug)]
enum Op {
    Socket,
    Bind(Pick),
    Listen(Pick),
    Accept(Pick),
    Connect(Pick),
    Send(Pick, u16),
    Recv(Pick, u16),
    Close(Pick),
    Poll(Vec<(Pick, u8)>),
    Deliver(Pick, u16),
    Reset(Pick),
    Eof(Pick),
}

fn pick() -> impl Strategy<Value = Pick> {
    let raw = prop::sample::select(vec![-1, 0, 2, 1000, 1026, i32::MAX, i32::MIN, i32::MIN + 3]);
    prop_oneof![9 => any::<u8>().prop_map(Pick::Open), 1 => raw.prop_map(Pick::Raw)]
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0..6000u16;
    prop_oneof![
        3 => Just(Op::Socket),
        3 => pick().prop_map(Op::Bind),
        3 => pick().prop_map(Op::Listen),
        3 => pick().prop_map(Op::Accept),
        3 => pick().prop_map(Op::Connect),
        4 => (pick(), n.clone()).prop_map(|(p, n)| Op::Send(p, n)),
        4 => (pick(), n.clone()).prop_map(|(p, n)| Op::Recv(p, n)),
        2 => pick().prop_map(Op::Close),
        3 => prop::collection::vec((pick(), any::<u8>()), 0..5).prop_map(Op::Poll),
        3 => (pick(), n).prop_map(|(p, n)| Op::Deliver(p, n)),
        1 => pick().prop_map(Op::Reset),
        1 => pick().prop_map(Op::Eof),
    ]
}

struct Run {
    w: FakeWorld,
    stack: Rc<RefCell<FakeFrontend>>,
    t: Table,
    fds: BTreeMap<Fd, Kind>,
    ring: usize,
}

impl Run {
    fn new() -> Self {
        let w = FakeWorld::new();
        let fe = w.connect(1, Options::default()).expect("frontend");
        w.backend().set_autopilot(Autopilot::Cooperative);
        let stack = Rc::new(RefCell::new(fe));
        let t = FdTable::new(stack.clone());
        Run { w, stack, t, fds: BTreeMap::new(), ring: data_ring_size(1) }
    }

    fn fd(&self, p: Pick) -> Fd {
        match p {
            Pick::Open(i) if !self.fds.is_empty() => {
                *self.fds.keys().nth(usize::from(i) % self.fds.len()).unwrap()
            }
            Pick::Open(i) => FIRST_FD + i32::from(i % 4),
            Pick::Raw(v) => v,
        }
    }

    /// The backend's round while a call blocks: armed ACCEPTs are answered
    /// (a connection arrives), every `out` is drained.
    fn round(&mut self) {
        for k in self.fds.values_mut() {
            match k {
                Kind::Listening { armed, ready } if *armed => {
                    *armed = false;
                    *ready = true;
                }
                Kind::Connected(c) => c.out_used = 0,
                _ => {}
            }
        }
    }

    fn lowest_free(&self) -> Fd {
        (FIRST_FD..).find(|fd| !self.fds.contains_key(fd)).unwrap()
    }

    fn conn(&mut self, fd: Fd) -> Option<&mut Conn> {
        match self.fds.get_mut(&fd) {
            Some(Kind::Connected(c)) => Some(c),
            _ => None,
        }
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        let addr = SockAddr::new(Ipv4Addr::LOCALHOST, 7);
        match op {
            Op::Socket => {
                let want = self.lowest_free();
                prop_assert_eq!(self.t.socket(AF_INET, SOCK_STREAM, 0), Ok(want));
                self.fds.insert(want, Kind::Fresh);
            }
            Op::Bind(p) => {
                let fd = self.fd(p);
                let want = match self.fds.get(&fd) {
                    None => Err(Errno::EBADF),
                    Some(Kind::Fresh) => Ok(()),
                    Some(_) => Err(Errno::EINVAL),
                };
                prop_assert_eq!(self.t.bind(fd, &addr), want, "bind {}", fd);
                if want.is_ok() {
                    self.round();
                    self.fds.insert(fd, Kind::Bound);
                }
            }
            Op::Listen(p) => {
                let fd = self.fd(p);
                let want = match self.fds.get(&fd) {
                    None => Err(Errno::EBADF),
                    Some(Kind::Bound) => {
                        self.round();
                        self.fds.insert(fd, Kind::Listening { armed: false, ready: false });
                        Ok(())
                    }
                    Some(Kind::Listening { .. }) => Ok(()),
                    Some(_) => Err(Errno::EINVAL),
                };
                prop_assert_eq!(self.t.listen(fd, 8), want, "listen {}", fd);
            }
            Op::Accept(p) => {
                let fd = self.fd(p);
                let new = self.lowest_free();
                let want = match self.fds.get(&fd).cloned() {
                    None => Err(Errno::EBADF),
                    Some(Kind::Listening { ready, .. }) => {
                        if !ready {
                            self.round();
                        }
                        self.fds.insert(fd, Kind::Listening { armed: false, ready: false });
                        Ok(new)
                    }
                    Some(_) => Err(Errno::EINVAL),
                };
                let got = self.t.accept(fd).map(|(new, peer)| {
                    assert_eq!(peer, None, "PV Calls has no peer address");
                    new
                });
                prop_assert_eq!(got, want, "accept {}", fd);
                if want.is_ok() {
                    self.fds.insert(new, Kind::Connected(Conn::default()));
                }
            }
            Op::Connect(p) => {
                let fd = self.fd(p);
                let want = match self.fds.get(&fd) {
                    None => Err(Errno::EBADF),
                    Some(Kind::Fresh) => Ok(()),
                    Some(Kind::Connected(_)) => Err(Errno::EISCONN),
                    Some(_) => Err(Errno::EINVAL),
                };
                prop_assert_eq!(self.t.connect(fd, &addr), want, "connect {}", fd);
                if want.is_ok() {
                    self.round();
                    self.fds.insert(fd, Kind::Connected(Conn::default()));
                }
            }
            Op::Send(p, n) => {
                let fd = self.fd(p);
                let len = usize::from(n);
                let ring = self.ring;
                let want = match self.fds.get_mut(&fd) {
                    None => Err(Errno::EBADF),
                    // A reset fails writes at once, as on Linux.
                    Some(Kind::Connected(c)) if c.in_error != 0 && c.in_error != -107 => {
                        Err(Errno::ECONNRESET)
                    }
                    Some(_) if len == 0 => Ok(0),
                    Some(Kind::Connected(c)) => match len.min(ring - c.out_used) {
                        0 => Err(Errno::EAGAIN),
                        k => {
                            c.out_used += k;
                            Ok(k)
                        }
                    },
                    Some(_) => Err(Errno::ENOTCONN),
                };
                let got = self.t.send(fd, &pattern(len, 9), MSG_DONTWAIT);
                prop_assert_eq!(got, want, "send {}", fd);
            }
            Op::Recv(p, n) => {
                let fd = self.fd(p);
                let mut buf = vec![0u8; usize::from(n)];
                let (want, bytes) = match self.fds.get_mut(&fd) {
                    None => (Err(Errno::EBADF), vec![]),
                    Some(_) if buf.is_empty() => (Ok(0), vec![]),
                    Some(Kind::Connected(c)) if !c.inq.is_empty() => {
                        let k = buf.len().min(c.inq.len());
                        (Ok(k), c.inq.drain(..k).collect())
                    }
                    Some(Kind::Connected(c)) => match c.in_error {
                        0 => (Err(Errno::EAGAIN), vec![]),
                        -107 => (Ok(0), vec![]),
                        _ => (Err(Errno::ECONNRESET), vec![]),
                    },
                    Some(_) => (Err(Errno::ENOTCONN), vec![]),
                };
                let got = self.t.recv(fd, &mut buf, MSG_DONTWAIT);
                prop_assert_eq!(got, want, "recv {}", fd);
                if let Ok(k) = got {
                    prop_assert_eq!(&buf[..k], &bytes[..]);
                }
            }
            Op::Close(p) => {
                let fd = self.fd(p);
                let want = if self.fds.remove(&fd).is_some() { Ok(()) } else { Err(Errno::EBADF) };
                prop_assert_eq!(self.t.close(fd), want, "close {}", fd);
            }
            Op::Poll(list) => return self.poll(list),
            Op::Deliver(p, n) => {
                let fd = self.fd(p);
                let Ok(id) = self.t.socket_id(fd) else { return Ok(()) };
                let ring = self.ring;
                let Some(c) = self.conn(fd) else { return Ok(()) };
                let k = usize::from(n).min(ring - c.inq.len());
                c.inq.extend(pattern(k, c.produced.wrapping_add(id.0)));
                c.produced += k as u64;
                prop_assert_eq!(self.w.backend().write_in(id.0, usize::from(n)), k);
            }
            Op::Reset(p) | Op::Eof(p) => {
                let fd = self.fd(p);
                let Ok(id) = self.t.socket_id(fd) else { return Ok(()) };
                let e = if matches!(op, Op::Eof(_)) { -107 } else { -104 };
                let Some(c) = self.conn(fd) else { return Ok(()) };
                if c.in_error == 0 {
                    c.in_error = e;
                    self.w.backend().set_in_error(id.0, e);
                }
            }
        }
        Ok(())
    }

    /// `poll` with timeout 0: nothing is waited for, the bits follow the model.
    fn poll(&mut self, list: Vec<(Pick, u8)>) -> Result<(), TestCaseError> {
        let masks = [POLLIN, POLLOUT, POLLIN | POLLOUT | POLLRDHUP, 0];
        let mut pfds: Vec<PollFd> = list
            .iter()
            .map(|&(p, e)| PollFd::new(self.fd(p), masks[usize::from(e) % masks.len()]))
            .collect();
        let mut want = Vec::new();
        for p in &pfds {
            let bits = match self.fds.get_mut(&p.fd) {
                _ if p.fd < 0 => 0,
                None => POLLNVAL,
                Some(Kind::Fresh | Kind::Bound) => POLLHUP,
                Some(Kind::Listening { armed, ready }) => {
                    *armed |= !*ready;
                    if *ready { POLLIN } else { 0 }
                }
                Some(Kind::Connected(c)) => {
                    let reset = c.in_error != 0 && c.in_error != -107;
                    let mut b = 0;
                    if !c.inq.is_empty() || c.in_error != 0 {
                        b |= POLLIN;
                    }
                    if c.out_used < self.ring || reset {
                        b |= POLLOUT;
                    }
                    if reset {
                        b |= POLLERR | POLLHUP;
                    }
                    if c.in_error != 0 {
                        b |= POLLRDHUP;
                    }
                    b
                }
            };
            want.push(bits & (p.events | POLLERR | POLLHUP | POLLNVAL));
        }
        let ready = want.iter().filter(|&&b| b != 0).count();
        prop_assert_eq!(self.t.poll(&mut pfds, 0), Ok(ready));
        let got: Vec<i16> = pfds.iter().map(|p| p.revents).collect();
        prop_assert_eq!(got, want, "revents of {:?}", pfds);
        Ok(())
    }

    fn check(&self) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.t.open_fds(), self.fds.len());
        if let Err(v) = self.w.check(&self.stack.borrow()) {
            return Err(TestCaseError::fail(v.to_string()));
        }
        Ok(())
    }

    fn finish(self) -> Result<(), TestCaseError> {
        let Run { w, stack, t, .. } = self;
        drop(t);
        let fe = Rc::try_unwrap(stack).map_err(|_| TestCaseError::fail("stack still shared"))?;
        w.shutdown(fe.into_inner(), Shutdown::Clean { unmaps: true })
            .map_err(|v| TestCaseError::fail(v.to_string()))
    }
}

// proptest's default: 256 cases, or PROPTEST_CASES.
proptest! {
    #[test]
    fn fd_table_calls_match_the_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut run = Run::new();
        for op in ops {
            run.step(op)?;
            run.check()?;
        }
        run.finish()?;
    }
}

//! Random POSIX call sequences on the fd table (`skiff_net::posix::FdTable`) over the engine and the scripted backend.
//!
//! The backend runs its script (then its autopilot) whenever a call
//! blocks. Every socket gets receive and send timeouts, so every call
//! returns; one that waits without bound is a finding.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

use arbitrary::Arbitrary;
use skiff_net::SockAddr;
use skiff_net::posix::{Fd, FdTable, PollFd, consts::*};
use skiff_pvcalls::sim::{Autopilot, FakeFrontend, FakeWorld, Shutdown, Step};

use crate::engine::{Opts, start};
use crate::pick::Pick;
use crate::{decode, must};

type Table = FdTable<Rc<RefCell<FakeFrontend>>>;

#[derive(Debug, Arbitrary)]
enum Op {
    Socket { domain: u8, nonblock: bool },
    Bind(Pick, u16),
    Listen(Pick, i32),
    Accept(Pick, bool),
    Connect(Pick, u16),
    Send(Pick, u16, u8),
    Recv(Pick, u16, u8),
    Close(Pick),
    Poll(Vec<(Pick, u8)>, u8),
    Fcntl(Pick, u8, i32),
    TakeError(Pick),
    Names(Pick),
    Backend(Step),
    Advance(u32),
}

#[derive(Debug, Arbitrary)]
struct Input {
    opts: Opts,
    autopilot: Autopilot,
    script: Vec<Step>,
    timeout_ms: u8,
    ops: Vec<Op>,
    shutdown: Shutdown,
}

/// Most waits one call may take: far more than its timeouts allow.
const MAX_WAITS_PER_CALL: u64 = 100_000;

fn flags(f: u8) -> i32 {
    [0, MSG_DONTWAIT, MSG_WAITALL, MSG_NOSIGNAL, MSG_PEEK, MSG_MORE][usize::from(f) % 6]
}

/// The input `data` decodes to.
pub fn describe(data: &[u8]) -> String {
    format!("{:#?}", decode::<Input>(data))
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some(input) = decode::<Input>(data) else { return };
    let Some((w, fe)) = start(&input.opts, input.autopilot, input.script) else { return };
    let stack = Rc::new(RefCell::new(fe));
    let mut t = FdTable::new(stack.clone());
    let timeout = Some(Duration::from_millis(1 + u64::from(input.timeout_ms)));
    let mut made: Vec<Fd> = Vec::new();
    for op in input.ops.into_iter().take(128) {
        let waits = stack.borrow().platform().waits();
        apply(&w, &mut t, &mut made, timeout, op);
        let waited = stack.borrow().platform().waits() - waits;
        assert!(waited < MAX_WAITS_PER_CALL, "a call waited {waited} times");
        must(w.check(&stack.borrow()), "after a call");
    }
    drop(t);
    let Ok(fe) = Rc::try_unwrap(stack).map(RefCell::into_inner) else {
        panic!("the fd table kept its stack");
    };
    must(w.shutdown(fe, input.shutdown), "at shutdown");
}

fn apply(w: &FakeWorld, t: &mut Table, made: &mut Vec<Fd>, timeout: Option<Duration>, op: Op) {
    let fd = |p: Pick, made: &[Fd]| p.from(made, |v| v);
    let addr = |port: u16| SockAddr::new(Ipv4Addr::LOCALHOST, port);
    let mut buf = [0u8; 4096];
    let adopt = |t: &mut Table, made: &mut Vec<Fd>, new: Fd| {
        assert!(new >= FIRST_FD, "fd {new} handed out");
        let _ = t.set_recv_timeout(new, timeout);
        let _ = t.set_send_timeout(new, timeout);
        made.push(new);
    };
    match op {
        Op::Socket { domain, nonblock } => {
            let domain = [AF_INET, AF_INET6, AF_UNIX, -1][usize::from(domain) % 4];
            let ty = SOCK_STREAM | if nonblock { SOCK_NONBLOCK } else { 0 };
            if let Ok(new) = t.socket(domain, ty, 0) {
                adopt(t, made, new);
            }
        }
        Op::Bind(p, port) => drop(t.bind(fd(p, made), &addr(port))),
        Op::Listen(p, backlog) => drop(t.listen(fd(p, made), backlog)),
        Op::Accept(p, nonblock) => {
            let flags = if nonblock { SOCK_NONBLOCK } else { 0 };
            if let Ok((new, _)) = t.accept4(fd(p, made), flags) {
                adopt(t, made, new);
            }
        }
        Op::Connect(p, port) => drop(t.connect(fd(p, made), &addr(port))),
        Op::Send(p, len, f) => {
            let len = usize::from(len).min(buf.len());
            if let Ok(n) = t.send(fd(p, made), &buf[..len], flags(f)) {
                assert!(n <= len, "send of {len} bytes sent {n}");
            }
        }
        Op::Recv(p, len, f) => {
            let len = usize::from(len).min(buf.len());
            if let Ok(n) = t.recv(fd(p, made), &mut buf[..len], flags(f)) {
                assert!(n <= len, "recv into {len} bytes got {n}");
            }
        }
        Op::Close(p) => drop(t.close(fd(p, made))),
        Op::Poll(fds, ms) => {
            let events = [POLLIN, POLLOUT, POLLIN | POLLOUT | POLLRDHUP, 0];
            let mut pfds: Vec<PollFd> = fds
                .iter()
                .take(8)
                .map(|&(p, e)| PollFd::new(fd(p, made), events[usize::from(e) % 4]))
                .collect();
            if let Ok(n) = t.poll(&mut pfds, i32::from(ms % 50)) {
                let ready = pfds.iter().filter(|p| p.revents != 0).count();
                assert_eq!(n, ready, "poll counted {n} ready of {pfds:?}");
            }
        }
        Op::Fcntl(p, cmd, arg) => drop(t.fcntl(fd(p, made), i32::from(cmd % 6), arg)),
        Op::TakeError(p) => drop(t.take_error(fd(p, made))),
        Op::Names(p) => {
            let f = fd(p, made);
            let _ = (t.getsockname(f), t.getpeername(f), t.socket_id(f));
        }
        Op::Backend(step) => drop(w.backend().apply(&step)),
        Op::Advance(ns) => w.clock.advance(u64::from(ns)),
    }
}

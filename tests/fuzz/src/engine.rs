//! The command ring and socket engine under a hostile scripted backend, with page tampering and resource limits.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::task::Poll;

use arbitrary::Arbitrary;
use skiff_pvcalls::sim::{Autopilot, FakeFrontend, FakeWorld, Limits, Poke, Shutdown, Step};
use skiff_pvcalls::{Errno, Options, SocketId};

use crate::pick::Pick;
use crate::{decode, must};

/// Engine options worth varying.
#[derive(Debug, Arbitrary)]
pub struct Opts {
    max_order: u8,
    send_socket: bool,
    answer_events: bool,
    defer_acks: bool,
    near_wrap: Option<u8>,
    linger_ms: u8,
}

impl Opts {
    /// The backend's `max-page-order` (1..=3) and the engine's options,
    /// with timeouts short enough for a run.
    pub fn build(&self) -> (u32, Options) {
        let opts = Options {
            ring_order: None,
            send_socket: self.send_socket,
            answer_events: self.answer_events,
            defer_acks: self.defer_acks,
            linger_ns: u64::from(self.linger_ms) * 1_000_000,
            command_timeout_ns: 50_000_000,
            connect_timeout_ns: 200_000_000,
            cmd_ring_start: self.near_wrap.map_or(0, |k| u32::MAX - u32::from(k)),
        };
        (1 + u32::from(self.max_order % 3), opts)
    }
}

/// One engine call, or something the world does.
#[derive(Debug, Arbitrary)]
enum Op {
    Socket { domain: u8, ty: u8 },
    Bind(Pick, u16),
    Listen(Pick, u8),
    Accept(Pick),
    Connect(Pick, u16),
    Send(Pick, u16),
    Recv(Pick, u16),
    Close(Pick),
    Poll(Pick),
    Available(Pick),
    Process,
    Wait(Option<u16>),
    Advance(u32),
    Backend(Step),
    Poke(Poke),
    BackendGone,
    ReleaseAll,
    Teardown,
    Limit { pages: Option<u8>, grants: Option<u8>, ports: Option<u8> },
}

/// A whole run.
#[derive(Debug, Arbitrary)]
struct Input {
    opts: Opts,
    autopilot: Autopilot,
    script: Vec<Step>,
    ops: Vec<Op>,
    shutdown: Shutdown,
}

/// Most operations a run performs.
const MAX_OPS: usize = 256;

fn addr(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}

/// The input `data` decodes to.
pub fn describe(data: &[u8]) -> String {
    format!("{:#?}", decode::<Input>(data))
}

/// A machine and a connected frontend with `opts`; the backend runs
/// `script` (at most 256 steps), then `autopilot`, when the frontend waits.
pub(crate) fn start(
    opts: &Opts,
    autopilot: Autopilot,
    script: Vec<Step>,
) -> Option<(FakeWorld, FakeFrontend)> {
    let w = FakeWorld::new();
    let (max_order, opts) = opts.build();
    let fe = w.connect(max_order, opts).ok()?;
    w.backend().set_autopilot(autopilot);
    w.backend().extend_script(script.into_iter().take(256));
    Some((w, fe))
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some(input) = decode::<Input>(data) else { return };
    let Some((w, mut fe)) = start(&input.opts, input.autopilot, input.script) else { return };
    let mut made: Vec<SocketId> = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    for op in input.ops.into_iter().take(MAX_OPS) {
        apply(&w, &mut fe, &mut made, &mut buf, op);
        must(w.check(&fe), "after an operation");
    }
    must(w.shutdown(fe, input.shutdown), "at shutdown");
}

fn apply(w: &FakeWorld, fe: &mut FakeFrontend, made: &mut Vec<SocketId>, buf: &mut [u8], op: Op) {
    let sock = |p: Pick, made: &[SocketId]| p.from(made, |v| SocketId(v as u32 as u64));
    match op {
        Op::Socket { domain, ty } => {
            let (domain, ty) = if domain < 200 {
                (2, 1 | (u32::from(ty) << 11))
            } else {
                (u32::from(domain), u32::from(ty))
            };
            if let Ok(s) = fe.socket(domain, ty, 0) {
                made.push(s);
            }
        }
        Op::Bind(p, port) => drop(fe.bind(sock(p, made), addr(port))),
        Op::Listen(p, backlog) => drop(fe.listen(sock(p, made), u32::from(backlog))),
        Op::Accept(p) => {
            if let Poll::Ready(Ok(s)) = fe.accept(sock(p, made)) {
                made.push(s);
            }
        }
        Op::Connect(p, port) => drop(fe.connect(sock(p, made), addr(port))),
        Op::Send(p, len) => {
            let len = usize::from(len).min(buf.len());
            if let Poll::Ready(Ok(n)) = fe.send(sock(p, made), &buf[..len]) {
                assert!(n <= len, "send took {n} of {len} bytes");
            }
        }
        Op::Recv(p, len) => {
            let len = usize::from(len).min(buf.len());
            if let Poll::Ready(Ok(n)) = fe.recv(sock(p, made), &mut buf[..len]) {
                assert!(n <= len, "recv gave {n} bytes for a {len}-byte buffer");
            }
        }
        Op::Close(p) => drop(fe.close(sock(p, made))),
        Op::Poll(p) => {
            if let Ok(r) = fe.poll(sock(p, made)) {
                assert!(r.error != Some(Errno::EAGAIN), "poll reports EAGAIN as an error");
            }
        }
        Op::Available(p) => drop(fe.available(sock(p, made))),
        Op::Process => drop(fe.process()),
        Op::Wait(dt) => {
            let deadline = dt.map(|ms| fe.now_ns().saturating_add(u64::from(ms) * 100_000));
            fe.wait(deadline);
        }
        Op::Advance(ns) => w.clock.advance(u64::from(ns)),
        Op::Backend(step) => drop(w.backend().apply(&step)),
        Op::Poke(p) => w.tamper.push(p),
        Op::BackendGone => fe.backend_gone(),
        Op::ReleaseAll => fe.release_all(),
        Op::Teardown => fe.teardown(),
        Op::Limit { pages, grants, ports } => {
            let stats = w.host.stats();
            let cap = |live: usize, more: Option<u8>| more.map(|m| live + usize::from(m));
            fe.platform_mut().limits = Limits {
                pages: cap(stats.frames, pages),
                grants: cap(stats.grants, grants),
                ports: cap(stats.ports, ports),
            };
        }
    }
}

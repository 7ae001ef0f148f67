//! The frontend through the socket API against the simulated dom0.
//!
//! A [`Machine`] is a `SimWorld` (its backend thread plays `pvcalls-back`) plus the frontend
//! behind an `Rc<RefCell<_>>` stack. The backend's sockets are in-memory peers (a sink, a
//! source, an echo) routed by a `MemNet`, or host TCP to a thread of this process.

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_net::posix::consts::{AF_INET, SOCK_STREAM};
use skiff_net::posix::{Fd, FdTable};
use skiff_net::{SockAddr, TcpStream};
use skiff_pvcalls::Frontend;
use skiff_pvcalls::handshake;
use skiff_pvcalls::sim::{
    MemEcho, MemNet, MemSink, MemSource, SimConfig, SimPlatform, SimWorld, SimXs,
};
use skiff_xenstore::Xenstore;

use crate::PING;
use crate::baseline::{Far, HostPeer};

/// The shared engine, as an application holds it.
pub type Stack = Rc<RefCell<Frontend<SimPlatform>>>;

/// What the backend's socket is connected to.
#[derive(Clone, Debug)]
pub enum Peer {
    /// An in-memory sink (the frontend sends).
    Sink(Arc<MemSink>),
    /// An in-memory source (the frontend receives).
    Source(Arc<MemSource>),
    /// An in-memory echo (ping-pong).
    Echo,
    /// Host TCP to a thread of this process.
    Host(Far),
}

/// A simulated machine with one connected socket. Fields drop in order: sockets, then the
/// engine, then the machine.
pub struct Machine {
    stream: Option<TcpStream<Stack>>,
    fds: Option<(FdTable<Stack>, Fd)>,
    peer: Peer,
    host: Option<HostPeer>,
    stack: Stack,
    _xs: Xenstore<SimXs>,
    _world: SimWorld,
    buf: Vec<u8>,
}

impl core::fmt::Debug for Machine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Machine").field("peer", &self.peer).finish_non_exhaustive()
    }
}

/// Which face of the socket API to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Face {
    /// `skiff_net::TcpStream` (std::net-shaped, blocking).
    Stream,
    /// `skiff_net::posix::FdTable` (`send`/`recv` on an fd, blocking).
    Posix,
}

const MEM_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 9);

impl Machine {
    /// A machine whose socket talks to `peer`, through `face`.
    pub fn new(peer: Peer, face: Face) -> Self {
        let net = MemNet::new();
        let (addr, host) = match &peer {
            Peer::Sink(s) => {
                net.route(MEM_ADDR, s.clone());
                (MEM_ADDR, None)
            }
            Peer::Source(s) => {
                net.route(MEM_ADDR, s.clone());
                (MEM_ADDR, None)
            }
            Peer::Echo => {
                net.route(MEM_ADDR, MemEcho::new());
                (MEM_ADDR, None)
            }
            Peer::Host(far) => {
                let (peer, addr) = HostPeer::listen(*far);
                (addr, Some(peer))
            }
        };
        let cfg = SimConfig { net, ..SimConfig::default() };
        let (world, xs, fe, _) =
            SimWorld::connect(cfg, handshake::Config::default()).expect("handshake");
        let stack: Stack = Rc::new(RefCell::new(fe));
        let (stream, fds) = match face {
            Face::Stream => {
                (Some(TcpStream::connect_in(&stack, SocketAddr::V4(addr)).expect("connect")), None)
            }
            Face::Posix => {
                let mut t = FdTable::new(stack.clone());
                let fd = t.socket(AF_INET, SOCK_STREAM, 0).expect("socket");
                t.connect(fd, &SockAddr::from(addr)).expect("connect");
                (None, Some((t, fd)))
            }
        };
        Machine { stream, fds, peer, host, stack, _xs: xs, _world: world, buf: vec![0; 64 * 1024] }
    }

    /// The engine.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    fn write_all(&mut self, data: &[u8]) {
        if let Some(s) = &self.stream {
            s.write_all(data).expect("send");
        } else if let Some((t, fd)) = self.fds.as_mut() {
            let n = t.send(*fd, data, 0).expect("send");
            assert_eq!(n, data.len(), "a blocking send queues everything");
        }
    }

    fn read_exact(&mut self, len: usize) {
        let buf = &mut self.buf[..len];
        if let Some(s) = &self.stream {
            s.read_exact(buf).expect("recv");
        } else if let Some((t, fd)) = self.fds.as_mut() {
            let n = t.recv(*fd, buf, skiff_net::posix::consts::MSG_WAITALL).expect("recv");
            assert_eq!(n, len, "MSG_WAITALL fills the buffer");
        }
        std::hint::black_box(&self.buf);
    }

    /// Sends `iters` chunks of `data`; returns once the peer has received them all.
    pub fn send(&mut self, data: &[u8], iters: u64) -> Duration {
        let bytes = iters * data.len() as u64;
        let (counter, base) = match (&self.peer, &self.host) {
            (Peer::Sink(s), _) => (SinkOrHost::Sink(s.clone()), s.received()),
            (Peer::Host(Far::Reader), Some(h)) => {
                (SinkOrHost::Host, h.counter().load(std::sync::atomic::Ordering::Acquire))
            }
            _ => panic!("send needs a sink or a host reader"),
        };
        let start = Instant::now();
        for _ in 0..iters {
            self.write_all(data);
        }
        match counter {
            // The frontend sleeps on its platform until the backend's events.
            SinkOrHost::Sink(s) => {
                while s.received() < base + bytes {
                    let now = skiff_net::Stack::now_ns(&self.stack);
                    skiff_net::Stack::wait(&self.stack, Some(now + 1_000_000));
                }
            }
            SinkOrHost::Host => self.host.as_ref().expect("host peer").wait_for(base + bytes),
        }
        start.elapsed()
    }

    /// Receives `iters` chunks of `size` bytes that the peer sends.
    pub fn recv(&mut self, size: usize, iters: u64) -> Duration {
        let bytes = iters * size as u64;
        let start = Instant::now();
        match (&self.peer, &self.host) {
            (Peer::Source(s), _) => s.grant(bytes),
            (Peer::Host(Far::Writer), Some(h)) => h.grant(bytes),
            _ => panic!("recv needs a source or a host writer"),
        }
        for _ in 0..iters {
            self.read_exact(size);
        }
        start.elapsed()
    }

    /// `iters` round trips of a [`PING`]-byte message through an echo.
    pub fn ping(&mut self, iters: u64) -> Duration {
        let msg = [7u8; PING];
        let start = Instant::now();
        for _ in 0..iters {
            self.write_all(&msg);
            self.read_exact(PING);
        }
        start.elapsed()
    }
}

enum SinkOrHost {
    Sink(Arc<MemSink>),
    Host,
}

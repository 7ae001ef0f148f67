//! Helpers shared by the simulated end-to-end tests: setup, blocking loops, host peers.
#![allow(dead_code, unused_imports)] // each test binary uses part of it

use std::net::{Ipv4Addr, SocketAddrV4};
use std::task::Poll;

use skiff_pvcalls::handshake::{self, BackendInfo};
use skiff_pvcalls::sim::{SimConfig, SimPlatform, SimWorld, SimXs};
pub use skiff_pvcalls::sim::{echo_server, free_port, localhost, pattern};
use skiff_pvcalls::wire::{AF_INET, SOCK_STREAM};
use skiff_pvcalls::{Errno, Frontend, SocketId};
use skiff_xenstore::Xenstore;

pub type Fe = Frontend<SimPlatform>;

pub struct Setup {
    pub fe: Fe,
    pub xs: Xenstore<SimXs>,
    pub info: BackendInfo,
    // Last: dropped after the frontend.
    pub world: SimWorld,
}

pub fn setup() -> Setup {
    setup_with(SimConfig::default(), handshake::Config::default())
}

pub fn setup_with(cfg: SimConfig, hs: handshake::Config) -> Setup {
    let (world, xs, fe, info) = SimWorld::connect(cfg, hs).expect("handshake");
    Setup { fe, xs, info, world }
}

const TIMEOUT_NS: u64 = 20_000_000_000;

/// Runs `op` until it is ready, waiting in between.
pub fn block<T>(
    fe: &mut Fe,
    mut op: impl FnMut(&mut Fe) -> Poll<Result<T, Errno>>,
) -> Result<T, Errno> {
    let deadline = fe.now_ns() + TIMEOUT_NS;
    loop {
        match op(fe) {
            Poll::Pending => {
                let now = fe.now_ns();
                assert!(now < deadline, "operation still pending after the timeout");
                fe.wait(Some(now + 50_000_000));
            }
            Poll::Ready(r) => return r,
        }
    }
}

pub fn tcp_socket(fe: &mut Fe) -> SocketId {
    fe.socket(AF_INET, SOCK_STREAM, 0).expect("socket")
}

pub fn connect(fe: &mut Fe, addr: SocketAddrV4) -> Result<SocketId, Errno> {
    let s = tcp_socket(fe);
    match block(fe, |fe| fe.connect(s, addr)) {
        Ok(()) => Ok(s),
        Err(e) => {
            fe.close(s).unwrap();
            Err(e)
        }
    }
}

pub fn send_all(fe: &mut Fe, s: SocketId, mut data: &[u8]) {
    while !data.is_empty() {
        let n = block(fe, |fe| fe.send(s, data)).expect("send");
        data = &data[n..];
    }
}

pub fn recv_exact(fe: &mut Fe, s: SocketId, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = block(fe, |fe| fe.recv(s, &mut out[got..])).expect("recv");
        assert!(n > 0, "unexpected EOF after {got} of {len} bytes");
        got += n;
    }
    out
}

pub fn recv_to_end(fe: &mut Fe, s: SocketId) -> Result<Vec<u8>, (Vec<u8>, Errno)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match block(fe, |fe| fe.recv(s, &mut buf)) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return Err((out, e)),
        }
    }
}

/// Closes and processes until every background release is answered.
pub fn settle(fe: &mut Fe) {
    let deadline = fe.now_ns() + TIMEOUT_NS;
    while fe.resources().sockets > fe.open_sockets() {
        assert!(fe.now_ns() < deadline, "releases not answered: {:?}", fe.resources());
        let now = fe.now_ns();
        fe.wait(Some(now + 20_000_000));
    }
}

/// FNV-1a.
pub fn checksum(data: &[u8]) -> u64 {
    data.iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The event channel of `c`'s data ring.
pub fn ring_port(fe: &Fe, c: SocketId) -> u32 {
    fe.sockets().find(|v| v.id == c).and_then(|v| v.port).expect("a socket with a ring")
}

/// A host server that resets its one connection as soon as data arrives
/// (closing with unread data sends RST); returns its port.
pub fn resetting_server() -> (u16, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (c, _) = l.accept().unwrap();
        c.peek(&mut [0u8; 1]).unwrap();
        drop(c);
    });
    (port, server)
}

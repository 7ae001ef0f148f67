//! One data ring's I/O (`DataIo`) while a hostile peer writes, reads, sets errors and moves indexes, even between the frontend's loads.
//!
//! While the peer plays fair (no raw index or tampered stores), the bytes
//! the frontend receives and the bytes the peer consumes are checked
//! against what was sent, in order.

use std::collections::VecDeque;
use std::task::Poll;

use arbitrary::Arbitrary;
use skiff_pvcalls::Platform;
use skiff_pvcalls::data::DataIo;
use skiff_pvcalls::sim::{FakePages, FakeWorld, Poke, pattern};
use skiff_ring::{ByteRing, SharedMem};
use skiff_xen::pvcalls::{data_ring_size, intf};

use crate::decode;

#[derive(Debug, Arbitrary)]
enum Op {
    Recv(u16),
    Send(u16),
    Readiness,
    Available,
    InFull,
    OutDrained,
    OutSettled,
    RecvFinished,
    PeerIn(u16),
    PeerOut(u16),
    InError(i32),
    OutError(i32),
    Word { off: u8, val: u32 },
    Poke(Poke),
}

#[derive(Debug, Arbitrary)]
struct Input {
    order: u8,
    ops: Vec<Op>,
}

/// The peer's view of the ring, and what it expects.
struct Peer {
    inr: ByteRing,
    out: ByteRing,
    /// Sent by the peer, not yet received by the frontend.
    in_flight: VecDeque<u8>,
    /// Sent by the frontend, not yet consumed by the peer.
    out_flight: VecDeque<u8>,
    produced: u64,
    sent: u64,
    fair: bool,
}

/// The input `data` decodes to.
pub fn describe(data: &[u8]) -> String {
    format!("{:#?}", decode::<Input>(data))
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some(input) = decode::<Input>(data) else { return };
    let order = 1 + u32::from(input.order % 3);
    let w = FakeWorld::new();
    let mut platform = w.platform();
    let (Ok(idx), Ok(mem)) = (platform.alloc_pages(0), platform.alloc_pages(order)) else {
        return;
    };
    let size = data_ring_size(order) as u32;
    let mut io = DataIo::new(order);
    let mut peer = Peer {
        inr: ByteRing::new(0, size, intf::IN_PROD, intf::IN_CONS),
        out: ByteRing::new(size as usize, size, intf::OUT_PROD, intf::OUT_CONS),
        in_flight: VecDeque::new(),
        out_flight: VecDeque::new(),
        produced: 0,
        sent: 0,
        fair: true,
    };
    let mut buf = vec![0u8; size as usize * 2];
    for op in input.ops.into_iter().take(512) {
        step(&w, &mut io, &mut peer, &idx, &mem, &mut buf, op);
    }
}

/// Applies `op`.
fn step(
    w: &FakeWorld,
    io: &mut DataIo,
    peer: &mut Peer,
    idx: &FakePages,
    mem: &FakePages,
    buf: &mut [u8],
    op: Op,
) {
    let cap = |n: u16| usize::from(n).min(buf.len());
    match op {
        Op::Recv(n) => {
            let n = cap(n);
            let r = io.recv(idx, mem, &mut buf[..n]);
            if let Poll::Ready(Ok(got)) = r {
                assert!(got <= n, "recv gave {got} bytes for {n}");
                if peer.fair {
                    for (i, b) in buf[..got].iter().enumerate() {
                        let want = peer.in_flight.pop_front();
                        assert_eq!(Some(*b), want, "byte {i} of a recv of {got}");
                    }
                }
            }
            if peer.fair && r.is_pending() {
                assert!(peer.in_flight.is_empty(), "pending with bytes in the ring");
            }
        }
        Op::Send(n) => {
            let n = cap(n);
            let src = pattern(n, peer.sent);
            let r = io.send(idx, mem, &src);
            if let Poll::Ready(Ok(put)) = r {
                assert!(put <= n, "send took {put} of {n} bytes");
                peer.sent += put as u64;
                peer.out_flight.extend(&src[..put]);
            }
        }
        Op::Readiness => drop(io.readiness(idx)),
        Op::Available => {
            if let Ok(a) = io.available(idx) {
                assert!(a <= io.size(), "{a} bytes available in a ring of {}", io.size());
            }
        }
        Op::InFull => drop(io.in_full(idx)),
        Op::OutDrained => drop(io.out_drained(idx)),
        Op::OutSettled => drop(io.out_settled(idx)),
        Op::RecvFinished => drop(io.recv_finished(idx)),
        Op::PeerIn(n) => {
            let bytes = pattern(usize::from(n), peer.produced);
            let put = peer.inr.producer().write_split(idx, mem, &bytes).unwrap_or(0);
            peer.produced += put as u64;
            peer.in_flight.extend(&bytes[..put]);
        }
        Op::PeerOut(n) => {
            let n = cap(n);
            let got = peer.out.consumer().read_split(idx, mem, &mut buf[..n]).unwrap_or(0);
            if peer.fair {
                for b in &buf[..got] {
                    assert_eq!(Some(*b), peer.out_flight.pop_front(), "the peer read other bytes");
                }
            }
        }
        Op::InError(e) => idx.store_u32(intf::IN_ERROR, e as u32),
        Op::OutError(e) => idx.store_u32(intf::OUT_ERROR, e as u32),
        Op::Word { off, val } => {
            peer.fair = false;
            idx.store_u32(usize::from(off % 32) * 4, val);
        }
        Op::Poke(p) => {
            peer.fair = false;
            w.tamper.push(p);
        }
    }
}

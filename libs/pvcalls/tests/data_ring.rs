//! Data ring I/O against a scripted backend: random chunking with wrap-around, EOF/error rules, hostile indexes.

use std::task::Poll::{Pending, Ready};

use proptest::prelude::*;
use skiff_pvcalls::Errno;
use skiff_pvcalls::data::DataIo;
use skiff_ring::{ByteRing, HostMem, SharedMem};
use skiff_xen::pvcalls::{data_ring_size, intf};

/// The backend's two ends of a ring of `order`.
fn back_ends(order: u32) -> (ByteRing, ByteRing) {
    let size = data_ring_size(order) as u32;
    let inr = ByteRing::new(0, size, intf::IN_PROD, intf::IN_CONS);
    let out = ByteRing::new(size as usize, size, intf::OUT_PROD, intf::OUT_CONS);
    (inr, out)
}

fn mems(order: u32) -> (HostMem, HostMem) {
    (HostMem::pages(1), HostMem::pages(1 << order))
}

/// A ring of order 1 whose `out` the frontend has filled (a second send
/// would block), and `big`, the buffer it sent from.
fn full_out() -> (HostMem, HostMem, DataIo, Vec<u8>) {
    let (idx, data) = mems(1);
    let mut io = DataIo::new(1);
    let big = vec![5u8; 10_000];
    assert_eq!(io.send(&idx, &data, &big), Ready(Ok(4096)));
    assert_eq!(io.send(&idx, &data, &big), Pending);
    (idx, data, io, big)
}

#[test]
fn init_writes_order_and_refs() {
    let (idx, _) = mems(2);
    let io = DataIo::new(2);
    io.init_intf(&idx, &[11, 12, 13, 14]);
    assert_eq!(idx.load_u32(intf::RING_ORDER), 2);
    assert_eq!(idx.load_u32(intf::REF), 11);
    assert_eq!(idx.load_u32(intf::REF + 12), 14);
    assert_eq!(io.size(), 8192);
}

#[test]
fn eof_only_after_draining_and_sticky() {
    let (idx, data) = mems(1);
    let mut io = DataIo::new(1);
    let (inr, _) = back_ends(1);
    inr.producer().write_split(&idx, &data, b"tail bytes").unwrap();
    idx.store_u32(intf::IN_ERROR, (-107i32) as u32);
    let mut buf = [0u8; 4];
    assert_eq!(io.recv(&idx, &data, &mut buf), Ready(Ok(4)));
    assert_eq!(&buf, b"tail");
    let mut rest = [0u8; 64];
    assert_eq!(io.recv(&idx, &data, &mut rest), Ready(Ok(6)));
    assert_eq!(io.recv(&idx, &data, &mut rest), Ready(Ok(0)), "EOF");
    // A backend clearing the error does not resurrect the stream.
    idx.store_u32(intf::IN_ERROR, 0);
    assert_eq!(io.recv(&idx, &data, &mut rest), Ready(Ok(0)));
    let r = io.readiness(&idx);
    assert!(r.readable && r.rdhup && !r.hup && r.error.is_none());
}

#[test]
fn errors_are_mapped_and_out_error_stops_writes() {
    let (idx, data) = mems(1);
    let mut io = DataIo::new(1);
    assert_eq!(io.recv(&idx, &data, &mut [0; 8]), Pending);
    idx.store_u32(intf::IN_ERROR, (-104i32) as u32);
    assert_eq!(io.recv(&idx, &data, &mut [0; 8]), Ready(Err(Errno::ECONNRESET)));
    assert_eq!(io.send(&idx, &data, b"x"), Ready(Err(Errno::ECONNRESET)), "a reset fails writes");
    idx.store_u32(intf::OUT_ERROR, (-32i32) as u32);
    assert_eq!(io.send(&idx, &data, b"x"), Ready(Err(Errno::EPIPE)), "out_error comes first");
    let r = io.readiness(&idx);
    assert!(r.writable && r.error.is_some());
    let (idx2, data2) = mems(1);
    let mut io2 = DataIo::new(1);
    idx2.store_u32(intf::OUT_ERROR, (-524i32) as u32);
    assert_eq!(io2.send(&idx2, &data2, b"x"), Ready(Err(Errno::EOPNOTSUPP)));
    idx2.store_u32(intf::IN_ERROR, (-4000i32) as u32);
    assert_eq!(io2.recv(&idx2, &data2, &mut [0; 1]), Ready(Err(Errno::EIO)));
}

#[test]
fn eof_does_not_stop_writes() {
    let (idx, data) = mems(1);
    let mut io = DataIo::new(1);
    idx.store_u32(intf::IN_ERROR, (-107i32) as u32);
    assert_eq!(io.recv(&idx, &data, &mut [0; 8]), Ready(Ok(0)));
    assert_eq!(io.send(&idx, &data, b"reply"), Ready(Ok(5)), "a half-closed peer still reads");
    assert!(!io.out_settled(&idx), "the reply is still to be sent");
}

/// A reset that lands while `out` is full and the backend has not (or
/// never) reported it on `out_error`: the writer must hear of it, and a
/// `poll` that reports the error must not leave it waiting for room.
#[test]
fn reset_fails_a_writer_waiting_for_room() {
    let (idx, data, mut io, big) = full_out();
    let r = io.readiness(&idx);
    assert!(!r.writable && r.error.is_none());
    assert!(!io.out_settled(&idx), "a close now lingers for the backend to drain out");
    idx.store_u32(intf::IN_ERROR, (-104i32) as u32);
    let r = io.readiness(&idx);
    assert_eq!(r.error, Some(Errno::ECONNRESET));
    assert!(r.writable, "a write fails at once, so the socket is writable");
    assert_eq!(io.send(&idx, &data, &big), Ready(Err(Errno::ECONNRESET)));
    assert!(io.out_settled(&idx), "nothing more will drain: release without lingering");
}

#[test]
fn full_ring_would_block() {
    let (idx, data, mut io, big) = full_out();
    assert!(!io.readiness(&idx).writable);
    let (_, out) = back_ends(1);
    let mut sink = vec![0u8; 100];
    out.consumer().read_split(&idx, &data, &mut sink).unwrap();
    assert_eq!(io.send(&idx, &data, &big), Ready(Ok(100)));
    assert!(!io.out_drained(&idx));
}

proptest! {
    /// Both directions, random chunk sizes on both sides, indexes starting
    /// anywhere (wrap-around of the u32 and of the ring): bytes arrive in
    /// order and intact.
    #[test]
    fn random_chunks_round_trip(
        order in 1u32..4,
        start_in in any::<u32>(),
        start_out in any::<u32>(),
        chunks in proptest::collection::vec((1usize..20_000, 1usize..20_000), 1..40),
    ) {
        let (idx, data) = mems(order);
        for (p, c) in [(intf::IN_PROD, intf::IN_CONS), (intf::OUT_PROD, intf::OUT_CONS)] {
            let s = if p == intf::IN_PROD { start_in } else { start_out };
            idx.store_u32(p, s);
            idx.store_u32(c, s);
        }
        let mut io = DataIo::new(order);
        let (inr, out) = back_ends(order);
        let total: usize = chunks.iter().map(|c| c.0).sum();
        let stream: Vec<u8> = (0..total).map(|i| (i * 7 + i / 251) as u8).collect();
        let (mut fed, mut got_front) = (0usize, Vec::new());
        let (mut sent, mut got_back) = (0usize, Vec::new());
        let mut i = 0;
        while got_front.len() < total || got_back.len() < total {
            let (a, b) = chunks[i % chunks.len()];
            i += 1;
            // Backend -> frontend.
            let end = (fed + a).min(total);
            fed += inr.producer().write_split(&idx, &data, &stream[fed..end]).unwrap();
            let mut buf = vec![0u8; b];
            match io.recv(&idx, &data, &mut buf) {
                Ready(Ok(n)) => { prop_assert!(n > 0 && n <= b); got_front.extend_from_slice(&buf[..n]); }
                Ready(Err(e)) => prop_assert!(false, "recv failed: {:?}", e),
                Pending => {}
            }
            // Frontend -> backend.
            let end = (sent + b).min(total);
            match io.send(&idx, &data, &stream[sent..end]) {
                Ready(Ok(n)) => sent += n,
                Ready(Err(e)) => prop_assert!(sent == total, "send failed: {:?}", e),
                Pending => {}
            }
            let mut sink = vec![0u8; a];
            let n = out.consumer().read_split(&idx, &data, &mut sink).unwrap();
            got_back.extend_from_slice(&sink[..n]);
            prop_assert!(i < 100_000);
        }
        prop_assert!(got_front == stream);
        prop_assert!(got_back == stream);
    }

    /// Whatever the backend writes into the indexes page, the frontend
    /// never reads or writes more than the ring holds and never panics;
    /// impossible indexes fail with EIO, for good.
    #[test]
    fn hostile_indexes_never_over_read(
        in_prod in any::<u32>(), in_cons in any::<u32>(),
        out_prod in any::<u32>(), out_cons in any::<u32>(),
        in_err in any::<i32>(), out_err in any::<i32>(),
        len in 0usize..20_000,
    ) {
        let order = 1;
        let (idx, data) = mems(order);
        idx.store_u32(intf::IN_PROD, in_prod);
        idx.store_u32(intf::IN_CONS, in_cons);
        idx.store_u32(intf::OUT_PROD, out_prod);
        idx.store_u32(intf::OUT_CONS, out_cons);
        idx.store_u32(intf::IN_ERROR, in_err as u32);
        idx.store_u32(intf::OUT_ERROR, out_err as u32);
        let mut io = DataIo::new(order);
        let size = io.size() as u32;
        let mut buf = vec![0u8; len];
        let used_in = in_prod.wrapping_sub(in_cons);
        match io.recv(&idx, &data, &mut buf) {
            Ready(Ok(n)) => {
                prop_assert!(n <= len);
                prop_assert!(n as u32 <= used_in || n == 0);
            }
            Ready(Err(Errno::EIO)) => {
                prop_assert!(used_in > size || in_err != 0 || len > 0);
                if used_in > size && len > 0 {
                    prop_assert_eq!(io.recv(&idx, &data, &mut buf), Ready(Err(Errno::EIO)));
                }
            }
            Ready(Err(_)) | Pending => {}
        }
        let mut io = DataIo::new(order);
        if let Ready(Ok(n)) = io.send(&idx, &data, &buf) {
            prop_assert!(n <= len);
            let used_out = out_prod.wrapping_sub(out_cons);
            prop_assert!(used_out <= size);
            prop_assert!(n as u32 <= size - used_out);
        }
        let _ = io.readiness(&idx);
    }
}

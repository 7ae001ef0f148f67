//! Two-thread tests: a producer and a consumer sharing a `HostMem` through an `Arc`.

use std::sync::Arc;
use std::thread;

use skiff_ring::{BackRing, ByteRing, FrontRing, HostMem, RingLayout, flex_ring_size};

/// FNV-1a, enough to detect lost, duplicated or reordered bytes.
fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// `n` bytes, or a small part of it under Miri (which runs these slowly).
fn scaled(n: usize) -> usize {
    if cfg!(miri) { n / 512 } else { n }
}

/// Deterministic byte stream: byte `i` of the stream.
fn stream_byte(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

fn move_bytes(total: usize, ring_idx: Arc<HostMem>, ring_data: Arc<HostMem>, ring: ByteRing) {
    let (pi, pd) = (ring_idx.clone(), ring_data.clone());
    let producer = thread::spawn(move || {
        let p = ring.producer();
        let mut sent = 0;
        let mut hash = FNV_START;
        let mut chunk = Vec::new();
        let mut step = 1usize;
        while sent < total {
            step = (step * 7 + 13) % 5000 + 1;
            let n = step.min(total - sent);
            chunk.clear();
            chunk.extend((sent..sent + n).map(stream_byte));
            let mut off = 0;
            while off < n {
                let w = p.write_split(&*pi, &*pd, &chunk[off..]).unwrap();
                if w == 0 {
                    thread::yield_now();
                }
                off += w;
            }
            hash = fnv(hash, &chunk);
            sent += n;
        }
        hash
    });
    let c = ring.consumer();
    let mut got = 0;
    let mut hash = FNV_START;
    let mut buf = vec![0u8; 3001];
    while got < total {
        let n = c.read_split(&*ring_idx, &*ring_data, &mut buf).unwrap();
        if n == 0 {
            thread::yield_now();
            continue;
        }
        for (k, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, stream_byte(got + k), "byte {} differs", got + k);
        }
        hash = fnv(hash, &buf[..n]);
        got += n;
    }
    assert_eq!(got, total);
    assert_eq!(producer.join().unwrap(), hash);
}

#[test]
fn console_sized_ring_moves_megabytes() {
    // io/console.h out ring: data 1024..3072, out_cons 3080, out_prod 3084.
    let mem = Arc::new(HostMem::pages(1));
    move_bytes(scaled(4 << 20), mem.clone(), mem, ByteRing::new(1024, 2048, 3084, 3080));
}

#[test]
fn pvcalls_split_ring_moves_megabytes() {
    // Indexes page (in_cons 0, in_prod 4) + 2 data pages (order 1, `in` half).
    let idx = Arc::new(HostMem::pages(1));
    let data = Arc::new(HostMem::pages(2));
    move_bytes(scaled(8 << 20), idx, data, ByteRing::new(0, flex_ring_size(1), 4, 0));
}

#[test]
fn front_and_back_rings_across_threads() {
    const N: u32 = if cfg!(miri) { 300 } else { 50_000 };
    let layout = RingLayout::new(4096, 64);
    let mem = Arc::new(HostMem::pages(1));
    let mut front = FrontRing::init(layout, &*mem);
    let bm = mem.clone();
    let back = thread::spawn(move || {
        let mut back = BackRing::new(layout);
        let mut served = 0u32;
        let mut e = [0u8; 64];
        while served < N {
            if !back.take_request(&*bm, &mut e).unwrap() {
                back.push_responses_and_check_notify(&*bm);
                if !back.final_check_for_requests(&*bm).unwrap() {
                    thread::yield_now();
                }
                continue;
            }
            let seq = u32::from_le_bytes(e[..4].try_into().unwrap());
            assert_eq!(seq, served);
            assert!(e[4..].iter().all(|&b| b == seq as u8));
            let mut rsp = [0u8; 24];
            rsp[..4].copy_from_slice(&(!seq).to_le_bytes());
            back.push_response(&*bm, &rsp).unwrap();
            served += 1;
        }
        back.push_responses_and_check_notify(&*bm);
    });
    let (mut sent, mut received) = (0u32, 0u32);
    while received < N {
        while sent < N && !front.is_full() {
            let mut req = [sent as u8; 64];
            req[..4].copy_from_slice(&sent.to_le_bytes());
            front.push_request(&*mem, &req).unwrap();
            sent += 1;
        }
        front.push_requests_and_check_notify(&*mem);
        let mut r = [0u8; 24];
        let mut progressed = false;
        while front.take_response(&*mem, &mut r).unwrap() {
            assert_eq!(u32::from_le_bytes(r[..4].try_into().unwrap()), !received);
            received += 1;
            progressed = true;
        }
        if !progressed && !front.final_check_for_responses(&*mem).unwrap() {
            thread::yield_now();
        }
    }
    back.join().unwrap();
}

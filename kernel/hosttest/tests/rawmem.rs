//! `RawMem` against a peer writing the same memory from another thread: byte copies must be
//! atomic (run under Miri, `make miri`, a plain copy is reported as a data race), touch only the
//! bytes asked for, and give back what was written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use skiff_kernel_hosttest::rawmem::RawMem;
use skiff_ring::SharedMem;

/// Memory shared with a "peer": 8-byte-aligned words, touched only atomically.
struct Region(Box<[AtomicU64]>);

impl Region {
    fn new(words: usize) -> Arc<Self> {
        Arc::new(Region((0..words).map(|_| AtomicU64::new(0)).collect()))
    }

    fn mem(&self) -> RawMem {
        // SAFETY: the region is mapped, 8-byte aligned, lives as long as the
        // Arc the test holds, and is accessed only atomically.
        unsafe { RawMem::new(self.0.as_ptr() as usize, self.0.len() * 8) }
    }
}

#[test]
fn copies_race_free_with_a_peer_writing_the_same_words() {
    let region = Region::new(16);
    let stop = Arc::new(AtomicBool::new(false));
    let wrote = Arc::new(AtomicBool::new(false));
    let peer = {
        let (region, stop, wrote) = (region.clone(), stop.clone(), wrote.clone());
        thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for w in region.0.iter() {
                    w.store(n, Ordering::Relaxed);
                }
                wrote.store(true, Ordering::Relaxed);
                n += 1;
                if cfg!(miri) && n > 20 {
                    break;
                }
            }
        })
    };
    // Relaxed: the peer's stores do not happen-before the copies below, so
    // a copy that is not atomic is a data race Miri reports every time.
    while !wrote.load(Ordering::Relaxed) {
        std::hint::spin_loop();
    }
    let mem = region.mem();
    let mut buf = [0u8; 128];
    for i in 0..if cfg!(miri) { 10 } else { 10_000 } {
        mem.read_bytes(0, &mut buf);
        mem.write_bytes(0, &[i as u8; 64]);
    }
    stop.store(true, Ordering::Relaxed);
    peer.join().unwrap();
}

#[test]
fn unaligned_copies_touch_only_their_bytes() {
    let region = Region::new(8);
    let mem = region.mem();
    mem.write_bytes(0, &[0xee; 64]);
    let data: Vec<u8> = (1..=37).collect();
    mem.write_bytes(3, &data);
    let mut all = [0u8; 64];
    mem.read_bytes(0, &mut all);
    assert_eq!(&all[..3], &[0xee; 3]);
    assert_eq!(&all[3..40], &data[..]);
    assert!(all[40..].iter().all(|&b| b == 0xee));
    for (off, len) in [(0, 0), (5, 1), (7, 2), (1, 62), (8, 8), (13, 27)] {
        let mut part = vec![0u8; len];
        mem.read_bytes(off, &mut part);
        assert_eq!(&part[..], &all[off..off + len], "read {off}+{len}");
    }
    mem.store_u32(44, 0x1234_5678);
    assert_eq!(mem.load_u32(44), 0x1234_5678);
    let mut b = [0u8; 4];
    mem.read_bytes(44, &mut b);
    assert_eq!(u32::from_ne_bytes(b), 0x1234_5678);
}

#[test]
#[should_panic(expected = "out of range")]
fn a_copy_past_the_end_is_refused() {
    let region = Region::new(2);
    region.mem().read_bytes(10, &mut [0u8; 7]);
}

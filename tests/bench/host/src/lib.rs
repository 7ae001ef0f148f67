//! Harnesses of the host benchmarks (`make bench-host`, `benches/host.rs`): each moves a number of
//! chunks from a producer to a consumer on two threads and returns when the consumer has them all.
//!
//! - [`baseline`]: one-thread `memcpy`, loopback TCP between two threads, the `rtrb` SPSC ring,
//!   and the raw byte ring of `skiff_ring` over the simulator's shared memory.
//! - [`simnet`]: the frontend through the socket API (`TcpStream`, `FdTable`) against the
//!   simulated dom0, whose backend thread serves in-memory peers or host TCP.
//! - [`report`]: the results file, from criterion's estimates.
//!
//! Every harness measures whole transfers: a send is done when the receiving thread has counted
//! every byte, a receive when the bench thread has read every byte, so socket buffers and rings
//! cannot hide work outside the timed span.

pub mod baseline;
pub mod report;
pub mod simnet;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Chunk sizes of the throughput benchmarks.
pub const SIZES: [usize; 3] = [1024, 16 * 1024, 64 * 1024];

/// Bytes of each message of the ping-pong benchmarks.
pub const PING: usize = 64;

/// Bytes in each direction of a PV Calls data ring of order 4 (what Linux's backend allows and
/// the frontend uses by default); the SPSC baselines use rings of the same size.
pub const RING: usize = 32 * 1024;

/// How long a harness waits for its peer thread before it gives up (a benchmark must not hang).
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits until `counter` reaches `target` (the peer calls `wake` after counting).
pub fn wait_for(wake: &Wake, counter: &AtomicU64, target: u64) {
    wake.wait_until(|| counter.load(Ordering::Acquire) >= target);
}

/// A wake-up between two threads: one waits ([`wait_until`](Self::wait_until)) by spinning a
/// little, then parking; the other calls [`wake`](Self::wake) after making progress. On this
/// shared 2-core machine a peer is often preempted, and a waiter that only spins or yields then
/// burns whole time slices; parking hands the CPU over.
#[derive(Debug, Default)]
pub struct Wake {
    sleeping: AtomicBool,
    thread: Mutex<Option<Thread>>,
}

impl Wake {
    /// Returns once `ready` holds.
    ///
    /// # Panics
    ///
    /// If that takes longer than a minute: the peer thread is stuck.
    pub fn wait_until(&self, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        let mut spins = 0u32;
        while !ready() {
            spins += 1;
            if spins < 1 << 9 {
                std::hint::spin_loop();
                continue;
            }
            *self.thread.lock().unwrap() = Some(std::thread::current());
            self.sleeping.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if !ready() {
                std::thread::park_timeout(Duration::from_millis(1));
                assert!(start.elapsed() < PATIENCE, "peer thread stuck");
            }
            self.sleeping.store(false, Ordering::Relaxed);
        }
    }

    /// Wakes the waiter if it sleeps (call after publishing progress).
    pub fn wake(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed)
            && let Some(t) = self.thread.lock().unwrap().as_ref()
        {
            t.unpark();
        }
    }
}

/// Deterministic test bytes.
pub fn chunk(len: usize) -> Vec<u8> {
    skiff_pvcalls::sim::pattern(len, 7)
}

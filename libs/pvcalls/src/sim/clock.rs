//! A virtual monotonic clock that only moves when told to, for deterministic runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Nanoseconds of virtual time, shared by every clone (the platform, the
/// test driving it). It starts at 0 and never goes backwards.
#[derive(Clone, Debug, Default)]
pub struct VirtualClock(Arc<AtomicU64>);

impl VirtualClock {
    /// A clock at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current time.
    pub fn now_ns(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Moves the clock `ns` forward (saturating).
    pub fn advance(&self, ns: u64) {
        let now = self.now_ns();
        self.0.store(now.saturating_add(ns), Ordering::Release);
    }

    /// Moves the clock to `t` if that is later.
    pub fn advance_to(&self, t: u64) {
        self.0.fetch_max(t, Ordering::AcqRel);
    }
}

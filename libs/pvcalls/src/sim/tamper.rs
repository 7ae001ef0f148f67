//! Scripted stores into the frontend's own pages between its loads: a peer that moves indexes while they are read.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use skiff_ring::SharedMem;

/// One scripted store: after `after` more loads by the frontend (from any
/// of its page blocks), `val` is stored at byte offset `off` (taken modulo
/// the block's size and aligned down to 4) of the block being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Poke {
    /// Loads to let pass first.
    pub after: u16,
    /// Where to store (see above).
    pub off: u32,
    /// What to store.
    pub val: u32,
}

#[derive(Debug, Default)]
struct State {
    pokes: VecDeque<Poke>,
    countdown: Option<u16>,
    fired: u64,
}

/// A queue of [`Poke`]s shared by every page block of a
/// [`FakePlatform`](super::FakePlatform); each load the frontend makes
/// counts down the first one.
#[derive(Clone, Debug, Default)]
pub struct Tamper(Arc<Mutex<State>>);

impl Tamper {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a store.
    pub fn push(&self, p: Poke) {
        self.lock().pokes.push_back(p);
    }

    /// Stores not made yet.
    pub fn pending(&self) -> usize {
        self.lock().pokes.len()
    }

    /// Stores made so far.
    pub fn fired(&self) -> u64 {
        self.lock().fired
    }

    /// Called before each load from `mem`: makes the stores that are due.
    pub fn on_load<M: SharedMem + ?Sized>(&self, mem: &M) {
        let mut s = self.lock();
        while let Some(p) = s.pokes.front().copied() {
            let left = *s.countdown.get_or_insert(p.after);
            if left > 0 {
                s.countdown = Some(left - 1);
                return;
            }
            s.pokes.pop_front();
            s.countdown = None;
            s.fired += 1;
            let size = mem.size();
            if size >= 4 {
                mem.store_u32((p.off as usize % size) & !3, p.val);
            }
        }
    }
}

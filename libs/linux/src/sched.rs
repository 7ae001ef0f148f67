//! Cooperative scheduling of the process's threads on one vCPU: run queue, why each blocked thread waits, futex queues, wake-ups.
//!
//! A thread runs until it blocks, yields or exits; the kernel then takes
//! [`Scheduler::pick`]. A blocked thread waits on one [`BlockOn`] and
//! optionally until a deadline (monotonic ns); whatever makes it runnable
//! records a [`Wake`] that the re-run syscall reads.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use skiff_pvcalls::Readiness;

use crate::env::SocketHandle;
use crate::file::{FileId, PipeId};

/// A thread id (Linux TID; the first thread's is the process id).
pub type Tid = u32;

/// Something a thread blocked on I/O waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoKey {
    /// The socket's readiness to differ from what it was when the thread blocked.
    Socket {
        /// The socket.
        handle: SocketHandle,
        /// Readiness when the thread blocked.
        seen: Readiness,
    },
    /// A command on the socket (bind, listen, connect) to be answered:
    /// woken by any I/O event.
    Command(SocketHandle),
    /// A change of an internal file (eventfd, epoll, close).
    File(FileId),
    /// A change of a pipe (data, room, an end closed).
    Pipe(PipeId),
    /// An epoll member's edge re-armed (a read or write that would block,
    /// or a short one): what an edge-triggered waiter must look again for,
    /// though the file may look as ready as when the waiter blocked.
    Rearm(FileId),
}

/// Why a thread is blocked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockOn {
    /// `FUTEX_WAIT` on this address, for wakes matching `bitset`.
    Futex {
        /// The futex word's user address.
        addr: u64,
        /// The waiter's bitset.
        bitset: u32,
    },
    /// Any of these to change.
    Io(Vec<IoKey>),
    /// Only the deadline (sleep).
    Sleep,
}

/// What made a blocked thread runnable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// A `FUTEX_WAKE` (or requeue wake) matched it.
    Futex,
    /// Its deadline passed.
    Timeout,
    /// Something it waited on changed (it must look again).
    Io,
}

/// A thread's scheduling state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Running (the current thread).
    Running,
    /// In the run queue.
    Ready,
    /// Blocked.
    Blocked {
        /// On what.
        on: BlockOn,
        /// Until when at the latest (monotonic ns).
        deadline: Option<u64>,
    },
}

#[derive(Clone, Debug)]
struct Entry {
    state: State,
    wake: Option<Wake>,
}

/// The scheduler of one process.
#[derive(Clone, Debug, Default)]
pub struct Scheduler {
    threads: BTreeMap<Tid, Entry>,
    queue: VecDeque<Tid>,
    current: Option<Tid>,
    futexes: BTreeMap<u64, VecDeque<(Tid, u32)>>,
}

impl Scheduler {
    /// No threads.
    pub fn new() -> Self {
        Scheduler::default()
    }

    /// Adds a runnable thread at the back of the run queue.
    pub fn add(&mut self, tid: Tid) {
        self.threads.insert(tid, Entry { state: State::Ready, wake: None });
        self.queue.push_back(tid);
    }

    /// Removes an exited thread (wherever it was).
    pub fn remove(&mut self, tid: Tid) {
        if let Some(e) = self.threads.remove(&tid)
            && let State::Blocked { on: BlockOn::Futex { addr, .. }, .. } = e.state
        {
            self.unqueue_futex(addr, tid);
        }
        self.queue.retain(|&t| t != tid);
        if self.current == Some(tid) {
            self.current = None;
        }
    }

    /// Number of threads.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// No threads left.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// The running thread.
    pub fn current(&self) -> Option<Tid> {
        self.current
    }

    /// A thread's state.
    pub fn state(&self, tid: Tid) -> Option<&State> {
        self.threads.get(&tid).map(|e| &e.state)
    }

    /// Threads in the run queue, in order.
    pub fn ready(&self) -> impl Iterator<Item = Tid> + '_ {
        self.queue.iter().copied()
    }

    /// Takes the next runnable thread and makes it the running one. A
    /// thread still marked running (it neither blocked nor yielded) goes
    /// back to the queue first, so that this can also preempt.
    pub fn pick(&mut self) -> Option<Tid> {
        if let Some(cur) = self.current.take()
            && let Some(e) = self.threads.get_mut(&cur)
            && e.state == State::Running
        {
            e.state = State::Ready;
            self.queue.push_back(cur);
        }
        let tid = self.queue.pop_front()?;
        if let Some(e) = self.threads.get_mut(&tid) {
            e.state = State::Running;
        }
        self.current = Some(tid);
        Some(tid)
    }

    /// The running thread `tid` yields: it goes to the back of the queue.
    pub fn yield_now(&mut self, tid: Tid) {
        if let Some(e) = self.threads.get_mut(&tid)
            && e.state == State::Running
        {
            e.state = State::Ready;
            self.queue.push_back(tid);
        }
        if self.current == Some(tid) {
            self.current = None;
        }
    }

    /// Blocks `tid` on `on` until `deadline` at the latest.
    pub fn block(&mut self, tid: Tid, on: BlockOn, deadline: Option<u64>) {
        if let BlockOn::Futex { addr, bitset } = on {
            self.futexes.entry(addr).or_default().push_back((tid, bitset));
        }
        if let Some(e) = self.threads.get_mut(&tid) {
            e.state = State::Blocked { on, deadline };
            e.wake = None;
        }
        self.queue.retain(|&t| t != tid);
        if self.current == Some(tid) {
            self.current = None;
        }
    }

    /// Takes the reason `tid` was last woken (for its re-run syscall).
    pub fn take_wake(&mut self, tid: Tid) -> Option<Wake> {
        self.threads.get_mut(&tid).and_then(|e| e.wake.take())
    }

    fn make_ready(&mut self, tid: Tid, why: Wake) -> bool {
        let Some(e) = self.threads.get_mut(&tid) else { return false };
        let State::Blocked { on, .. } = &e.state else { return false };
        if let BlockOn::Futex { addr, .. } = *on {
            self.unqueue_futex(addr, tid);
        }
        let e = self.threads.get_mut(&tid).expect("looked up above");
        e.state = State::Ready;
        e.wake = Some(why);
        self.queue.push_back(tid);
        true
    }

    fn unqueue_futex(&mut self, addr: u64, tid: Tid) {
        if let Some(q) = self.futexes.get_mut(&addr) {
            q.retain(|&(t, _)| t != tid);
            if q.is_empty() {
                self.futexes.remove(&addr);
            }
        }
    }

    /// `FUTEX_WAKE(_BITSET)`: wakes up to `n` waiters on `addr` whose
    /// bitset meets `bitset`, oldest first; returns them.
    pub fn futex_wake(&mut self, addr: u64, n: usize, bitset: u32) -> Vec<Tid> {
        let mut woken = Vec::new();
        let Some(q) = self.futexes.get(&addr) else { return woken };
        let picked: Vec<Tid> =
            q.iter().filter(|&&(_, b)| b & bitset != 0).take(n).map(|&(t, _)| t).collect();
        for t in picked {
            if self.make_ready(t, Wake::Futex) {
                woken.push(t);
            }
        }
        woken
    }

    /// `FUTEX_REQUEUE`: wakes up to `n_wake` waiters on `from`, then moves
    /// up to `n_move` of the rest to wait on `to`; returns (woken, moved).
    pub fn futex_requeue(
        &mut self,
        from: u64,
        to: u64,
        n_wake: usize,
        n_move: usize,
    ) -> (usize, usize) {
        let woken = self.futex_wake(from, n_wake, u32::MAX).len();
        if from == to {
            return (woken, 0);
        }
        let mut moved = 0;
        while moved < n_move {
            let Some((tid, bitset)) = self.futexes.get_mut(&from).and_then(VecDeque::pop_front)
            else {
                break;
            };
            self.futexes.entry(to).or_default().push_back((tid, bitset));
            if let Some(Entry {
                state: State::Blocked { on: BlockOn::Futex { addr, .. }, .. },
                ..
            }) = self.threads.get_mut(&tid)
            {
                *addr = to;
            }
            moved += 1;
        }
        if self.futexes.get(&from).is_some_and(VecDeque::is_empty) {
            self.futexes.remove(&from);
        }
        (woken, moved)
    }

    /// Number of waiters on `addr`.
    pub fn futex_waiters(&self, addr: u64) -> usize {
        self.futexes.get(&addr).map_or(0, VecDeque::len)
    }

    /// Wakes every thread whose deadline is at or before `now`; returns how many.
    pub fn wake_expired(&mut self, now: u64) -> usize {
        let due: Vec<Tid> = self
            .threads
            .iter()
            .filter(
                |(_, e)| matches!(e.state, State::Blocked { deadline: Some(d), .. } if d <= now),
            )
            .map(|(&t, _)| t)
            .collect();
        due.into_iter().filter(|&t| self.make_ready(t, Wake::Timeout)).count()
    }

    /// Wakes every thread blocked on I/O for which `changed` holds for one
    /// of its keys; returns how many.
    pub fn wake_io(&mut self, mut changed: impl FnMut(&IoKey) -> bool) -> usize {
        let due: Vec<Tid> = self
            .threads
            .iter()
            .filter(|(_, e)| match &e.state {
                State::Blocked { on: BlockOn::Io(keys), .. } => keys.iter().any(&mut changed),
                _ => false,
            })
            .map(|(&t, _)| t)
            .collect();
        due.into_iter().filter(|&t| self.make_ready(t, Wake::Io)).count()
    }

    /// Wakes the threads waiting on internal file `file`.
    pub fn wake_file(&mut self, file: FileId) -> usize {
        self.wake_io(|k| *k == IoKey::File(file))
    }

    /// Whether some blocked thread waits on socket I/O (then the kernel
    /// must call [`crate::process::Process::poll`] when socket events arrive).
    pub fn waits_on_sockets(&self) -> bool {
        self.threads.values().any(|e| {
            matches!(&e.state, State::Blocked { on: BlockOn::Io(k), .. }
                if k.iter().any(|k| matches!(k, IoKey::Socket { .. } | IoKey::Command(_))))
        })
    }

    /// The earliest deadline of a blocked thread.
    pub fn next_deadline(&self) -> Option<u64> {
        self.threads
            .values()
            .filter_map(|e| match e.state {
                State::Blocked { deadline, .. } => deadline,
                _ => None,
            })
            .min()
    }

    /// Every thread is blocked on a futex or an internal file without a
    /// deadline: nothing can ever wake them (a deadlock).
    pub fn deadlocked(&self) -> bool {
        !self.threads.is_empty()
            && self.threads.values().all(|e| match &e.state {
                State::Blocked { on: BlockOn::Futex { .. }, deadline: None } => true,
                State::Blocked { on: BlockOn::Io(keys), deadline: None } => keys
                    .iter()
                    .all(|k| matches!(k, IoKey::File(_) | IoKey::Pipe(_) | IoKey::Rearm(_))),
                _ => false,
            })
    }

    /// The blocked threads with their keys (for the I/O poll).
    pub fn io_waiters(&self) -> impl Iterator<Item = (Tid, &[IoKey])> + '_ {
        self.threads.iter().filter_map(|(&t, e)| match &e.state {
            State::Blocked { on: BlockOn::Io(keys), .. } => Some((t, keys.as_slice())),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn run_queue_and_futex() {
        let mut s = Scheduler::new();
        s.add(1);
        s.add(2);
        assert_eq!(s.pick(), Some(1));
        s.block(1, BlockOn::Futex { addr: 0x100, bitset: 1 }, None);
        assert_eq!(s.pick(), Some(2));
        assert!(s.futex_wake(0x100, 1, 2).is_empty(), "bitsets do not meet");
        assert_eq!(s.futex_wake(0x100, 1, u32::MAX), [1]);
        assert_eq!(s.take_wake(1), Some(Wake::Futex));
        assert_eq!(s.take_wake(1), None);
        s.yield_now(2);
        assert_eq!(s.ready().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(s.pick(), Some(1));
        s.block(1, BlockOn::Sleep, Some(50));
        assert_eq!(s.next_deadline(), Some(50));
        assert_eq!(s.wake_expired(49), 0);
        assert_eq!(s.wake_expired(50), 1);
        assert_eq!(s.take_wake(1), Some(Wake::Timeout));
    }

    #[test]
    fn requeue_and_deadlock() {
        let mut s = Scheduler::new();
        for t in 1..=4 {
            s.add(t);
            s.pick();
            s.block(t, BlockOn::Futex { addr: 8, bitset: u32::MAX }, None);
        }
        assert!(s.deadlocked());
        assert_eq!(s.futex_requeue(8, 16, 1, 2), (1, 2));
        assert_eq!(s.futex_waiters(8), 1);
        assert_eq!(s.futex_waiters(16), 2);
        assert_eq!(s.futex_wake(16, 10, u32::MAX), [2, 3]);
        s.remove(4);
        assert_eq!(s.futex_waiters(8), 0);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Spawn,
        RunNext,
        Wait(u8, u32, Option<u8>),
        Wake(u8, u8, u32),
        Tick(u8),
        Yield,
    }

    proptest! {
        /// Against a model: futex waiters are woken in FIFO order among
        /// matching bitsets, at most n, each exactly once, by wake or timeout;
        /// the run queue holds exactly the ready threads.
        #[test]
        fn model(ops in proptest::collection::vec(prop_oneof![
            Just(Op::Spawn),
            Just(Op::RunNext),
            (0u8..3, 1u32..8, proptest::option::of(0u8..20)).prop_map(|(a, b, d)| Op::Wait(a, b, d)),
            (0u8..3, 0u8..4, 1u32..8).prop_map(|(a, n, b)| Op::Wake(a, n, b)),
            (0u8..20).prop_map(Op::Tick),
            Just(Op::Yield),
        ], 1..100)) {
            let mut s = Scheduler::new();
            let mut next_tid = 1;
            let mut now = 0u64;
            // Model: waiters per address in order, with (tid, bitset, deadline).
            let mut waiters: BTreeMap<u64, Vec<(Tid, u32, Option<u64>)>> = BTreeMap::new();
            let mut ready: VecDeque<Tid> = VecDeque::new();
            let mut running: Option<Tid> = None;
            for op in ops {
                match op {
                    Op::Spawn => { s.add(next_tid); ready.push_back(next_tid); next_tid += 1; }
                    Op::RunNext => {
                        if let Some(r) = running.take() { ready.push_back(r); }
                        let want = ready.pop_front();
                        prop_assert_eq!(s.pick(), want);
                        running = want;
                    }
                    Op::Wait(a, b, d) => {
                        if let Some(r) = running.take() {
                            let deadline = d.map(|d| now + u64::from(d));
                            s.block(r, BlockOn::Futex { addr: u64::from(a), bitset: b }, deadline);
                            waiters.entry(u64::from(a)).or_default().push((r, b, deadline));
                        }
                    }
                    Op::Wake(a, n, b) => {
                        let q = waiters.entry(u64::from(a)).or_default();
                        let mut want = Vec::new();
                        q.retain(|&(t, wb, _)| {
                            if want.len() < n as usize && wb & b != 0 { want.push(t); false } else { true }
                        });
                        prop_assert_eq!(s.futex_wake(u64::from(a), n as usize, b), want.clone());
                        for t in want { prop_assert_eq!(s.take_wake(t), Some(Wake::Futex)); ready.push_back(t); }
                    }
                    Op::Tick(d) => {
                        now += u64::from(d);
                        let mut want: Vec<Tid> = Vec::new();
                        for q in waiters.values_mut() {
                            q.retain(|&(t, _, dl)| if dl.is_some_and(|dl| dl <= now) { want.push(t); false } else { true });
                        }
                        want.sort();
                        prop_assert_eq!(s.wake_expired(now), want.len());
                        for t in want { prop_assert_eq!(s.take_wake(t), Some(Wake::Timeout)); ready.push_back(t); }
                    }
                    Op::Yield => {
                        if let Some(r) = running.take() { s.yield_now(r); ready.push_back(r); }
                    }
                }
                prop_assert_eq!(s.ready().collect::<Vec<_>>(), ready.iter().copied().collect::<Vec<_>>());
                prop_assert_eq!(s.current(), running);
                for (a, q) in &waiters { prop_assert_eq!(s.futex_waiters(*a), q.len()); }
            }
        }
    }
}

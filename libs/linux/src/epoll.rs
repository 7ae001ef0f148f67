//! An epoll instance's interest list and its level/edge/one-shot reporting rules (`epoll(7)`).
//!
//! Readiness is not stored here: [`Epoll::collect`] asks a probe for each
//! registered file's current readiness mask and its two *re-arm epochs*.
//! A file's read epoch moves when something happens on its read side that
//! Linux would wake an edge-triggered waiter for (new data written into an
//! internal file such as an eventfd or pipe) or that shows the reader has
//! drained it (a read that would block, or returned less than asked).
//! The write epoch moves likewise for the write side.
//!
//! Edge-triggered (`EPOLLET`) registrations report a file once per
//! readiness change or re-arm, never while it just stays ready: a bit that
//! was reported is reported again only after it was seen clear or its
//! epoch moved. That is what mio (tokio) relies on: after it reads until
//! `EAGAIN` (or gets a short read), the next arrival is reported; its
//! eventfd waker, written while already readable, is reported again.
//! Level-triggered registrations report whatever is ready. `EPOLLONESHOT`
//! disables a registration after one report until `EPOLL_CTL_MOD`.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use skiff_pvcalls::Errno;

use crate::abi::{
    EPOLLERR, EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLLPRI,
    EPOLLRDBAND, EPOLLRDHUP, EPOLLRDNORM, EPOLLWAKEUP, EPOLLWRBAND, EPOLLWRNORM, EpollEvent,
};
use crate::file::FileId;

/// Bits of a registration that select readiness (the rest are modes).
const EVENT_BITS: u32 = EPOLLIN
    | EPOLLPRI
    | EPOLLOUT
    | EPOLLRDNORM
    | EPOLLRDBAND
    | EPOLLWRNORM
    | EPOLLWRBAND
    | EPOLLRDHUP
    | EPOLLERR
    | EPOLLHUP;
/// Read-side bits, re-armed by the read epoch.
const READ_BITS: u32 = EPOLLIN | EPOLLRDNORM | EPOLLRDHUP | EPOLLPRI | EPOLLRDBAND;
/// Write-side bits, re-armed by the write epoch.
const WRITE_BITS: u32 = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;
/// Every bit `epoll_ctl` accepts.
const VALID: u32 = EVENT_BITS | EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP;

/// What a probe says about one registered file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    /// Current readiness (`EPOLLIN`, `EPOLLOUT`, `EPOLLERR`, `EPOLLHUP`, `EPOLLRDHUP`, ...).
    pub ready: u32,
    /// The file's read re-arm epoch.
    pub rx_epoch: u64,
    /// The file's write re-arm epoch.
    pub tx_epoch: u64,
}

#[derive(Clone, Copy, Debug)]
struct Reg {
    events: u32,
    data: u64,
    /// False after a one-shot report, until `EPOLL_CTL_MOD`.
    armed: bool,
    /// Edge-triggered: the bits reported and not re-armed since.
    reported: u32,
    rx_epoch: u64,
    tx_epoch: u64,
}

/// One epoll instance's interest list, keyed like Linux's by (fd, open file).
#[derive(Clone, Debug, Default)]
pub struct Epoll {
    regs: BTreeMap<(i32, FileId), Reg>,
    /// Where the next scan starts, so that a small `maxevents` does not starve anyone.
    cursor: Option<(i32, FileId)>,
}

impl Epoll {
    /// An empty interest list.
    pub fn new() -> Self {
        Epoll::default()
    }

    /// Number of registrations.
    pub fn len(&self) -> usize {
        self.regs.len()
    }

    /// No registrations.
    pub fn is_empty(&self) -> bool {
        self.regs.is_empty()
    }

    /// The registered files (with their fds), ascending.
    pub fn keys(&self) -> impl Iterator<Item = (i32, FileId)> + '_ {
        self.regs.keys().copied()
    }

    /// Whether `(fd, file)` is registered.
    pub fn contains(&self, fd: i32, file: FileId) -> bool {
        self.regs.contains_key(&(fd, file))
    }

    fn check(events: u32) -> Result<(), Errno> {
        if events & !VALID != 0 {
            return Err(Errno::EINVAL);
        }
        if events & EPOLLEXCLUSIVE != 0 && events & EPOLLONESHOT != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// `EPOLL_CTL_ADD`: `EEXIST` if registered, `EINVAL` for unknown bits
    /// or `EPOLLEXCLUSIVE` with `EPOLLONESHOT`. `EPOLLEXCLUSIVE` is
    /// accepted and has no further effect (there is one waiter per wakeup
    /// anyway on one vCPU); `EPOLLWAKEUP` is ignored.
    pub fn add(&mut self, fd: i32, file: FileId, events: u32, data: u64) -> Result<(), Errno> {
        Self::check(events)?;
        if self.regs.contains_key(&(fd, file)) {
            return Err(Errno::EEXIST);
        }
        let reg = Reg { events, data, armed: true, reported: 0, rx_epoch: 0, tx_epoch: 0 };
        self.regs.insert((fd, file), reg);
        Ok(())
    }

    /// `EPOLL_CTL_MOD`: new events and data, re-armed (a ready file is
    /// reported again). `ENOENT` if not registered; `EINVAL` with
    /// `EPOLLEXCLUSIVE` (either in the new events or the registration).
    pub fn modify(&mut self, fd: i32, file: FileId, events: u32, data: u64) -> Result<(), Errno> {
        Self::check(events)?;
        let reg = self.regs.get_mut(&(fd, file)).ok_or(Errno::ENOENT)?;
        if events & EPOLLEXCLUSIVE != 0 || reg.events & EPOLLEXCLUSIVE != 0 {
            return Err(Errno::EINVAL);
        }
        *reg = Reg { events, data, armed: true, reported: 0, rx_epoch: 0, tx_epoch: 0 };
        Ok(())
    }

    /// `EPOLL_CTL_DEL`: `ENOENT` if not registered.
    pub fn delete(&mut self, fd: i32, file: FileId) -> Result<(), Errno> {
        self.regs.remove(&(fd, file)).map(|_| ()).ok_or(Errno::ENOENT)
    }

    /// Drops every registration of `file` (its last fd was closed).
    pub fn forget_file(&mut self, file: FileId) {
        self.regs.retain(|&(_, f), _| f != file);
    }

    /// The events due now, at most `max`, marking them reported.
    /// `probe(file)` gives each file's readiness; `None` drops the
    /// registration (the file is gone).
    pub fn collect(
        &mut self,
        max: usize,
        mut probe: impl FnMut(FileId) -> Option<Probe>,
    ) -> Vec<EpollEvent> {
        let mut out = Vec::new();
        if max == 0 || self.regs.is_empty() {
            return out;
        }
        let keys: Vec<(i32, FileId)> = match self.cursor {
            Some(c) => {
                let after =
                    self.regs.range((core::ops::Bound::Excluded(c), core::ops::Bound::Unbounded));
                let before = self.regs.range(..=c);
                after.chain(before).map(|(k, _)| *k).collect()
            }
            None => self.regs.keys().copied().collect(),
        };
        let mut gone = Vec::new();
        for key in keys {
            let Some(reg) = self.regs.get_mut(&key) else { continue };
            if !reg.armed {
                continue;
            }
            let Some(p) = probe(key.1) else {
                gone.push(key);
                continue;
            };
            let cur = p.ready & (reg.events | EPOLLERR | EPOLLHUP) & EVENT_BITS;
            let due = if reg.events & EPOLLET != 0 {
                reg.reported &= cur;
                if p.rx_epoch != reg.rx_epoch {
                    reg.reported &= !READ_BITS;
                }
                if p.tx_epoch != reg.tx_epoch {
                    reg.reported &= !WRITE_BITS;
                }
                cur & !reg.reported != 0
            } else {
                cur != 0
            };
            // Past `max`, registrations are still looked at (so that a bit
            // seen clear re-arms the edge) but not reported.
            if !due || out.len() >= max {
                continue;
            }
            reg.reported |= cur;
            reg.rx_epoch = p.rx_epoch;
            reg.tx_epoch = p.tx_epoch;
            if reg.events & EPOLLONESHOT != 0 {
                reg.armed = false;
            }
            out.push(EpollEvent { events: cur, data: reg.data });
            self.cursor = Some(key);
        }
        for key in gone {
            self.regs.remove(&key);
        }
        out
    }

    /// One line per registration whose file is ready now, for a debugging
    /// dump: fd, interest, what the edge has reported, and the epochs the
    /// registration and the file are at.
    pub fn describe(
        &self,
        mut probe: impl FnMut(FileId) -> Option<Probe>,
        mut what: impl FnMut(FileId) -> alloc::string::String,
    ) -> alloc::string::String {
        use core::fmt::Write;
        let mut out = alloc::string::String::new();
        for (&(fd, file), reg) in &self.regs {
            let Some(p) = probe(file) else { continue };
            if p.ready & reg.events == 0 {
                continue;
            }
            let _ = write!(
                out,
                "\n    fd {fd} ({}): events {:#x} ready {:#x} reported {:#x} armed {} rx {}/{} tx {}/{}",
                what(file),
                reg.events,
                p.ready,
                reg.reported,
                reg.armed,
                reg.rx_epoch,
                p.rx_epoch,
                reg.tx_epoch,
                p.tx_epoch
            );
        }
        out
    }

    /// Whether [`collect`](Self::collect) would report something now,
    /// without marking anything.
    pub fn would_report(&self, mut probe: impl FnMut(FileId) -> Option<Probe>) -> bool {
        let mut copy = self.clone();
        !copy.collect(1, &mut probe).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(n: u64) -> FileId {
        FileId(n)
    }

    #[test]
    fn ctl_errors() {
        let mut e = Epoll::new();
        e.add(3, f(1), EPOLLIN, 7).unwrap();
        assert_eq!(e.add(3, f(1), EPOLLIN, 7), Err(Errno::EEXIST));
        assert_eq!(e.modify(4, f(1), EPOLLIN, 7), Err(Errno::ENOENT));
        assert_eq!(e.delete(4, f(1)), Err(Errno::ENOENT));
        assert_eq!(e.add(5, f(2), 1 << 20, 0), Err(Errno::EINVAL));
        assert_eq!(e.add(5, f(2), EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 0), Err(Errno::EINVAL));
        e.add(5, f(2), EPOLLIN | EPOLLEXCLUSIVE, 0).unwrap();
        assert_eq!(e.modify(5, f(2), EPOLLIN, 0), Err(Errno::EINVAL));
        e.forget_file(f(2));
        assert!(!e.contains(5, f(2)));
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn edge_reports_once_per_change() {
        let mut e = Epoll::new();
        e.add(3, f(1), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, 42).unwrap();
        let mut p = Probe { ready: EPOLLOUT, rx_epoch: 0, tx_epoch: 0 };
        let ev = e.collect(8, |_| Some(p));
        assert_eq!(ev.len(), 1);
        assert_eq!({ ev[0].events }, EPOLLOUT);
        assert_eq!({ ev[0].data }, 42);
        // Stays writable: not reported again (a busy loop for mio otherwise).
        assert!(e.collect(8, |_| Some(p)).is_empty());
        // Data arrives: IN is new; the event carries the whole mask.
        p.ready |= EPOLLIN;
        assert_eq!({ e.collect(8, |_| Some(p))[0].events }, EPOLLIN | EPOLLOUT);
        assert!(e.collect(8, |_| Some(p)).is_empty());
        // The reader drained it (read epoch moved) and more came at once.
        p.rx_epoch += 1;
        assert_eq!({ e.collect(8, |_| Some(p))[0].events }, EPOLLIN | EPOLLOUT);
        // Readiness seen clear, then set again: a new edge.
        p.ready = EPOLLOUT;
        assert!(e.collect(8, |_| Some(p)).is_empty());
        p.ready = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
        assert_eq!({ e.collect(8, |_| Some(p))[0].events }, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    }

    #[test]
    fn level_oneshot_and_gone() {
        let mut e = Epoll::new();
        e.add(3, f(1), EPOLLIN, 1).unwrap();
        e.add(4, f(2), EPOLLIN | EPOLLONESHOT, 2).unwrap();
        let p = Probe { ready: EPOLLIN | EPOLLHUP, ..Probe::default() };
        assert_eq!(e.collect(8, |_| Some(p)).len(), 2);
        let again = e.collect(8, |_| Some(p));
        assert_eq!(again.len(), 1, "one-shot is disarmed");
        assert_eq!({ again[0].events }, EPOLLIN | EPOLLHUP, "HUP is always reported");
        e.modify(4, f(2), EPOLLIN | EPOLLONESHOT, 2).unwrap();
        assert_eq!(e.collect(8, |_| Some(p)).len(), 2);
        assert!(e.collect(8, |id| (id != f(1)).then_some(p)).is_empty());
        assert!(!e.contains(3, f(1)), "a registration whose file is gone is dropped");
    }

    #[test]
    fn small_maxevents_rotates() {
        let mut e = Epoll::new();
        for i in 0..3 {
            e.add(i, f(i as u64), EPOLLIN, i as u64).unwrap();
        }
        let p = Probe { ready: EPOLLIN, ..Probe::default() };
        let seen: Vec<u64> = (0..3).map(|_| e.collect(1, |_| Some(p))[0].data).collect();
        assert_eq!(seen, [0, 1, 2]);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Set(u8, u32),
        Drain(u8),
        Arrive(u8),
        Wait(u8),
        Mod(u8, bool, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (
                0u8..3,
                prop_oneof![
                    Just(0),
                    Just(EPOLLIN),
                    Just(EPOLLOUT),
                    Just(EPOLLIN | EPOLLOUT),
                    Just(EPOLLHUP | EPOLLIN)
                ]
            )
                .prop_map(|(i, r)| Op::Set(i, r)),
            (0u8..3).prop_map(Op::Drain),
            (0u8..3).prop_map(Op::Arrive),
            (1u8..4).prop_map(Op::Wait),
            (0u8..3, any::<bool>(), any::<bool>()).prop_map(|(i, et, os)| Op::Mod(i, et, os)),
        ]
    }

    proptest! {
        /// Against a model of the documented rules: level reports whatever
        /// is ready; edge reports a file only if a bit appeared since it was
        /// last reported (seen clear in between or re-armed); one-shot
        /// reports once per MOD; every due file is reported within
        /// two waits even with a small maxevents.
        #[test]
        fn model(modes in proptest::collection::vec((any::<bool>(), any::<bool>()), 3),
                 ops in proptest::collection::vec(op(), 1..80)) {
            let mut e = Epoll::new();
            let mut probes = [Probe::default(); 3];
            // Model per file: (edge, oneshot, armed, reported bits).
            let mut m: Vec<(bool, bool, bool, u32)> = Vec::new();
            for (i, &(et, os)) in modes.iter().enumerate() {
                let mut ev = EPOLLIN | EPOLLOUT;
                if et { ev |= EPOLLET; }
                if os { ev |= EPOLLONESHOT; }
                e.add(i as i32, f(i as u64), ev, i as u64).unwrap();
                m.push((et, os, true, 0));
            }
            for op in ops {
                match op {
                    Op::Set(i, r) => probes[i as usize].ready = r,
                    Op::Drain(i) => { probes[i as usize].rx_epoch += 1; m[i as usize].3 &= !EPOLLIN; }
                    Op::Arrive(i) => { probes[i as usize].rx_epoch += 1; m[i as usize].3 &= !EPOLLIN; }
                    Op::Mod(i, et, os) => {
                        let i = i as usize;
                        let mut ev = EPOLLIN | EPOLLOUT;
                        if et { ev |= EPOLLET; }
                        if os { ev |= EPOLLONESHOT; }
                        e.modify(i as i32, f(i as u64), ev, i as u64).unwrap();
                        m[i] = (et, os, true, 0);
                    }
                    Op::Wait(max) => {
                        let due_now = |m: &Vec<(bool, bool, bool, u32)>, probes: &[Probe; 3]| -> Vec<usize> {
                            (0..3).filter(|&i| {
                                let (et, _, armed, rep) = m[i];
                                let cur = probes[i].ready;
                                armed && if et { cur & !rep != 0 } else { cur != 0 }
                            }).collect()
                        };
                        let first = {
                            let mut m2 = m.clone();
                            for i in 0..3 { if m2[i].2 { m2[i].3 &= probes[i].ready; } }
                            due_now(&m2, &probes)
                        };
                        let mut seen: Vec<usize> = Vec::new();
                        // With rotation, every file due at the start is reported within
                        // ceil(3 / max) waits.
                        for _ in 0..3usize.div_ceil(max as usize) {
                            // Every armed registration is looked at: a bit seen clear re-arms.
                            for i in 0..3 {
                                if m[i].2 { m[i].3 &= probes[i].ready; }
                            }
                            let due = due_now(&m, &probes);
                            let evs = e.collect(max as usize, |id| Some(probes[id.0 as usize]));
                            prop_assert!(evs.len() <= max as usize);
                            prop_assert_eq!(evs.len(), due.len().min(max as usize));
                            let mut round: Vec<usize> = Vec::new();
                            for ev in evs {
                                let i = ev.data as usize;
                                prop_assert_eq!({ ev.events }, probes[i].ready);
                                prop_assert!(due.contains(&i), "file {} reported but not due", i);
                                prop_assert!(!round.contains(&i), "file {} reported twice", i);
                                round.push(i);
                                let (et, os, _, _) = m[i];
                                if et { m[i].3 |= probes[i].ready; }
                                if os { m[i].2 = false; }
                            }
                            seen.extend(round);
                        }
                        for i in &first {
                            prop_assert!(seen.contains(i), "file {} due but not reported", i);
                        }
                    }
                }
            }
        }
    }
}

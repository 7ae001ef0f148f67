//! Bookkeeping of the application's memory: which page ranges it owns and with what protection.
//!
//! The kernel maps and unmaps; this table remembers the outcome so that
//! `munmap`, `mprotect`, `madvise`, `mremap` and `MAP_FIXED` can be checked
//! (only ranges the application owns may be touched) and split precisely.
//! Ranges are page aligned and never overlap; neighbours are not merged.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use bitflags::bitflags;
use skiff_pvcalls::Errno;

use crate::abi::PAGE_SIZE;

bitflags! {
    /// Page protection (`PROT_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Prot: u32 {
        /// `PROT_READ`.
        const READ = 1;
        /// `PROT_WRITE`.
        const WRITE = 2;
        /// `PROT_EXEC`.
        const EXEC = 4;
    }
}

impl Prot {
    /// Read and write.
    pub const RW: Prot = Prot::READ.union(Prot::WRITE);

    /// Decodes a `prot` argument: `EINVAL` for unknown bits
    /// (`PROT_GROWSDOWN`/`PROT_GROWSUP` included).
    pub fn from_raw(raw: u64) -> Result<Prot, Errno> {
        u32::try_from(raw).ok().and_then(Prot::from_bits).ok_or(Errno::EINVAL)
    }
}

/// Most ranges the table holds (Linux's default `vm.max_map_count`).
pub const MAX_REGIONS: usize = 65530;

/// Rounds `len` up to whole pages; `None` on overflow.
pub fn page_round_up(len: u64) -> Option<u64> {
    len.checked_add(PAGE_SIZE - 1).map(|l| l & !(PAGE_SIZE - 1))
}

/// The application's owned ranges: start → (end, protection).
#[derive(Clone, Debug, Default)]
pub struct Regions {
    map: BTreeMap<u64, (u64, Prot)>,
}

impl Regions {
    /// An empty table.
    pub fn new() -> Self {
        Regions::default()
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the application owns nothing.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every range as `(start, end, prot)`, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64, Prot)> + '_ {
        self.map.iter().map(|(&s, &(e, p))| (s, e, p))
    }

    /// Records `[start, end)` as owned with `prot`, replacing whatever
    /// part of it was recorded before. `ENOMEM` past [`MAX_REGIONS`].
    pub fn insert(&mut self, start: u64, end: u64, prot: Prot) -> Result<(), Errno> {
        debug_assert!(
            start < end && start.is_multiple_of(PAGE_SIZE) && end.is_multiple_of(PAGE_SIZE)
        );
        if self.map.len() + 2 >= MAX_REGIONS {
            return Err(Errno::ENOMEM);
        }
        self.remove(start, end);
        self.map.insert(start, (end, prot));
        Ok(())
    }

    /// Forgets `[start, end)`; returns the owned pieces that were in it.
    pub fn remove(&mut self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut removed = Vec::new();
        let hits: Vec<(u64, u64, Prot)> = self.overlapping(start, end).collect();
        for (s, e, p) in hits {
            self.map.remove(&s);
            if s < start {
                self.map.insert(s, (start, p));
            }
            if e > end {
                self.map.insert(end, (e, p));
            }
            removed.push((s.max(start), e.min(end)));
        }
        removed
    }

    /// Ranges overlapping `[start, end)`, ascending.
    fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, u64, Prot)> + '_ {
        let first = self.map.range(..=start).next_back().map(|(&s, _)| s).unwrap_or(start);
        self.map
            .range(first..end)
            .map(|(&s, &(e, p))| (s, e, p))
            .filter(move |&(_, e, _)| e > start)
    }

    /// Whether every page of `[start, end)` is owned.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        for (s, e, _) in self.overlapping(start, end) {
            if s > at {
                return false;
            }
            at = e;
            if at >= end {
                return true;
            }
        }
        at >= end
    }

    /// Whether any page of `[start, end)` is owned.
    pub fn touches(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end).next().is_some()
    }

    /// The protection of the page holding `addr`, if owned.
    pub fn prot_at(&self, addr: u64) -> Option<Prot> {
        let (_, &(e, p)) = self.map.range(..=addr).next_back()?;
        (addr < e).then_some(p)
    }

    /// Sets the protection of `[start, end)`, all of which must be owned
    /// (`ENOMEM` otherwise, as `mprotect` says, and nothing changes).
    pub fn protect(&mut self, start: u64, end: u64, prot: Prot) -> Result<(), Errno> {
        if !self.covers(start, end) {
            return Err(Errno::ENOMEM);
        }
        self.insert(start, end, prot)
    }

    /// The owned pieces of `[start, end)` with their protections.
    pub fn pieces(&self, start: u64, end: u64) -> Vec<(u64, u64, Prot)> {
        self.overlapping(start, end).map(|(s, e, p)| (s.max(start), e.min(end), p)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use proptest::prelude::*;

    const P: u64 = PAGE_SIZE;

    #[test]
    fn split_and_cover() {
        let mut r = Regions::new();
        r.insert(10 * P, 20 * P, Prot::RW).unwrap();
        assert!(r.covers(12 * P, 20 * P));
        assert!(!r.covers(9 * P, 11 * P));
        assert_eq!(r.remove(12 * P, 14 * P), [(12 * P, 14 * P)]);
        assert!(!r.covers(10 * P, 20 * P));
        assert_eq!(r.len(), 2);
        assert_eq!(r.protect(10 * P, 13 * P, Prot::READ), Err(Errno::ENOMEM));
        r.protect(14 * P, 15 * P, Prot::empty()).unwrap();
        assert_eq!(r.prot_at(14 * P), Some(Prot::empty()));
        assert_eq!(r.prot_at(15 * P), Some(Prot::RW));
        assert_eq!(r.prot_at(12 * P), None);
        assert_eq!(Prot::from_raw(8), Err(Errno::EINVAL));
        assert_eq!(Prot::from_raw(3), Ok(Prot::RW));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64, u64, u32),
        Remove(u64, u64),
        Protect(u64, u64, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        let range = (0u64..40, 1u64..10);
        prop_oneof![
            (range.clone(), 0u32..8).prop_map(|((s, l), p)| Op::Insert(s, s + l, p)),
            range.clone().prop_map(|(s, l)| Op::Remove(s, s + l)),
            (range, 0u32..8).prop_map(|((s, l), p)| Op::Protect(s, s + l, p)),
        ]
    }

    proptest! {
        /// The table agrees page by page with a model that stores each page.
        #[test]
        fn matches_page_model(ops in proptest::collection::vec(op(), 1..40)) {
            let mut r = Regions::new();
            let mut model: BTreeMap<u64, u32> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(s, e, p) => {
                        r.insert(s * P, e * P, Prot::from_bits_truncate(p)).unwrap();
                        for pg in s..e { model.insert(pg, p & 7); }
                    }
                    Op::Remove(s, e) => {
                        let removed: u64 = r.remove(s * P, e * P).iter().map(|(a, b)| (b - a) / P).sum();
                        let before = model.len();
                        for pg in s..e { model.remove(&pg); }
                        prop_assert_eq!(removed, (before - model.len()) as u64);
                    }
                    Op::Protect(s, e, p) => {
                        let all = (s..e).all(|pg| model.contains_key(&pg));
                        let res = r.protect(s * P, e * P, Prot::from_bits_truncate(p));
                        prop_assert_eq!(res.is_ok(), all);
                        if all { for pg in s..e { model.insert(pg, p & 7); } }
                    }
                }
                for pg in 0..50u64 {
                    prop_assert_eq!(r.prot_at(pg * P + 5).map(|p| p.bits()), model.get(&pg).copied());
                }
                let mut last_end = 0;
                for (s, e, _) in r.iter() {
                    prop_assert!(s < e && s >= last_end);
                    last_end = e;
                }
                for (s, l) in [(0u64, 50u64), (3, 4), (10, 1)] {
                    prop_assert_eq!(r.covers(s * P, (s + l) * P), (s..s + l).all(|pg| model.contains_key(&pg)));
                }
            }
        }
    }
}

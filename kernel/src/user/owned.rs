//! A set of disjoint page ranges: which memory the application owns, so that only that memory can
//! be made user-accessible, changed or freed on its behalf.
#![forbid(unsafe_code)]

use alloc::collections::BTreeMap;
use core::ops::Range;

/// Disjoint, non-adjacent ranges (adjacent ones are merged): start → end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owned {
    map: BTreeMap<u64, u64>,
}

impl Owned {
    /// The empty set.
    pub const fn new() -> Self {
        Owned { map: BTreeMap::new() }
    }

    /// Whether every byte of `r` is in the set (an empty range is).
    pub fn contains(&self, r: &Range<u64>) -> bool {
        if r.start >= r.end {
            return true;
        }
        match self.map.range(..=r.start).next_back() {
            Some((_, &end)) => end >= r.end,
            None => false,
        }
    }

    /// Whether any byte of `r` is in the set.
    pub fn intersects(&self, r: &Range<u64>) -> bool {
        if r.start >= r.end {
            return false;
        }
        if let Some((_, &end)) = self.map.range(..=r.start).next_back()
            && end > r.start
        {
            return true;
        }
        self.map.range(r.start..r.end).next().is_some()
    }

    /// Adds `r`, which must not intersect the set (returns false and adds
    /// nothing if it does).
    pub fn insert(&mut self, r: Range<u64>) -> bool {
        if r.start >= r.end {
            return true;
        }
        if self.intersects(&r) {
            return false;
        }
        let (mut start, mut end) = (r.start, r.end);
        if let Some((&s, &e)) = self.map.range(..start).next_back()
            && e == start
        {
            self.map.remove(&s);
            start = s;
        }
        if let Some(e) = self.map.remove(&end) {
            end = e;
        }
        self.map.insert(start, end);
        true
    }

    /// Removes `r`, which must be wholly in the set (returns false and
    /// removes nothing if it is not).
    pub fn remove(&mut self, r: &Range<u64>) -> bool {
        if r.start >= r.end {
            return true;
        }
        if !self.contains(r) {
            return false;
        }
        let Some((&s, &e)) = self.map.range(..=r.start).next_back() else { return false };
        self.map.remove(&s);
        if s < r.start {
            self.map.insert(s, r.start);
        }
        if r.end < e {
            self.map.insert(r.end, e);
        }
        true
    }

    /// Total bytes in the set.
    pub fn bytes(&self) -> u64 {
        self.map.iter().map(|(s, e)| e - s).sum()
    }
}

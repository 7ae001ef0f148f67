//! The fd table: small integers naming open files, lowest free first, with the close-on-exec flag.
//!
//! Reference counting of the open files is the caller's: every slot holds
//! one reference to its [`FileId`], and the methods that drop or replace a
//! slot return the file they let go of.

use alloc::vec::Vec;

use skiff_pvcalls::Errno;

use crate::file::FileId;

/// How many fds may be open (`RLIMIT_NOFILE`), as Linux's default soft limit.
pub const MAX_FDS: usize = 1024;

/// One slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    file: FileId,
    cloexec: bool,
}

/// The table.
#[derive(Clone, Debug)]
pub struct FdTable {
    slots: Vec<Option<Slot>>,
    limit: usize,
}

impl Default for FdTable {
    fn default() -> Self {
        FdTable::new(MAX_FDS)
    }
}

/// The slot index of `fd`, if it could name one.
fn index(fd: i32) -> Option<usize> {
    usize::try_from(fd).ok()
}

impl FdTable {
    /// An empty table of at most `limit` fds.
    pub fn new(limit: usize) -> Self {
        FdTable { slots: Vec::new(), limit }
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Changes the limit (at most [`MAX_FDS`]); open fds above it stay open.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.min(MAX_FDS);
    }

    /// Number of open fds.
    pub fn open_count(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// The file `fd` names; `EBADF` if none.
    pub fn get(&self, fd: i32) -> Result<FileId, Errno> {
        self.slot(fd).map(|s| s.file)
    }

    fn slot(&self, fd: i32) -> Result<Slot, Errno> {
        index(fd).and_then(|i| self.slots.get(i).copied().flatten()).ok_or(Errno::EBADF)
    }

    /// The close-on-exec flag of `fd`.
    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        self.slot(fd).map(|s| s.cloexec)
    }

    /// Sets the close-on-exec flag of `fd`.
    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> Result<(), Errno> {
        let s = index(fd).and_then(|i| self.slots.get_mut(i)).and_then(Option::as_mut);
        s.ok_or(Errno::EBADF)?.cloexec = on;
        Ok(())
    }

    /// Installs `file` at the lowest free fd not below `min`: `EMFILE` if
    /// none is below the limit, `EINVAL` if `min` is negative or past the
    /// limit (as `F_DUPFD` says).
    pub fn alloc(&mut self, file: FileId, cloexec: bool, min: i32) -> Result<i32, Errno> {
        let min = index(min).filter(|&m| m < self.limit).ok_or(Errno::EINVAL)?;
        let free = (min..self.limit).find(|&i| self.slots.get(i).is_none_or(Option::is_none));
        let i = free.ok_or(Errno::EMFILE)?;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(Slot { file, cloexec });
        Ok(i as i32)
    }

    /// Installs `file` at `fd` (`dup2`/`dup3`), returning the file that
    /// was there; `EBADF` if `fd` is negative or past the limit.
    pub fn install_at(
        &mut self,
        fd: i32,
        file: FileId,
        cloexec: bool,
    ) -> Result<Option<FileId>, Errno> {
        let i = index(fd).filter(|&i| i < self.limit).ok_or(Errno::EBADF)?;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        Ok(self.slots[i].replace(Slot { file, cloexec }).map(|s| s.file))
    }

    /// Frees `fd`, returning its file; `EBADF` if it was not open.
    pub fn remove(&mut self, fd: i32) -> Result<FileId, Errno> {
        let s = index(fd).and_then(|i| self.slots.get_mut(i)).and_then(Option::take);
        let file = s.ok_or(Errno::EBADF)?.file;
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        Ok(file)
    }

    /// Every open fd with its file, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (i32, FileId)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| s.map(|s| (i as i32, s.file)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lowest_free_and_limits() {
        let mut t = FdTable::new(4);
        assert_eq!(t.alloc(FileId(1), false, 0), Ok(0));
        assert_eq!(t.alloc(FileId(2), true, 0), Ok(1));
        assert_eq!(t.alloc(FileId(3), false, 3), Ok(3));
        assert_eq!(t.alloc(FileId(4), false, 0), Ok(2));
        assert_eq!(t.alloc(FileId(5), false, 0), Err(Errno::EMFILE));
        assert_eq!(t.alloc(FileId(5), false, 4), Err(Errno::EINVAL));
        assert_eq!(t.alloc(FileId(5), false, -1), Err(Errno::EINVAL));
        assert_eq!(t.cloexec(1), Ok(true));
        assert_eq!(t.remove(1), Ok(FileId(2)));
        assert_eq!(t.remove(1), Err(Errno::EBADF));
        assert_eq!(t.get(i32::MIN), Err(Errno::EBADF));
        assert_eq!(t.install_at(4, FileId(9), false), Err(Errno::EBADF));
        assert_eq!(t.install_at(3, FileId(9), false), Ok(Some(FileId(3))));
        assert_eq!(t.get(3), Ok(FileId(9)));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Open,
        Dup(i32),
        DupMin(i32, i32),
        Dup2(i32, i32),
        Close(i32),
    }

    proptest! {
        /// Against a model vector: lowest free fd, dup semantics, close.
        #[test]
        fn model(ops in proptest::collection::vec(prop_oneof![
            Just(Op::Open),
            (-1i32..10).prop_map(Op::Dup),
            (-1i32..10, -1i32..10).prop_map(|(a, b)| Op::DupMin(a, b)),
            (-1i32..10, -1i32..10).prop_map(|(a, b)| Op::Dup2(a, b)),
            (-1i32..10).prop_map(Op::Close),
        ], 1..80)) {
            let limit = 8;
            let mut t = FdTable::new(limit);
            let mut m: Vec<Option<u64>> = alloc::vec![None; limit];
            let mut next = 0u64;
            let lowest = |m: &Vec<Option<u64>>, min: usize| (min..limit).find(|&i| m[i].is_none());
            let file = |m: &Vec<Option<u64>>, fd: i32| usize::try_from(fd).ok().and_then(|i| m.get(i).copied().flatten());
            for op in ops {
                match op {
                    Op::Open => {
                        next += 1;
                        let r = t.alloc(FileId(next), false, 0);
                        match lowest(&m, 0) {
                            Some(i) => { prop_assert_eq!(r, Ok(i as i32)); m[i] = Some(next); }
                            None => prop_assert_eq!(r, Err(Errno::EMFILE)),
                        }
                    }
                    Op::Dup(fd) | Op::DupMin(fd, _) => {
                        let min = if let Op::DupMin(_, min) = op { min } else { 0 };
                        let r = t.get(fd).and_then(|f| t.alloc(f, false, min));
                        match file(&m, fd) {
                            None => prop_assert_eq!(r, Err(Errno::EBADF)),
                            Some(f) => match usize::try_from(min).ok().filter(|&x| x < limit) {
                                None => prop_assert_eq!(r, Err(Errno::EINVAL)),
                                Some(min) => match lowest(&m, min) {
                                    Some(i) => { prop_assert_eq!(r, Ok(i as i32)); m[i] = Some(f); }
                                    None => prop_assert_eq!(r, Err(Errno::EMFILE)),
                                },
                            },
                        }
                    }
                    Op::Dup2(old, new) => {
                        let r = t.get(old).and_then(|f| t.install_at(new, f, false));
                        match (file(&m, old), usize::try_from(new).ok().filter(|&x| x < limit)) {
                            (None, _) | (_, None) => prop_assert_eq!(r, Err(Errno::EBADF)),
                            (Some(f), Some(n)) => {
                                prop_assert_eq!(r, Ok(m[n].map(FileId)));
                                m[n] = Some(f);
                            }
                        }
                    }
                    Op::Close(fd) => {
                        let r = t.remove(fd);
                        match file(&m, fd) {
                            None => prop_assert_eq!(r, Err(Errno::EBADF)),
                            Some(f) => { prop_assert_eq!(r, Ok(FileId(f))); m[fd as usize] = None; }
                        }
                    }
                }
                let got: Vec<(i32, FileId)> = t.iter().collect();
                let want: Vec<(i32, FileId)> = m.iter().enumerate().filter_map(|(i, f)| f.map(|f| (i as i32, FileId(f)))).collect();
                prop_assert_eq!(got, want);
            }
        }
    }
}

//! Anonymous memory: `mmap`, `munmap`, `mprotect`, `madvise`, `mremap`, `brk`, over the kernel's mappings and the region table.
//!
//! Memory is identity-mapped, so the kernel chooses where new memory goes:
//! an address hint is ignored, and `MAP_FIXED` (`MAP_FIXED_NOREPLACE`) is
//! honoured only inside memory the application already owns (elsewhere
//! `ENOMEM`). File mappings are `ENODEV`. `MAP_SHARED` anonymous memory is
//! private memory (there is no other process to share it with).
//! `mremap` moves (with `MREMAP_MAYMOVE`) by copying; it never grows in
//! place; `MREMAP_FIXED` and `MREMAP_DONTUNMAP` are `EINVAL`.
//! `brk` grows within the area the kernel reserved after the image (or
//! not at all); shrinking keeps the pages.

use skiff_pvcalls::Errno;

use super::{SysResult, val, zero};
use crate::abi::{
    MADV_DODUMP, MADV_DOFORK, MADV_DONTDUMP, MADV_DONTFORK, MADV_DONTNEED, MADV_FREE,
    MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED,
    MAP_32BIT, MAP_ANONYMOUS, MAP_DENYWRITE, MAP_EXECUTABLE, MAP_FIXED, MAP_FIXED_NOREPLACE,
    MAP_GROWSDOWN, MAP_HUGETLB, MAP_LOCKED, MAP_NONBLOCK, MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE,
    MAP_SHARED, MAP_SHARED_VALIDATE, MAP_STACK, MAP_TYPE, MREMAP_DONTUNMAP, MREMAP_FIXED,
    MREMAP_MAYMOVE, PAGE_SIZE, USER_END,
};
use crate::env::Env;
use crate::mem::UserMem;
use crate::process::Process;
use crate::vm::{Prot, page_round_up};

/// Flags `mmap` knows (with `MAP_SHARED_VALIDATE`, others are `EOPNOTSUPP`).
const KNOWN_MAP_FLAGS: u32 = MAP_TYPE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_32BIT
    | MAP_GROWSDOWN
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB
    | MAP_FIXED_NOREPLACE;

/// Chunk for copying in `mremap`.
const COPY_CHUNK: u64 = 64 * 1024;

/// A page-aligned, non-empty user range `[addr, addr + len)` (`len` rounded up).
fn range(addr: u64, len: u64) -> Result<(u64, u64), Errno> {
    if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_round_up(len).ok_or(Errno::EINVAL)?;
    let end = addr.checked_add(len).filter(|&e| e <= USER_END).ok_or(Errno::EINVAL)?;
    Ok((addr, end))
}

impl Process {
    pub(crate) fn sys_mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u32,
        fd: i32,
        off: u64,
        env: &mut impl Env,
    ) -> SysResult {
        let prot = Prot::from_raw(prot)?;
        let len = page_round_up(len).filter(|&l| l != 0 && l < USER_END).ok_or(if len == 0 {
            Errno::EINVAL
        } else {
            Errno::ENOMEM
        })?;
        match flags & MAP_TYPE {
            MAP_PRIVATE | MAP_SHARED => {}
            MAP_SHARED_VALIDATE if flags & !KNOWN_MAP_FLAGS != 0 => return Err(Errno::EOPNOTSUPP),
            MAP_SHARED_VALIDATE => {}
            _ => return Err(Errno::EINVAL),
        }
        if !off.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if flags & MAP_ANONYMOUS == 0 {
            self.file(fd)?;
            return Err(Errno::ENODEV);
        }
        if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
            let (start, end) = range(addr, len)?;
            if flags & MAP_FIXED_NOREPLACE != 0 && flags & MAP_FIXED == 0 {
                if self.regions.touches(start, end) {
                    return Err(Errno::EEXIST);
                }
                return Err(Errno::ENOMEM);
            }
            if !self.regions.covers(start, end) {
                return Err(Errno::ENOMEM);
            }
            env.reset_range(start, end - start, prot)?;
            self.regions.insert(start, end, prot)?;
            return val(start as usize);
        }
        let at = env.map_anon(len, prot)?;
        if let Err(e) = self.regions.insert(at, at + len, prot) {
            env.unmap(at, len);
            return Err(e);
        }
        val(at as usize)
    }

    pub(crate) fn sys_munmap(&mut self, addr: u64, len: u64, env: &mut impl Env) -> SysResult {
        let (start, end) = range(addr, len)?;
        for (s, e) in self.regions.remove(start, end) {
            env.unmap(s, e - s);
        }
        zero()
    }

    pub(crate) fn sys_mprotect(
        &mut self,
        addr: u64,
        len: u64,
        prot: u64,
        env: &mut impl Env,
    ) -> SysResult {
        let prot = Prot::from_raw(prot)?;
        if len == 0 && addr.is_multiple_of(PAGE_SIZE) {
            return zero();
        }
        let (start, end) = range(addr, len)
            .map_err(|e| if !addr.is_multiple_of(PAGE_SIZE) { e } else { Errno::ENOMEM })?;
        if !self.regions.covers(start, end) {
            return Err(Errno::ENOMEM);
        }
        env.protect(start, end - start, prot)?;
        self.regions.protect(start, end, prot)?;
        zero()
    }

    pub(crate) fn sys_madvise(
        &mut self,
        addr: u64,
        len: u64,
        advice: u32,
        env: &mut impl Env,
    ) -> SysResult {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return zero();
        }
        let (start, end) = range(addr, len)?;
        match advice {
            MADV_DONTNEED => {
                // Private anonymous memory reads as zeros afterwards.
                for (s, e, p) in self.regions.pieces(start, end) {
                    env.reset_range(s, e - s, p)?;
                }
            }
            MADV_FREE | MADV_NORMAL | MADV_RANDOM | MADV_SEQUENTIAL | MADV_WILLNEED
            | MADV_DONTFORK | MADV_DOFORK | MADV_HUGEPAGE | MADV_NOHUGEPAGE | MADV_DONTDUMP
            | MADV_DODUMP | 12 | 13 | 20 | 21 => {}
            _ => return Err(Errno::EINVAL),
        }
        if !self.regions.covers(start, end) {
            return Err(Errno::ENOMEM);
        }
        zero()
    }

    pub(crate) fn sys_mremap(
        &mut self,
        old: u64,
        old_len: u64,
        new_len: u64,
        flags: u32,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
            || flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
        {
            return Err(Errno::EINVAL);
        }
        let (start, old_end) = range(old, old_len)?;
        let (_, new_end) = range(old, new_len)?;
        if !self.regions.covers(start, old_end) {
            return Err(Errno::EFAULT);
        }
        if new_end <= old_end {
            for (s, e) in self.regions.remove(new_end, old_end) {
                env.unmap(s, e - s);
            }
            return val(start as usize);
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        let new_size = new_end - start;
        let pieces = self.regions.pieces(start, old_end);
        let at = env.map_anon(new_size, Prot::RW)?;
        let mut buf = core::mem::take(&mut self.scratch);
        let mut copied = Ok(());
        for &(s, e, p) in &pieces {
            if !p.contains(Prot::READ) {
                continue;
            }
            let mut off = s;
            while off < e && copied.is_ok() {
                let n = (e - off).min(COPY_CHUNK) as usize;
                buf.clear();
                buf.resize(n, 0);
                copied = mem.read(off, &mut buf).and_then(|()| mem.write(at + (off - start), &buf));
                off += n as u64;
            }
        }
        self.scratch = buf;
        if let Err(e) = copied.and_then(|()| self.regions.insert(at, at + new_size, Prot::RW)) {
            env.unmap(at, new_size);
            return Err(e);
        }
        // The moved pieces keep their protections; the new tail takes the first piece's.
        let first = pieces.first().map_or(Prot::RW, |p| p.2);
        for (s, e, p) in pieces {
            let _ = env.protect(at + (s - start), e - s, p);
            let _ = self.regions.insert(at + (s - start), at + (e - start), p);
        }
        let _ = env.protect(at + (old_end - start), new_end - old_end, first);
        let _ = self.regions.insert(at + (old_end - start), at + new_size, first);
        for (s, e) in self.regions.remove(start, old_end) {
            env.unmap(s, e - s);
        }
        val(at as usize)
    }

    pub(crate) fn sys_brk(&mut self, addr: u64, env: &mut impl Env) -> SysResult {
        let b = self.brk;
        if addr < b.start || addr > b.limit {
            return val(b.cur as usize);
        }
        let old_top = page_round_up(b.cur).unwrap_or(b.cur);
        let new_top = page_round_up(addr).unwrap_or(addr);
        if new_top > old_top {
            if env.reset_range(old_top, new_top - old_top, Prot::RW).is_err()
                || self.regions.insert(old_top, new_top, Prot::RW).is_err()
            {
                return val(b.cur as usize);
            }
        } else if new_top < old_top {
            self.regions.remove(new_top, old_top);
        }
        self.brk.cur = addr;
        val(addr as usize)
    }
}

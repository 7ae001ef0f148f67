//! The application's memory: whole pages from the frame pool (or the fixed range boot kept free)
//! that it owns, user-accessible with the protection it asks for, and copies to and from it that
//! check the page tables first, so a bad pointer is an error and never a kernel fault.
//!
//! Memory is identity-mapped: an application address is the physical
//! address. Everything else stays supervisor-only (the kernel, its heap,
//! page tables, the shared PV Calls and xenstore pages), so the application
//! can reach nothing but its own pages.

use core::ops::Range;

use spin::Mutex;

use super::owned::Owned;
use crate::arch::paging::{self, Access};
use crate::mm::{frames, module};

const PAGE: u64 = frames::PAGE;

/// What the application may do with a page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prot {
    /// Readable (x86 pages that are accessible at all are readable).
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

impl Prot {
    fn access(self) -> Access {
        let any = self.read || self.write || self.exec;
        Access { present: any, user: any, writable: self.write, executable: self.exec }
    }
}

/// Not enough free pages (or page-table pages) for the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory;

/// The range is not (wholly) the application's, or not page aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotOwned;

/// A copy met a byte the application may not access that way; its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadAddress(pub u64);

/// What the application owns, and whether it has claimed the fixed range.
struct State {
    owned: Owned,
    fixed_claimed: bool,
}

static STATE: Mutex<State> = Mutex::new(State { owned: Owned::new(), fixed_claimed: false });

fn aligned(addr: u64, len: u64) -> Option<Range<u64>> {
    let end = addr.checked_add(len)?;
    (addr.is_multiple_of(PAGE) && len.is_multiple_of(PAGE) && end <= 4 << 30).then_some(addr..end)
}

/// Zeroes `r` and sets its access. The pages must be the application's (or
/// about to be), never the kernel's.
fn fill_and_protect(r: &Range<u64>, prot: Prot) -> Result<(), OutOfMemory> {
    // SAFETY: the pages are the application's (the callers check it): the
    // kernel may write them, and making them user-accessible exposes
    // nothing else. Writable for the kernel first, whatever they were.
    unsafe {
        paging::set_access(r.start, r.end - r.start, Access::KERNEL_DATA)
            .map_err(|_| OutOfMemory)?;
        core::ptr::write_bytes(r.start as *mut u8, 0, (r.end - r.start) as usize);
        paging::set_access(r.start, r.end - r.start, prot.access()).map_err(|_| OutOfMemory)
    }
}

/// `len` bytes (whole pages) of fresh zeroed memory for the application
/// with `prot`, at an address of the pool's choosing.
pub fn alloc(len: u64, prot: Prot) -> Result<u64, OutOfMemory> {
    if len == 0 || !len.is_multiple_of(PAGE) {
        return Err(OutOfMemory);
    }
    let addr = frames::alloc(len / PAGE).ok_or(OutOfMemory)?;
    let r = addr..addr + len;
    if let Err(e) = fill_and_protect(&r, prot) {
        restore_kernel(&r);
        frames::free(addr, len / PAGE);
        return Err(e);
    }
    STATE.lock().owned.insert(r);
    Ok(addr)
}

/// Claims `r`, inside the range boot kept free for a fixed-address program
/// ([`module::fixed_range`]), as fresh zeroed memory with `prot`. Fails if
/// it is outside that range or already claimed.
pub fn claim_fixed(r: Range<u64>, prot: Prot) -> Result<(), NotOwned> {
    let Ok(Some(fixed)) = module::fixed_range() else { return Err(NotOwned) };
    let r = aligned(r.start, r.end.saturating_sub(r.start)).ok_or(NotOwned)?;
    if r.start < fixed.start || r.end > fixed.end {
        return Err(NotOwned);
    }
    let mut st = STATE.lock();
    if st.owned.intersects(&r) {
        return Err(NotOwned);
    }
    st.fixed_claimed = true;
    st.owned.insert(r.clone());
    drop(st);
    fill_and_protect(&r, prot).map_err(|_| NotOwned)
}

fn owned(addr: u64, len: u64) -> Result<Range<u64>, NotOwned> {
    let r = aligned(addr, len).ok_or(NotOwned)?;
    if STATE.lock().owned.contains(&r) { Ok(r) } else { Err(NotOwned) }
}

/// Makes owned memory fresh zeroed memory with `prot` (`MAP_FIXED` over
/// the application's own pages, `MADV_DONTNEED`).
pub fn reset(addr: u64, len: u64, prot: Prot) -> Result<(), NotOwned> {
    let r = owned(addr, len)?;
    fill_and_protect(&r, prot).map_err(|_| NotOwned)
}

/// Changes the protection of owned memory.
pub fn protect(addr: u64, len: u64, prot: Prot) -> Result<(), NotOwned> {
    let r = owned(addr, len)?;
    // SAFETY: the pages are the application's (checked above).
    unsafe { paging::set_access(r.start, len, prot.access()) }.map_err(|_| NotOwned)
}

fn restore_kernel(r: &Range<u64>) {
    // SAFETY: the pages go back to the kernel: supervisor-only again, which
    // is how every kernel page is mapped.
    let _ = unsafe { paging::set_access(r.start, r.end - r.start, Access::KERNEL_DATA) };
}

/// Gives owned memory back: no longer reachable from user mode, its pages
/// free for the pool.
pub fn free(addr: u64, len: u64) -> Result<(), NotOwned> {
    let r = aligned(addr, len).ok_or(NotOwned)?;
    if !STATE.lock().owned.remove(&r) {
        return Err(NotOwned);
    }
    restore_kernel(&r);
    frames::free(r.start, len / PAGE);
    Ok(())
}

/// Bytes the application owns.
pub fn owned_bytes() -> u64 {
    STATE.lock().owned.bytes()
}

/// Checks that every page of `[addr, addr + len)` allows user access (and
/// writing, if `write`).
fn check(addr: u64, len: usize, write: bool) -> Result<(), BadAddress> {
    if len == 0 {
        return Ok(());
    }
    let end = addr.checked_add(len as u64).ok_or(BadAddress(addr))?;
    let mut page = addr & !(PAGE - 1);
    while page < end {
        let ok =
            paging::access(page).is_some_and(|a| a.present && a.user && (!write || a.writable));
        if !ok {
            return Err(BadAddress(page.max(addr)));
        }
        page += PAGE;
    }
    Ok(())
}

/// Copies from application memory at `addr` into `buf`.
pub fn read(addr: u64, buf: &mut [u8]) -> Result<(), BadAddress> {
    check(addr, buf.len(), false)?;
    // SAFETY: every page of the source is present and user-accessible:
    // application memory, which the kernel may read; `buf` is ours and
    // cannot overlap it (kernel memory is never user-accessible).
    unsafe { core::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) };
    Ok(())
}

/// Copies `buf` to application memory at `addr`.
pub fn write(addr: u64, buf: &[u8]) -> Result<(), BadAddress> {
    check(addr, buf.len(), true)?;
    // SAFETY: every page of the destination is present, user-accessible and
    // writable: application memory, whose contents the kernel does not rely
    // on; `buf` is kernel memory and cannot overlap it.
    unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr(), addr as *mut u8, buf.len()) };
    Ok(())
}

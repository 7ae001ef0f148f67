//! Grant table v1: frames mapped over reserved pages of the image with
//! `XENMEM_add_to_physmap(XENMAPSPACE_grant_table)`, grant/end-access on
//! entries, and a free list that recycles references.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU16, AtomicU32, AtomicUsize, Ordering, fence};

use skiff_xen::grant_table::{
    ENTRIES_PER_FRAME, GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_WRITING, GrantRef,
    NR_RESERVED_ENTRIES, QuerySize, entry,
};
use skiff_xen::memory::MAPSPACE_GRANT_TABLE;
use skiff_xen::{DOMID_SELF, DomId};
use spin::Mutex;

use super::hvm::add_to_physmap;
use super::hypercall::{XenError, op};

/// Grant frames reserved in the image (32 frames = 16384 entries).
pub const MAX_FRAMES: usize = 32;

#[repr(C, align(4096))]
struct Frames([u8; 4096 * MAX_FRAMES]);

/// Pages that the grant frames replace. Never accessed as Rust objects.
static mut GRANT_FRAMES: Frames = Frames([0; 4096 * MAX_FRAMES]);

struct Table {
    free: Vec<GrantRef>,
    entries: u32,
}

static TABLE: Mutex<Table> = Mutex::new(Table { free: Vec::new(), entries: 0 });
/// Entries in the mapped frames (0 until `init`).
static ENTRIES: AtomicU32 = AtomicU32::new(0);
static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Grant table errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// Every reference is in use.
    Exhausted,
    /// The peer still has the page mapped; the grant stays in place.
    StillMapped,
    /// The reference is not one this table handed out.
    BadRef,
}

impl core::fmt::Display for GrantError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            GrantError::Exhausted => "no free grant references",
            GrantError::StillMapped => "grant still mapped by the peer",
            GrantError::BadRef => "not an active grant reference",
        })
    }
}

fn base() -> usize {
    &raw const GRANT_FRAMES as usize
}

/// Maps as many grant frames as Xen allows (up to [`MAX_FRAMES`]) and fills
/// the free list. Returns the number of usable entries.
pub fn init() -> Result<u32, XenError> {
    let mut q = QuerySize { dom: DOMID_SELF, ..Default::default() };
    op(&mut q)?;
    if q.status != 0 {
        return Err(XenError(q.status as i32));
    }
    let frames = (q.max_nr_frames as usize).clamp(1, MAX_FRAMES);
    for i in 0..frames {
        let gpfn = ((base() + i * 4096) >> 12) as u64;
        // SAFETY: GRANT_FRAMES is reserved for exactly this mapping.
        unsafe { add_to_physmap(MAPSPACE_GRANT_TABLE, i as u64, gpfn)? };
    }
    let entries = frames as u32 * ENTRIES_PER_FRAME;
    ENTRIES.store(entries, Ordering::Release);
    let mut t = TABLE.lock();
    t.entries = entries;
    t.free = (NR_RESERVED_ENTRIES..entries).rev().collect();
    Ok(entries)
}

/// The `flags` field of entry `r`, if `r` is an entry of the mapped frames.
fn flags(r: GrantRef) -> Option<&'static AtomicU16> {
    if r >= ENTRIES.load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: `r` is below the number of entries in the mapped frames
    // (checked above), so the 2-byte-aligned field lies inside them.
    Some(unsafe {
        AtomicU16::from_ptr((base() + r as usize * entry::SIZE + entry::FLAGS) as *mut u16)
    })
}

/// Grants domain `domid` access to guest frame `gfn`.
pub fn grant_access(domid: DomId, gfn: u64, readonly: bool) -> Result<GrantRef, GrantError> {
    let r = TABLE.lock().free.pop().ok_or(GrantError::Exhausted)?;
    let f = flags(r).ok_or(GrantError::BadRef)?;
    let e = base() + r as usize * entry::SIZE;
    // SAFETY: the free list holds only refs below the number of mapped
    // entries (`flags` checked it), so the entry is inside the frames, and
    // ours until we set GTF_permit_access; fields are naturally aligned.
    unsafe {
        AtomicU16::from_ptr((e + entry::DOMID) as *mut u16).store(domid, Ordering::Relaxed);
        AtomicU32::from_ptr((e + entry::FRAME) as *mut u32).store(gfn as u32, Ordering::Relaxed);
    }
    // The frame and domid must be visible before the entry becomes valid.
    fence(Ordering::Release);
    let v = GTF_PERMIT_ACCESS | if readonly { GTF_READONLY } else { 0 };
    f.store(v, Ordering::Release);
    IN_USE.fetch_add(1, Ordering::Relaxed);
    Ok(r)
}

/// Revokes grant `r` and recycles it. Fails with `StillMapped` (and leaves
/// the grant active) if the peer still maps the page: the caller must then
/// not reuse the page.
pub fn end_access(r: GrantRef) -> Result<(), GrantError> {
    if r < NR_RESERVED_ENTRIES {
        return Err(GrantError::BadRef);
    }
    let f = flags(r).ok_or(GrantError::BadRef)?;
    let mut cur = f.load(Ordering::Acquire);
    loop {
        if cur & GTF_PERMIT_ACCESS == 0 {
            return Err(GrantError::BadRef);
        }
        if cur & (GTF_READING | GTF_WRITING) != 0 {
            return Err(GrantError::StillMapped);
        }
        match f.compare_exchange(cur, 0, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => cur = now,
        }
    }
    TABLE.lock().free.push(r);
    IN_USE.fetch_sub(1, Ordering::Relaxed);
    Ok(())
}

/// Grants currently active.
pub fn in_use() -> usize {
    IN_USE.load(Ordering::Relaxed)
}

/// Total usable entries (excluding the toolstack's reserved ones).
pub fn capacity() -> u32 {
    TABLE.lock().entries.saturating_sub(NR_RESERVED_ENTRIES)
}

//! Memory operations: `xen/include/public/memory.h`.

use crate::DomId;

/// `XENMEM_add_to_physmap`: argument is an [`AddToPhysmap`].
pub const XENMEM_ADD_TO_PHYSMAP: usize = 7;
/// `XENMEM_memory_map`: the guest's e820-style map.
pub const XENMEM_MEMORY_MAP: usize = 9;

/// `XENMAPSPACE_shared_info`.
pub const MAPSPACE_SHARED_INFO: u32 = 0;
/// `XENMAPSPACE_grant_table`.
pub const MAPSPACE_GRANT_TABLE: u32 = 1;

/// `struct xen_add_to_physmap`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AddToPhysmap {
    /// Domain whose physmap changes.
    pub domid: DomId,
    /// Number of pages for `gmfn_range` (unused here).
    pub size: u16,
    /// `XENMAPSPACE_*`.
    pub space: u32,
    /// Index into the space (grant frame number).
    pub idx: u64,
    /// Guest frame where the page appears.
    pub gpfn: u64,
}

const _: () = assert!(core::mem::size_of::<AddToPhysmap>() == 24);
const _: () = assert!(core::mem::offset_of!(AddToPhysmap, idx) == 8);

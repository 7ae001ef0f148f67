//! Grant tables, version 1: `xen/include/public/grant_table.h`.

use crate::DomId;

/// Grant reference.
pub type GrantRef = u32;

/// `GNTTABOP_query_size`: argument is a [`QuerySize`].
pub const GNTTABOP_QUERY_SIZE: usize = 6;

/// `GNTTAB_NR_RESERVED_ENTRIES`: refs below this belong to the toolstack
/// (0 = console, 1 = xenstore).
pub const NR_RESERVED_ENTRIES: u32 = 8;
/// v1 entries per 4 KiB grant frame.
pub const ENTRIES_PER_FRAME: u32 = 512;

/// `GTF_permit_access`.
pub const GTF_PERMIT_ACCESS: u16 = 1;
/// `GTF_readonly`.
pub const GTF_READONLY: u16 = 1 << 2;
/// `GTF_reading`: the peer has the frame mapped for reading.
pub const GTF_READING: u16 = 1 << 3;
/// `GTF_writing`: the peer has the frame mapped for writing.
pub const GTF_WRITING: u16 = 1 << 4;

/// Byte offsets in a v1 `struct grant_entry_v1` (8 bytes).
pub mod entry {
    /// `uint16_t flags`.
    pub const FLAGS: usize = 0;
    /// `domid_t domid`.
    pub const DOMID: usize = 2;
    /// `uint32_t frame`.
    pub const FRAME: usize = 4;
    /// Size of one entry.
    pub const SIZE: usize = 8;
}

/// `struct gnttab_query_size`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct QuerySize {
    /// In: domain (`DOMID_SELF`).
    pub dom: DomId,
    /// Padding.
    pub pad: u16,
    /// Out: frames in use.
    pub nr_frames: u32,
    /// Out: maximum frames.
    pub max_nr_frames: u32,
    /// Out: `GNTST_*`.
    pub status: i16,
    /// Tail padding.
    pub pad2: u16,
}

const _: () = assert!(core::mem::size_of::<QuerySize>() == 16);

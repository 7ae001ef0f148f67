//! ELF note types: `xen/include/public/elfnote.h`.

/// `XEN_ELFNOTE_PHYS32_ENTRY`: 32-bit physical entry point for PVH.
pub const PHYS32_ENTRY: u32 = 18;

//! PVH start info: `xen/include/public/arch-x86/hvm/start_info.h`.

/// `XEN_HVM_START_MAGIC_VALUE`.
pub const HVM_START_MAGIC: u32 = 0x336e_c578;

/// Byte offsets in `struct hvm_start_info` (version 1).
pub mod offset {
    /// `uint32_t magic`.
    pub const MAGIC: usize = 0;
    /// `uint32_t version`.
    pub const VERSION: usize = 4;
    /// `uint32_t flags`.
    pub const FLAGS: usize = 8;
    /// `uint32_t nr_modules`.
    pub const NR_MODULES: usize = 12;
    /// `uint64_t modlist_paddr`.
    pub const MODLIST_PADDR: usize = 16;
    /// `uint64_t cmdline_paddr`: NUL-terminated command line, 0 if none.
    pub const CMDLINE_PADDR: usize = 24;
    /// `uint64_t rsdp_paddr`.
    pub const RSDP_PADDR: usize = 32;
    /// `uint64_t memmap_paddr` (version >= 1).
    pub const MEMMAP_PADDR: usize = 40;
    /// `uint32_t memmap_entries` (version >= 1).
    pub const MEMMAP_ENTRIES: usize = 48;
}

/// `struct hvm_start_info` as Xen lays it out.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct HvmStartInfo {
    /// Must be [`HVM_START_MAGIC`].
    pub magic: u32,
    /// Version of this structure (1 adds the memory map).
    pub version: u32,
    /// `SIF_xxx` flags.
    pub flags: u32,
    /// Number of modules passed to the kernel.
    pub nr_modules: u32,
    /// Physical address of the module list.
    pub modlist_paddr: u64,
    /// Physical address of the command line.
    pub cmdline_paddr: u64,
    /// Physical address of the ACPI RSDP.
    pub rsdp_paddr: u64,
    /// Physical address of the memory map (version >= 1).
    pub memmap_paddr: u64,
    /// Number of memory map entries (version >= 1).
    pub memmap_entries: u32,
    /// Must be zero.
    pub reserved: u32,
}

/// `struct hvm_memmap_table_entry`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemmapEntry {
    /// Base physical address.
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// `XEN_HVM_MEMMAP_TYPE_*`.
    pub kind: u32,
    /// Must be zero.
    pub reserved: u32,
}

/// `struct hvm_modlist_entry`: one module (xl's `ramdisk=` is module 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModlistEntry {
    /// Physical address of the module's bytes.
    pub paddr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Physical address of its NUL-terminated command line, 0 if none.
    pub cmdline_paddr: u64,
    /// Must be zero.
    pub reserved: u64,
}

const _: () = assert!(core::mem::size_of::<ModlistEntry>() == 32);

/// `XEN_HVM_MEMMAP_TYPE_RAM`.
pub const MEMMAP_TYPE_RAM: u32 = 1;

const _: () = assert!(core::mem::size_of::<HvmStartInfo>() == 56);
const _: () = assert!(core::mem::offset_of!(HvmStartInfo, cmdline_paddr) == offset::CMDLINE_PADDR);
const _: () = assert!(core::mem::offset_of!(HvmStartInfo, memmap_paddr) == offset::MEMMAP_PADDR);
const _: () =
    assert!(core::mem::offset_of!(HvmStartInfo, memmap_entries) == offset::MEMMAP_ENTRIES);
const _: () = assert!(core::mem::size_of::<MemmapEntry>() == 24);

//! Reads `hvm_start_info` (magic, command line, memory map, module list) before anything can
//! overwrite it.

use skiff_xen::start_info::{
    HVM_START_MAGIC, HvmStartInfo, MEMMAP_TYPE_RAM, MemmapEntry, ModlistEntry,
};

/// Most memory map entries kept.
pub const MAX_ENTRIES: usize = 64;
/// Longest command line kept (longer ones are cut, with a warning).
pub const MAX_CMDLINE: usize = 4096;
/// Most modules kept (xl passes one: `ramdisk=`).
pub const MAX_MODULES: usize = 4;

/// A module Xen loaded into guest memory (`ramdisk=` is module 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Module {
    /// Physical address of its first byte.
    pub paddr: u64,
    /// Size in bytes.
    pub size: u64,
}

/// What the kernel keeps of `hvm_start_info`.
pub struct BootInfo {
    /// `start_info` version.
    pub version: u32,
    /// Memory map entries.
    pub memmap: [MemmapEntry; MAX_ENTRIES],
    /// Number of valid entries in `memmap`.
    pub memmap_len: usize,
    /// Command line bytes (without the NUL).
    pub cmdline: [u8; MAX_CMDLINE],
    /// Length of the command line.
    pub cmdline_len: usize,
    /// The command line was longer than [`MAX_CMDLINE`].
    pub cmdline_truncated: bool,
    /// Modules (the first [`MAX_MODULES`]).
    pub modules: [Module; MAX_MODULES],
    /// Number of valid entries in `modules`.
    pub modules_len: usize,
}

/// Why the start info could not be used.
#[derive(Debug)]
pub enum BootInfoError {
    /// The magic number is wrong: not booted through the PVH entry.
    BadMagic(u32),
    /// No memory map (start info version 0).
    NoMemoryMap,
}

/// Copies what is needed out of the start info at physical `addr`.
///
/// # Safety
/// `addr` must be the `ebx` value the PVH entry received, identity-mapped.
pub unsafe fn read(addr: u64, out: &mut BootInfo) -> Result<(), BootInfoError> {
    // SAFETY: per the PVH ABI `addr` points at an hvm_start_info.
    let si = unsafe { core::ptr::read_unaligned(addr as *const HvmStartInfo) };
    if si.magic != HVM_START_MAGIC {
        return Err(BootInfoError::BadMagic(si.magic));
    }
    out.version = si.version;
    if si.cmdline_paddr != 0 {
        let mut n = 0;
        loop {
            // SAFETY: the command line is a NUL-terminated string Xen placed
            // in our memory; we stop at the NUL.
            let b = unsafe { core::ptr::read((si.cmdline_paddr + n as u64) as *const u8) };
            if b == 0 {
                break;
            }
            if n < MAX_CMDLINE {
                out.cmdline[n] = b;
            } else {
                out.cmdline_truncated = true;
            }
            n += 1;
        }
        out.cmdline_len = n.min(MAX_CMDLINE);
    }
    if si.version < 1 || si.memmap_paddr == 0 || si.memmap_entries == 0 {
        return Err(BootInfoError::NoMemoryMap);
    }
    let n = (si.memmap_entries as usize).min(MAX_ENTRIES);
    for i in 0..n {
        let p = si.memmap_paddr + (i * core::mem::size_of::<MemmapEntry>()) as u64;
        // SAFETY: Xen placed `memmap_entries` entries at `memmap_paddr`.
        out.memmap[i] = unsafe { core::ptr::read_unaligned(p as *const MemmapEntry) };
    }
    out.memmap_len = n;
    if si.nr_modules > 0 && si.modlist_paddr != 0 {
        let n = (si.nr_modules as usize).min(MAX_MODULES);
        for i in 0..n {
            let p = si.modlist_paddr + (i * core::mem::size_of::<ModlistEntry>()) as u64;
            // SAFETY: Xen placed `nr_modules` entries at `modlist_paddr`.
            let m = unsafe { core::ptr::read_unaligned(p as *const ModlistEntry) };
            out.modules[i] = Module { paddr: m.paddr, size: m.size };
        }
        out.modules_len = n;
    }
    Ok(())
}

impl BootInfo {
    /// An empty record (fits in .bss).
    pub const fn empty() -> Self {
        BootInfo {
            version: 0,
            memmap: [MemmapEntry { addr: 0, size: 0, kind: 0, reserved: 0 }; MAX_ENTRIES],
            memmap_len: 0,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            cmdline_truncated: false,
            modules: [Module { paddr: 0, size: 0 }; MAX_MODULES],
            modules_len: 0,
        }
    }

    /// The memory map.
    pub fn entries(&self) -> &[MemmapEntry] {
        &self.memmap[..self.memmap_len]
    }

    /// The command line as text (invalid UTF-8 is replaced by nothing).
    pub fn cmdline(&self) -> &str {
        let b = &self.cmdline[..self.cmdline_len];
        match core::str::from_utf8(b) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or(""),
        }
    }

    /// The modules Xen loaded (xl's `ramdisk=` is the first).
    pub fn modules(&self) -> &[Module] {
        &self.modules[..self.modules_len]
    }

    /// Total RAM in the map.
    pub fn ram_bytes(&self) -> u64 {
        self.entries().iter().filter(|e| e.kind == MEMMAP_TYPE_RAM).map(|e| e.size).sum()
    }

    /// The RAM entry holding `image_end`, capped at 4 GiB (the identity map).
    pub fn ram_around(&self, image_end: u64) -> Option<core::ops::Range<u64>> {
        let e = self.entries().iter().find(|e| {
            e.kind == MEMMAP_TYPE_RAM && e.addr <= image_end && image_end < e.addr + e.size
        })?;
        Some(e.addr..(e.addr + e.size).min(4 << 30))
    }
}

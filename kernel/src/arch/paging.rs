//! The final page tables: an identity map of the low 4 GiB with 2 MiB pages,
//! except the 2 MiB around the boot stack, which uses 4 KiB pages so the
//! stack's guard page can stay unmapped; data is never executable. Later,
//! [`set_access`] splits 2 MiB pages into 4 KiB ones (tables from the page
//! pool) to make single pages user-accessible, read-only, executable or
//! absent: the application's memory and guard pages.

use x86_64::PhysAddr;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::{PageTable, PageTableFlags as F, PhysFrame};

const GIB: u64 = 1 << 30;
const HUGE: u64 = 2 << 20;

#[repr(C, align(4096))]
struct Tables {
    pml4: PageTable,
    pdpt: PageTable,
    pd: [PageTable; 4],
    pt: PageTable,
}

static mut TABLES: Tables = Tables {
    pml4: PageTable::new(),
    pdpt: PageTable::new(),
    pd: [const { PageTable::new() }; 4],
    pt: PageTable::new(),
};

unsafe extern "C" {
    static __stack_guard: u8;
    static __stack_bottom: u8;
    static __stack_top: u8;
    static __image_start: u8;
    static __data_start: u8;
}

fn addr_of_symbol(sym: *const u8) -> u64 {
    sym as u64
}

/// Builds the final tables and switches CR3 to them.
pub fn init() {
    let guard = addr_of_symbol(&raw const __stack_guard);
    let image_start = addr_of_symbol(&raw const __image_start);
    let data_start = addr_of_symbol(&raw const __data_start);
    let tables = &raw mut TABLES;
    // SAFETY: single-threaded early boot; nothing else references TABLES.
    let t = unsafe { &mut *tables };
    let rw = F::PRESENT | F::WRITABLE;
    // Upper levels allow user access: the leaves decide (kernel leaves do
    // not have the user bit).
    let upper = rw | F::USER_ACCESSIBLE;
    t.pml4[0].set_addr(PhysAddr::new(&raw const t.pdpt as u64), upper);
    for (i, pd) in t.pd.iter_mut().enumerate() {
        t.pdpt[i].set_addr(PhysAddr::new(pd as *const PageTable as u64), upper);
        for (j, e) in pd.iter_mut().enumerate() {
            let addr = i as u64 * GIB + j as u64 * HUGE;
            // Code lives in the image's text segment (below __data_start);
            // everything else is non-executable.
            let exec = addr + HUGE > image_start && addr < data_start;
            let flags = if exec { rw | F::HUGE_PAGE } else { rw | F::HUGE_PAGE | F::NO_EXECUTE };
            e.set_addr(PhysAddr::new(addr), flags);
        }
    }
    // Split the 2 MiB page holding the guard page into 4 KiB pages.
    let base = guard & !(HUGE - 1);
    let exec_base = base + HUGE > image_start && base < data_start;
    for (k, e) in t.pt.iter_mut().enumerate() {
        let addr = base + k as u64 * 4096;
        if addr == guard {
            continue;
        }
        let exec = exec_base && addr >= image_start && addr < data_start;
        e.set_addr(PhysAddr::new(addr), if exec { rw } else { rw | F::NO_EXECUTE });
    }
    let (gi, gj) = ((base / GIB) as usize, ((base % GIB) / HUGE) as usize);
    t.pd[gi][gj].set_addr(PhysAddr::new(&raw const t.pt as u64), rw);
    let frame = PhysFrame::from_start_address(PhysAddr::new(&raw const t.pml4 as u64))
        .expect("page tables are page aligned");
    // SAFETY: the new tables identity-map everything the old ones did (the
    // low 4 GiB) except the guard page, which nothing may touch.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
}

/// The unmapped guard page below the boot stack.
pub fn stack_guard() -> u64 {
    addr_of_symbol(&raw const __stack_guard)
}

/// The boot stack: `(bottom, top)`.
pub fn boot_stack() -> (u64, u64) {
    (addr_of_symbol(&raw const __stack_bottom), addr_of_symbol(&raw const __stack_top))
}

/// What a 4 KiB page allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Mapped at all (an absent page faults on any access).
    pub present: bool,
    /// Reachable from user mode (CPL 3).
    pub user: bool,
    /// Writable.
    pub writable: bool,
    /// Executable.
    pub executable: bool,
}

impl Access {
    /// Kernel memory: read-write, not executable, not for user mode.
    pub const KERNEL_DATA: Access =
        Access { present: true, user: false, writable: true, executable: false };
    /// Absent: any access faults (guard pages, `PROT_NONE`).
    pub const NONE: Access =
        Access { present: false, user: false, writable: false, executable: false };

    fn flags(self) -> F {
        let mut f = F::empty();
        if self.present {
            f |= F::PRESENT;
        }
        if self.user {
            f |= F::USER_ACCESSIBLE;
        }
        if self.writable {
            f |= F::WRITABLE;
        }
        if !self.executable {
            f |= F::NO_EXECUTE;
        }
        f
    }

    fn of(f: F) -> Access {
        Access {
            present: f.contains(F::PRESENT),
            user: f.contains(F::USER_ACCESSIBLE),
            writable: f.contains(F::WRITABLE),
            executable: !f.contains(F::NO_EXECUTE),
        }
    }
}

/// No page-table page could be had for a split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoTablePage;

const PAGE: u64 = 4096;

/// The page directory entry covering `addr` (below 4 GiB).
fn pd_entry(addr: u64) -> Option<*mut x86_64::structures::paging::page_table::PageTableEntry> {
    if addr >= 4 * GIB {
        return None;
    }
    let (gi, gj) = ((addr / GIB) as usize, ((addr % GIB) / HUGE) as usize);
    let tables = &raw mut TABLES;
    // SAFETY: in bounds (checked); one vCPU with interrupts off edits the
    // tables, and only through these raw pointers.
    Some(unsafe { &raw mut (&mut *tables).pd[gi][gj] })
}

/// The 4 KiB page table under `addr`'s directory entry, splitting a 2 MiB
/// page into 512 identity entries with its flags first.
fn page_table(addr: u64) -> Result<*mut PageTable, NoTablePage> {
    let e = pd_entry(addr).ok_or(NoTablePage)?;
    // SAFETY: `e` points into the static tables (see `pd_entry`).
    let entry = unsafe { &mut *e };
    if entry.flags().contains(F::HUGE_PAGE) {
        let base = entry.addr().as_u64();
        let leaf = entry.flags() - F::HUGE_PAGE;
        let table = crate::mm::frames::alloc(1).ok_or(NoTablePage)?;
        let pt = table as *mut PageTable;
        // SAFETY: a fresh page from the pool, ours alone, page aligned:
        // filled before anything points at it.
        unsafe {
            pt.write(PageTable::new());
            for (k, pte) in (*pt).iter_mut().enumerate() {
                pte.set_addr(PhysAddr::new(base + k as u64 * PAGE), leaf);
            }
        }
        entry.set_addr(PhysAddr::new(table), F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE);
        x86_64::instructions::tlb::flush_all();
    }
    Ok(entry.addr().as_u64() as *mut PageTable)
}

/// Sets what the identity-mapped 4 KiB pages of `[addr, addr + len)` (page
/// aligned, below 4 GiB) allow.
///
/// # Safety
/// The kernel must not rely on the pages being accessible as before: pages
/// made absent or read-only must hold nothing the kernel writes, and pages
/// made user-accessible nothing user code must not see or change.
pub unsafe fn set_access(addr: u64, len: u64, access: Access) -> Result<(), NoTablePage> {
    assert!(addr.is_multiple_of(PAGE) && len.is_multiple_of(PAGE), "unaligned page range");
    let end = addr.checked_add(len).filter(|&e| e <= 4 * GIB).ok_or(NoTablePage)?;
    let mut page = addr;
    while page < end {
        let pt = page_table(page)?;
        let k = ((page % HUGE) / PAGE) as usize;
        // SAFETY: `pt` is a page table of ours (static or from the pool);
        // `k` < 512.
        unsafe { (&mut *pt)[k].set_addr(PhysAddr::new(page), access.flags()) };
        x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(page));
        page += PAGE;
    }
    Ok(())
}

/// What the page holding `addr` allows (`None` above the identity map).
pub fn access(addr: u64) -> Option<Access> {
    let e = pd_entry(addr)?;
    // SAFETY: `e` points into the static tables (see `pd_entry`).
    let entry = unsafe { &*e };
    let f = entry.flags();
    if !f.contains(F::PRESENT) || f.contains(F::HUGE_PAGE) {
        return Some(Access::of(f));
    }
    let pt = entry.addr().as_u64() as *const PageTable;
    let k = ((addr % HUGE) / PAGE) as usize;
    // SAFETY: a page table of ours; `k` < 512.
    Some(Access::of(unsafe { (&*pt)[k].flags() }))
}

//! The final page tables: an identity map of the low 4 GiB with 2 MiB pages,
//! except the 2 MiB around the boot stack, which uses 4 KiB pages so the
//! stack's guard page can stay unmapped; data is never executable.

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
    t.pml4[0].set_addr(PhysAddr::new(&raw const t.pdpt as u64), rw);
    for (i, pd) in t.pd.iter_mut().enumerate() {
        t.pdpt[i].set_addr(PhysAddr::new(pd as *const PageTable as u64), rw);
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

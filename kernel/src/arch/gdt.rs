//! The final GDT with a TSS whose IST stack catches double and page faults
//! (so a stack overflow into the guard page is reported, not a triple fault).

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot used by fault handlers that must not run on a broken stack.
pub const FAULT_IST_INDEX: u16 = 0;

const FAULT_STACK_SIZE: usize = 16 * 1024;

#[repr(align(16))]
struct FaultStack(#[allow(dead_code)] [u8; FAULT_STACK_SIZE]);

static mut FAULT_STACK: FaultStack = FaultStack([0; FAULT_STACK_SIZE]);

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(GlobalDescriptorTable, [SegmentSelector; 3])> = Once::new();

/// Loads the GDT and TSS and reloads the segment registers.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        let base = VirtAddr::from_ptr(&raw const FAULT_STACK);
        tss.interrupt_stack_table[FAULT_IST_INDEX as usize] = base + FAULT_STACK_SIZE as u64;
        tss
    });
    let (gdt, [code, data, tss_sel]) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss_sel = gdt.append(Descriptor::tss_segment(tss));
        (gdt, [code, data, tss_sel])
    });
    gdt.load();
    // SAFETY: the selectors come from the GDT just loaded, which is 'static.
    unsafe {
        CS::set_reg(*code);
        DS::set_reg(*data);
        ES::set_reg(*data);
        SS::set_reg(*data);
        load_tss(*tss_sel);
    }
}

//! The final GDT (kernel and user segments, in the order `syscall`/`sysret` need) with a TSS
//! whose IST stack catches double and page faults (so a stack overflow into the guard page is
//! reported, not a triple fault) and whose RSP0 is the running thread's kernel stack.

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

/// The TSS. Written only by [`init`] and [`set_kernel_stack`] (one vCPU,
/// interrupts off); the CPU reads it.
static mut TSS: TaskStateSegment = TaskStateSegment::new();

/// The segment selectors of the GDT.
#[derive(Clone, Copy, Debug)]
pub struct Selectors {
    /// Kernel code (`syscall` loads it).
    pub kernel_code: SegmentSelector,
    /// Kernel data/stack.
    pub kernel_data: SegmentSelector,
    /// User data/stack (`sysret` and `iretq` to CPL 3), RPL 3.
    pub user_data: SegmentSelector,
    /// User code, RPL 3.
    pub user_code: SegmentSelector,
    tss: SegmentSelector,
}

static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

/// Loads the GDT and TSS and reloads the segment registers.
pub fn init() {
    let fault_top = VirtAddr::from_ptr(&raw const FAULT_STACK) + FAULT_STACK_SIZE as u64;
    // SAFETY: early boot, one vCPU, nothing else touches the TSS yet.
    unsafe { TSS.interrupt_stack_table[FAULT_IST_INDEX as usize] = fault_top };
    let (gdt, sel) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let kernel_code = gdt.append(Descriptor::kernel_code_segment());
        let kernel_data = gdt.append(Descriptor::kernel_data_segment());
        // `sysret` takes user SS at STAR + 8 and user CS at STAR + 16.
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        // SAFETY: TSS is a static that lives for the whole run.
        let tss = gdt.append(unsafe { Descriptor::tss_segment_unchecked(&raw const TSS) });
        (gdt, Selectors { kernel_code, kernel_data, user_data, user_code, tss })
    });
    gdt.load();
    // SAFETY: the selectors come from the GDT just loaded, which is 'static.
    unsafe {
        CS::set_reg(sel.kernel_code);
        DS::set_reg(sel.kernel_data);
        ES::set_reg(sel.kernel_data);
        SS::set_reg(sel.kernel_data);
        load_tss(sel.tss);
    }
}

/// The selectors (after [`init`]).
pub fn selectors() -> Selectors {
    GDT.get().expect("the GDT is loaded first thing at boot").1
}

/// Sets the stack the CPU switches to when a trap arrives at CPL 3 (the
/// running thread's kernel stack top).
pub fn set_kernel_stack(top: u64) {
    // SAFETY: one vCPU with interrupts off while the kernel runs: nothing
    // else reads or writes the TSS field now but the CPU at the next trap
    // from user mode, which reads the value written.
    unsafe { TSS.privilege_stack_table[0] = VirtAddr::new(top) };
}

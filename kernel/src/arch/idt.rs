//! The interrupt descriptor table: exception vectors and the Xen upcall
//! vector, all pointing at the stubs in [`super::trap`].

use spin::Once;
use x86_64::VirtAddr;
use x86_64::structures::idt::InterruptDescriptorTable;

use super::gdt::FAULT_IST_INDEX;

static IDT: Once<InterruptDescriptorTable> = Once::new();

/// Builds and loads the IDT.
pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        for (vector, addr) in super::trap::stubs() {
            let addr = VirtAddr::new(addr);
            // SAFETY: every stub follows the trap frame protocol of
            // `trap.rs` and ends with IRETQ (or never returns).
            unsafe {
                match vector {
                    8 => {
                        idt.double_fault.set_handler_addr(addr).set_stack_index(FAULT_IST_INDEX);
                    }
                    14 => {
                        idt.page_fault.set_handler_addr(addr).set_stack_index(FAULT_IST_INDEX);
                    }
                    2 => {
                        idt.non_maskable_interrupt.set_handler_addr(addr);
                    }
                    18 => {
                        idt.machine_check.set_handler_addr(addr);
                    }
                    v if v < 32 => set_exception(&mut idt, v, addr),
                    v => {
                        idt[v].set_handler_addr(addr);
                    }
                }
            }
        }
        idt
    });
    idt.load();
}

/// Sets a plain exception entry by vector number.
///
/// # Safety
/// `addr` must be a valid trap stub.
unsafe fn set_exception(idt: &mut InterruptDescriptorTable, vector: u8, addr: VirtAddr) {
    // SAFETY: forwarded to the caller.
    unsafe {
        match vector {
            0 => idt.divide_error.set_handler_addr(addr),
            1 => idt.debug.set_handler_addr(addr),
            3 => idt.breakpoint.set_handler_addr(addr),
            4 => idt.overflow.set_handler_addr(addr),
            5 => idt.bound_range_exceeded.set_handler_addr(addr),
            6 => idt.invalid_opcode.set_handler_addr(addr),
            7 => idt.device_not_available.set_handler_addr(addr),
            10 => idt.invalid_tss.set_handler_addr(addr),
            11 => idt.segment_not_present.set_handler_addr(addr),
            12 => idt.stack_segment_fault.set_handler_addr(addr),
            13 => idt.general_protection_fault.set_handler_addr(addr),
            16 => idt.x87_floating_point.set_handler_addr(addr),
            17 => idt.alignment_check.set_handler_addr(addr),
            19 => idt.simd_floating_point.set_handler_addr(addr),
            20 => idt.virtualization.set_handler_addr(addr),
            21 => idt.cp_protection_exception.set_handler_addr(addr),
            28 => idt.hv_injection_exception.set_handler_addr(addr),
            29 => idt.vmm_communication_exception.set_handler_addr(addr),
            30 => idt.security_exception.set_handler_addr(addr),
            _ => return, // reserved vectors stay not-present
        };
    }
}

//! Running an application in user mode (CPL 3): its memory, its threads' kernel side, and the
//! handlers a higher layer registers for its syscalls and faults.
//!
//! Why CPL 3 and not an application in the kernel's ring: a trap from user
//! mode switches to the thread's kernel stack, so events and interrupts
//! never touch the application's stack (its red zone included); and the
//! user/supervisor page bit keeps a wild pointer out of the kernel, its
//! page tables and the pages shared with dom0: it ends in a fault report,
//! not in corrupted rings.

pub mod memory;
pub mod owned;
pub mod thread;

pub use crate::arch::trap::TrapFrame;

/// The `vector` of a frame saved at a `syscall`.
pub const SYSCALL_VECTOR: u64 = crate::arch::syscall::SYSCALL_VECTOR;

/// Prepares the CPU for user mode: SSE for the application, `syscall`
/// routed to `on_syscall`, and CPU exceptions in user mode to `on_fault`.
/// Both run on the running thread's kernel stack with interrupts off and
/// may change the frame, which is made safe for user mode before the
/// return ([`TrapFrame::sanitize_for_user`]). Call once.
pub fn init(on_syscall: fn(&mut TrapFrame), on_fault: fn(&mut TrapFrame)) {
    crate::arch::fpu::init();
    crate::arch::syscall::init(on_syscall);
    crate::arch::trap::set_user_fault_handler(on_fault);
}

/// The address of the last page fault (CR2), for a fault report.
pub fn fault_address() -> u64 {
    crate::arch::cpu::cr2()
}

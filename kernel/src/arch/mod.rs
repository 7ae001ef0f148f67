//! x86_64 architecture support: entry, CPU tables, paging, traps.

pub mod context;
pub mod cpu;
pub mod entry;
pub mod fpu;
pub mod gdt;
pub mod idt;
pub mod paging;
pub mod syscall;
pub mod trap;

/// Vector Xen uses to deliver event channel upcalls (HVM_PARAM_CALLBACK_IRQ).
pub const UPCALL_VECTOR: u8 = 0xF3;

//! Mirrors of Xen's public interface headers (`xen/include/public`), one
//! module per header, with compile-time layout checks.
#![no_std]
#![forbid(unsafe_code)]

pub mod console;
pub mod elfnote;
pub mod event_channel;
pub mod grant_table;
pub mod hvm;
pub mod hypercall;
pub mod memory;
pub mod pvcalls;
pub mod sched;
pub mod shared_info;
pub mod start_info;
pub mod time;
pub mod vcpu;
pub mod version;
pub mod xenbus;
pub mod xs_wire;

/// `domid_t` (`xen.h`).
pub type DomId = u16;
/// `DOMID_SELF` (`xen.h`): the calling domain.
pub const DOMID_SELF: DomId = 0x7FF0;
/// Size of a Xen page.
pub const PAGE_SIZE: usize = 4096;

//! Xen services: hypercalls and their table, shared info, event channels,
//! grant table, console, xenstore, shutdown and the domain lifecycle.

pub mod abi;
pub mod console;
pub mod evtchn;
pub mod grant;
pub mod hvm;
pub mod hypercall;
pub mod lifecycle;
pub mod rawmem;
pub mod selfcheck;
pub mod shared_info;
pub mod shutdown;
pub mod xenstore;

//! Linux x86_64 syscall personality of Skiff, the pure part: unmodified static Linux binaries on PV Calls.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod abi;
pub mod dispatch;
pub mod env;
pub mod epoll;
pub mod eventfd;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod fdtable;
pub mod file;
pub mod mem;
pub mod names;
pub mod pipe;
pub mod process;
pub mod regs;
pub mod sched;
pub mod signal;
pub mod sysno;
pub mod vfs;
pub mod vm;

pub use skiff_pvcalls::{Errno, Readiness};

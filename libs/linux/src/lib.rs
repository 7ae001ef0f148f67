//! Linux x86_64 syscall personality of Skiff, the pure part: unmodified static Linux binaries on PV Calls.
//!
//! The kernel loads a static (or static-pie) x86_64 Linux ELF, runs it at
//! CPL 3 and hands this crate every syscall and CPU fault; sockets go to
//! dom0 through the PV Calls engine behind the [`env::Sockets`] trait.
//! Nothing here touches hardware: the kernel implements [`mem::UserMem`]
//! (copies to and from application memory, `EFAULT` outside it) and
//! [`env::Env`] (memory mappings, FS base, random bytes, clocks, console,
//! sockets), and this crate decides everything else. [`fake`] has
//! in-memory versions of both for host tests.
//!
//! The pieces, in the order the kernel meets them:
//!
//! - [`cmdline`]: `argv`, environment and `/etc/hosts` names from xl's
//!   `extra=` (syntax and examples there);
//! - [`loader`]: ELF checks with a distinct error each, the load plan, the
//!   initial stack with argc/argv/envp/auxv;
//! - [`process::Process`]: one process (threads, fds, open files, memory
//!   regions, signal dispositions, the [`sched::Scheduler`]);
//! - [`dispatch`]: `Process::syscall` decodes the registers once and
//!   answers with a [`dispatch::Action`]; blocking calls are re-run; the
//!   supported set with what is partial is [`dispatch::SUPPORTED`];
//! - `Process::fault` / `Process::deliver_signal`: signal frames
//!   ([`signal`]) for faults and self-sent signals;
//! - the state machines, each property-tested: [`epoll`], [`eventfd`],
//!   [`pipe`], [`fdtable`], [`sched`] (with futex queues), [`vm`];
//! - the ABI: [`sysno`] (numbers and names), [`abi`] (structs with checked
//!   layouts, flag values), [`Errno`] (Linux numbers).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod abi;
pub mod cmdline;
pub mod dispatch;
pub mod env;
pub mod epoll;
pub mod eventfd;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod fdtable;
pub mod file;
pub mod loader;
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

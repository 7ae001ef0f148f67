//! The kernel's shared-memory accessors built for the host, so that `cargo test` and Miri can run
//! them: the source is the kernel's own (`kernel/src/xen/rawmem.rs`), included as is.
#![no_std]

#[path = "../../src/xen/rawmem.rs"]
pub mod rawmem;

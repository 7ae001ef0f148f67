//! Kernel source built for the host, so that `cargo test` and Miri can run it: the shared-memory
//! accessors (`kernel/src/xen/rawmem.rs`), boot's RAM layout (`kernel/src/mm/layout.rs`) and the
//! set of application-owned ranges (`kernel/src/user/owned.rs`),
//! included as they are.
#![no_std]

#[path = "../../src/xen/rawmem.rs"]
pub mod rawmem;

#[path = "../../src/mm/layout.rs"]
pub mod layout;

extern crate alloc;

#[path = "../../src/user/owned.rs"]
pub mod owned;

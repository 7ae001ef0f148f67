//! Xen shared rings over untrusted shared memory: ring.h request/response
//! rings and the byte rings used by the console, xenstore and PV Calls.
#![no_std]
#![deny(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

mod mem;

pub use mem::SharedMem;

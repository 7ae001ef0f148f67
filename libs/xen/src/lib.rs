//! Mirrors of Xen's public interface headers (`xen/include/public`), one
//! module per header, with compile-time layout checks.
#![no_std]
#![deny(unsafe_code)]

pub mod console;
pub mod xs_wire;

//! What the kernel provides the PV Calls frontend: pages, grants, event
//! channels, the clock and blocking (the frontend's connection policy lives
//! in the `skiff` crate).
#![forbid(unsafe_code)]

pub mod platform;

pub use platform::KernelPlatform;

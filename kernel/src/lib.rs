//! The Skiff kernel: the only crate with `unsafe`, assembly and hypercalls.
//! It boots the PVH guest and offers safe Xen services to the layers above.
#![no_std]

extern crate alloc;

pub mod app;
pub mod arch;
mod boot;
pub mod crash;
pub mod logger;
pub mod mm;
pub mod net;
pub mod time;
pub mod usage;
pub mod user;
pub mod wait;
pub mod xen;

pub use app::{Termination, args, exit};
pub use boot::{boot_info, image_span};

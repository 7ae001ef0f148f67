//! Memory: the PVH memory map, boot's RAM layout, the Rust heap, the page-frame pool, shared
//! pages and the boot module.

pub mod frames;
pub mod heap;
pub mod layout;
pub mod memmap;
pub mod module;
pub mod pages;
pub mod scribble;

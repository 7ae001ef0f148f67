//! Memory: the PVH memory map, the Rust heap, and the pool of whole pages
//! that are shared with other domains.

pub mod frames;
pub mod heap;
pub mod memmap;
pub mod pages;
pub mod scribble;

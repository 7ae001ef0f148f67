//! The loader's pure parts: ELF checks and the load plan, and the initial process stack.
//!
//! The kernel reads the binary (module 0 of `hvm_start_info`, or embedded),
//! asks [`plan`] where each segment goes (or why it cannot run), maps the
//! plan's pages with their protections, copies each segment's file bytes
//! and zeroes the rest, builds the stack with [`build_stack`], and starts
//! the first thread at [`LoadPlan::entry`] with `rsp` at [`InitialStack::sp`]
//! and every other register 0 (`rdx` 0: no exit handler for the program).

mod elf;
mod stack;

pub use elf::{ElfError, LoadOptions, LoadPlan, Segment, Tls, fixed_span, plan};
pub use stack::{InitialStack, StackError, StackParams, auxv, build_stack};

//! Unmodified static Linux binaries on Skiff: the program from the boot module (xl's `ramdisk=`,
//! or embedded in the image) runs at CPL 3 with Linux's syscall personality
//! (`skiff_linux`), its sockets on the PV Calls frontend every Skiff app uses.
//!
//! The image `target/images/linux.elf` is this module's [`main`]; the
//! README's "Run your own Linux binary" says how to use it.

mod env;
mod load;
mod milestone;
mod report;
mod run;

pub use load::{DEFAULT_PROGRAM, DEFAULT_STACK, LoadError};

/// Loads the program and runs it; never returns (the program's exit ends
/// the domain). A program that cannot start is reported on the console
/// and the domain crashes with the error's status ([`LoadError::status`]).
pub fn main() -> i32 {
    let started = skiff_kernel::time::since_entry();
    let line = skiff_kernel::boot_info().cmdline();
    let loaded = match load::load(line) {
        Ok(l) => l,
        Err(e) => {
            skiff_kernel::println!("skiff: cannot run the program: {e}");
            return e.status();
        }
    };
    log::info!(
        "linux: {} ({} KiB) loaded in {} us; entry {:#x}",
        loaded.command.argv[0],
        loaded.binary_len / 1024,
        (skiff_kernel::time::since_entry() - started).as_micros(),
        loaded.entry
    );
    let p = skiff_linux::process::Process::new(loaded.config);
    run::start(p, loaded.entry, loaded.sp)
}

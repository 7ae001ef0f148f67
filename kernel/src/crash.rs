//! Fatal errors and panics: print the reason (console and port 0xE9) and
//! crash the domain, so the toolstack sees reason "crash".
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::cpu;
use crate::xen::shutdown::{Reason, shutdown};

static CRASHING: AtomicBool = AtomicBool::new(false);

/// Prints `msg` and crashes the domain. Never returns.
pub fn fatal(msg: core::fmt::Arguments<'_>) -> ! {
    cpu::disable_interrupts();
    if CRASHING.swap(true, Ordering::AcqRel) {
        // Failed while reporting a failure: keep it minimal.
        cpu::debugcon_write(b"skiff: fatal error while crashing\n");
        shutdown(Reason::Crash);
    }
    crate::xen::console::set_mirror_debugcon(true);
    crate::println!("skiff: FATAL: {msg}");
    shutdown(Reason::Crash)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(l) => fatal(format_args!(
            "panicked at {}:{}:{}: {}",
            l.file(),
            l.line(),
            l.column(),
            info.message()
        )),
        None => fatal(format_args!("panicked: {}", info.message())),
    }
}

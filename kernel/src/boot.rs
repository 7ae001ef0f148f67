//! The boot sequence, in order: CPU tables and paging → start info → heap →
//! hypercall page → shared info and clock → event channels and timer →
//! console and log → grant table → xenstore → lifecycle → application.

use core::time::Duration;

use spin::Once;

use crate::arch;
use crate::crash::fatal;
use crate::mm::{heap, memmap};
use crate::xen::{console, evtchn, grant, hypercall, lifecycle, shared_info, xenstore};

static BOOT_INFO: Once<memmap::BootInfo> = Once::new();

unsafe extern "C" {
    static __image_end: u8;
}

/// Rust entry, called by the PVH entry code on the boot stack with the
/// physical address of `hvm_start_info`.
#[unsafe(no_mangle)]
extern "C" fn skiff_rust_start(start_info: u64) -> ! {
    arch::gdt::init();
    arch::idt::init();
    arch::trap::set_handlers(evtchn::upcall_interrupt, fatal);
    arch::paging::init();

    let mut info = memmap::BootInfo::empty();
    // SAFETY: `start_info` is the ebx value of the PVH entry.
    if let Err(e) = unsafe { memmap::read(start_info, &mut info) } {
        fatal(format_args!("unusable hvm_start_info: {e:?}"));
    }
    let info = BOOT_INFO.call_once(|| info);
    let image_end = &raw const __image_end as u64;
    let Some((heap_start, heap_end)) = info.heap_region(image_end) else {
        fatal(format_args!("no RAM for the heap after the image (end {image_end:#x})"));
    };
    // SAFETY: the region is RAM after the image and the boot data, used for
    // nothing else.
    unsafe { heap::init(heap_start, heap_end) };

    if let Err(e) = hypercall::init() {
        fatal(format_args!("cannot reach the hypervisor: {e:?} (is this running under Xen?)"));
    }
    check(shared_info::init(), "map shared info");
    check(evtchn::init(), "set up event channels");
    check(crate::time::init(), "bind the timer VIRQ");
    check(console::init(), "set up the PV console");

    if let Err(e) = crate::app::set_args(info.cmdline()) {
        fatal(format_args!("bad command line {:?}: {e}", info.cmdline()));
    }
    let args = crate::app::args();
    crate::logger::init(log_level(args.get("loglevel")));
    console::set_mirror_debugcon(args.has_flag("debugcon"));
    if !args.has_flag("no-upcall-vector") {
        // Waits do not need the vector (see `wait.rs`): a failure is logged.
        if let Err(e) = evtchn::route_upcall_vector() {
            log::warn!("cannot route event channel upcalls to a vector: {e}");
        }
    }
    let (major, minor) = hypercall::xen_version();
    let extra = hypercall::xen_extraversion();
    let extra = core::str::from_utf8(&extra).unwrap_or("").trim_end_matches('\0');
    log::info!(
        "Skiff {} on Xen {major}.{minor}{extra}, {} MiB RAM, heap {} KiB",
        env!("CARGO_PKG_VERSION"),
        info.ram_bytes() >> 20,
        (heap_end - heap_start) >> 10
    );
    let (dirty, first) = arch::entry::bss_dirty();
    if dirty != 0 {
        log::warn!(
            "boot: .bss held {dirty} non-zero words at entry (first at {first:#x}); cleared"
        );
    }
    if info.cmdline_truncated {
        log::warn!("command line longer than {} bytes was cut", memmap::MAX_CMDLINE);
    }

    if args.has_flag("hypercall-selfcheck") {
        crate::xen::selfcheck::run(2000);
    }
    if args.has_flag("scribble-check") {
        crate::mm::scribble::init();
    }
    let entries = check(grant::init(), "map the grant table");
    log::debug!("grant table: {entries} entries");
    check(xenstore::init(), "connect to xenstore");
    log::debug!("xenstore: connected");
    log::debug!("lifecycle: watching control/shutdown");
    if let Err(e) = lifecycle::init() {
        log::warn!("shutdown requests from the toolstack will not be honoured: {e}");
    }

    let boot = crate::time::since_entry();
    log::info!("boot: PVH entry to application main in {}", Micros(boot));
    crate::app::run_main()
}

fn check<T, E: core::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| fatal(format_args!("cannot {what}: {e}")))
}

fn log_level(arg: Option<&str>) -> log::LevelFilter {
    match arg {
        Some("error") => log::LevelFilter::Error,
        Some("warn") => log::LevelFilter::Warn,
        Some("debug") => log::LevelFilter::Debug,
        Some("trace") => log::LevelFilter::Trace,
        Some("off") => log::LevelFilter::Off,
        _ => log::LevelFilter::Info,
    }
}

/// Formats a duration as milliseconds with microsecond precision.
struct Micros(Duration);

impl core::fmt::Display for Micros {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let us = self.0.as_micros();
        write!(f, "{}.{:03} ms", us / 1000, us % 1000)
    }
}

/// The boot information (memory map, command line).
pub fn boot_info() -> &'static memmap::BootInfo {
    BOOT_INFO.get().expect("boot info is read first thing at boot")
}

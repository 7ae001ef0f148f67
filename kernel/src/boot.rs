//! The boot sequence, in order: CPU tables and paging → start info → heap →
//! hypercall page → shared info and clock → event channels and timer →
//! console and log → grant table → xenstore → lifecycle → application.

use core::time::Duration;

use spin::Once;

use crate::arch;
use crate::crash::fatal;
use crate::mm::memmap::Module;
use crate::mm::{heap, layout, memmap};
use crate::xen::{console, evtchn, grant, hypercall, lifecycle, shared_info, xenstore};

static BOOT_INFO: Once<memmap::BootInfo> = Once::new();

unsafe extern "C" {
    static __image_start: u8;
    static __image_end: u8;
    static __module_start: u8;
    static __module_end: u8;
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
    let placed = place_memory(info);

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
        (placed.heap.end - placed.heap.start) >> 10
    );
    placed.report();
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

/// Where boot put RAM, and what it has to say about it once the console is up.
struct Placed {
    heap: core::ops::Range<u64>,
    /// Module 0 came from `ramdisk=` while the image also embeds a program.
    embedded_ignored: bool,
    /// A module lay where it cannot be kept (outside the RAM above the image).
    module_unusable: Option<Module>,
}

impl Placed {
    fn report(&self) {
        if self.embedded_ignored {
            log::warn!(
                "boot: ramdisk= given: it runs instead of the program embedded in the image"
            );
        }
        if let Some(m) = self.module_unusable {
            log::warn!(
                "boot: module at {:#x} ({} bytes) lies outside the RAM above the image: ignored",
                m.paddr,
                m.size
            );
        }
    }
}

/// Places the heap and pool, the boot module and a fixed-address program's
/// span (`mm::layout`), moves the module if it must, and starts the heap.
fn place_memory(info: &memmap::BootInfo) -> Placed {
    let image = image_span();
    let embedded = Module {
        paddr: &raw const __module_start as u64,
        size: &raw const __module_end as u64 - &raw const __module_start as u64,
    };
    let Some(ram) = info.ram_around(image.end) else {
        fatal(format_args!("no RAM entry holds the image end {:#x}", image.end));
    };
    let from_xl = info.modules().first().copied().filter(|m| m.size > 0);
    let mut placed = Placed {
        heap: 0..0,
        embedded_ignored: from_xl.is_some() && embedded.size > 0,
        module_unusable: None,
    };
    let mut module = from_xl.or((embedded.size > 0).then_some(embedded));
    if let Some(m) = module
        && !(m.paddr >= image.end && m.paddr.saturating_add(m.size) <= ram.end)
    {
        placed.module_unusable = Some(m);
        module = None;
    }
    let range = module.map(|m| m.paddr..m.paddr + m.size);
    let fixed = range.as_ref().and_then(|r| {
        // SAFETY: the module lies in RAM above the image, identity-mapped,
        // and nothing has been allocated yet that could overlap it.
        let bytes = unsafe {
            core::slice::from_raw_parts(r.start as *const u8, (r.end - r.start) as usize)
        };
        skiff_linux::loader::fixed_span(bytes)
    });
    let inputs =
        layout::Inputs { ram: ram.clone(), image: image.clone(), module: range.clone(), fixed };
    let Some(plan) = layout::plan(&inputs) else {
        fatal(format_args!(
            "no RAM left for the heap (RAM {ram:#x?}, image {image:#x?}, module {range:#x?})"
        ));
    };
    let mut range = range;
    if let (Some(dest), Some(r)) = (plan.module_dest, &range) {
        let len = (r.end - r.start) as usize;
        // SAFETY: both ranges are RAM above the image that nothing uses yet
        // (the destination is the top of RAM, kept for it by the plan);
        // `copy` allows them to overlap.
        unsafe { core::ptr::copy(r.start as *const u8, dest as *mut u8, len) };
        range = Some(dest..dest + len as u64);
    }
    // SAFETY: the plan keeps the heap region clear of the image, the module
    // and the fixed span; the pool treats the moved module's pages as in use.
    unsafe { heap::init(plan.heap.start, plan.heap.end, plan.pool_in_use_from) };
    for gap in plan.gaps.iter().flatten() {
        crate::mm::frames::free(gap.start, (gap.end - gap.start) / crate::mm::frames::PAGE);
    }
    crate::mm::module::set(range, plan.fixed);
    placed.heap = plan.heap;
    placed
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

/// The kernel image's span in memory.
pub fn image_span() -> core::ops::Range<u64> {
    (&raw const __image_start as u64)..(&raw const __image_end as u64)
}

/// The boot information (memory map, command line).
pub fn boot_info() -> &'static memmap::BootInfo {
    BOOT_INFO.get().expect("boot info is read first thing at boot")
}

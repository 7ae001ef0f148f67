//! Loading the program: the boot module checked and planned (`skiff_linux::loader`), its segments
//! copied into application pages with their protections, the main stack with argv/envp/auxv, and
//! the first thread's registers; each way this can fail has its console message and exit status.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use skiff_kernel::mm::{frames, module};
use skiff_kernel::user::memory::{self, Prot as KProt};
use skiff_linux::abi::MINSIGSTKSZ;
use skiff_linux::cmdline::{self, CmdlineError, Command};
use skiff_linux::loader::{self, ElfError, LoadOptions, LoadPlan, StackError, StackParams};
use skiff_linux::process::ProcessConfig;
use skiff_linux::vm::Prot;

use super::env::{kprot, random_bytes};

const PAGE: u64 = 4096;
/// `argv[0]` when the command line has no `--`.
pub const DEFAULT_PROGRAM: &str = "/app";
/// The main thread's stack unless `stack=` says otherwise.
pub const DEFAULT_STACK: u64 = 2 << 20;
/// Where a position-independent program's image is planned before the
/// pool chooses its place (any page-aligned user address would do).
const PROBE_BASE: u64 = 0x1000_0000;

/// Why the program cannot start. Each has a console line and its own exit
/// status, so a toolstack or a test can tell them apart.
#[derive(Debug)]
pub enum LoadError {
    /// No `ramdisk=` and nothing embedded.
    NoProgram,
    /// The command line (`extra=`) could not be parsed.
    Cmdline(CmdlineError),
    /// A kernel option has a bad value.
    BadOption(&'static str, String),
    /// The ELF checks failed.
    Elf(ElfError),
    /// The fixed range could not be kept free at boot.
    FixedRefused(module::FixedRefused, Range<u64>),
    /// Not enough memory for the image or the stack.
    NoMemory(&'static str, u64),
    /// The arguments and environment do not fit on the stack.
    Stack(StackError),
}

impl LoadError {
    /// The exit status the domain reports (see the README's table).
    pub fn status(&self) -> i32 {
        // Below 128 (a signal's 128 + n) and clear of the statuses programs
        // commonly use (1, 2, Rust's panic 101); 126 and 127 as a shell uses them.
        match self {
            LoadError::NoProgram => 127,
            LoadError::Elf(ElfError::NotElf) => 126,
            LoadError::Elf(
                ElfError::Not64Bit | ElfError::NotLittleEndian | ElfError::NotX86_64(_),
            ) => 125,
            LoadError::Elf(ElfError::Dynamic(_)) => 124,
            LoadError::Elf(ElfError::TooLarge { .. }) | LoadError::NoMemory(..) => 123,
            LoadError::Elf(ElfError::Reserved(_)) | LoadError::FixedRefused(..) => 122,
            LoadError::Elf(_) => 121,
            LoadError::Cmdline(_) | LoadError::BadOption(..) | LoadError::Stack(_) => 120,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NoProgram => f.write_str(
                "no program: give a static x86_64 Linux binary as ramdisk= in the xl config, \
                 or embed one with `make image BIN=path`",
            ),
            LoadError::Cmdline(e) => write!(f, "bad command line (extra=): {e}"),
            LoadError::BadOption(k, v) => write!(f, "bad value {v:?} for {k}="),
            LoadError::Elf(e) => write!(f, "the program is {e}"),
            LoadError::FixedRefused(why, kernel) => match why {
                module::FixedRefused::OutsideFreeRam => write!(
                    f,
                    "the program is linked at fixed addresses that overlap the kernel ({:#x}..{:#x}) \
                     or lie outside RAM: link it above {:#x} or build it static-pie",
                    kernel.start, kernel.end, kernel.end
                ),
                module::FixedRefused::NoRoomToMoveModule => f.write_str(
                    "the program is linked at fixed addresses where its own ramdisk= module lies, \
                     and memory= leaves no room to move it: raise memory= or build it static-pie",
                ),
            },
            LoadError::NoMemory(what, need) => write!(
                f,
                "not enough memory for the program's {what} ({} KiB): raise memory= in the xl config",
                need / 1024
            ),
            LoadError::Stack(e) => write!(f, "cannot build the program's stack: {e}"),
        }
    }
}

/// A loaded program, ready for its first thread.
pub struct Loaded {
    /// What the process starts with.
    pub config: ProcessConfig,
    /// Entry point.
    pub entry: u64,
    /// Initial stack pointer.
    pub sp: u64,
    /// The parsed command line.
    pub command: Command,
    /// Bytes of the binary.
    pub binary_len: usize,
}

/// Parses `stack=SIZE` (bytes, or with a `K`/`M` suffix).
fn parse_size(v: &str) -> Option<u64> {
    let (num, mul) = match v.as_bytes().last()? {
        b'k' | b'K' => (&v[..v.len() - 1], 1024),
        b'm' | b'M' => (&v[..v.len() - 1], 1 << 20),
        _ => (v, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// Maps the plan's pages: fresh read-write memory at the plan's addresses
/// (the pool's block for a position-independent program, the fixed range
/// boot kept free otherwise), the segments' bytes copied in, then each
/// range given its protection.
fn map_image(elf: &[u8], plan: &LoadPlan, block: Option<Range<u64>>) -> Result<(), LoadError> {
    let rw = KProt { read: true, write: true, exec: false };
    if block.is_none() {
        let span = plan.image.clone();
        memory::claim_fixed(span.clone(), rw)
            .map_err(|_| LoadError::NoMemory("image", span.end - span.start))?;
    }
    for s in &plan.segments {
        let bytes = elf.get(s.file_range()).ok_or(LoadError::Elf(ElfError::Truncated))?;
        memory::write(s.vaddr, bytes).map_err(|_| LoadError::Elf(ElfError::BadAddress(s.vaddr)))?;
    }
    // Pages of the image between segments stay inaccessible.
    let mut at = plan.image.start;
    for (r, prot) in &plan.pages {
        if r.start > at {
            let _ = memory::protect(at, r.start - at, KProt::default());
        }
        memory::protect(r.start, r.end - r.start, kprot(*prot))
            .map_err(|_| LoadError::NoMemory("image", r.end - r.start))?;
        at = r.end;
    }
    Ok(())
}

/// Loads the boot module as the program, with the command line `line`.
pub fn load(line: &str) -> Result<Loaded, LoadError> {
    let command = cmdline::parse(line, DEFAULT_PROGRAM).map_err(LoadError::Cmdline)?;
    let args = skiff_kernel::args();
    let stack_size = match args.get("stack") {
        None => DEFAULT_STACK,
        Some(v) => parse_size(v)
            .filter(|n| (64 * 1024..=1 << 30).contains(n))
            .map(|n| n.next_multiple_of(PAGE))
            .ok_or_else(|| LoadError::BadOption("stack", v.into()))?,
    };
    let hostname = args.get("hostname").unwrap_or("skiff");
    let elf = module::take().ok_or(LoadError::NoProgram)?;
    let fixed = module::fixed_range();
    let kernel = kernel_span();
    let stats = frames::stats();
    let available = stats.uncarved + stats.free_runs;
    // A fixed-address program: where it must go was decided at boot.
    let fixed_span = loader::fixed_span(&elf);
    let (plan, block) = match (fixed_span, fixed) {
        (Some(_), Err(why)) => return Err(LoadError::FixedRefused(why, kernel)),
        (Some(_), Ok(_)) => {
            let opts = LoadOptions { base: 0, reserved: &[], available };
            (loader::plan(&elf, &opts).map_err(LoadError::Elf)?, None)
        }
        (None, _) => {
            let probe = LoadOptions { base: PROBE_BASE, reserved: &[], available };
            let p = loader::plan(&elf, &probe).map_err(LoadError::Elf)?;
            let len = p.image.end - p.image.start;
            let at = memory::alloc(len, KProt { read: true, write: true, exec: false })
                .map_err(|_| LoadError::Elf(ElfError::TooLarge { need: len, available }))?;
            let base = at - (p.image.start - PROBE_BASE);
            let opts = LoadOptions { base, reserved: &[], available };
            (loader::plan(&elf, &opts).map_err(LoadError::Elf)?, Some(at..at + len))
        }
    };
    map_image(&elf, &plan, block)?;
    let binary_len = elf.len();
    drop(elf);

    // The main stack, with an inaccessible guard page below it.
    let rw = KProt { read: true, write: true, exec: plan.exec_stack };
    let stack = memory::alloc(stack_size + PAGE, rw)
        .map_err(|_| LoadError::NoMemory("stack", stack_size + PAGE))?;
    let _ = memory::protect(stack, PAGE, KProt::default());
    let top = stack + PAGE + stack_size;
    let argv: Vec<&str> = command.argv.iter().map(String::as_str).collect();
    let envp: Vec<&str> = command.envp.iter().map(String::as_str).collect();
    let mut random = [0u8; 16];
    random_bytes(&mut 0, &mut random);
    let params = StackParams {
        top,
        size: stack_size,
        argv: &argv,
        envp: &envp,
        execfn: argv[0],
        random,
        hwcap: u64::from(skiff_kernel::arch::cpu::cpuid(1)[3]),
        hwcap2: 0,
        minsigstksz: MINSIGSTKSZ,
        clktck: 100,
    };
    let initial = loader::build_stack(&params, &plan).map_err(LoadError::Stack)?;
    memory::write(initial.sp, &initial.bytes).map_err(|_| LoadError::NoMemory("stack", 0))?;

    let stack_prot = if plan.exec_stack { Prot::RW | Prot::EXEC } else { Prot::RW };
    let mut regions: Vec<(Range<u64>, Prot)> = plan.pages.clone();
    regions.push((stack..stack + PAGE, Prot::empty()));
    regions.push((stack + PAGE..top, stack_prot));
    let config = ProcessConfig {
        exe: String::from(argv[0]),
        hosts: command.hosts.clone(),
        hostname: hostname.into(),
        regions,
        brk: plan.image.end..plan.image.end,
        fp_len: 512,
        min_sigstack: MINSIGSTKSZ,
    };
    Ok(Loaded { config, entry: plan.entry, sp: initial.sp, command, binary_len })
}

/// What the kernel occupies, for messages: its image up to the end of RAM
/// it manages (the heap and the pool).
fn kernel_span() -> Range<u64> {
    let info = skiff_kernel::boot_info();
    let image = skiff_kernel::image_span();
    let end = info.ram_around(image.end).map_or(image.end, |r| r.end);
    image.start..end
}

//! The hypercall page (found through Xen's CPUID leaves and installed with
//! its MSR) and the one way to issue a hypercall: with an argument type of
//! the table in `abi.rs`, which pairs each argument structure with its
//! hypercall and command numbers once.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use skiff_xen::hypercall as hc;

use crate::arch::cpu;

core::arch::global_asm!(
    r#"
    .section .text.hypercall_page, "ax"
    .balign 4096
    .global skiff_hypercall_page
skiff_hypercall_page:
    .fill 4096, 1, 0xcc
    .text
    "#,
    options(att_syntax)
);

unsafe extern "C" {
    static skiff_hypercall_page: u8;
}

static READY: AtomicBool = AtomicBool::new(false);

/// Number of stubs in the hypercall page.
const STUBS: usize = 4096 / hc::STUB_SIZE;

/// Hypercalls issued since boot, by hypercall number.
static CALLS: [AtomicU64; STUBS] = [const { AtomicU64::new(0) }; STUBS];

/// How many hypercalls numbered `nr` were issued since boot (each is an
/// exit to Xen: under emulation, tens of microseconds).
pub fn calls(nr: usize) -> u64 {
    CALLS.get(nr).map_or(0, |c| c.load(Ordering::Relaxed))
}

/// Why the hypervisor could not be set up.
#[derive(Debug)]
pub enum InitError {
    /// No Xen CPUID signature: not running under Xen.
    NotXen,
    /// Xen reports no hypercall pages.
    NoHypercallPage,
}

/// Finds the Xen CPUID leaves and asks Xen to fill the hypercall page.
/// Returns the Xen CPUID base leaf.
pub fn init() -> Result<u32, InitError> {
    let base = (hc::CPUID_FIRST_LEAF..=hc::CPUID_LAST_LEAF)
        .step_by(0x100)
        .find(|&leaf| {
            let [max, b, c, d] = cpu::cpuid(leaf);
            [b, c, d] == hc::CPUID_SIGNATURE && max >= leaf + 2
        })
        .ok_or(InitError::NotXen)?;
    let [pages, msr, _, _] = cpu::cpuid(base + 2);
    if pages == 0 {
        return Err(InitError::NoHypercallPage);
    }
    let page = &raw const skiff_hypercall_page as u64;
    // SAFETY: `msr` is Xen's hypercall-page MSR from CPUID; the page is a
    // page-aligned executable 4 KiB region of our image reserved for this.
    unsafe { cpu::wrmsr(msr, page) };
    READY.store(true, Ordering::Release);
    Ok(base)
}

/// Whether the hypercall page is installed.
pub fn is_ready() -> bool {
    READY.load(Ordering::Acquire)
}

/// Address of the stub for hypercall `nr` in the hypercall page.
pub(crate) fn stub(nr: usize) -> usize {
    assert!(READY.load(Ordering::Acquire), "hypercall before the hypercall page was set up");
    assert!(nr < STUBS, "no hypercall {nr}");
    &raw const skiff_hypercall_page as usize + nr * hc::STUB_SIZE
}

/// Where a hypercall takes the pointer to its argument structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Args {
    /// `(cmd, NULL)`: no structure.
    CmdNull,
    /// `(cmd, &arg)`.
    CmdPtr,
    /// `(cmd, &arg, count)`: an array of `count` structures (grant table ops).
    CmdPtrCount(usize),
    /// `(cmd, vcpu, &arg)` (vCPU ops).
    CmdVcpuPtr(usize),
}

/// The argument of one hypercall sub-operation: implemented once per ABI
/// structure, in the table of `abi.rs`.
///
/// # Safety
/// Hypercall [`HYPERCALL`](Self::HYPERCALL) with command
/// [`CMD`](Self::CMD), given the arguments [`ARGS`](Self::ARGS) describes
/// and a pointer to a `Self`, must read and write no memory of this domain
/// but that one `Self` (and read arrays it names, which Xen checks). If
/// [`SAFE`](Self::SAFE) is true it must moreover be harmless to memory
/// safety whatever the fields hold; if false, [`op_unchecked`]'s callers
/// are responsible for the fields.
pub unsafe trait HypercallArg: Sized {
    /// `__HYPERVISOR_*`.
    const HYPERCALL: usize;
    /// The sub-command.
    const CMD: usize;
    /// The argument layout.
    const ARGS: Args;
    /// Whether any field values are safe (see the trait's safety section).
    const SAFE: bool;
}

/// A hypercall that failed with a negative Xen errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenError(pub i32);

impl core::fmt::Display for XenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Xen error {}", -self.0)
    }
}

/// Turns a hypercall return value into a `Result`.
fn check(ret: isize) -> Result<usize, XenError> {
    if ret < 0 { Err(XenError(ret as i32)) } else { Ok(ret as usize) }
}

/// Issues the hypercall `A` pairs with, on `arg`. Only for sub-operations
/// the table marks safe (a compile-time check).
pub fn op<A: HypercallArg>(arg: &mut A) -> Result<usize, XenError> {
    const { assert!(A::SAFE, "this hypercall needs op_unchecked") };
    // SAFETY: the table asserts that `A`'s hypercall touches only `*arg`
    // and is harmless whatever `arg` holds.
    unsafe { issue(arg) }
}

/// Issues the hypercall `A` pairs with, on `arg`, for sub-operations that
/// can break memory safety (they replace guest pages, change how Xen
/// enters the guest).
///
/// # Safety
/// The fields of `arg` must be ones for which the hypercall breaks nothing
/// (see the documentation of the function that wraps it).
pub unsafe fn op_unchecked<A: HypercallArg>(arg: &mut A) -> Result<usize, XenError> {
    // SAFETY: forwarded to the caller; the table asserts the pointer contract.
    unsafe { issue(arg) }
}

/// # Safety
/// `A`'s table entry must be right, and `arg`'s fields acceptable.
unsafe fn issue<A: HypercallArg>(arg: &mut A) -> Result<usize, XenError> {
    let p = arg as *mut A as usize;
    let (a1, a2, a3) = match A::ARGS {
        Args::CmdNull => (A::CMD, 0, 0),
        Args::CmdPtr => (A::CMD, p, 0),
        Args::CmdPtrCount(n) => (A::CMD, p, n),
        Args::CmdVcpuPtr(vcpu) => (A::CMD, vcpu, p),
    };
    // SAFETY: forwarded to the caller.
    check(unsafe { raw(A::HYPERCALL, a1, a2, a3) })
}

/// The hypercall instruction sequence: calls the stub of hypercall `nr`.
///
/// # Safety
/// The arguments must be what hypercall `nr` expects; pointer arguments must
/// be valid for the reads and writes Xen will perform on them.
unsafe fn raw(nr: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let entry = stub(nr);
    CALLS[nr].fetch_add(1, Ordering::Relaxed);
    let snapshot = crate::mm::scribble::snapshot_stack(cpu::stack_pointer() as usize);
    let mut ret: isize = 0;
    // SAFETY: `entry` is the stub for `nr` in the page Xen filled in; the
    // stubs preserve the stack and clobber at most rax and the argument
    // registers (debug Xen builds scrub argument registers), all declared.
    crate::arch::cpu::without_interrupts(|| unsafe {
        core::arch::asm!(
            "push %rbx",
            "push %rbp",
            "call *%rax",
            "pop %rbp",
            "pop %rbx",
            inlateout("rax") entry => ret,
            inlateout("rdi") a1 => _,
            inlateout("rsi") a2 => _,
            inlateout("rdx") a3 => _,
            lateout("rcx") _,
            lateout("r8") _,
            lateout("r9") _,
            lateout("r10") _,
            lateout("r11") _,
            lateout("r12") _,
            lateout("r13") _,
            lateout("r14") _,
            lateout("r15") _,
            options(att_syntax)
        );
    });
    if snapshot {
        crate::mm::scribble::compare_stack(nr);
    }
    crate::mm::scribble::check(nr);
    ret
}

/// `SCHEDOP_poll`: blocks the vCPU until one of `ports` is pending or the
/// absolute system time `timeout_ns` (0: none) passes.
pub fn sched_poll(ports: &[u32], timeout_ns: u64) -> Result<(), XenError> {
    use skiff_xen::sched::SchedPoll;
    let mut arg = SchedPoll {
        ports: ports.as_ptr() as u64,
        nr_ports: ports.len() as u32,
        pad: 0,
        timeout: timeout_ns,
    };
    op(&mut arg).map(drop)
}

/// `VCPUOP_get_runstate_info` for vCPU 0: the time it spent running,
/// waiting for a physical CPU and blocked, as Xen accounts it.
pub fn runstate() -> Result<skiff_xen::vcpu::RunstateInfo, XenError> {
    let mut info = skiff_xen::vcpu::RunstateInfo::default();
    op(&mut info).map(|_| info)
}

/// `SCHEDOP_yield`: lets another vCPU run.
pub fn sched_yield() {
    // Cannot fail.
    let _ = op(&mut skiff_xen::sched::Yield);
}

/// `xen_version(XENVER_version)`: `(major, minor)`.
pub fn xen_version() -> (u16, u16) {
    let v = op(&mut skiff_xen::version::Version).unwrap_or(0);
    ((v >> 16) as u16, v as u16)
}

/// `xen_version(XENVER_extraversion)`, e.g. ".11" for 4.17.11 (Debian adds
/// its own suffix).
pub fn xen_extraversion() -> [u8; skiff_xen::version::EXTRAVERSION_LEN] {
    let mut buf = skiff_xen::version::Extraversion::default();
    let _ = op(&mut buf);
    buf.0
}

//! The hypercall page (found through Xen's CPUID leaves and installed with
//! its MSR) and the raw hypercall instruction sequence.

use core::sync::atomic::{AtomicBool, Ordering};

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

/// Address of the stub for hypercall `nr` in the hypercall page.
pub fn stub(nr: usize) -> usize {
    assert!(READY.load(Ordering::Acquire), "hypercall before the hypercall page was set up");
    &raw const skiff_hypercall_page as usize + nr * hc::STUB_SIZE
}

/// Issues hypercall `nr` with up to five arguments.
///
/// # Safety
/// The arguments must be what hypercall `nr` expects; pointer arguments must
/// be valid for the reads and writes Xen will perform on them.
pub unsafe fn call(nr: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize {
    let entry = stub(nr);
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
            inlateout("r10") a4 => _,
            inlateout("r8") a5 => _,
            lateout("rcx") _,
            lateout("r9") _,
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
    use skiff_xen::sched::{SchedPoll, SCHEDOP_POLL};
    let mut arg = SchedPoll {
        ports: ports.as_ptr() as u64,
        nr_ports: ports.len() as u32,
        pad: 0,
        timeout: timeout_ns,
    };
    // SAFETY: SCHEDOP_poll reads a sched_poll and `nr_ports` u32s at
    // `ports`, both valid for the duration of the call.
    unsafe { call_with(hc::SCHED_OP, SCHEDOP_POLL, &mut arg) }.map(drop)
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
pub fn check(ret: isize) -> Result<usize, XenError> {
    if ret < 0 {
        Err(XenError(ret as i32))
    } else {
        Ok(ret as usize)
    }
}

/// Issues a hypercall whose second argument points at `arg`.
///
/// # Safety
/// `T` must be the argument structure hypercall `nr` with sub-command `cmd`
/// expects.
pub unsafe fn call_with<T>(nr: usize, cmd: usize, arg: &mut T) -> Result<usize, XenError> {
    // SAFETY: forwarded to the caller; `arg` is a valid exclusive reference.
    check(unsafe { call(nr, cmd, arg as *mut T as usize, 0, 0, 0) })
}

/// `xen_version(XENVER_version)`: `(major, minor)`.
pub fn xen_version() -> (u16, u16) {
    // SAFETY: XENVER_version takes no pointer argument.
    let v = unsafe { call(hc::XEN_VERSION, skiff_xen::version::XENVER_VERSION, 0, 0, 0, 0) };
    ((v >> 16) as u16, v as u16)
}

/// `xen_version(XENVER_extraversion)`, e.g. ".11" for 4.17.11 (Debian adds
/// its own suffix).
pub fn xen_extraversion() -> [u8; skiff_xen::version::EXTRAVERSION_LEN] {
    let mut buf = [0u8; skiff_xen::version::EXTRAVERSION_LEN];
    // SAFETY: Xen writes exactly EXTRAVERSION_LEN bytes into `buf`.
    unsafe {
        call(
            hc::XEN_VERSION,
            skiff_xen::version::XENVER_EXTRAVERSION,
            buf.as_mut_ptr() as usize,
            0,
            0,
            0,
        )
    };
    buf
}

/// Whether the hypercall page is installed.
pub fn is_ready() -> bool {
    READY.load(Ordering::Acquire)
}

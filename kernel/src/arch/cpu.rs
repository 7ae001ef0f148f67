//! Small CPU primitives: TSC, CPUID, MSRs, port 0xE9, interrupt flag, halting.

/// Reads the time-stamp counter (RDTSC; never RDTSCP, which Xen-in-TCG
/// cannot emulate).
///
/// Xen may intercept RDTSC (TSC emulation); the asm does not promise to
/// preserve RFLAGS, so the compiler never keeps a comparison result live
/// across an instruction that leaves the guest. (This was a suspect in
/// guest-state corruption later traced to a wrong hypercall number; it
/// costs nothing and stays.)
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC only writes edx:eax; the TSC is enabled for PVH guests.
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (hi as u64) << 32 | lo as u64
}

/// Executes CPUID for `leaf` (subleaf 0) and returns eax, ebx, ecx, edx.
pub fn cpuid(leaf: u32) -> [u32; 4] {
    #[allow(unused_unsafe)]
    // SAFETY: CPUID is available on every x86_64 CPU and only reads registers.
    let r = unsafe { core::arch::x86_64::__cpuid_count(leaf, 0) };
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// Writes a model-specific register.
///
/// # Safety
/// `msr` and `value` must be valid for this CPU and the write must not break
/// memory safety (e.g. the Xen hypercall-page MSR with an address of a page we
/// own).
pub unsafe fn wrmsr(msr: u32, value: u64) {
    let mut m = x86_64::registers::model_specific::Msr::new(msr);
    // SAFETY: forwarded to the caller.
    unsafe { m.write(value) };
}

/// Writes bytes to I/O port 0xE9, which Xen prints as `(dN) ...` on its
/// console when booted with `guest_loglvl=all`.
pub fn debugcon_write(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: port 0xE9 is the Xen debug port; writing has no other
        // effect. RFLAGS is not declared preserved (see `rdtsc`): the OUT
        // is intercepted by Xen.
        unsafe {
            core::arch::asm!("out dx, al", in("dx") 0xE9u16, in("al") b, options(nomem, nostack))
        };
    }
}

/// Runs `f` with interrupts disabled, restoring the previous state.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    x86_64::instructions::interrupts::without_interrupts(f)
}

/// Disables interrupts.
pub fn disable_interrupts() {
    x86_64::instructions::interrupts::disable();
}

/// Opens a one-instruction interrupt window: an interrupt that is pending
/// (an event channel upcall) is taken once STI's shadow (the `nop`) ends,
/// before the `cli`, and interrupts are disabled again before this returns.
pub fn interrupt_window() {
    // SAFETY: every vector that can arrive has an IDT entry (exceptions and
    // the upcall vector), and the upcall handler only touches atomics. No
    // `nomem`: the handler writes memory the caller may read afterwards.
    unsafe { core::arch::asm!("sti", "nop", "cli") };
}

/// Reads CR2 (the faulting address of the last page fault).
pub fn cr2() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}

/// The current stack pointer.
pub fn stack_pointer() -> u64 {
    let rsp: u64;
    // SAFETY: reads RSP into a register; no memory or flags are touched.
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack, preserves_flags))
    };
    rsp
}

/// A 64-bit random number from RDRAND (RDSEED if RDRAND is absent), or
/// `None` when the CPU has neither or it failed ten times in a row.
pub fn hardware_random() -> Option<u64> {
    let ecx = cpuid(1)[2];
    let ebx7 = if cpuid(0)[0] >= 7 { cpuid(7)[1] } else { 0 };
    let (rdrand, rdseed) = (ecx & (1 << 30) != 0, ebx7 & (1 << 18) != 0);
    for _ in 0..10 {
        let (v, ok): (u64, u8);
        if rdrand {
            // SAFETY: RDRAND exists (CPUID.1:ECX.30); it writes a register
            // and CF only.
            unsafe {
                core::arch::asm!("rdrand {}", "setc {}", out(reg) v, out(reg_byte) ok, options(nomem, nostack))
            };
        } else if rdseed {
            // SAFETY: RDSEED exists (CPUID.7:EBX.18); it writes a register
            // and CF only.
            unsafe {
                core::arch::asm!("rdseed {}", "setc {}", out(reg) v, out(reg_byte) ok, options(nomem, nostack))
            };
        } else {
            return None;
        }
        if ok == 1 {
            return Some(v);
        }
    }
    None
}

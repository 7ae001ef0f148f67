//! Signal ABI: `k_sigaction`, `stack_t`, `siginfo_t`, `struct sigcontext` and the kernel's `struct ucontext`.
//!
//! These are the kernel's views (`arch/x86/include/uapi/asm/signal.h`,
//! `sigcontext.h`, `include/uapi/asm-generic/ucontext.h`): the signal mask
//! is one 64-bit word, not libc's 128-byte `sigset_t`.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::layout;

/// `struct sigaction` as `rt_sigaction` takes it on x86_64 (handler, flags, restorer, mask).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct KSigaction {
    /// `SIG_DFL` (0), `SIG_IGN` (1) or the handler's address.
    pub handler: u64,
    /// `SA_*` flags.
    pub flags: u64,
    /// `sa_restorer`: where the handler returns (musl's `__restore_rt`).
    pub restorer: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
}
layout!(KSigaction, 32, flags @ 8, restorer @ 16, mask @ 24);

/// `stack_t`: an alternate signal stack.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct StackT {
    /// Lowest address of the stack.
    pub sp: u64,
    /// `SS_ONSTACK`, `SS_DISABLE`, `SS_AUTODISARM`.
    pub flags: i32,
    /// Padding.
    pub _pad: u32,
    /// Size in bytes.
    pub size: u64,
}
layout!(StackT, 24, flags @ 8, size @ 16);

/// `siginfo_t` (128 bytes), with the fields of the fault and kill layouts.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct SigInfo {
    /// Signal number.
    pub signo: i32,
    /// Zero.
    pub errno: i32,
    /// `SEGV_MAPERR`, `SI_TKILL`, ... .
    pub code: i32,
    /// Padding before the union.
    pub _pad: i32,
    /// `si_addr` for faults; `si_pid` (low half) and `si_uid` (high half) for kills.
    pub addr: u64,
    /// The rest of the union.
    pub rest: [u64; 13],
}
layout!(SigInfo, 128, code @ 8, addr @ 16);

/// x86_64 `struct sigcontext` (`uc_mcontext`): the registers at the time of the signal.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
#[allow(missing_docs)]
pub struct MContext {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
    pub cs: u16,
    pub gs: u16,
    pub fs: u16,
    pub ss: u16,
    pub err: u64,
    pub trapno: u64,
    pub oldmask: u64,
    pub cr2: u64,
    /// Address of the saved FPU state in the frame (0: none).
    pub fpstate: u64,
    pub _reserved: [u64; 8],
}
layout!(MContext, 256, rdi @ 64, rax @ 104, rsp @ 120, rip @ 128, eflags @ 136, cs @ 144,
    err @ 152, cr2 @ 176, fpstate @ 184);

/// The kernel's `struct ucontext` on x86_64 (304 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct UContext {
    /// `UC_FP_XSTATE`, `UC_SIGCONTEXT_SS`, `UC_STRICT_RESTORE_SS`.
    pub flags: u64,
    /// Zero.
    pub link: u64,
    /// The alternate stack at the time of the signal.
    pub stack: StackT,
    /// The registers.
    pub mcontext: MContext,
    /// The signal mask to restore.
    pub sigmask: u64,
}
layout!(UContext, 304, stack @ 16, mcontext @ 40, sigmask @ 296);

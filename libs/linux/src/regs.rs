//! The user register state the kernel saves at a syscall or fault and restores on return.

/// General-purpose registers, instruction pointer and flags of a thread.
///
/// At a `syscall`: `rax` is the number, `rdi rsi rdx r10 r8 r9` the
/// arguments, `rcx` the return address and `r11` the flags (the CPU's
/// doing); `rip` is the instruction after `syscall`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Regs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
}

impl Regs {
    /// The six syscall arguments.
    pub fn args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
}

/// `RFLAGS` bits an application may change through `rt_sigreturn`
/// (Linux's `FIX_EFLAGS`: CF PF AF ZF SF TF DF OF RF AC).
pub const USER_FLAGS: u64 =
    0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x1_0000 | 0x4_0000;
/// `RFLAGS` bits cleared when a signal handler starts (DF, TF, RF).
pub const HANDLER_CLEARS: u64 = 0x400 | 0x100 | 0x1_0000;

/// Whether `addr` is a user address (below the canonical hole's lower end).
pub fn is_user_addr(addr: u64) -> bool {
    addr < crate::abi::USER_END
}

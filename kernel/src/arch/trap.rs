//! Trap entry stubs: every vector saves the registers into a [`TrapFrame`]
//! and calls `trap_dispatch`; the event channel upcall goes to the upcall
//! handler, a CPU exception in user mode (CPL 3) to the user-fault handler,
//! and one in the kernel is described and handed to the fatal-error
//! handler. The handlers belong to higher layers, which register them
//! ([`set_handlers`], [`set_user_fault_handler`]). All traps return through
//! `skiff_trap_return`, which the `syscall` entry and new threads use too.

use spin::Once;

use super::UPCALL_VECTOR;

static UPCALL_HANDLER: Once<fn()> = Once::new();
static FATAL_HANDLER: Once<fn(core::fmt::Arguments<'_>) -> !> = Once::new();
static USER_FAULT_HANDLER: Once<fn(&mut TrapFrame)> = Once::new();

/// Registers what runs for the upcall vector and what reports a CPU
/// exception (and never returns). Only the first call counts.
pub fn set_handlers(upcall: fn(), fatal: fn(core::fmt::Arguments<'_>) -> !) {
    UPCALL_HANDLER.call_once(|| upcall);
    FATAL_HANDLER.call_once(|| fatal);
}

/// Registers what runs for a CPU exception in user mode: it may change the
/// frame (to run a signal handler) and return, or end the program. Without
/// one, a user fault is fatal like a kernel one. Only the first call counts.
pub fn set_user_fault_handler(handler: fn(&mut TrapFrame)) {
    USER_FAULT_HANDLER.call_once(|| handler);
}

/// RFLAGS bits user code may set (CF PF AF ZF SF TF DF OF AC): never IF
/// cleared, never IOPL, NT, RF or VM.
const USER_CHANGEABLE: u64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4_0000;
/// RFLAGS bits always set in user mode: IF, and bit 1.
const USER_FIXED: u64 = 0x202;
/// First address past the lower canonical half: user code lives below it.
const USER_END: u64 = 0x0000_8000_0000_0000;

impl TrapFrame {
    /// Whether the trap came from user mode (CPL 3).
    pub fn from_user(&self) -> bool {
        self.cs & 3 == 3
    }

    /// Makes the frame one `iretq` can return to user mode with, whatever a
    /// handler put in it: user segments, only the flags user code may
    /// change (interrupts on), and an instruction pointer in the user half
    /// (a bad one becomes 0, which faults in user mode as a bad jump would,
    /// instead of faulting the `iretq` in the kernel).
    pub fn sanitize_for_user(&mut self) {
        let sel = super::gdt::selectors();
        self.cs = u64::from(sel.user_code.0);
        self.ss = u64::from(sel.user_data.0);
        self.rflags = (self.rflags & USER_CHANGEABLE) | USER_FIXED;
        if self.rip >= USER_END {
            self.rip = 0;
        }
    }
}

/// Reports `msg` with the registered handler, or, before one is
/// registered, on the debug port, then stops the vCPU (with interrupts
/// off Xen takes it, and the domain, down).
fn fatal(msg: core::fmt::Arguments<'_>) -> ! {
    if let Some(f) = FATAL_HANDLER.get() {
        f(msg);
    }
    super::cpu::debugcon_write(b"skiff: CPU exception before the kernel was up\n");
    loop {
        super::cpu::disable_interrupts();
        x86_64::instructions::hlt();
    }
}

/// Registers saved by the stubs, in stack order (lowest address first).
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    /// General-purpose registers pushed by the common stub.
    pub r15: u64,
    #[allow(missing_docs)]
    pub r14: u64,
    #[allow(missing_docs)]
    pub r13: u64,
    #[allow(missing_docs)]
    pub r12: u64,
    #[allow(missing_docs)]
    pub r11: u64,
    #[allow(missing_docs)]
    pub r10: u64,
    #[allow(missing_docs)]
    pub r9: u64,
    #[allow(missing_docs)]
    pub r8: u64,
    #[allow(missing_docs)]
    pub rbp: u64,
    #[allow(missing_docs)]
    pub rdi: u64,
    #[allow(missing_docs)]
    pub rsi: u64,
    #[allow(missing_docs)]
    pub rdx: u64,
    #[allow(missing_docs)]
    pub rcx: u64,
    #[allow(missing_docs)]
    pub rbx: u64,
    #[allow(missing_docs)]
    pub rax: u64,
    /// Vector number pushed by the per-vector stub.
    pub vector: u64,
    /// CPU error code, or 0 for vectors without one.
    pub error_code: u64,
    /// Interrupted instruction.
    pub rip: u64,
    #[allow(missing_docs)]
    pub cs: u64,
    #[allow(missing_docs)]
    pub rflags: u64,
    #[allow(missing_docs)]
    pub rsp: u64,
    #[allow(missing_docs)]
    pub ss: u64,
}

// Vectors 8, 10-14, 17, 21, 29, 30 push an error code; the others get a 0
// pushed by the stub so the frame layout is uniform.
macro_rules! stubs {
    ($($name:ident $vec:literal $err:literal;)*) => {
        core::arch::global_asm!(
            $(
                concat!(".global ", stringify!($name)),
                concat!(stringify!($name), ":"),
                concat!(".if ", $err, " == 0"),
                "push $0",
                ".endif",
                concat!("push $", $vec),
                "jmp skiff_trap_common",
            )*
            options(att_syntax)
        );
        unsafe extern "C" {
            $(fn $name();)*
        }
        /// Entry stubs by vector, for the IDT.
        pub fn stubs() -> impl Iterator<Item = (u8, u64)> {
            [$(($vec as u8, $name as *const () as u64)),*].into_iter()
        }
    };
}

stubs! {
    skiff_trap_0 0 0; skiff_trap_1 1 0; skiff_trap_2 2 0; skiff_trap_3 3 0;
    skiff_trap_4 4 0; skiff_trap_5 5 0; skiff_trap_6 6 0; skiff_trap_7 7 0;
    skiff_trap_8 8 1; skiff_trap_9 9 0; skiff_trap_10 10 1; skiff_trap_11 11 1;
    skiff_trap_12 12 1; skiff_trap_13 13 1; skiff_trap_14 14 1; skiff_trap_15 15 0;
    skiff_trap_16 16 0; skiff_trap_17 17 1; skiff_trap_18 18 0; skiff_trap_19 19 0;
    skiff_trap_20 20 0; skiff_trap_21 21 1; skiff_trap_22 22 0; skiff_trap_23 23 0;
    skiff_trap_24 24 0; skiff_trap_25 25 0; skiff_trap_26 26 0; skiff_trap_27 27 0;
    skiff_trap_28 28 0; skiff_trap_29 29 1; skiff_trap_30 30 1; skiff_trap_31 31 0;
    skiff_trap_upcall 243 0;
}

const _: () = assert!(UPCALL_VECTOR == 243);

core::arch::global_asm!(
    r#"
skiff_trap_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    cld
    call {dispatch}
    .global skiff_trap_return
skiff_trap_return:
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp
    iretq
    "#,
    dispatch = sym trap_dispatch,
    options(att_syntax)
);

const NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection fault",
    "page fault",
    "reserved",
    "x87 floating-point exception",
    "alignment check",
    "machine check",
    "SIMD floating-point exception",
    "virtualization exception",
    "control protection exception",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "hypervisor injection exception",
    "VMM communication exception",
    "security exception",
    "reserved",
];

/// Called by the common stub with interrupts disabled.
extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    if frame.vector == UPCALL_VECTOR as u64 {
        if let Some(f) = UPCALL_HANDLER.get() {
            f();
        }
        return;
    }
    if frame.from_user()
        && let Some(f) = USER_FAULT_HANDLER.get()
    {
        f(frame);
        frame.sanitize_for_user();
        return;
    }
    let name = NAMES.get(frame.vector as usize).copied().unwrap_or("unexpected interrupt");
    let mut extra = heapless_line();
    if frame.vector == 14 {
        let cr2 = super::cpu::cr2();
        let guard = super::paging::stack_guard();
        let _ = core::fmt::Write::write_fmt(
            &mut extra,
            format_args!(
                " at address {cr2:#x}{}",
                if cr2 >> 12 == guard >> 12 { " (stack overflow: hit the guard page)" } else { "" }
            ),
        );
    }
    let stack = StackWords(frame.rsp);
    fatal(format_args!(
        "CPU exception {} ({name}){}, error code {:#x}\n  rip {:#018x} rsp {:#018x} rflags {:#x}\n  rax {:#x} rbx {:#x} rcx {:#x} rdx {:#x}\n  rsi {:#x} rdi {:#x} rbp {:#x}\n  r8 {:#x} r9 {:#x} r10 {:#x} r11 {:#x}\n  stack around rsp: {stack}",
        frame.vector,
        extra.as_str(),
        frame.error_code,
        frame.rip,
        frame.rsp,
        frame.rflags,
        frame.rax,
        frame.rbx,
        frame.rcx,
        frame.rdx,
        frame.rsi,
        frame.rdi,
        frame.rbp,
        frame.r8,
        frame.r9,
        frame.r10,
        frame.r11,
    ));
}

/// Prints the words from `rsp - 16` to `rsp + 40` if they lie on the boot
/// stack (which is always mapped), to show where a bad jump came from.
struct StackWords(u64);

impl core::fmt::Display for StackWords {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (lo, hi) = super::paging::boot_stack();
        let start = self.0.wrapping_sub(16);
        if start < lo || start + 56 > hi || !start.is_multiple_of(8) {
            return f.write_str("(not on the boot stack)");
        }
        for i in 0..7 {
            let addr = start + i * 8;
            // SAFETY: the address is 8-byte aligned and inside the boot
            // stack, which is mapped for the whole run.
            let w = unsafe { core::ptr::read_volatile(addr as *const u64) };
            write!(f, "{}{w:#x}", if i == 0 { "" } else { " " })?;
        }
        Ok(())
    }
}

/// A fixed-size line buffer usable without the heap (the heap may be the
/// thing that is broken).
fn heapless_line() -> LineBuf {
    LineBuf { buf: [0; 96], len: 0 }
}

struct LineBuf {
    buf: [u8; 96],
    len: usize,
}

impl LineBuf {
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl core::fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

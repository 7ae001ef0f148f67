//! The `syscall` instruction: the MSRs that route it (EFER.SCE, STAR, LSTAR, SFMASK) and the entry
//! stub, which switches to the running thread's kernel stack, saves the user registers as a
//! [`TrapFrame`] (vector [`SYSCALL_VECTOR`]) and calls the handler a higher layer registered. It
//! returns to user mode through `skiff_trap_return` (`iretq`, so every register the handler put in
//! the frame is restored, `rcx` and `r11` included).

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Once;
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;

use super::gdt;
use super::trap::TrapFrame;

/// The `vector` field of a frame saved by the `syscall` entry.
pub const SYSCALL_VECTOR: u64 = 256;

/// The kernel stack the entry switches to (the running thread's top).
#[unsafe(no_mangle)]
static skiff_syscall_kernel_rsp: AtomicU64 = AtomicU64::new(0);
/// Where the entry parks the user stack pointer while it switches stacks.
#[unsafe(no_mangle)]
static skiff_syscall_user_rsp: AtomicU64 = AtomicU64::new(0);

static HANDLER: Once<fn(&mut TrapFrame)> = Once::new();

core::arch::global_asm!(
    r#"
    .global skiff_syscall_entry
skiff_syscall_entry:
    /* SFMASK cleared IF: nothing runs between here and the handler. */
    mov %rsp, skiff_syscall_user_rsp(%rip)
    mov skiff_syscall_kernel_rsp(%rip), %rsp
    push ${user_ss}
    push skiff_syscall_user_rsp(%rip)
    push %r11                    /* user rflags */
    push ${user_cs}
    push %rcx                    /* user rip */
    push $0                      /* error code */
    push ${vector}
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
    jmp skiff_trap_return
    "#,
    user_ss = const 0x1b,
    user_cs = const 0x23,
    vector = const SYSCALL_VECTOR,
    dispatch = sym syscall_dispatch,
    options(att_syntax)
);

unsafe extern "C" {
    fn skiff_syscall_entry();
}

extern "C" fn syscall_dispatch(frame: &mut TrapFrame) {
    match HANDLER.get() {
        Some(h) => h(frame),
        None => crate::crash::fatal(format_args!("syscall {} with no handler", frame.rax)),
    }
    frame.sanitize_for_user();
}

/// Turns `syscall` on: entry at `skiff_syscall_entry`, kernel segments on
/// entry, user segments on return, IF/TF/DF/AC cleared on entry; `handler`
/// runs for every syscall, on the running thread's kernel stack.
pub fn init(handler: fn(&mut TrapFrame)) {
    HANDLER.call_once(|| handler);
    let s = gdt::selectors();
    assert!(s.user_data.0 == 0x1b && s.user_code.0 == 0x23, "GDT order changed");
    if let Err(e) = Star::write(s.user_code, s.user_data, s.kernel_code, s.kernel_data) {
        crate::crash::fatal(format_args!("STAR: {e}"));
    }
    LStar::write(x86_64::VirtAddr::new(skiff_syscall_entry as *const () as u64));
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK,
    );
    // SAFETY: enabling syscall changes nothing until user code runs it;
    // the entry it leads to is the stub above.
    unsafe { Efer::update(|f| f.insert(EferFlags::SYSTEM_CALL_EXTENSIONS)) };
}

/// Sets the kernel stack the next trap or `syscall` from user mode uses:
/// the running thread's.
pub fn set_kernel_stack(top: u64) {
    skiff_syscall_kernel_rsp.store(top, Ordering::Relaxed);
    gdt::set_kernel_stack(top);
}

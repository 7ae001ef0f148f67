//! Kernel contexts of threads: switching kernel stacks (callee-saved registers and the stack
//! pointer), and the first switch into a new thread, which returns to user mode with the
//! registers of a [`TrapFrame`] placed at the top of its stack.

use super::trap::TrapFrame;

core::arch::global_asm!(
    r#"
    .global skiff_context_switch
/* skiff_context_switch(save: *mut u64 [rdi], load: u64 [rsi]) */
skiff_context_switch:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, (%rdi)
    mov %rsi, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

    .global skiff_context_first
/* A new thread's first switch "returns" here, with its TrapFrame on top of the stack. */
skiff_context_first:
    jmp skiff_trap_return
    "#,
    options(att_syntax)
);

unsafe extern "C" {
    fn skiff_context_switch(save: *mut u64, load: u64);
    fn skiff_context_first();
}

/// A saved kernel context: the stack pointer at its last switch.
#[derive(Debug, Default)]
pub struct Context {
    rsp: u64,
}

/// Callee-saved registers `skiff_context_switch` pops, then its return address.
const SWITCH_WORDS: usize = 7;

impl Context {
    /// The context of a new thread whose kernel stack ends at `stack_top`
    /// (16-byte aligned): its first switch returns to user mode with
    /// `frame`'s registers.
    ///
    /// # Safety
    /// `[stack_top - size_of::<TrapFrame>() - 56, stack_top)` must be
    /// memory of a kernel stack that nothing else uses.
    pub unsafe fn new_thread(stack_top: u64, frame: &TrapFrame) -> Context {
        let frame_at = stack_top - core::mem::size_of::<TrapFrame>() as u64;
        let rsp = frame_at - (SWITCH_WORDS * 8) as u64;
        // SAFETY: both writes land inside the stack the caller vouched for.
        unsafe {
            core::ptr::write(frame_at as *mut TrapFrame, TrapFrame { ..*frame });
            let words = rsp as *mut u64;
            for i in 0..SWITCH_WORDS - 1 {
                words.add(i).write(0);
            }
            words.add(SWITCH_WORDS - 1).write(skiff_context_first as *const () as u64);
        }
        Context { rsp }
    }
}

/// Saves the running kernel context in `from` and continues `to`; returns
/// when something switches back to `from`.
///
/// # Safety
/// `to` must be a context saved by a switch (or made by
/// [`Context::new_thread`]) whose stack is still alive and not running, and
/// nothing may hold a lock the other context needs.
pub unsafe fn switch(from: &mut Context, to: &Context) {
    // SAFETY: forwarded to the caller; the stub saves and restores the
    // callee-saved registers, which is all the Rust ABI needs preserved.
    unsafe { skiff_context_switch(&raw mut from.rsp, to.rsp) };
}

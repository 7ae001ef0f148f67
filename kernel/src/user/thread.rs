//! Application threads on the kernel side: each has a kernel stack (with an absent guard page
//! below it), a saved kernel context, its FXSAVE image and its FS base; switching between them
//! on the one vCPU, and the first entry into user mode.
//!
//! A thread runs in user mode until it makes a syscall or faults; the
//! handler then runs on that thread's kernel stack. A handler that has to
//! wait switches to another thread ([`switch_to`]) and continues when some
//! thread switches back. Switches happen only inside the kernel, so the
//! user registers are always saved in the trap frame at the top of the
//! thread's kernel stack; what [`switch_to`] saves is the kernel context,
//! the FPU state (the kernel is soft-float, so the CPU's FPU registers
//! always hold the running thread's) and the FS base.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::Mutex;

use crate::arch::context::{self, Context};
use crate::arch::fpu::{self, FpuState};
use crate::arch::paging::{self, Access};
use crate::arch::syscall;
use crate::arch::trap::TrapFrame;
use crate::mm::frames;

/// Pages of a thread's kernel stack (the guard page below is extra).
const STACK_PAGES: u64 = 16;

/// Not enough memory for a thread's kernel stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory;

/// One thread's kernel side.
struct Thread {
    ctx: Context,
    /// Lowest page of the stack block (the guard page).
    block: u64,
    fpu: FpuState,
    fs_base: u64,
}

impl Thread {
    fn stack_top(&self) -> u64 {
        self.block + (STACK_PAGES + 1) * frames::PAGE
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        // SAFETY: the guard page goes back to being ordinary kernel memory
        // before the block returns to the pool.
        let _ = unsafe { paging::set_access(self.block, frames::PAGE, Access::KERNEL_DATA) };
        frames::free(self.block, STACK_PAGES + 1);
    }
}

/// Every thread by id. Boxed, so a context's address is stable while the
/// table changes; entries leave only through [`reap`], never while running.
static THREADS: Mutex<BTreeMap<u32, Box<Thread>>> = Mutex::new(BTreeMap::new());
/// Threads that exited, freed by the next thread that runs.
static ZOMBIES: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// The running thread (0 before the first one starts).
static CURRENT: AtomicU32 = AtomicU32::new(0);

/// The running thread's id (0 before [`start`]).
pub fn current() -> u32 {
    CURRENT.load(Ordering::Relaxed)
}

/// Whether thread `id` exists (and has not been reaped).
pub fn exists(id: u32) -> bool {
    THREADS.lock().contains_key(&id)
}

/// Creates thread `id`, which enters user mode with `frame`'s registers
/// (its `cs`, `ss` and `rflags` are set here) and FS base `fs_base` the
/// first time something switches to it (the frame is made safe for user
/// mode first: see [`TrapFrame::sanitize_for_user`]). Replaces nothing: an existing id
/// is refused with `false`.
pub fn spawn(id: u32, frame: &TrapFrame, fs_base: u64) -> Result<bool, OutOfMemory> {
    if THREADS.lock().contains_key(&id) {
        return Ok(false);
    }
    let block = frames::alloc(STACK_PAGES + 1).ok_or(OutOfMemory)?;
    // SAFETY: a fresh block from the pool, ours alone: its lowest page
    // becomes the absent guard page below the stack.
    if unsafe { paging::set_access(block, frames::PAGE, Access::NONE) }.is_err() {
        frames::free(block, STACK_PAGES + 1);
        return Err(OutOfMemory);
    }
    let mut f = TrapFrame { ..*frame };
    f.sanitize_for_user();
    let top = block + (STACK_PAGES + 1) * frames::PAGE;
    // SAFETY: the stack block is fresh and ours (above the guard page).
    let ctx = unsafe { Context::new_thread(top, &f) };
    let t = Box::new(Thread { ctx, block, fpu: FpuState::initial(), fs_base });
    THREADS.lock().insert(id, t);
    Ok(true)
}

/// Raw pointers to two threads' records (boxes: stable until reaped).
fn pair(from: u32, to: u32) -> Option<(*mut Thread, *const Thread)> {
    let mut t = THREADS.lock();
    let to_ptr = &**t.get(&to)? as *const Thread;
    let from_ptr = &mut **t.get_mut(&from)? as *mut Thread;
    Some((from_ptr, to_ptr))
}

/// Loads `to`'s FPU state, FS base and kernel stack into the CPU.
fn load(to: &Thread) {
    if to.fpu.restore().is_err() {
        crate::crash::fatal(format_args!("a thread's saved FPU state is invalid"));
    }
    let _ = fpu::set_fs_base(to.fs_base);
    syscall::set_kernel_stack(to.stack_top());
}

/// Switches from the running thread to thread `to` (which must exist and
/// not be running); returns when some thread switches back to this one.
/// Call with no lock held that another thread may need.
pub fn switch_to(to: u32) {
    let from = current();
    if from == to {
        return;
    }
    let Some((from_ptr, to_ptr)) = pair(from, to) else {
        crate::crash::fatal(format_args!("switch from thread {from} to unknown thread {to}"));
    };
    // SAFETY: both records are boxed in THREADS and stay there until
    // reaped, which never happens to the running thread or to `to` (not
    // exited); one vCPU, interrupts off: nothing else touches them now.
    unsafe {
        (*from_ptr).fpu.save();
        CURRENT.store(to, Ordering::Relaxed);
        load(&*to_ptr);
        context::switch(&mut (*from_ptr).ctx, &(*to_ptr).ctx);
    }
    reap();
}

/// Ends the running thread and switches to `to`; its stack is freed by the
/// next thread that runs.
pub fn exit_to(to: u32) -> ! {
    let from = current();
    ZOMBIES.lock().push(from);
    switch_to(to);
    crate::crash::fatal(format_args!("exited thread {from} was resumed"));
}

/// Frees the stacks of exited threads (never the running one).
fn reap() {
    let me = current();
    let dead: Vec<u32> = {
        let mut z = ZOMBIES.lock();
        let (dead, keep): (Vec<u32>, Vec<u32>) = z.drain(..).partition(|&id| id != me);
        *z = keep;
        dead
    };
    for id in dead {
        let t = THREADS.lock().remove(&id);
        drop(t);
    }
}

/// Enters thread `id` from boot (its kernel context is the boot stack's,
/// which is abandoned).
pub fn start(id: u32) -> ! {
    let mut boot = Context::default();
    let to_ptr = {
        let t = THREADS.lock();
        let Some(to) = t.get(&id) else {
            crate::crash::fatal(format_args!("start of unknown thread {id}"));
        };
        &**to as *const Thread
    };
    CURRENT.store(id, Ordering::Relaxed);
    // SAFETY: the record is boxed in THREADS and not reaped while it runs.
    unsafe {
        load(&*to_ptr);
        context::switch(&mut boot, &(*to_ptr).ctx);
    }
    crate::crash::fatal(format_args!("the boot context was resumed"));
}

/// Sets the running thread's FS base; `false` for a non-canonical address.
pub fn set_fs_base(base: u64) -> bool {
    if fpu::set_fs_base(base).is_err() {
        return false;
    }
    if let Some(t) = THREADS.lock().get_mut(&current()) {
        t.fs_base = base;
    }
    true
}

/// The running thread's FPU state as an FXSAVE image (for a signal frame).
pub fn fpu_image() -> Vec<u8> {
    let mut s = FpuState::initial();
    s.save();
    s.0.to_vec()
}

/// Loads an FXSAVE image into the running thread's FPU (`rt_sigreturn`);
/// `false` (and nothing loaded) if it is not 512 bytes or its MXCSR is invalid.
pub fn load_fpu_image(img: &[u8]) -> bool {
    let Ok(bytes) = <[u8; fpu::FXSAVE_LEN]>::try_from(img) else { return false };
    FpuState(bytes).restore().is_ok()
}

/// Gives the running thread a clean FPU state (a signal handler starts with one).
pub fn reset_fpu() {
    let _ = FpuState::initial().restore();
}

/// Number of threads with a kernel side.
pub fn count() -> usize {
    THREADS.lock().len()
}

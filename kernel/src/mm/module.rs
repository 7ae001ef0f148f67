//! The boot module (xl's `ramdisk=`, or a program embedded in the image) and the fixed range kept
//! free for it: placed at boot by `layout.rs`, handed out once, its pages freed when dropped.

use core::ops::{Deref, Range};

use spin::{Mutex, Once};

use super::frames;
pub use super::layout::FixedRefused;

/// Where the module lies once boot has placed it.
static MODULE: Mutex<Option<Range<u64>>> = Mutex::new(None);
/// The range boot kept free for a fixed-address program, or why it could not.
static FIXED: Once<Result<Option<Range<u64>>, FixedRefused>> = Once::new();

/// Records where boot left the module and what it kept free (boot only).
pub(crate) fn set(module: Option<Range<u64>>, fixed: Result<Option<Range<u64>>, FixedRefused>) {
    *MODULE.lock() = module;
    FIXED.call_once(|| fixed);
}

/// The range boot kept out of the heap and the pool for the module's
/// fixed-address program: `Ok(None)` if the module is not such a program,
/// `Err` if the range could not be kept (it overlaps the kernel, lies
/// outside RAM, or there was no room to move the module out of its way).
pub fn fixed_range() -> Result<Option<Range<u64>>, FixedRefused> {
    FIXED.get().cloned().unwrap_or(Ok(None))
}

/// The boot module's bytes, owned: dropping it gives its pages to the pool.
#[derive(Debug)]
pub struct BootModule {
    range: Range<u64>,
    len: usize,
}

/// Takes the boot module (once; later calls and boots without one: `None`).
pub fn take() -> Option<BootModule> {
    let range = MODULE.lock().take()?;
    let len = (range.end - range.start) as usize;
    Some(BootModule { range, len })
}

impl Deref for BootModule {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: boot kept these bytes out of the heap and the pool (see
        // `layout.rs`), identity-mapped below 4 GiB; they are freed only when
        // this owner is dropped, and nothing writes them meanwhile.
        unsafe { core::slice::from_raw_parts(self.range.start as *const u8, self.len) }
    }
}

impl Drop for BootModule {
    fn drop(&mut self) {
        let start = self.range.start & !(frames::PAGE - 1);
        let end = self.range.end.next_multiple_of(frames::PAGE);
        frames::free(start, (end - start) / frames::PAGE);
    }
}

// The program `make image BIN=path` embeds: its bytes in `.skiff.module`,
// which the linker script places after the image (boot takes it as module 0).
#[cfg(skiff_embed)]
core::arch::global_asm!(concat!(
    ".pushsection .skiff.module, \"a\", @progbits\n",
    ".incbin \"",
    env!("SKIFF_EMBED_PATH"),
    "\"\n",
    ".popsection\n"
));

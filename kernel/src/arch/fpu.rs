//! The application's FPU/SSE state: enabling SSE for it (CR0/CR4), saving and restoring it per
//! thread with FXSAVE/FXRSTOR, and the FS base (TLS pointer) per thread. The kernel itself never
//! touches these registers (its target is soft-float), so they change only on a thread switch.
//! XSAVE and AVX stay off (CR4.OSXSAVE clear): programs see no AVX and keep to SSE, which FXSAVE
//! covers, and signal frames carry the 512-byte FXSAVE image Linux uses.

use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::FsBase;

/// An FXSAVE image whose MXCSR has reserved bits set (loading it would fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadFpuState;

/// An FS base outside the canonical address space (loading it would fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonCanonical;

/// Size of an FXSAVE image.
pub const FXSAVE_LEN: usize = 512;

/// An FXSAVE image (16-byte aligned, as the instruction requires).
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FpuState(pub [u8; FXSAVE_LEN]);

impl core::fmt::Debug for FpuState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FpuState")
    }
}

/// Lets CPL 3 use SSE: CR0.MP set, EM and TS clear; CR4.OSFXSR and
/// OSXMMEXCPT set.
pub fn init() {
    // SAFETY: these bits only enable SSE instructions and their exceptions;
    // the kernel uses none of them.
    unsafe {
        Cr0::update(|f| {
            f.insert(Cr0Flags::MONITOR_COPROCESSOR);
            f.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
        });
        Cr4::update(|f| f.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE));
    }
}

impl FpuState {
    /// The state a new process starts with: FNINIT's x87 state, MXCSR
    /// 0x1f80 (all exceptions masked, round to nearest).
    pub fn initial() -> FpuState {
        let mut s = FpuState([0; FXSAVE_LEN]);
        s.0[0..2].copy_from_slice(&0x037fu16.to_le_bytes()); // FCW
        s.0[24..28].copy_from_slice(&0x1f80u32.to_le_bytes()); // MXCSR
        s.0[28..32].copy_from_slice(&0xffffu32.to_le_bytes()); // MXCSR_MASK
        s
    }

    /// Saves the CPU's current FPU/SSE state here.
    pub fn save(&mut self) {
        // SAFETY: the buffer is 512 bytes, 16-byte aligned (the type's
        // alignment), exclusively borrowed; FXSAVE writes only it.
        unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) self.0.as_mut_ptr(), options(nostack)) };
    }

    /// Loads this state into the CPU. Fails (and loads nothing) if MXCSR
    /// has reserved bits set, which would fault.
    pub fn restore(&self) -> Result<(), BadFpuState> {
        let mxcsr = u32::from_le_bytes([self.0[24], self.0[25], self.0[26], self.0[27]]);
        if mxcsr & !0xffff != 0 {
            return Err(BadFpuState);
        }
        // SAFETY: a 512-byte, 16-byte-aligned image whose MXCSR is valid
        // (checked); FXRSTOR reads only it.
        unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) self.0.as_ptr(), options(nostack)) };
        Ok(())
    }
}

/// Sets the FS base (the running thread's TLS pointer). A non-canonical
/// value is refused (it would fault).
pub fn set_fs_base(base: u64) -> Result<(), NonCanonical> {
    if (0x0000_8000_0000_0000..0xffff_8000_0000_0000).contains(&base) {
        return Err(NonCanonical);
    }
    FsBase::write(x86_64::VirtAddr::new(base));
    Ok(())
}

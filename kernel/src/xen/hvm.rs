//! HVM parameters (`HVMOP_get_param`/`HVMOP_set_param`) and the memory op a
//! PVH guest uses to place Xen pages in its physical address space.

use skiff_xen::DOMID_SELF;
use skiff_xen::hvm::{GetParam, HvmParam, SetParam};
use skiff_xen::memory::AddToPhysmap;

use super::hypercall::{XenError, op, op_unchecked};

/// Reads HVM parameter `index` of this domain.
pub fn get_param(index: u32) -> Result<u64, XenError> {
    let mut p = GetParam(HvmParam { domid: DOMID_SELF, pad: 0, index, value: 0 });
    op(&mut p)?;
    Ok(p.0.value)
}

/// Sets HVM parameter `index` of this domain.
///
/// # Safety
/// The value must not make Xen enter the guest in a way it is not ready
/// for (for `HVM_PARAM_CALLBACK_IRQ`: the vector must have a handler).
pub unsafe fn set_param(index: u32, value: u64) -> Result<(), XenError> {
    let mut p = SetParam(HvmParam { domid: DOMID_SELF, pad: 0, index, value });
    // SAFETY: forwarded to the caller.
    unsafe { op_unchecked(&mut p)? };
    Ok(())
}

/// Maps page `idx` of Xen space `space` at guest frame `gpfn`, replacing
/// (and giving back to Xen) whatever RAM page was there.
///
/// # Safety
/// Nothing may rely on the previous contents of frame `gpfn`: it must be a
/// page reserved for this mapping.
pub unsafe fn add_to_physmap(space: u32, idx: u64, gpfn: u64) -> Result<(), XenError> {
    let mut a = AddToPhysmap { domid: DOMID_SELF, size: 0, space, idx, gpfn };
    // SAFETY: the caller guarantees the frame is ours to replace.
    unsafe { op_unchecked(&mut a)? };
    Ok(())
}

//! HVM parameters (`HVMOP_get_param`/`HVMOP_set_param`) and the memory ops a
//! PVH guest uses to place Xen pages in its physical address space.

use skiff_xen::hvm::{HvmParam, HVMOP_GET_PARAM, HVMOP_SET_PARAM};
use skiff_xen::hypercall::{HVM_OP, MEMORY_OP};
use skiff_xen::memory::{AddToPhysmap, XENMEM_ADD_TO_PHYSMAP};
use skiff_xen::DOMID_SELF;

use super::hypercall::{call_with, XenError};

/// Reads HVM parameter `index` of this domain.
pub fn get_param(index: u32) -> Result<u64, XenError> {
    let mut p = HvmParam { domid: DOMID_SELF, pad: 0, index, value: 0 };
    // SAFETY: HVMOP_get_param takes a `struct xen_hvm_param`.
    unsafe { call_with(HVM_OP, HVMOP_GET_PARAM, &mut p)? };
    Ok(p.value)
}

/// Sets HVM parameter `index` of this domain.
pub fn set_param(index: u32, value: u64) -> Result<(), XenError> {
    let mut p = HvmParam { domid: DOMID_SELF, pad: 0, index, value };
    // SAFETY: HVMOP_set_param takes a `struct xen_hvm_param`.
    unsafe { call_with(HVM_OP, HVMOP_SET_PARAM, &mut p)? };
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
    // SAFETY: XENMEM_add_to_physmap takes a `struct xen_add_to_physmap`; the
    // caller guarantees the frame is ours to replace.
    unsafe { call_with(MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, &mut a)? };
    Ok(())
}

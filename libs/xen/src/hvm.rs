//! HVM operations and parameters: `xen/include/public/hvm/hvm_op.h`,
//! `hvm/params.h`.

use crate::DomId;

/// `HVMOP_set_param`.
pub const HVMOP_SET_PARAM: usize = 0;
/// `HVMOP_get_param`.
pub const HVMOP_GET_PARAM: usize = 1;

/// `HVM_PARAM_CALLBACK_IRQ`: how event channel upcalls are delivered.
pub const PARAM_CALLBACK_IRQ: u32 = 0;
/// `HVM_PARAM_STORE_PFN`: frame of the xenstore ring.
pub const PARAM_STORE_PFN: u32 = 1;
/// `HVM_PARAM_STORE_EVTCHN`: event channel of the xenstore ring.
pub const PARAM_STORE_EVTCHN: u32 = 2;
/// `HVM_PARAM_CONSOLE_PFN`: frame of the PV console ring.
pub const PARAM_CONSOLE_PFN: u32 = 17;
/// `HVM_PARAM_CONSOLE_EVTCHN`: event channel of the PV console.
pub const PARAM_CONSOLE_EVTCHN: u32 = 18;

/// `HVM_PARAM_CALLBACK_TYPE_VECTOR` placed in bits 63:56 of the callback
/// parameter; the low 8 bits hold the vector.
pub const fn callback_via_vector(vector: u8) -> u64 {
    (2u64 << 56) | vector as u64
}

/// `struct xen_hvm_param`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct HvmParam {
    /// Domain, usually [`crate::DOMID_SELF`].
    pub domid: DomId,
    /// Padding (the C struct has it implicitly).
    pub pad: u16,
    /// Parameter index (`HVM_PARAM_*`).
    pub index: u32,
    /// Value read or written.
    pub value: u64,
}

const _: () = assert!(core::mem::size_of::<HvmParam>() == 16);

/// The argument of `HVMOP_get_param`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GetParam(pub HvmParam);

/// The argument of `HVMOP_set_param`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SetParam(pub HvmParam);
const _: () = assert!(core::mem::offset_of!(HvmParam, index) == 4);
const _: () = assert!(core::mem::offset_of!(HvmParam, value) == 8);

//! Console ring layout: `xen/include/public/io/console.h`.
//!
//! Two byte rings in one page: `in` (backend → guest, keyboard input) and
//! `out` (guest → backend, console output), each with free-running `u32`
//! producer/consumer indexes masked by the ring size (`MASK_XENCONS_IDX`).

use core::mem::{offset_of, size_of};

/// `XENCONS_RING_IDX`.
pub type XenconsRingIdx = u32;

/// Size of the `in` ring (backend → guest).
pub const IN_SIZE: usize = 1024;
/// Size of the `out` ring (guest → backend).
pub const OUT_SIZE: usize = 2048;

/// `struct xencons_interface`.
///
/// `connection` was added in Xen 4.21; older backends leave it zero, which
/// reads as [`XENCONSOLE_CONNECTED`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenconsInterface {
    /// `in[1024]`: input from the backend.
    pub in_: [u8; IN_SIZE],
    /// `out[2048]`: output to the backend.
    pub out: [u8; OUT_SIZE],
    /// Consumer index of `in` (guest writes).
    pub in_cons: XenconsRingIdx,
    /// Producer index of `in` (backend writes).
    pub in_prod: XenconsRingIdx,
    /// Consumer index of `out` (backend writes).
    pub out_cons: XenconsRingIdx,
    /// Producer index of `out` (guest writes).
    pub out_prod: XenconsRingIdx,
    /// `XENCONSOLE_CONNECTED` or `XENCONSOLE_DISCONNECTED` (backend writes).
    pub connection: u8,
}

/// Byte offsets of the fields of [`XenconsInterface`].
pub mod intf {
    /// `in[]`.
    pub const IN: usize = 0;
    /// `out[]`.
    pub const OUT: usize = 1024;
    /// `in_cons`.
    pub const IN_CONS: usize = 3072;
    /// `in_prod`.
    pub const IN_PROD: usize = 3076;
    /// `out_cons`.
    pub const OUT_CONS: usize = 3080;
    /// `out_prod`.
    pub const OUT_PROD: usize = 3084;
    /// `connection` (one byte).
    pub const CONNECTION: usize = 3088;
}

const _: () = {
    type I = XenconsInterface;
    assert!(offset_of!(I, in_) == intf::IN);
    assert!(offset_of!(I, out) == intf::OUT);
    assert!(offset_of!(I, in_cons) == intf::IN_CONS);
    assert!(offset_of!(I, in_prod) == intf::IN_PROD);
    assert!(offset_of!(I, out_cons) == intf::OUT_CONS);
    assert!(offset_of!(I, out_prod) == intf::OUT_PROD);
    assert!(offset_of!(I, connection) == intf::CONNECTION);
    assert!(size_of::<I>() == 3092);
    assert!(IN_SIZE.is_power_of_two() && OUT_SIZE.is_power_of_two());
};

/// `connection` value: the backend services the console.
pub const XENCONSOLE_CONNECTED: u8 = 0;
/// `connection` value: not (yet) serviced.
pub const XENCONSOLE_DISCONNECTED: u8 = 1;

/// `MASK_XENCONS_IDX(idx, in)`.
pub const fn mask_in(idx: XenconsRingIdx) -> u32 {
    idx & (IN_SIZE as u32 - 1)
}

/// `MASK_XENCONS_IDX(idx, out)`.
pub const fn mask_out(idx: XenconsRingIdx) -> u32 {
    idx & (OUT_SIZE as u32 - 1)
}

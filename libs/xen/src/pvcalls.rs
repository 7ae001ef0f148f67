//! PV Calls protocol version 1: `xen/include/public/io/pvcalls.h` (and `docs/misc/pvcalls.pandoc`).
//!
//! Command numbers, the 64-byte request and 24-byte response of the command
//! ring (a `DEFINE_RING_TYPES` ring of 32 slots in one page), and the
//! layout of the indexes page of a data ring (`struct pvcalls_data_intf`).
//! Offsets are the x86_64 layout of the header, which the explicit padding
//! added in 2020 made identical on every architecture.
//!
//! The per-command "cmd value" lines of the spec are off by one; the numbers
//! here are those of the header's `#define` list, which both the spec's own
//! list and the Linux implementations use.

use core::mem::{offset_of, size_of};

/// `XENBUS_FUNCTIONS_CALLS`: value of the backend's `function-calls` node
/// when it implements socket, connect, release, bind, listen, accept, poll.
pub const XENBUS_FUNCTIONS_CALLS: &str = "1";
/// The only protocol version (`versions` / `version` nodes).
pub const PVCALLS_VERSION: &str = "1";

/// `PVCALLS_SOCKET`.
pub const PVCALLS_SOCKET: u32 = 0;
/// `PVCALLS_CONNECT`.
pub const PVCALLS_CONNECT: u32 = 1;
/// `PVCALLS_RELEASE`.
pub const PVCALLS_RELEASE: u32 = 2;
/// `PVCALLS_BIND`.
pub const PVCALLS_BIND: u32 = 3;
/// `PVCALLS_LISTEN`.
pub const PVCALLS_LISTEN: u32 = 4;
/// `PVCALLS_ACCEPT`.
pub const PVCALLS_ACCEPT: u32 = 5;
/// `PVCALLS_POLL`.
pub const PVCALLS_POLL: u32 = 6;

/// Size of the `addr` field of CONNECT and BIND (`sizeof(struct sockaddr)`
/// rounded to 28 bytes, enough for `sockaddr_in6`).
pub const ADDR_LEN: usize = 28;

/// `struct xen_pvcalls_request` (64 bytes): `req_id`, `cmd` and a 56-byte
/// union whose members are described by the offsets in [`req`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenPvcallsRequest {
    /// Frontend cookie, echoed in the response.
    pub req_id: u32,
    /// `PVCALLS_*`.
    pub cmd: u32,
    /// The command's arguments (`dummy[56]` of the union).
    pub u: [u8; 56],
}

/// Absolute byte offsets of request fields within a 64-byte ring entry.
pub mod req {
    /// `req_id` u32.
    pub const REQ_ID: usize = 0;
    /// `cmd` u32.
    pub const CMD: usize = 4;
    /// `id` u64: the socket, first field of every command.
    pub const ID: usize = 8;
    /// SOCKET `domain` u32.
    pub const SOCKET_DOMAIN: usize = 16;
    /// SOCKET `type` u32.
    pub const SOCKET_TYPE: usize = 20;
    /// SOCKET `protocol` u32.
    pub const SOCKET_PROTOCOL: usize = 24;
    /// CONNECT `addr[28]`.
    pub const CONNECT_ADDR: usize = 16;
    /// CONNECT `len` u32.
    pub const CONNECT_LEN: usize = 44;
    /// CONNECT `flags` u32 (reserved).
    pub const CONNECT_FLAGS: usize = 48;
    /// CONNECT `ref`: grant of the indexes page.
    pub const CONNECT_REF: usize = 52;
    /// CONNECT `evtchn` u32.
    pub const CONNECT_EVTCHN: usize = 56;
    /// RELEASE `reuse` u8.
    pub const RELEASE_REUSE: usize = 16;
    /// BIND `addr[28]`.
    pub const BIND_ADDR: usize = 16;
    /// BIND `len` u32.
    pub const BIND_LEN: usize = 44;
    /// LISTEN `backlog` u32.
    pub const LISTEN_BACKLOG: usize = 16;
    /// ACCEPT `id_new` u64.
    pub const ACCEPT_ID_NEW: usize = 16;
    /// ACCEPT `ref`: grant of the new socket's indexes page.
    pub const ACCEPT_REF: usize = 24;
    /// ACCEPT `evtchn` u32.
    pub const ACCEPT_EVTCHN: usize = 28;
    /// Size of a request.
    pub const SIZE: usize = 64;
}

/// `struct xen_pvcalls_response` (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct XenPvcallsResponse {
    /// The request's `req_id`.
    pub req_id: u32,
    /// The request's `cmd`.
    pub cmd: u32,
    /// 0 or a negative Linux errno.
    pub ret: i32,
    /// Explicit padding (2020).
    pub pad: u32,
    /// The socket the request named (for ACCEPT: the listening socket).
    pub id: u64,
}

/// Byte offsets of response fields.
pub mod rsp {
    /// `req_id` u32.
    pub const REQ_ID: usize = 0;
    /// `cmd` u32.
    pub const CMD: usize = 4;
    /// `ret` i32.
    pub const RET: usize = 8;
    /// `id` u64 (every union member starts with it).
    pub const ID: usize = 16;
    /// Size of a response.
    pub const SIZE: usize = 24;
}

/// Size of one command-ring entry (the request/response union).
pub const ENTRY_SIZE: usize = 64;
/// Entries in the one-page command ring: `__RD32((4096 - 64) / 64)`.
pub const CMD_RING_ENTRIES: u32 = 32;

/// `struct pvcalls_data_intf`, the indexes page of a data ring, without the
/// trailing flexible `ref[]` array.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PvcallsDataIntf {
    /// Frontend's consumer index of `in`.
    pub in_cons: u32,
    /// Backend's producer index of `in`.
    pub in_prod: u32,
    /// Backend's error on `in` (negative errno; -ENOTCONN = orderly EOF).
    pub in_error: i32,
    /// Padding.
    pub pad1: [u8; 52],
    /// Backend's consumer index of `out`.
    pub out_cons: u32,
    /// Frontend's producer index of `out`.
    pub out_prod: u32,
    /// Backend's error on `out`.
    pub out_error: i32,
    /// Padding.
    pub pad2: [u8; 52],
    /// log2 of the number of data pages.
    pub ring_order: u32,
}

/// Byte offsets in the indexes page.
pub mod intf {
    /// `in_cons` u32 (frontend writes).
    pub const IN_CONS: usize = 0;
    /// `in_prod` u32 (backend writes).
    pub const IN_PROD: usize = 4;
    /// `in_error` i32 (backend writes).
    pub const IN_ERROR: usize = 8;
    /// `out_cons` u32 (backend writes).
    pub const OUT_CONS: usize = 64;
    /// `out_prod` u32 (frontend writes).
    pub const OUT_PROD: usize = 68;
    /// `out_error` i32 (backend writes).
    pub const OUT_ERROR: usize = 72;
    /// `ring_order` u32 (frontend writes).
    pub const RING_ORDER: usize = 128;
    /// `ref[0]`: grant refs of the data pages follow, one u32 each.
    pub const REF: usize = 132;
}

/// Largest data-ring order whose `ref[]` fits the indexes page
/// (`(4096 - 132) / 4` = 991 refs, so 512 = `1 << 9`).
pub const MAX_RING_ORDER: u32 = 9;

/// `XEN_FLEX_RING_SIZE(order)`: bytes of each direction of a data ring of
/// `1 << order` pages.
pub const fn data_ring_size(order: u32) -> usize {
    1 << (order + 12 - 1)
}

const _: () = {
    assert!(size_of::<XenPvcallsRequest>() == req::SIZE);
    assert!(offset_of!(XenPvcallsRequest, req_id) == req::REQ_ID);
    assert!(offset_of!(XenPvcallsRequest, cmd) == req::CMD);
    assert!(offset_of!(XenPvcallsRequest, u) == req::ID);
    assert!(req::CONNECT_ADDR + ADDR_LEN == req::CONNECT_LEN);
    assert!(req::BIND_ADDR + ADDR_LEN == req::BIND_LEN);
    assert!(req::CONNECT_EVTCHN + 4 <= req::SIZE);
    assert!(req::ACCEPT_EVTCHN + 4 <= req::SIZE);

    assert!(size_of::<XenPvcallsResponse>() == rsp::SIZE);
    assert!(offset_of!(XenPvcallsResponse, req_id) == rsp::REQ_ID);
    assert!(offset_of!(XenPvcallsResponse, cmd) == rsp::CMD);
    assert!(offset_of!(XenPvcallsResponse, ret) == rsp::RET);
    assert!(offset_of!(XenPvcallsResponse, id) == rsp::ID);

    type I = PvcallsDataIntf;
    assert!(offset_of!(I, in_cons) == intf::IN_CONS);
    assert!(offset_of!(I, in_prod) == intf::IN_PROD);
    assert!(offset_of!(I, in_error) == intf::IN_ERROR);
    assert!(offset_of!(I, out_cons) == intf::OUT_CONS);
    assert!(offset_of!(I, out_prod) == intf::OUT_PROD);
    assert!(offset_of!(I, out_error) == intf::OUT_ERROR);
    assert!(offset_of!(I, ring_order) == intf::RING_ORDER);
    assert!(size_of::<I>() == intf::REF);
    assert!(intf::REF + (4 << MAX_RING_ORDER) <= crate::PAGE_SIZE);

    assert!(data_ring_size(1) == 4096);
    assert!(data_ring_size(4) == 32768);
};

//! Xenstore wire protocol: `xen/include/public/io/xs_wire.h` (and `docs/misc/xenstore.txt`).
//!
//! Message type numbers, the 16-byte message header, the error-name table, the
//! shared interface page layout and its limits. All integers are little-endian
//! on the architectures Xen supports for PVH (x86) and Arm.

use core::mem::{offset_of, size_of};

/// `enum xsd_sockmsg_type` values. `XS_DEBUG` is the deprecated alias of
/// [`XS_CONTROL`](msg::XS_CONTROL).
pub mod msg {
    /// `XS_CONTROL` (alias `XS_DEBUG`), optional.
    pub const XS_CONTROL: u32 = 0;
    /// `XS_DIRECTORY`: `<path>|` → `<child>|*`.
    pub const XS_DIRECTORY: u32 = 1;
    /// `XS_READ`: `<path>|` → `<value|>`.
    pub const XS_READ: u32 = 2;
    /// `XS_GET_PERMS`.
    pub const XS_GET_PERMS: u32 = 3;
    /// `XS_WATCH`: `<wpath>|<token>|`.
    pub const XS_WATCH: u32 = 4;
    /// `XS_UNWATCH`: `<wpath>|<token>|`.
    pub const XS_UNWATCH: u32 = 5;
    /// `XS_TRANSACTION_START`: `|` → `<transid>|`.
    pub const XS_TRANSACTION_START: u32 = 6;
    /// `XS_TRANSACTION_END`: `T|` (commit) or `F|` (abort).
    pub const XS_TRANSACTION_END: u32 = 7;
    /// `XS_INTRODUCE` (dom0 only).
    pub const XS_INTRODUCE: u32 = 8;
    /// `XS_RELEASE` (dom0 only).
    pub const XS_RELEASE: u32 = 9;
    /// `XS_GET_DOMAIN_PATH`: `<domid>|` → `<path>|`.
    pub const XS_GET_DOMAIN_PATH: u32 = 10;
    /// `XS_WRITE`: `<path>|<value|>`.
    pub const XS_WRITE: u32 = 11;
    /// `XS_MKDIR`: `<path>|`.
    pub const XS_MKDIR: u32 = 12;
    /// `XS_RM`: `<path>|`.
    pub const XS_RM: u32 = 13;
    /// `XS_SET_PERMS`.
    pub const XS_SET_PERMS: u32 = 14;
    /// `XS_WATCH_EVENT`: unsolicited `<epath>|<token>|`, only sent by xenstored.
    pub const XS_WATCH_EVENT: u32 = 15;
    /// `XS_ERROR`: `<errno name>|`, only sent by xenstored.
    pub const XS_ERROR: u32 = 16;
    /// `XS_IS_DOMAIN_INTRODUCED`.
    pub const XS_IS_DOMAIN_INTRODUCED: u32 = 17;
    /// `XS_RESUME`.
    pub const XS_RESUME: u32 = 18;
    /// `XS_SET_TARGET`.
    pub const XS_SET_TARGET: u32 = 19;
    /// Value 20 was `XS_RESTRICT`, removed from the protocol; it is now invalid.
    pub const XS_RESTRICT_REMOVED: u32 = 20;
    /// `XS_RESET_WATCHES` (`XS_SET_TARGET + 2`).
    pub const XS_RESET_WATCHES: u32 = 21;
    /// `XS_DIRECTORY_PART`, optional.
    pub const XS_DIRECTORY_PART: u32 = 22;
    /// `XS_GET_FEATURE`, optional.
    pub const XS_GET_FEATURE: u32 = 23;
    /// `XS_SET_FEATURE`, optional.
    pub const XS_SET_FEATURE: u32 = 24;
    /// `XS_GET_QUOTA`, optional.
    pub const XS_GET_QUOTA: u32 = 25;
    /// `XS_SET_QUOTA`, optional.
    pub const XS_SET_QUOTA: u32 = 26;
    /// `XS_TYPE_COUNT`: number of type values defined so far.
    pub const XS_TYPE_COUNT: u32 = 27;
    /// `XS_INVALID`: guaranteed never to be a valid type.
    pub const XS_INVALID: u32 = 0xffff;
}

/// `XS_WRITE_NONE` flag string (older xs_wire.h versions).
pub const XS_WRITE_NONE: &str = "NONE";
/// `XS_WRITE_CREATE` flag string (older xs_wire.h versions).
pub const XS_WRITE_CREATE: &str = "CREATE";
/// `XS_WRITE_CREATE_EXCL` flag string (older xs_wire.h versions).
pub const XS_WRITE_CREATE_EXCL: &str = "CREATE|EXCL";

/// `xsd_errors[]`: the errno names xenstored may send in an `XS_ERROR`
/// payload, in header order (new entries are appended), with the Linux errno
/// number each stands for. The header uses the platform's `<errno.h>` values;
/// the numbers here are Linux's.
pub const XSD_ERRORS: [(&str, i32); 16] = [
    ("EINVAL", 22),
    ("EACCES", 13),
    ("EEXIST", 17),
    ("EISDIR", 21),
    ("ENOENT", 2),
    ("ENOMEM", 12),
    ("ENOSPC", 28),
    ("EIO", 5),
    ("ENOTEMPTY", 39),
    ("ENOSYS", 38),
    ("EROFS", 30),
    ("EBUSY", 16),
    ("EAGAIN", 11),
    ("EISCONN", 106),
    ("E2BIG", 7),
    ("EPERM", 1),
];

/// `struct xsd_sockmsg`: the header in front of every message, both directions.
/// It is followed by `len` payload bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XsdSockmsg {
    /// `XS_???` message type.
    pub type_: u32,
    /// Request identifier, echoed in the daemon's response.
    pub req_id: u32,
    /// Transaction id (0 if not related to a transaction).
    pub tx_id: u32,
    /// Length of the payload following the header.
    pub len: u32,
}

const _: () = {
    assert!(size_of::<XsdSockmsg>() == HEADER_SIZE);
    assert!(offset_of!(XsdSockmsg, type_) == 0);
    assert!(offset_of!(XsdSockmsg, req_id) == 4);
    assert!(offset_of!(XsdSockmsg, tx_id) == 8);
    assert!(offset_of!(XsdSockmsg, len) == 12);
};

/// Size of [`XsdSockmsg`] on the wire.
pub const HEADER_SIZE: usize = 16;

/// `enum xs_watch_type`: index of the path in a watch event payload.
pub const XS_WATCH_PATH: usize = 0;
/// `enum xs_watch_type`: index of the token in a watch event payload.
pub const XS_WATCH_TOKEN: usize = 1;

/// `XENSTORE_RING_SIZE`: bytes in each of the two byte rings.
pub const XENSTORE_RING_SIZE: usize = 1024;

/// `MASK_XENSTORE_IDX`: position of a free-running index in a ring.
pub const fn mask_xenstore_idx(idx: u32) -> u32 {
    idx & (XENSTORE_RING_SIZE as u32 - 1)
}

/// `struct xenstore_domain_interface`: the shared xenstore page.
///
/// Field order and offsets are those of the header (`docs/misc/xenstore-ring.txt`
/// has the same table). `error` appeared in Xen 4.17 and `evtchn_port` in
/// Xen 4.21; older servers leave them zero.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenstoreDomainInterface {
    /// Requests to the xenstore daemon (guest produces).
    pub req: [u8; XENSTORE_RING_SIZE],
    /// Replies and asynchronous watch events (daemon produces).
    pub rsp: [u8; XENSTORE_RING_SIZE],
    /// Request consumer index (daemon writes).
    pub req_cons: u32,
    /// Request producer index (guest writes).
    pub req_prod: u32,
    /// Response consumer index (guest writes).
    pub rsp_cons: u32,
    /// Response producer index (daemon writes).
    pub rsp_prod: u32,
    /// Bitmap of `XENSTORE_SERVER_FEATURE_*` supported by the server.
    pub server_features: u32,
    /// `XENSTORE_CONNECTED` or `XENSTORE_RECONNECT`.
    pub connection: u32,
    /// `XENSTORE_ERROR_*` (valid if `XENSTORE_SERVER_FEATURE_ERROR`).
    pub error: u32,
    /// Event channel for xenstored to signal, when non-zero (dom0less).
    pub evtchn_port: u32,
}

/// Byte offsets of the fields of [`XenstoreDomainInterface`].
pub mod intf {
    /// `req[]`.
    pub const REQ: usize = 0;
    /// `rsp[]`.
    pub const RSP: usize = 1024;
    /// `req_cons`.
    pub const REQ_CONS: usize = 2048;
    /// `req_prod`.
    pub const REQ_PROD: usize = 2052;
    /// `rsp_cons`.
    pub const RSP_CONS: usize = 2056;
    /// `rsp_prod`.
    pub const RSP_PROD: usize = 2060;
    /// `server_features`.
    pub const SERVER_FEATURES: usize = 2064;
    /// `connection`.
    pub const CONNECTION: usize = 2068;
    /// `error`.
    pub const ERROR: usize = 2072;
    /// `evtchn_port`.
    pub const EVTCHN_PORT: usize = 2076;
}

const _: () = {
    type I = XenstoreDomainInterface;
    assert!(offset_of!(I, req) == intf::REQ);
    assert!(offset_of!(I, rsp) == intf::RSP);
    assert!(offset_of!(I, req_cons) == intf::REQ_CONS);
    assert!(offset_of!(I, req_prod) == intf::REQ_PROD);
    assert!(offset_of!(I, rsp_cons) == intf::RSP_CONS);
    assert!(offset_of!(I, rsp_prod) == intf::RSP_PROD);
    assert!(offset_of!(I, server_features) == intf::SERVER_FEATURES);
    assert!(offset_of!(I, connection) == intf::CONNECTION);
    assert!(offset_of!(I, error) == intf::ERROR);
    assert!(offset_of!(I, evtchn_port) == intf::EVTCHN_PORT);
    assert!(size_of::<I>() == 2080);
};

/// `XENSTORE_PAYLOAD_MAX`: maximum payload length, both directions. A client
/// exceeding it gets its connection killed by xenstored.
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;
/// `XENSTORE_ABS_PATH_MAX`: longer absolute paths get an error reply.
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;
/// `XENSTORE_REL_PATH_MAX`: longer relative paths get an error reply.
pub const XENSTORE_REL_PATH_MAX: usize = 2048;

/// Server feature bit: the ring can be reconnected.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
/// Server feature bit: the `error` field is present.
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;
/// Server feature bit: `XS_WATCH` accepts a `<depth>` parameter.
pub const XENSTORE_SERVER_FEATURE_WATCHDEPTH: u32 = 4;
/// Server feature bit: `DOMID_ANY` may be used in node permissions.
pub const XENSTORE_SERVER_FEATURE_DOMID_ANY: u32 = 8;

/// `connection` value: the steady state.
pub const XENSTORE_CONNECTED: u32 = 0;
/// `connection` value: a reconnect is in progress.
pub const XENSTORE_RECONNECT: u32 = 1;

/// `error` value: no error.
pub const XENSTORE_ERROR_NONE: u32 = 0;
/// `error` value: communication problem.
pub const XENSTORE_ERROR_COMM: u32 = 1;
/// `error` value: invalid ring index.
pub const XENSTORE_ERROR_RINGIDX: u32 = 2;
/// `error` value: protocol violation (payload too long).
pub const XENSTORE_ERROR_PROTO: u32 = 3;

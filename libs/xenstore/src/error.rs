//! Xenstore errors: the errno names of `xs_wire.h` `xsd_errors[]` plus local failures.

use alloc::string::String;
use core::fmt;

use skiff_ring::RingError;
use skiff_xen::xs_wire::XSD_ERRORS;

/// A failed xenstore operation.
///
/// The first sixteen variants are the error names xenstored sends in an
/// `XS_ERROR` reply (`xsd_errors[]` in `xs_wire.h`); [`XsError::Other`] keeps
/// any name not in that table. The remaining variants are raised locally.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum XsError {
    /// `EINVAL`; also raised locally for a path or token containing NUL.
    Inval,
    /// `EACCES`.
    Acces,
    /// `EEXIST`.
    Exist,
    /// `EISDIR`.
    IsDir,
    /// `ENOENT`: no such node (or transaction, or watch).
    NoEnt,
    /// `ENOMEM`.
    NoMem,
    /// `ENOSPC`.
    NoSpc,
    /// `EIO`.
    Io,
    /// `ENOTEMPTY`.
    NotEmpty,
    /// `ENOSYS`: message type not supported.
    NoSys,
    /// `EROFS`.
    RoFs,
    /// `EBUSY`.
    Busy,
    /// `EAGAIN`: transaction conflict, retry it.
    Again,
    /// `EISCONN`.
    IsConn,
    /// `E2BIG`: quota exceeded.
    TooBig,
    /// `EPERM`.
    Perm,
    /// An error name not listed in `xs_wire.h` (kept verbatim, lossily decoded).
    Other(String),
    /// The peer broke the wire protocol; the connection is unusable.
    Protocol(ProtocolError),
    /// The request payload would exceed `XENSTORE_PAYLOAD_MAX` (4096 bytes);
    /// xenstored kills connections that send one, so it was never sent.
    RequestTooLarge,
    /// A value read from xenstore is not of the expected form (for example
    /// not a decimal number for [`read_u32`](crate::XsIo::read_u32)).
    BadValue,
    /// The transport gave up waiting for xenstored.
    TimedOut,
}

/// Daemon error variants in `xsd_errors[]` order.
const DAEMON: [XsError; 16] = [
    XsError::Inval,
    XsError::Acces,
    XsError::Exist,
    XsError::IsDir,
    XsError::NoEnt,
    XsError::NoMem,
    XsError::NoSpc,
    XsError::Io,
    XsError::NotEmpty,
    XsError::NoSys,
    XsError::RoFs,
    XsError::Busy,
    XsError::Again,
    XsError::IsConn,
    XsError::TooBig,
    XsError::Perm,
];

impl XsError {
    /// Maps an error name from an `XS_ERROR` payload (`"ENOENT"`) to its
    /// variant; unknown names become [`XsError::Other`].
    pub fn from_name(name: &str) -> Self {
        match XSD_ERRORS.iter().position(|(n, _)| *n == name) {
            Some(i) => DAEMON[i].clone(),
            None => XsError::Other(String::from(name)),
        }
    }

    /// The `xs_wire.h` name of a daemon error (`"ENOENT"`), or the kept name
    /// of [`XsError::Other`]; `None` for local errors.
    pub fn name(&self) -> Option<&str> {
        if let XsError::Other(s) = self {
            return Some(s);
        }
        DAEMON.iter().position(|e| e == self).map(|i| XSD_ERRORS[i].0)
    }

    /// The Linux errno this error stands for, for the POSIX edge.
    pub fn errno(&self) -> i32 {
        const EIO: i32 = 5;
        const EINVAL: i32 = 22;
        const E2BIG: i32 = 7;
        const ETIMEDOUT: i32 = 110;
        match self {
            XsError::Other(_) | XsError::Protocol(_) => EIO,
            XsError::RequestTooLarge => E2BIG,
            XsError::BadValue => EINVAL,
            XsError::TimedOut => ETIMEDOUT,
            e => DAEMON.iter().position(|d| d == e).map_or(EIO, |i| XSD_ERRORS[i].1),
        }
    }
}

impl fmt::Display for XsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XsError::Protocol(p) => write!(f, "xenstore protocol error: {p}"),
            XsError::RequestTooLarge => f.write_str("xenstore request larger than 4096 bytes"),
            XsError::BadValue => f.write_str("malformed xenstore value"),
            XsError::TimedOut => f.write_str("xenstore timed out"),
            e => write!(f, "xenstore error {}", e.name().unwrap_or("?")),
        }
    }
}

impl core::error::Error for XsError {}

impl From<ProtocolError> for XsError {
    fn from(e: ProtocolError) -> Self {
        XsError::Protocol(e)
    }
}

/// How the peer broke the xenstore wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The ring indexes in the shared page are impossible.
    Ring(RingError),
    /// A message header announced more than `XENSTORE_PAYLOAD_MAX` bytes.
    PayloadTooLong(u32),
    /// A message header carried a type that is not a known `XS_*` value.
    UnknownType(u32),
    /// A reply's type is neither the request's type nor `XS_ERROR`.
    UnexpectedType {
        /// Type of the request.
        request: u32,
        /// Type of the reply.
        reply: u32,
    },
    /// A payload does not follow its message's syntax.
    Malformed,
    /// xenstored reported a connection error (`XENSTORE_ERROR_*`) in the
    /// shared page and stopped serving it.
    Server(u32),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Ring(e) => write!(f, "{e}"),
            ProtocolError::PayloadTooLong(n) => write!(f, "payload of {n} bytes"),
            ProtocolError::UnknownType(t) => write!(f, "unknown message type {t}"),
            ProtocolError::UnexpectedType { request, reply } => {
                write!(f, "reply type {reply} to a request of type {request}")
            }
            ProtocolError::Malformed => f.write_str("malformed payload"),
            ProtocolError::Server(e) => write!(f, "server reported connection error {e}"),
        }
    }
}

impl From<RingError> for ProtocolError {
    fn from(e: RingError) -> Self {
        ProtocolError::Ring(e)
    }
}

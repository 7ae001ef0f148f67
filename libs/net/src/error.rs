//! The `std::io::Error`-shaped error of the stream faces: a kind plus the Linux errno behind it.

use core::fmt;

use skiff_pvcalls::Errno;

/// `Result` with this crate's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

/// The category of an [`Error`], named like `std::io::ErrorKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `EPERM`, `EACCES`.
    PermissionDenied,
    /// `ECONNREFUSED`.
    ConnectionRefused,
    /// `ECONNRESET`.
    ConnectionReset,
    /// `ECONNABORTED` (also: the backend went away).
    ConnectionAborted,
    /// `ENOTCONN`.
    NotConnected,
    /// `EADDRINUSE`.
    AddrInUse,
    /// `EADDRNOTAVAIL`.
    AddrNotAvailable,
    /// `ENETDOWN` (no PV Calls backend).
    NetworkDown,
    /// `ENETUNREACH`.
    NetworkUnreachable,
    /// `EHOSTUNREACH`.
    HostUnreachable,
    /// `EPIPE`.
    BrokenPipe,
    /// `EEXIST`, `EISCONN`.
    AlreadyExists,
    /// The socket is non-blocking and the operation would block (`EAGAIN`,
    /// `EINPROGRESS`, `EALREADY`).
    WouldBlock,
    /// `EINVAL`, `EBADF`, or an argument the face rejects.
    InvalidInput,
    /// `ETIMEDOUT`, or a read/write/connect timeout expired.
    TimedOut,
    /// A write could not write anything.
    WriteZero,
    /// `EINTR`.
    Interrupted,
    /// `EAFNOSUPPORT`, `EOPNOTSUPP`, ...: PV Calls cannot do this.
    Unsupported,
    /// End of stream before the buffer was filled.
    UnexpectedEof,
    /// `ENOMEM`, `ENOBUFS`, `EMFILE`, `ENFILE`.
    OutOfMemory,
    /// Anything else (`EIO`, ...).
    Other,
}

impl ErrorKind {
    /// The kind of an errno.
    pub fn of(e: Errno) -> Self {
        match e {
            Errno::EPERM | Errno::EACCES => ErrorKind::PermissionDenied,
            Errno::ECONNREFUSED => ErrorKind::ConnectionRefused,
            Errno::ECONNRESET => ErrorKind::ConnectionReset,
            Errno::ECONNABORTED => ErrorKind::ConnectionAborted,
            Errno::ENOTCONN => ErrorKind::NotConnected,
            Errno::EADDRINUSE => ErrorKind::AddrInUse,
            Errno::EADDRNOTAVAIL => ErrorKind::AddrNotAvailable,
            Errno::ENETDOWN => ErrorKind::NetworkDown,
            Errno::ENETUNREACH => ErrorKind::NetworkUnreachable,
            Errno::EHOSTUNREACH => ErrorKind::HostUnreachable,
            Errno::EPIPE => ErrorKind::BrokenPipe,
            Errno::EEXIST | Errno::EISCONN => ErrorKind::AlreadyExists,
            Errno::EAGAIN | Errno::EINPROGRESS | Errno::EALREADY => ErrorKind::WouldBlock,
            Errno::EINVAL | Errno::EBADF => ErrorKind::InvalidInput,
            Errno::ETIMEDOUT => ErrorKind::TimedOut,
            Errno::EINTR => ErrorKind::Interrupted,
            Errno::EAFNOSUPPORT
            | Errno::EOPNOTSUPP
            | Errno::EPROTONOSUPPORT
            | Errno::ESOCKTNOSUPPORT
            | Errno::ENOPROTOOPT
            | Errno::ENOSYS => ErrorKind::Unsupported,
            Errno::ENOMEM | Errno::ENOBUFS | Errno::EMFILE | Errno::ENFILE => {
                ErrorKind::OutOfMemory
            }
            _ => ErrorKind::Other,
        }
    }
}

/// An I/O error: its [`ErrorKind`], the errno behind it (if any) and, for
/// errors this crate makes up, a static explanation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    errno: Option<Errno>,
    msg: Option<&'static str>,
}

impl Error {
    /// An error of `kind` with an errno and an explanation.
    pub const fn new(kind: ErrorKind, errno: Option<Errno>, msg: &'static str) -> Self {
        Error { kind, errno, msg: Some(msg) }
    }

    /// A timeout expired (kind [`ErrorKind::TimedOut`], errno `ETIMEDOUT`).
    pub const fn timed_out() -> Self {
        Error { kind: ErrorKind::TimedOut, errno: Some(Errno::ETIMEDOUT), msg: Some("timed out") }
    }

    /// The category.
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The Linux errno behind the error, if there is one.
    pub const fn errno(&self) -> Option<Errno> {
        self.errno
    }

    /// The errno as a raw number, like `std::io::Error::raw_os_error`.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.errno.map(Errno::raw)
    }
}

impl From<Errno> for Error {
    fn from(e: Errno) -> Self {
        Error { kind: ErrorKind::of(e), errno: Some(e), msg: None }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.msg, self.errno) {
            (Some(m), Some(e)) => write!(f, "{m} ({e})"),
            (Some(m), None) => f.write_str(m),
            (None, Some(e)) => write!(f, "{e}"),
            (None, None) => write!(f, "{:?}", self.kind),
        }
    }
}

impl core::error::Error for Error {}

impl embedded_io::Error for Error {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind as K;
        match self.kind {
            ErrorKind::PermissionDenied => K::PermissionDenied,
            ErrorKind::ConnectionRefused => K::ConnectionRefused,
            ErrorKind::ConnectionReset => K::ConnectionReset,
            ErrorKind::ConnectionAborted | ErrorKind::NetworkDown => K::ConnectionAborted,
            ErrorKind::NotConnected => K::NotConnected,
            ErrorKind::AddrInUse => K::AddrInUse,
            ErrorKind::AddrNotAvailable => K::AddrNotAvailable,
            ErrorKind::BrokenPipe => K::BrokenPipe,
            ErrorKind::AlreadyExists => K::AlreadyExists,
            ErrorKind::InvalidInput => K::InvalidInput,
            ErrorKind::TimedOut => K::TimedOut,
            ErrorKind::WriteZero => K::WriteZero,
            ErrorKind::Interrupted => K::Interrupted,
            ErrorKind::Unsupported => K::Unsupported,
            ErrorKind::OutOfMemory => K::OutOfMemory,
            _ => K::Other,
        }
    }
}

impl embedded_nal::TcpError for Error {
    fn kind(&self) -> embedded_nal::TcpErrorKind {
        match self.kind {
            ErrorKind::BrokenPipe
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::NotConnected => embedded_nal::TcpErrorKind::PipeClosed,
            _ => embedded_nal::TcpErrorKind::Other,
        }
    }
}

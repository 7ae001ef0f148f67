//! POSIX error numbers (Linux x86 values) and the one mapping from the backend's negative errnos.

use core::fmt;

/// An error number with the Linux x86 value, as dom0's `pvcalls-back`
/// reports them and as the socket API layer hands them to applications.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $val:expr, $text:expr;)*) => {
        impl Errno {
            $(
                #[doc = $text]
                pub const $name: Errno = Errno($val);
            )*

            /// The symbolic name (`"EAGAIN"`), if known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// Whether this is one of the numbers listed in this module
            /// (the codes the backend may plausibly send).
            pub fn is_known(self) -> bool {
                self.name().is_some()
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted.";
    ENOENT = 2, "No such file or directory.";
    ESRCH = 3, "No such process.";
    EINTR = 4, "Interrupted (also: a second ACCEPT/POLL on one listener).";
    EIO = 5, "I/O error (also: a backend error number we do not know).";
    ENXIO = 6, "No such device or address.";
    E2BIG = 7, "Argument list too long.";
    ENOEXEC = 8, "Exec format error.";
    EBADF = 9, "Bad file descriptor (unknown or closed socket).";
    ECHILD = 10, "No child processes.";
    EAGAIN = 11, "Try again: the operation would block (`EWOULDBLOCK`).";
    ENOMEM = 12, "Out of memory (pages, grants or event channels).";
    EACCES = 13, "Permission denied.";
    EFAULT = 14, "Bad address (backend could not map a data ring).";
    EBUSY = 16, "Device or resource busy.";
    EEXIST = 17, "Exists.";
    ENODEV = 19, "No such device (e.g. a file mapping).";
    ENOTDIR = 20, "Not a directory.";
    EISDIR = 21, "Is a directory.";
    EINVAL = 22, "Invalid argument.";
    ENFILE = 23, "Too many open files in the system.";
    EMFILE = 24, "Too many open files.";
    ENOTTY = 25, "Inappropriate ioctl for device.";
    EFBIG = 27, "File too large.";
    ENOSPC = 28, "No space left.";
    ESPIPE = 29, "Illegal seek.";
    EROFS = 30, "Read-only file system.";
    EPIPE = 32, "Broken pipe.";
    ERANGE = 34, "Result out of range.";
    ENAMETOOLONG = 36, "File name too long.";
    ENOSYS = 38, "Function not implemented.";
    ELOOP = 40, "Too many symbolic links.";
    EOVERFLOW = 75, "Value too large for defined data type.";
    ENOTSOCK = 88, "Not a socket.";
    EDESTADDRREQ = 89, "Destination address required.";
    EMSGSIZE = 90, "Message too long.";
    EPROTOTYPE = 91, "Protocol wrong type for socket.";
    ENOPROTOOPT = 92, "Protocol not available.";
    EPROTONOSUPPORT = 93, "Protocol not supported.";
    ESOCKTNOSUPPORT = 94, "Socket type not supported.";
    EOPNOTSUPP = 95, "Operation not supported.";
    EAFNOSUPPORT = 97, "Address family not supported.";
    EADDRINUSE = 98, "Address in use.";
    EADDRNOTAVAIL = 99, "Address not available.";
    ENETDOWN = 100, "Network down (PV Calls backend gone).";
    ENETUNREACH = 101, "Network unreachable.";
    ECONNABORTED = 103, "Connection aborted (backend gone).";
    ECONNRESET = 104, "Connection reset by peer.";
    ENOBUFS = 105, "No buffer space.";
    EISCONN = 106, "Already connected.";
    ENOTCONN = 107, "Not connected.";
    ESHUTDOWN = 108, "Cannot send after transport endpoint shutdown.";
    ETIMEDOUT = 110, "Timed out.";
    ECONNREFUSED = 111, "Connection refused.";
    EHOSTUNREACH = 113, "Host unreachable.";
    EALREADY = 114, "Operation already in progress.";
    EINPROGRESS = 115, "Operation now in progress.";
}

/// Linux's kernel-internal `ENOTSUPP`, which the backend returns for
/// unknown commands (the spec calls it "ENOTSUP").
pub const BACKEND_ENOTSUPP: i32 = -524;

impl Errno {
    /// Maps a backend `ret`, `in_error` or `out_error` (0 or a negative
    /// Linux errno) once: `Ok(())` for 0 and for positive values (which
    /// the protocol never produces), `ENOTSUPP` (-524) to
    /// [`EOPNOTSUPP`](Self::EOPNOTSUPP), numbers we do not know to
    /// [`EIO`](Self::EIO).
    pub fn from_backend(ret: i32) -> Result<(), Errno> {
        if ret >= 0 {
            return Ok(());
        }
        if ret == BACKEND_ENOTSUPP {
            return Err(Errno::EOPNOTSUPP);
        }
        let e = Errno(ret.wrapping_neg());
        Err(if e.is_known() { e } else { Errno::EIO })
    }

    /// The raw positive number.
    pub const fn raw(self) -> i32 {
        self.0
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} ({})", self.0),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl core::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn backend_mapping() {
        assert_eq!(Errno::from_backend(0), Ok(()));
        assert_eq!(Errno::from_backend(-111), Err(Errno::ECONNREFUSED));
        assert_eq!(Errno::from_backend(-98), Err(Errno::EADDRINUSE));
        assert_eq!(Errno::from_backend(-524), Err(Errno::EOPNOTSUPP));
        assert_eq!(Errno::from_backend(-4095), Err(Errno::EIO));
        assert_eq!(Errno::from_backend(i32::MIN), Err(Errno::EIO));
        assert_eq!(Errno::EAGAIN.raw(), 11);
        assert_eq!(format!("{:?}", Errno::ENOTCONN), "ENOTCONN");
        assert_eq!(format!("{}", Errno(9999)), "errno 9999");
    }
}

//! Linux x86-64 constants of the POSIX face (values from the Linux uapi headers).

/// `AF_INET`.
pub const AF_INET: i32 = 2;
/// `AF_INET6` (refused: `EAFNOSUPPORT`).
pub const AF_INET6: i32 = 10;
/// `AF_UNIX` (refused: `EAFNOSUPPORT`).
pub const AF_UNIX: i32 = 1;

/// `SOCK_STREAM`.
pub const SOCK_STREAM: i32 = 1;
/// `SOCK_DGRAM` (refused: `ESOCKTNOSUPPORT`).
pub const SOCK_DGRAM: i32 = 2;
/// `SOCK_NONBLOCK`, or-ed into the type of `socket()`/`accept4()`.
pub const SOCK_NONBLOCK: i32 = 0o4000;
/// `SOCK_CLOEXEC` (accepted, meaningless in a unikernel).
pub const SOCK_CLOEXEC: i32 = 0o2000000;

/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: i32 = 6;

/// `MSG_PEEK` (not supported: `EOPNOTSUPP`).
pub const MSG_PEEK: i32 = 0x2;
/// `MSG_DONTWAIT`: this call does not block (`EAGAIN` instead).
pub const MSG_DONTWAIT: i32 = 0x40;
/// `MSG_WAITALL`: `recv` blocks until the buffer is full (or EOF, error, timeout).
pub const MSG_WAITALL: i32 = 0x100;
/// `MSG_NOSIGNAL` (accepted: there are no signals).
pub const MSG_NOSIGNAL: i32 = 0x4000;
/// `MSG_MORE` (accepted as a hint, ignored).
pub const MSG_MORE: i32 = 0x8000;

/// `POLLIN`: readable (data, EOF, an error, or a connection to accept).
pub const POLLIN: i16 = 0x1;
/// `POLLPRI` (never reported: no urgent data).
pub const POLLPRI: i16 = 0x2;
/// `POLLOUT`: writable (also: a non-blocking connect finished).
pub const POLLOUT: i16 = 0x4;
/// `POLLERR`: a pending error (always reported).
pub const POLLERR: i16 = 0x8;
/// `POLLHUP`: no connection (reset, failed connect, never connected; always reported).
pub const POLLHUP: i16 = 0x10;
/// `POLLNVAL`: the fd is not open (always reported).
pub const POLLNVAL: i16 = 0x20;
/// `POLLRDHUP`: the peer finished sending.
pub const POLLRDHUP: i16 = 0x2000;

/// `O_NONBLOCK` for [`fcntl`](super::FdTable::fcntl).
pub const O_NONBLOCK: i32 = 0o4000;
/// `F_GETFL`.
pub const F_GETFL: i32 = 3;
/// `F_SETFL`.
pub const F_SETFL: i32 = 4;

/// The first fd handed out (0, 1 and 2 are the standard streams).
pub const FIRST_FD: i32 = 3;
/// How many fds may be open at once (`EMFILE` beyond).
pub const MAX_FDS: usize = 1024;

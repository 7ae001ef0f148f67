//! What only the kernel can do for the personality: the `Env` and `Sockets` traits, and the notices it prints.
//!
//! Operations that may have to wait return [`Poll`]: `Poll::Pending` means
//! "not yet, nothing was done that the caller must remember"; the
//! dispatcher then blocks the calling thread and the kernel runs the same
//! syscall again later (see [`crate::dispatch`]).

use core::fmt;
use core::net::SocketAddrV4;
use core::task::Poll;

use skiff_pvcalls::{Errno, Readiness};

use crate::vm::Prot;

/// A socket of the kernel's socket engine (the PV Calls frontend's id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketHandle(pub u64);

/// The socket engine, with the semantics of `skiff_pvcalls::Frontend`:
/// IPv4 TCP only, one connection per handle.
///
/// Calls that start a command answered by dom0 (bind, listen, connect,
/// accept) return `Pending` until the answer is there; calling again
/// while it is in flight must not start a second one, and the call after
/// the answer returns it (as the engine's operations do). `send`/`recv`
/// are `Pending` when the ring is full/empty.
pub trait Sockets {
    /// A new stream socket (`socket(AF_INET, SOCK_STREAM, 0)`); the
    /// dispatcher has already refused every other triple.
    fn socket(&mut self) -> Result<SocketHandle, Errno>;
    /// Binds to `addr` (port 0: dom0 chooses; PV Calls cannot say which).
    fn bind(&mut self, s: SocketHandle, addr: SocketAddrV4) -> Poll<Result<(), Errno>>;
    /// Listens on a bound socket.
    fn listen(&mut self, s: SocketHandle, backlog: u32) -> Poll<Result<(), Errno>>;
    /// The next accepted connection.
    fn accept(&mut self, s: SocketHandle) -> Poll<Result<SocketHandle, Errno>>;
    /// Connects to `addr`; `Ready(Ok)` once connected, `Ready(Err)` when it failed.
    fn connect(&mut self, s: SocketHandle, addr: SocketAddrV4) -> Poll<Result<(), Errno>>;
    /// Queues bytes; `Ready(Ok(n))` with `n > 0` unless `buf` is empty.
    fn send(&mut self, s: SocketHandle, buf: &[u8]) -> Poll<Result<usize, Errno>>;
    /// Takes received bytes; `Ready(Ok(0))` at end of stream.
    fn recv(&mut self, s: SocketHandle, buf: &mut [u8]) -> Poll<Result<usize, Errno>>;
    /// Releases the socket (in the background); the handle is dead after.
    fn close(&mut self, s: SocketHandle);
    /// Current readiness (for a listener: readable when a connection can be
    /// accepted; asking may start an ACCEPT so that it becomes so).
    fn readiness(&mut self, s: SocketHandle) -> Readiness;
    /// Bytes that `recv` would return now (`FIONREAD`).
    fn available(&mut self, s: SocketHandle) -> Result<usize, Errno>;
}

/// A one-time message for the console, from the personality to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The application called a syscall that is not implemented (`ENOSYS`);
    /// sent once per number.
    Unimplemented {
        /// The syscall number.
        nr: u64,
        /// Its name, if it is an x86_64 syscall at all.
        name: Option<&'static str>,
    },
    /// A UDP (or other non-stream) socket was refused; name lookups that
    /// need DNS fail this way.
    NoUdp,
    /// An IPv6 (or other non-IPv4) socket was refused.
    NoIpv6,
    /// `getrandom` without `GRND_INSECURE` failed: the CPU has no RDRAND/RDSEED.
    NoHardwareRandom,
    /// A `clone` with flags other than a thread's was refused.
    CloneRefused {
        /// The flags given.
        flags: u64,
    },
    /// `shutdown(SHUT_WR)` cannot half-close over PV Calls (done at close).
    NoHalfClose,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Notice::Unimplemented { nr, name: Some(n) } => {
                write!(f, "unimplemented syscall {nr} ({n}): ENOSYS")
            }
            Notice::Unimplemented { nr, name: None } => {
                write!(f, "unknown syscall {nr}: ENOSYS")
            }
            Notice::NoUdp => f.write_str(
                "UDP sockets are not available over PV Calls (ESOCKTNOSUPPORT); \
                 DNS lookups fail: give names with host.NAME=IP",
            ),
            Notice::NoIpv6 => {
                f.write_str("only IPv4 sockets are available over PV Calls (EAFNOSUPPORT)")
            }
            Notice::NoHardwareRandom => f.write_str(
                "getrandom: the CPU has no RDRAND/RDSEED; only GRND_INSECURE requests are served",
            ),
            Notice::CloneRefused { flags } => {
                write!(f, "clone with flags {flags:#x} refused: only threads are supported")
            }
            Notice::NoHalfClose => f.write_str(
                "shutdown(SHUT_WR): PV Calls cannot half-close; the peer sees EOF at close",
            ),
        }
    }
}

/// The kernel's services to the personality. Memory is identity-mapped:
/// an application address is a physical address, so the kernel chooses
/// where new memory goes and `MAP_FIXED` is honoured only inside ranges the
/// application already owns (the dispatcher checks that before calling).
pub trait Env: Sockets {
    /// Maps `len` bytes (a multiple of the page size) of fresh, zeroed
    /// memory with `prot` for the application at an address the kernel
    /// chooses, page aligned; `ENOMEM` when there is not enough.
    fn map_anon(&mut self, len: u64, prot: Prot) -> Result<u64, Errno>;
    /// Makes `[addr, addr + len)` fresh zeroed memory with `prot`: a range
    /// the application owns (`MAP_FIXED`, `MADV_DONTNEED`) or part of the
    /// `brk` area the kernel reserved for it ([`crate::process::ProcessConfig::brk`]).
    fn reset_range(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), Errno>;
    /// Gives back `[addr, addr + len)`, pages the application owned; the
    /// application must no longer reach them.
    fn unmap(&mut self, addr: u64, len: u64);
    /// Changes the protection of `[addr, addr + len)`, pages the application owns.
    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), Errno>;
    /// Sets the calling thread's FS base (its TLS pointer).
    fn set_fs_base(&mut self, base: u64);
    /// Fills `buf` from RDRAND/RDSEED; `false` if the CPU has neither, in
    /// which case `buf` holds bytes of a non-cryptographic generator.
    fn random(&mut self, buf: &mut [u8]) -> bool;
    /// Nanoseconds of a monotonic clock (since boot).
    fn monotonic_ns(&self) -> u64;
    /// Nanoseconds since the Unix epoch (wall clock).
    fn realtime_ns(&self) -> u64;
    /// Writes to the console (the application's stdout and stderr).
    fn console(&mut self, bytes: &[u8]);
    /// Tells the user something once (print it on the console).
    fn notice(&mut self, notice: Notice);
}

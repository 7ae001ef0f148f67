//! The application's sockets: skiff-net's faces bound to the kernel's PV Calls frontend.
//!
//! Every socket is forwarded to dom0 over PV Calls; the frontend connects
//! on the first socket the application creates. Without a usable backend
//! (no `pvcalls = [ ... ]` line in the xl config, or no `pvcalls-back` in
//! dom0) socket creation fails with `ENETDOWN` and the reason is printed
//! once on the console.

use skiff_kernel::net::{self as knet, KernelPlatform};
use skiff_pvcalls::Frontend;

pub use skiff_net::posix;
pub use skiff_net::{
    block_on, deadline_after, AcceptPause, Errno, Error, ErrorKind, Result, SockAddr, SocketId,
    TcpState, NON_BLOCKING,
};

/// The kernel's one PV Calls engine, as a [`skiff_net::Stack`]. Zero-sized:
/// every socket object holds a copy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Kernel;

impl skiff_net::Stack for Kernel {
    type P = KernelPlatform;

    fn open(&self) -> core::result::Result<(), Errno> {
        knet::with(|_| ())
    }

    fn with<R>(&self, f: impl FnOnce(&mut Frontend<KernelPlatform>) -> R) -> R {
        // Sockets exist only after `open` succeeded, and the kernel's
        // frontend never goes back to "not connected" once it is up (a
        // departed backend fails each socket instead).
        match knet::with(f) {
            Ok(r) => r,
            Err(e) => panic!("socket operation while networking is down ({e:?})"),
        }
    }

    fn now_ns(&self) -> u64 {
        skiff_kernel::time::now_ns()
    }
}

/// A listening TCP socket (`std::net::TcpListener`-shaped).
pub type TcpListener = skiff_net::TcpListener<Kernel>;
/// A TCP connection (`std::net::TcpStream`-shaped, embedded-io `Read`/`Write`).
pub type TcpStream = skiff_net::TcpStream<Kernel>;
/// A smoltcp-style non-blocking socket handle.
pub type TcpSocket = skiff_net::TcpSocket<Kernel>;
/// embedded-nal's `TcpClientStack` and `TcpFullStack`.
pub type NalStack = skiff_net::NalStack<Kernel>;
/// POSIX-like sockets on integer fds with Linux errnos.
pub type FdTable = posix::FdTable<Kernel>;

/// Why networking is down, if it is (after the first socket call failed).
pub fn down_reason() -> Option<alloc::string::String> {
    knet::down_reason()
}

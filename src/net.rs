//! The application's sockets: skiff-net's faces bound to the kernel's PV Calls frontend.
//!
//! Every socket is forwarded to dom0 over PV Calls; the frontend connects
//! on the first socket the application creates. Without a usable backend
//! (no `pvcalls = [ ... ]` line in the xl config, or no `pvcalls-back` in
//! dom0) socket creation fails with `ENETDOWN` and the reason is printed
//! once on the console.
//!
//! The faces, all on the same sockets:
//! - [`TcpListener`] / [`TcpStream`], shaped like `std::net`, with timeouts,
//!   non-blocking mode and [`PollSet`] to wait on many at once;
//! - [`FdTable`]: POSIX-like calls on integer fds with Linux errnos and
//!   `poll()` ([`posix`]);
//! - [`NalStack`] ([`embedded_nal`]'s traits) and [`TcpSocket`]
//!   (smoltcp-style non-blocking methods); [`TcpStream`] implements
//!   [`embedded_io`]'s traits.
//!
//! ```no_run
//! # use skiff::net::{Interest, PollSet, TcpListener};
//! # fn serve() -> skiff::net::Result<()> {
//! let listener = TcpListener::bind(([0, 0, 0, 0], 8000))?;
//! let mut poll = PollSet::default();
//! poll.add(&listener, 0, Interest::READABLE)?;
//! # Ok(())
//! # }
//! ```
//!
//! [`server`] has helpers for servers (a patient bind, accept pacing),
//! [`usage`] what the sockets hold, for leak checks.

pub(crate) mod frontend;
pub mod server;
pub mod usage;

use skiff_kernel::net::KernelPlatform;
use skiff_pvcalls::Frontend;

pub use skiff_net::{
    Errno, Error, ErrorKind, Event, Interest, RecvError, Result, SendError, SockAddr, Source,
    Stack, TcpState, embedded_io, embedded_nal, posix,
};

/// The kernel's one PV Calls engine, as a [`Stack`]. Zero-sized: every
/// socket object holds a copy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Kernel;

impl Stack for Kernel {
    type P = KernelPlatform;

    fn open(&self) -> core::result::Result<(), Errno> {
        frontend::with(|_| ())
    }

    fn with<R>(&self, f: impl FnOnce(&mut Frontend<KernelPlatform>) -> R) -> R {
        // A loop of calls that never wait (non-blocking I/O, a poll that
        // finds something ready each time) still honours `xl shutdown`.
        skiff_kernel::wait::run_hooks_if_due();
        // Sockets exist only after `open` succeeded, and the kernel's
        // frontend never goes back to "not connected" once it is up (a
        // departed backend fails each socket instead).
        match frontend::with(f) {
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
/// Waits on many [`TcpListener`]s and [`TcpStream`]s at once.
pub type PollSet = skiff_net::PollSet<Kernel>;
/// A smoltcp-style non-blocking socket handle.
pub type TcpSocket = skiff_net::TcpSocket<Kernel>;
/// embedded-nal's `TcpClientStack` and `TcpFullStack`.
pub type NalStack = skiff_net::NalStack<Kernel>;
/// POSIX-like sockets on integer fds with Linux errnos.
pub type FdTable = posix::FdTable<Kernel>;

/// Why networking is down, if it is (after the first socket call failed).
pub fn down_reason() -> Option<alloc::string::String> {
    frontend::down_reason()
}

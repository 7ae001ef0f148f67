//! Skiff's socket API: one PV Calls engine behind POSIX, `std::net`-shaped, embedded-io/embedded-nal and smoltcp-style faces.
//!
//! Every face drives the same sans-IO engine ([`skiff_pvcalls::Frontend`])
//! through a [`Stack`] handle and blocks, where it blocks, with the one
//! helper [`block_on`] (or [`block`], without a deadline) while the engine
//! answers `Poll::Pending`. Where a socket stands (connecting, connected,
//! a connect's error) is the engine's to know; the faces ask it:
//!
//! - [`posix`]: an fd table with Linux `errno`s, flags, `sockaddr_in`
//!   parsing and `poll()`.
//! - [`TcpStream`] / [`TcpListener`]: shaped like `std::net`, with an
//!   [`Error`] that carries an [`ErrorKind`] and the errno; they implement
//!   [`embedded_io`]'s `Read`/`Write`/`ReadReady`/`WriteReady`.
//! - [`NalStack`]: [`embedded_nal`]'s `TcpClientStack` and `TcpFullStack`
//!   (non-blocking, `nb`).
//! - [`TcpSocket`]: smoltcp-style non-blocking methods (`send_slice`,
//!   `recv_slice`, `can_send`, `state`, ...).
//!
//! What PV Calls cannot express is reported, never invented: only IPv4 TCP
//! (`EAFNOSUPPORT` for IPv6), no peer address for accepted connections, no
//! `getsockname` (a listener reports the address it was bound to, port 0
//! stays 0), no socket options, no half-close.
//!
//! Hand-written rather than taken from a crate, and why:
//! - [`Error`]/[`ErrorKind`]: `core` has no `io::Error`, and
//!   `embedded_io::ErrorKind` has no `WouldBlock` or `UnexpectedEof`, which
//!   the `std::net`-shaped face needs; it maps onto `embedded_io::ErrorKind`.
//! - The Linux constants in [`posix::consts`]: the `libc` crate defines
//!   nothing for `x86_64-unknown-none`, and the values are the Linux uapi ABI.
//! - [`SockAddr`]: a 16-byte `sockaddr_in` parser; `socket2`/`nix` need std.
//! - There is no TCP/IP stack in the guest (sockets live in dom0), so
//!   smoltcp itself does not apply; [`TcpSocket`] only mirrors its method
//!   names.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod addr;
mod block;
mod error;
mod handle;
mod idle;
mod nal;
mod patient;
mod pause;
mod pollset;
pub mod posix;
mod socket;
mod stack;
mod tcp;

pub use addr::{SockAddr, to_v4};
pub use block::{NON_BLOCKING, block, block_on, deadline_after};
/// The embedded-io traits [`TcpStream`] implements (`Read`, `Write`, `ReadReady`, `WriteReady`).
pub use embedded_io;
/// The embedded-nal traits [`NalStack`] implements (`TcpClientStack`, `TcpFullStack`).
pub use embedded_nal;
pub use error::{Error, ErrorKind, Result};
pub use nal::NalStack;
pub use pollset::{Event, Interest, PollSet, Source};
pub use skiff_pvcalls::{Errno, SocketId};
pub use skiff_xen::time::Instant;
pub use socket::{RecvError, SendError, TcpSocket, TcpState};
pub use stack::Stack;
pub use tcp::{Incoming, TcpListener, TcpStream};

/// Helpers for servers: pacing accepts when memory runs short, and reports
/// of what an idle server holds (leak checks over many connections).
pub mod server {
    pub use crate::idle::{IDLE_CHECK, IDLE_FOLLOW_UP, IDLE_REPORT_WAIT, IdleReport};
    pub use crate::pause::{AcceptPause, PAUSE};
}

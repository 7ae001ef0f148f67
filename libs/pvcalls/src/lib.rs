//! Sans-IO PV Calls frontend: sockets forwarded to dom0's `pvcalls-back` (`docs/misc/pvcalls.pandoc`).
//!
//! - [`handshake`]: xenbus connection on `device/pvcalls/0`.
//! - [`cmd`]: the command ring client (32 slots, out-of-order completions,
//!   validated responses); [`wire`]: request/response encoding.
//! - [`data`]: one data ring's I/O (`in`/`out`, sticky errors, EOF).
//! - [`Frontend`]: the socket engine (non-blocking socket operations over a
//!   [`Platform`] that supplies pages, grants, event channels and waiting).
//! - [`Errno`]: Linux error numbers; backend errors mapped once.
//! - `sim` (feature `sim`): a simulated `pvcalls-back` serving real host
//!   TCP sockets, a host [`Platform`] and a simulated xenstore.
//!
//! Operations that may have to wait return [`core::task::Poll`]:
//! `Pending` is "not yet", an [`Errno`] a real error. Blocking callers loop:
//! call the operation; while it is `Pending`, call [`Frontend::wait`] with a
//! deadline and try again.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod cmd;
mod complete;
pub mod data;
mod engine;
mod errno;
pub mod handshake;
mod ops;
pub mod platform;
mod release;
mod rings;
#[cfg(feature = "sim")]
pub mod sim;
mod socket;
mod status;
mod view;
mod watchdog;
pub mod wire;

pub use data::Readiness;
pub use engine::{
    FIRST_GRANT_SHARE, FIRST_RING_SHARE, FIRST_RINGS, Frontend, GRANT_SHARE, GoneReason, Options,
    RING_SHARE,
};
pub use errno::{BACKEND_ENOTSUPP, Errno};
pub use platform::{EndGrantError, PageBlock, Platform, PlatformError, Resources};
pub use socket::{Peer, SocketId};
pub use view::{CommandView, SocketPhase, SocketView};
pub use watchdog::Stuck;

//! Sans-IO xenstore client (`xs_wire.h` protocol over the shared xenstore page).
//!
//! - [`wire`]: message format, types, payload rules, error names.
//! - [`Client`]: the sans-IO state machine (queue requests, move bytes over
//!   the rings, match replies, collect watch events).
//! - [`Xenstore`] + [`XsIo`]: blocking operations over a [`Transport`]
//!   supplied by the environment, including retried transactions.
//! - `sim` (feature `sim`): a simulated xenstored for host tests.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
// The `Arbitrary` derive of the simulation's scripts names `std`.
#[cfg(feature = "arbitrary")]
extern crate std;

mod client;
mod error;
mod frame;
mod ops;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
mod watch;
pub mod wire;

pub use client::{Client, RECEIVE_BUDGET, REQ_RING, RSP_RING, Received, ReqId};
pub use error::{ProtocolError, XsError};
pub use frame::Framer;
pub use ops::{
    DEFAULT_REQUEST_TIMEOUT_NS, TRANSACTION_TRIES, Transaction, Transport, Xenstore, XsIo,
};
pub use watch::{WatchEvent, WatchQueue, Watches};
pub use wire::MsgType;

//! Xen shared rings over untrusted shared memory (ring.h request/response and byte rings).
//!
//! Used by the console, xenstore and PV Calls.
//!
//! Everything here is generic over [`SharedMem`] and keeps only offsets and
//! private indexes, never references into shared memory. Every index read from
//! the peer is loaded once into a local and validated before use; a peer that
//! publishes impossible indexes gets a [`RingError::Corrupt`], never a panic or
//! an access outside the ring.
//!
//! - [`byte`]: `DEFINE_XEN_FLEX_RING` byte rings ([`ByteRing`], [`Producer`],
//!   [`Consumer`]).
//! - [`sring`]: `DEFINE_RING_TYPES` request/response rings ([`FrontRing`],
//!   [`BackRing`]).
//! - `host` (feature `host`): `HostMem`, heap-backed shared memory for tests
//!   and simulated peers.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod byte;
mod error;
#[cfg(any(test, feature = "host"))]
mod host;
mod mem;
pub mod sring;

pub use byte::{ByteRing, Consumer, Producer, Taken, flex_ring_size};
pub use error::RingError;
#[cfg(any(test, feature = "host"))]
pub use host::HostMem;
pub use mem::SharedMem;
pub use sring::{BackRing, FrontRing, RingLayout, rd32};

//! Harnesses of the fuzz targets: each decodes an input with `arbitrary`, runs it deterministically and panics only on a finding.
//!
//! - [`engine`]: the command ring and socket engine under a hostile,
//!   scripted backend.
//! - [`data_ring`]: one data ring whose indexes the peer moves between
//!   the frontend's reads.
//! - [`xenstore`]: the xenstore client against a hostile xenstored.
//! - [`handshake`]: the xenbus handshake against hostile xenstore
//!   contents and backend state sequences.
//! - [`posix`]: random POSIX call sequences on the fd table over the
//!   engine and the scripted backend.
//!
//! Every run checks the invariants of `skiff_pvcalls::sim::invariants`
//! (or the xenstore client's own) after each call.
#![forbid(unsafe_code)]

pub mod data_ring;
pub mod engine;
pub mod handshake;
mod pick;
pub mod posix;
pub mod xenstore;

/// Decodes `T` from `data`; `None` if the input is too short to mean anything.
pub(crate) fn decode<'a, T: arbitrary::Arbitrary<'a>>(data: &'a [u8]) -> Option<T> {
    T::arbitrary_take_rest(arbitrary::Unstructured::new(data)).ok()
}

/// Panics with the violation: a finding.
pub(crate) fn must(r: Result<(), skiff_pvcalls::sim::invariants::Violation>, when: &str) {
    if let Err(v) = r {
        panic!("invariant broken {when}: {v}");
    }
}

/// The targets, by name.
pub const TARGETS: [&str; 5] = ["engine", "data_ring", "xenstore", "handshake", "posix"];

/// Runs target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "engine" => engine::run(data),
        "data_ring" => data_ring::run(data),
        "xenstore" => xenstore::run(data),
        "handshake" => handshake::run(data),
        "posix" => posix::run(data),
        _ => panic!("no target {name}"),
    }
}

/// How target `name` decodes `data`.
pub fn describe(name: &str, data: &[u8]) -> String {
    match name {
        "engine" => engine::describe(data),
        "data_ring" => data_ring::describe(data),
        "xenstore" => xenstore::describe(data),
        "handshake" => handshake::describe(data),
        "posix" => posix::describe(data),
        _ => panic!("no target {name}"),
    }
}

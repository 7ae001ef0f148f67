//! Fakes of the kernel's interfaces for host tests: memory, an `Env`, and a scriptable socket engine.
//!
//! [`FakeMem`] is a sparse page store with protections; [`FakeEnv`] maps
//! anonymous memory into a [`FakeMem`] it shares, keeps a settable clock,
//! records console output, notices and FS bases, and serves sockets from
//! [`FakeSockets`], whose peers a test scripts: data arrives, EOF, resets,
//! connections queue for accept, commands stay in flight until released.

mod env;
mod mem;
mod sockets;

pub use env::FakeEnv;
pub use mem::FakeMem;
pub use sockets::{FakeSocket, FakeSockets};

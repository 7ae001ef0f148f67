//! An engine socket owned by a face object: closed exactly once, at the latest when dropped.

use core::net::{SocketAddr, SocketAddrV4};
use core::task::Poll;

use skiff_pvcalls::wire::{AF_INET, SOCK_STREAM};
use skiff_pvcalls::{Errno, SocketId};

use crate::addr::to_v4;
use crate::{Stack, block, block_on};

/// Backlog used where a face has no way to pass one (like `std::net`).
pub(crate) const DEFAULT_BACKLOG: u32 = 128;

/// A socket of the engine and the stack it lives in.
#[derive(Debug)]
pub(crate) struct Owned<S: Stack> {
    pub stack: S,
    pub id: SocketId,
    open: bool,
}

impl<S: Stack> Owned<S> {
    /// A new TCP socket (local only: nothing is sent yet).
    pub fn socket(stack: &S) -> Result<Self, Errno> {
        stack.open()?;
        let id = stack.with(|fe| fe.socket(AF_INET, SOCK_STREAM, 0))?;
        Ok(Owned::adopt(stack.clone(), id))
    }

    /// Takes ownership of an engine socket.
    pub fn adopt(stack: S, id: SocketId) -> Self {
        Owned { stack, id, open: true }
    }

    /// A new socket bound to `addr` and listening (two round trips).
    pub fn listener(stack: &S, addr: SocketAddr, backlog: u32) -> Result<Self, Errno> {
        let addr = to_v4(addr)?;
        let s = Self::socket(stack)?;
        block(stack, |fe| fe.bind(s.id, addr))?;
        block(stack, |fe| fe.listen(s.id, backlog))?;
        Ok(s)
    }

    /// A new socket connected to `addr`, or the error (`ETIMEDOUT` if
    /// `deadline` passed first; the engine releases the socket once the
    /// backend answers the CONNECT).
    pub fn connected(stack: &S, addr: SocketAddrV4, deadline: Option<u64>) -> Result<Self, Errno> {
        let s = Self::socket(stack)?;
        match block_on(stack, deadline, |fe| fe.connect(s.id, addr)) {
            Poll::Ready(Ok(())) => Ok(s),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(Errno::ETIMEDOUT),
        }
    }

    /// Whether [`close`](Self::close) has not been called.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Closes the socket (once; later calls do nothing).
    pub fn close(&mut self) {
        if core::mem::take(&mut self.open) {
            let id = self.id;
            let _ = self.stack.with(|fe| fe.close(id));
        }
    }
}

impl<S: Stack> Drop for Owned<S> {
    fn drop(&mut self) {
        self.close();
    }
}

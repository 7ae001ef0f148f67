//! [`TcpListener`]: a listening TCP socket shaped like `std::net::TcpListener`.

use core::cell::Cell;
use core::net::SocketAddr;

use skiff_pvcalls::{Errno, SocketId};

use super::{TcpStream, run};
use crate::handle::{DEFAULT_BACKLOG, Owned};
use crate::{Error, ErrorKind, Result, Stack};

/// A listening TCP socket, like `std::net::TcpListener`. Blocking by
/// default; dropping it closes the socket (the engine keeps it listening
/// in dom0 until an ACCEPT it has in flight is answered).
#[derive(Debug)]
pub struct TcpListener<S: Stack> {
    sock: Owned<S>,
    nonblocking: Cell<bool>,
}

impl<S: Stack + Default> TcpListener<S> {
    /// Binds to `addr` and listens (backlog 128), on the default stack.
    /// The socket lives in dom0's port space: a port in use there gives
    /// [`ErrorKind::AddrInUse`].
    pub fn bind(addr: impl Into<SocketAddr>) -> Result<Self> {
        Self::bind_in(&S::default(), addr)
    }
}

impl<S: Stack> TcpListener<S> {
    /// [`bind`](Self::bind) on `stack`.
    pub fn bind_in(stack: &S, addr: impl Into<SocketAddr>) -> Result<Self> {
        let sock = Owned::listener(stack, addr.into(), DEFAULT_BACKLOG)?;
        Ok(TcpListener { sock, nonblocking: Cell::new(false) })
    }

    pub(crate) fn from_owned(sock: Owned<S>) -> Self {
        TcpListener { sock, nonblocking: Cell::new(false) }
    }

    /// The engine's id of this socket.
    pub fn socket_id(&self) -> SocketId {
        self.sock.id
    }

    /// Waits for a connection (or, non-blocking, [`ErrorKind::WouldBlock`]).
    ///
    /// The second element is always `None`: PV Calls does not report the
    /// peer's address, and none is made up. The stream starts blocking.
    pub fn accept(&self) -> Result<(TcpStream<S>, Option<SocketAddr>)> {
        let id = self.sock.id;
        let new = run(&self.sock.stack, self.nonblocking.get(), None, |fe| fe.accept(id))?;
        let sock = Owned::adopt(self.sock.stack.clone(), new);
        Ok((TcpStream::from_owned(sock), None))
    }

    /// An endless iterator of accepted connections.
    pub fn incoming(&self) -> Incoming<'_, S> {
        Incoming { listener: self }
    }

    /// The address the listener was bound to, as given: PV Calls has no
    /// `getsockname`, so a listener bound to port 0 reports port 0.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        let id = self.sock.id;
        self.sock.stack.with(|fe| fe.local_addr(id)).map(SocketAddr::V4).ok_or(Error::new(
            ErrorKind::InvalidInput,
            Some(Errno::EINVAL),
            "socket is not bound",
        ))
    }

    /// Switches non-blocking mode for [`accept`](Self::accept).
    pub fn set_nonblocking(&self, nonblocking: bool) -> Result<()> {
        self.nonblocking.set(nonblocking);
        Ok(())
    }
}

/// Iterator over [`TcpListener::accept`] results, like `std::net::Incoming`.
#[derive(Debug)]
pub struct Incoming<'a, S: Stack> {
    listener: &'a TcpListener<S>,
}

impl<S: Stack> Iterator for Incoming<'_, S> {
    type Item = Result<TcpStream<S>>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

//! [`TcpStream`]: a connected TCP socket shaped like `std::net::TcpStream` (+ embedded-io traits).

use core::cell::Cell;
use core::net::SocketAddr;
use core::time::Duration;

use skiff_pvcalls::{Errno, Peer, SocketId};

use super::{check_timeout, run};
use crate::handle::Owned;
use crate::{Error, ErrorKind, Result, Stack, deadline_after, to_v4};

/// A connected TCP socket, like `std::net::TcpStream`. Blocking by default;
/// dropping it closes the socket.
///
/// Dropping releases the connection at once: bytes still queued in the
/// data ring that the backend has not sent yet may be lost (PV Calls has no
/// lingering close and the engine offers no "sent everything" check).
#[derive(Debug)]
pub struct TcpStream<S: Stack> {
    sock: Owned<S>,
    nonblocking: Cell<bool>,
    read_timeout: Cell<Option<Duration>>,
    write_timeout: Cell<Option<Duration>>,
}

impl<S: Stack + Default> TcpStream<S> {
    /// Connects to `addr` on the default stack (blocks until the backend
    /// answers). IPv6: [`ErrorKind::Unsupported`] (`EAFNOSUPPORT`).
    pub fn connect(addr: impl Into<SocketAddr>) -> Result<Self> {
        Self::connect_in(&S::default(), addr)
    }

    /// [`connect`](Self::connect) giving up after `timeout`
    /// ([`ErrorKind::TimedOut`]). Note that the Linux backend performs the
    /// connect inline on its command ring: until dom0's TCP handshake ends,
    /// no other socket command of this guest is processed, timeout or not.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> Result<Self> {
        Self::connect_timeout_in(&S::default(), addr, timeout)
    }
}

impl<S: Stack> TcpStream<S> {
    /// Connects to `addr` on `stack`.
    pub fn connect_in(stack: &S, addr: impl Into<SocketAddr>) -> Result<Self> {
        Self::open(stack, addr.into(), None)
    }

    /// [`connect_timeout`](Self::connect_timeout) on `stack`.
    pub fn connect_timeout_in(stack: &S, addr: &SocketAddr, timeout: Duration) -> Result<Self> {
        check_timeout(Some(timeout))?;
        Self::open(stack, *addr, Some(timeout))
    }

    fn open(stack: &S, addr: SocketAddr, timeout: Option<Duration>) -> Result<Self> {
        let addr = to_v4(addr)?;
        let deadline = deadline_after(stack, timeout);
        let sock = Owned::connected(stack, addr, deadline).map_err(|e| match e {
            Errno::ETIMEDOUT if timeout.is_some() => Error::timed_out(),
            e => Error::from(e),
        })?;
        Ok(Self::from_owned(sock))
    }

    pub(crate) fn from_owned(sock: Owned<S>) -> Self {
        TcpStream {
            sock,
            nonblocking: Cell::new(false),
            read_timeout: Cell::new(None),
            write_timeout: Cell::new(None),
        }
    }

    /// The engine's id of this socket.
    pub fn socket_id(&self) -> SocketId {
        self.sock.id
    }

    /// Reads what is available (blocking until at least one byte, EOF or
    /// an error, unless non-blocking). `Ok(0)` means end of stream.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let id = self.sock.id;
        run(&self.sock.stack, self.nonblocking.get(), self.read_timeout.get(), |fe| {
            fe.recv(id, buf)
        })
    }

    /// Writes some of `buf` (blocking until at least one byte fits, unless
    /// non-blocking).
    pub fn write(&self, buf: &[u8]) -> Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let id = self.sock.id;
        run(&self.sock.stack, self.nonblocking.get(), self.write_timeout.get(), |fe| {
            fe.send(id, buf)
        })
    }

    /// Writes all of `buf`.
    pub fn write_all(&self, mut buf: &[u8]) -> Result<()> {
        while !buf.is_empty() {
            match self.write(buf)? {
                0 => {
                    return Err(Error::new(
                        ErrorKind::WriteZero,
                        None,
                        "failed to write whole buffer",
                    ));
                }
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Fills `buf` exactly; [`ErrorKind::UnexpectedEof`] if the stream
    /// ends first.
    pub fn read_exact(&self, mut buf: &mut [u8]) -> Result<()> {
        while !buf.is_empty() {
            match self.read(buf)? {
                0 => {
                    return Err(Error::new(
                        ErrorKind::UnexpectedEof,
                        None,
                        "failed to fill buffer",
                    ));
                }
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    /// Does nothing: written bytes are already in the ring shared with the
    /// backend, which sends them without further action.
    pub fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// Switches non-blocking mode: operations that would block fail with
    /// [`ErrorKind::WouldBlock`].
    pub fn set_nonblocking(&self, nonblocking: bool) -> Result<()> {
        self.nonblocking.set(nonblocking);
        Ok(())
    }

    /// Read timeout (`None`: block forever); expiry gives
    /// [`ErrorKind::TimedOut`]. A zero duration is rejected.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> Result<()> {
        check_timeout(t)?;
        self.read_timeout.set(t);
        Ok(())
    }

    /// Write timeout, like [`set_read_timeout`](Self::set_read_timeout).
    pub fn set_write_timeout(&self, t: Option<Duration>) -> Result<()> {
        check_timeout(t)?;
        self.write_timeout.set(t);
        Ok(())
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> Result<Option<Duration>> {
        Ok(self.read_timeout.get())
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> Result<Option<Duration>> {
        Ok(self.write_timeout.get())
    }

    /// The address this stream connected to. Accepted streams fail with
    /// [`ErrorKind::Unsupported`]: PV Calls does not tell the frontend
    /// who connected.
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        let id = self.sock.id;
        match self.sock.stack.with(|fe| fe.peer(id)) {
            Some(Peer::Addr(a)) => Ok(SocketAddr::V4(a)),
            Some(Peer::Unknown) => Err(Error::new(
                ErrorKind::Unsupported,
                Some(Errno::EOPNOTSUPP),
                "PV Calls does not report the peer address of accepted connections",
            )),
            None => Err(Error::from(Errno::ENOTCONN)),
        }
    }

    /// The pending socket error (reset, ...), if any, like `take_error`.
    pub fn take_error(&self) -> Result<Option<Error>> {
        let id = self.sock.id;
        let r = self.sock.stack.with(|fe| fe.poll(id))?;
        Ok(r.error.map(Error::from))
    }

    /// Bytes that can be read without blocking.
    pub fn available(&self) -> Result<usize> {
        let id = self.sock.id;
        Ok(self.sock.stack.with(|fe| fe.available(id))?)
    }

    pub(crate) fn readiness(&self) -> Result<skiff_pvcalls::Readiness> {
        let id = self.sock.id;
        Ok(self.sock.stack.with(|fe| fe.poll(id))?)
    }
}

impl<S: Stack> embedded_io::ErrorType for TcpStream<S> {
    type Error = Error;
}

impl<S: Stack> embedded_io::Read for TcpStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        TcpStream::read(self, buf)
    }
}

impl<S: Stack> embedded_io::Write for TcpStream<S> {
    fn write(&mut self, buf: &[u8]) -> Result<usize> {
        TcpStream::write(self, buf)
    }

    fn flush(&mut self) -> Result<()> {
        TcpStream::flush(self)
    }
}

impl<S: Stack> embedded_io::ReadReady for TcpStream<S> {
    /// Data, EOF or an error can be read without blocking.
    fn read_ready(&mut self) -> Result<bool> {
        Ok(self.readiness()?.readable)
    }
}

impl<S: Stack> embedded_io::WriteReady for TcpStream<S> {
    /// Some bytes fit in the send ring (or a write fails at once).
    fn write_ready(&mut self) -> Result<bool> {
        Ok(self.readiness()?.writable)
    }
}

//! embedded-nal 0.9 `TcpClientStack` and `TcpFullStack` (non-blocking, `nb`) over the engine.

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use core::task::Poll;

use embedded_nal::{TcpClientStack, TcpFullStack};
use skiff_pvcalls::Errno;

use crate::{Error, Stack, TcpSocket, to_v4};

/// An embedded-nal stack on a [`Stack`]. Its sockets are [`TcpSocket`]s
/// (closed when dropped, so `close` is only a formality).
///
/// `connect`, `send`, `receive` and `accept` never block
/// (`nb::Error::WouldBlock`); `bind` and `listen` block for their round
/// trip, as the traits do not allow them to be retried. `receive` returns
/// `Ok(0)` at end of stream.
#[derive(Clone, Debug)]
pub struct NalStack<S: Stack> {
    stack: S,
}

impl<S: Stack> NalStack<S> {
    /// The embedded-nal face of `stack`.
    pub fn new(stack: S) -> Self {
        NalStack { stack }
    }
}

/// The engine's answer as `nb` wants it: `Pending` is `WouldBlock`.
fn nb<T>(p: Poll<Result<T, Errno>>) -> nb::Result<T, Error> {
    match p {
        Poll::Ready(r) => r.map_err(|e| nb::Error::Other(Error::from(e))),
        Poll::Pending => Err(nb::Error::WouldBlock),
    }
}

impl<S: Stack> TcpClientStack for NalStack<S> {
    type TcpSocket = TcpSocket<S>;
    type Error = Error;

    fn socket(&mut self) -> Result<TcpSocket<S>, Error> {
        Ok(TcpSocket::new(&self.stack)?)
    }

    fn connect(&mut self, socket: &mut TcpSocket<S>, remote: SocketAddr) -> nb::Result<(), Error> {
        let remote = to_v4(remote).map_err(|e| nb::Error::Other(Error::from(e)))?;
        nb(socket.poll_connect(remote))
    }

    fn send(&mut self, socket: &mut TcpSocket<S>, buffer: &[u8]) -> nb::Result<usize, Error> {
        let id = socket.id();
        nb(self.stack.with(|fe| fe.send(id, buffer)))
    }

    fn receive(
        &mut self,
        socket: &mut TcpSocket<S>,
        buffer: &mut [u8],
    ) -> nb::Result<usize, Error> {
        let id = socket.id();
        nb(self.stack.with(|fe| fe.recv(id, buffer)))
    }

    fn close(&mut self, socket: TcpSocket<S>) -> Result<(), Error> {
        drop(socket);
        Ok(())
    }
}

impl<S: Stack> TcpFullStack for NalStack<S> {
    /// Binds to `0.0.0.0:local_port`.
    fn bind(&mut self, socket: &mut TcpSocket<S>, local_port: u16) -> Result<(), Error> {
        Ok(socket.bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, local_port))?)
    }

    fn listen(&mut self, socket: &mut TcpSocket<S>) -> Result<(), Error> {
        Ok(socket.listen_bound()?)
    }

    /// The address returned is `0.0.0.0:0`: the trait requires one, and PV
    /// Calls does not report who connected.
    fn accept(
        &mut self,
        socket: &mut TcpSocket<S>,
    ) -> nb::Result<(TcpSocket<S>, SocketAddr), Error> {
        match socket.accept() {
            Ok(Some(s)) => Ok((s, SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)))),
            Ok(None) => Err(nb::Error::WouldBlock),
            Err(e) => Err(nb::Error::Other(Error::from(e))),
        }
    }
}

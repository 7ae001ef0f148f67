//! Open files (what dup'ed fds share): kinds, status flags, re-arm epochs, and the socket bookkeeping.

use core::net::SocketAddrV4;
use core::time::Duration;

use skiff_pvcalls::Errno;

use crate::env::SocketHandle;
use crate::epoll::Epoll;
use crate::eventfd::EventFd;
use crate::vfs::Node;

/// Names an open file in the process's arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u64);

/// Names a pipe (shared by its two ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PipeId(pub u64);

/// Where a socket is in its life, as far as the fd layer knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockState {
    /// Fresh or failed connect: nothing in dom0 yet.
    Idle,
    /// Bound to this address.
    Bound(SocketAddrV4),
    /// Listening on this address.
    Listening(SocketAddrV4),
    /// A connect to this address is in flight.
    Connecting(SocketAddrV4),
    /// Connected; the peer address when we connected (accepted connections
    /// do not learn it), the local address when known (a listener's).
    Connected {
        /// Peer, if known.
        peer: Option<SocketAddrV4>,
        /// Local address, if known.
        local: Option<SocketAddrV4>,
    },
}

/// Socket options: those PV Calls honours and those accepted and remembered only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockOpts {
    /// `SO_RCVTIMEO` (honoured: blocking receives and accepts end with `EAGAIN`).
    pub rcvtimeo: Option<Duration>,
    /// `SO_SNDTIMEO` (honoured for sends and connects).
    pub sndtimeo: Option<Duration>,
    /// `SO_REUSEADDR` (remembered; dom0's backend binds without it).
    pub reuseaddr: bool,
    /// `SO_REUSEPORT` (remembered).
    pub reuseport: bool,
    /// `SO_KEEPALIVE` (remembered; dom0 decides).
    pub keepalive: bool,
    /// `TCP_NODELAY` (remembered; dom0 decides).
    pub nodelay: bool,
    /// `SO_LINGER` as (on, seconds) (remembered).
    pub linger: (bool, i32),
    /// `SO_RCVBUF` (remembered; reported doubled, as Linux does).
    pub rcvbuf: Option<u32>,
    /// `SO_SNDBUF` (remembered; reported doubled).
    pub sndbuf: Option<u32>,
}

/// A socket's fd-level state.
#[derive(Clone, Copy, Debug)]
pub struct SocketFile {
    /// The engine's socket.
    pub handle: SocketHandle,
    /// Life cycle.
    pub state: SockState,
    /// A failed non-blocking connect, for `SO_ERROR` / the next `connect`.
    pub so_error: Option<Errno>,
    /// A non-blocking connect completed and `connect` has not said so.
    pub connect_unreported: bool,
    /// `shutdown(SHUT_RD)`: reads return EOF.
    pub shut_rd: bool,
    /// `shutdown(SHUT_WR)`: writes fail with `EPIPE`.
    pub shut_wr: bool,
    /// Options.
    pub opts: SockOpts,
}

impl SocketFile {
    /// A fresh socket on `handle`.
    pub fn new(handle: SocketHandle) -> Self {
        SocketFile {
            handle,
            state: SockState::Idle,
            so_error: None,
            connect_unreported: false,
            shut_rd: false,
            shut_wr: false,
            opts: SockOpts::default(),
        }
    }
}

/// What an open file is.
#[derive(Clone, Debug)]
pub enum FileKind {
    /// The console (fds 0, 1 and 2 at start): writes go to the console;
    /// reads end of file at once (there is no console input).
    Console,
    /// A TCP socket.
    Socket(SocketFile),
    /// An epoll instance.
    Epoll(Epoll),
    /// An eventfd.
    EventFd(EventFd),
    /// A pipe's read end.
    PipeRead(PipeId),
    /// A pipe's write end.
    PipeWrite(PipeId),
    /// One end of a `socketpair(AF_UNIX, SOCK_STREAM)`: it reads from pipe
    /// `rx` and writes to pipe `tx`; the other end has them swapped.
    UnixStream {
        /// The pipe this end reads.
        rx: PipeId,
        /// The pipe this end writes.
        tx: PipeId,
    },
    /// A file of the read-only set, with the read position.
    Static {
        /// What it is.
        node: Node,
        /// Read position.
        pos: u64,
    },
}

/// An open file description.
#[derive(Clone, Debug)]
pub struct OpenFile {
    /// What it is.
    pub kind: FileKind,
    /// Status flags (`O_NONBLOCK`, access mode, `O_APPEND`...).
    pub flags: u32,
    /// Number of fds naming it.
    pub refs: usize,
    /// Read-side re-arm epoch (see [`crate::epoll`]).
    pub rx_epoch: u64,
    /// Write-side re-arm epoch.
    pub tx_epoch: u64,
}

impl OpenFile {
    /// A file of `kind` with status `flags`, not yet named by any fd.
    pub fn new(kind: FileKind, flags: u32) -> Self {
        OpenFile { kind, flags, refs: 0, rx_epoch: 0, tx_epoch: 0 }
    }

    /// `O_NONBLOCK` is set.
    pub fn nonblocking(&self) -> bool {
        self.flags & crate::abi::O_NONBLOCK != 0
    }

    /// The socket, or `ENOTSOCK`.
    pub fn socket(&self) -> Result<&SocketFile, Errno> {
        match &self.kind {
            FileKind::Socket(s) => Ok(s),
            _ => Err(Errno::ENOTSOCK),
        }
    }

    /// The socket, or `ENOTSOCK`.
    pub fn socket_mut(&mut self) -> Result<&mut SocketFile, Errno> {
        match &mut self.kind {
            FileKind::Socket(s) => Ok(s),
            _ => Err(Errno::ENOTSOCK),
        }
    }
}

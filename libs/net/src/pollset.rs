//! [`PollSet`]: wait on many std-shaped sockets at once (listeners and streams), with `Duration` and `Instant`.

use alloc::vec::Vec;
use core::task::Poll;
use core::time::Duration;

use skiff_pvcalls::{Errno, SocketId};
use skiff_xen::time::Instant;

use crate::{Error, Result, Stack, TcpListener, TcpSocket, TcpStream, block_on, deadline_after};

/// What a registered socket is watched for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interest {
    readable: bool,
    writable: bool,
}

impl Interest {
    /// Data, end of stream or an error to read; for a listener, a connection
    /// to accept.
    pub const READABLE: Interest = Interest { readable: true, writable: false };
    /// Room to write (or a write that would fail at once).
    pub const WRITABLE: Interest = Interest { readable: false, writable: true };
    /// Both.
    pub const BOTH: Interest = Interest { readable: true, writable: true };

    /// Whether reading is watched.
    pub const fn is_readable(self) -> bool {
        self.readable
    }

    /// Whether writing is watched.
    pub const fn is_writable(self) -> bool {
        self.writable
    }
}

/// What [`PollSet::wait`] found for one registered socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The token the socket was registered with.
    pub token: usize,
    /// Reading (or accepting) will not block.
    pub readable: bool,
    /// Writing will not block.
    pub writable: bool,
    /// The connection failed (reset, ...) or the socket is no longer open.
    pub error: Option<Errno>,
    /// The peer will send nothing more (end of stream or failure).
    pub read_closed: bool,
}

/// A socket a [`PollSet`] can watch.
pub trait Source {
    /// The engine's id of the socket.
    fn socket_id(&self) -> SocketId;
}

impl<S: Stack> Source for TcpListener<S> {
    fn socket_id(&self) -> SocketId {
        TcpListener::socket_id(self)
    }
}

impl<S: Stack> Source for TcpStream<S> {
    fn socket_id(&self) -> SocketId {
        TcpStream::socket_id(self)
    }
}

impl<S: Stack> Source for TcpSocket<S> {
    fn socket_id(&self) -> SocketId {
        self.id()
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    token: usize,
    id: SocketId,
    interest: Interest,
}

/// A set of sockets to wait on together, each under a token the caller
/// chooses (like `mio::Poll` with its `Token`s), for servers written with
/// [`TcpListener`] and [`TcpStream`].
///
/// Readiness is level-triggered: a socket that stays readable is reported by
/// every wait until it is read. A listener is readable when a connection can
/// be accepted ([`TcpListener::accept`] then returns it without blocking).
/// Deregister a socket before dropping it; one dropped while registered is
/// reported with the error `EBADF`.
///
/// ```
/// # use skiff_net::{Interest, PollSet, Stack};
/// # fn serve<S: Stack>(stack: S, listener: skiff_net::TcpListener<S>) -> skiff_net::Result<()> {
/// use core::time::Duration;
///
/// const LISTENER: usize = 0;
/// let mut poll = PollSet::new(stack);
/// poll.add(&listener, LISTENER, Interest::READABLE)?;
/// let mut events = Vec::new();
/// poll.wait(&mut events, Some(Duration::from_secs(1)))?;
/// for ev in &events {
///     if ev.token == LISTENER && ev.readable {
///         let (stream, _) = listener.accept()?;
///         // register `stream` under a token of its own ...
///         # drop(stream);
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PollSet<S: Stack> {
    stack: S,
    entries: Vec<Entry>,
}

impl<S: Stack + Default> Default for PollSet<S> {
    /// An empty set on the default stack.
    fn default() -> Self {
        PollSet::new(S::default())
    }
}

impl<S: Stack> PollSet<S> {
    /// An empty set on `stack`.
    pub fn new(stack: S) -> Self {
        PollSet { stack, entries: Vec::new() }
    }

    /// Watches `source` for `interest` under `token`. A token already in
    /// the set is refused (`EEXIST`).
    pub fn add(&mut self, source: &impl Source, token: usize, interest: Interest) -> Result<()> {
        if self.entries.iter().any(|e| e.token == token) {
            return Err(Error::from(Errno::EEXIST));
        }
        self.entries.push(Entry { token, id: source.socket_id(), interest });
        Ok(())
    }

    /// Changes what `token`'s socket is watched for (`ENOENT` if unknown).
    pub fn modify(&mut self, token: usize, interest: Interest) -> Result<()> {
        let e = self.entries.iter_mut().find(|e| e.token == token);
        e.map(|e| e.interest = interest).ok_or(Error::from(Errno::ENOENT))
    }

    /// Stops watching `token`'s socket (`ENOENT` if unknown).
    pub fn remove(&mut self, token: usize) -> Result<()> {
        let before = self.entries.len();
        self.entries.retain(|e| e.token != token);
        if self.entries.len() == before { Err(Error::from(Errno::ENOENT)) } else { Ok(()) }
    }

    /// Number of registered sockets.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no socket is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Waits until a registered socket is ready for what it is watched for
    /// (errors and hang-ups are always reported), or `timeout` passes
    /// (`None`: no limit). Replaces `events` with what was found and returns
    /// how many; 0 means the timeout passed.
    pub fn wait(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> Result<usize> {
        let deadline = deadline_after(&self.stack, timeout);
        self.wait_ns(events, deadline)
    }

    /// [`wait`](Self::wait) until the instant `deadline` (`None`: no limit).
    pub fn wait_until(
        &mut self,
        events: &mut Vec<Event>,
        deadline: Option<Instant>,
    ) -> Result<usize> {
        self.wait_ns(events, deadline.map(Instant::as_nanos))
    }

    fn wait_ns(&mut self, events: &mut Vec<Event>, deadline_ns: Option<u64>) -> Result<usize> {
        let entries = &self.entries;
        let r = block_on(&self.stack, deadline_ns, |fe| {
            events.clear();
            for e in entries {
                let ev = match fe.poll(e.id) {
                    Ok(r) => Event {
                        token: e.token,
                        readable: r.readable && e.interest.readable,
                        writable: r.writable && e.interest.writable,
                        error: r.error,
                        read_closed: r.rdhup || r.hup,
                    },
                    Err(err) => Event {
                        token: e.token,
                        readable: false,
                        writable: false,
                        error: Some(err),
                        read_closed: true,
                    },
                };
                let wanted = ev.readable || ev.writable || ev.error.is_some();
                if wanted {
                    events.push(ev);
                }
            }
            if events.is_empty() { Poll::Pending } else { Poll::Ready(Ok(events.len())) }
        });
        match r {
            Poll::Ready(r) => r.map_err(Error::from),
            Poll::Pending => Ok(0),
        }
    }
}

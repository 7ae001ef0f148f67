//! Data ring I/O (spec "Workflow"): read `in`, write `out`, sticky `in_error`/`out_error`, EOF after draining.
//!
//! A data ring is an indexes page (`struct pvcalls_data_intf`) plus
//! `1 << order` data pages; the first half of the data pages is `in`
//! (backend → frontend), the second half `out`. [`DataIo`] implements the
//! frontend's side over any two [`SharedMem`] regions (the indexes page and
//! the data pages), copying straight between the ring and the caller's
//! buffer.
//!
//! Rules it follows:
//! - errors are read *before* the producer index, so when the ring looks
//!   empty and an error is set, every byte produced before the error has
//!   been seen: `in` is always drained before EOF or an error is reported;
//! - `in_error == -ENOTCONN` is an orderly EOF: `recv` returns 0;
//! - errors are sticky: once seen they are remembered even if the backend
//!   later clears them;
//! - impossible indexes (`prod - cons > size`) make the ring fail with
//!   `EIO` for good, without touching memory outside it;
//! - notifying the backend is the caller's business (`rings.rs`: after a
//!   `send` that moved bytes, after a `recv` that made room in a full `in`,
//!   and in answer to the backend's own events).

use core::task::Poll;

use skiff_ring::{ByteRing, Consumer, Producer, SharedMem, Taken};
use skiff_xen::pvcalls::{MAX_RING_ORDER, data_ring_size, intf};

use crate::Errno;

/// `-ENOTCONN` as the backend stores it for an orderly shutdown.
pub const EOF_ERROR: i32 = -(Errno::ENOTCONN.0);

/// Readiness of an active socket, as `poll()` wants it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Data, EOF or an error can be read without blocking.
    pub readable: bool,
    /// Data can be written, or a write would fail at once with an error.
    pub writable: bool,
    /// A pending error (not EOF).
    pub error: Option<Errno>,
    /// Nothing more will arrive: the peer shut down its sending side, or the
    /// connection failed (`POLLRDHUP`, as Linux sets it on a reset too).
    pub rdhup: bool,
    /// There is no connection to send or receive on: never connected, or
    /// ended by an error (`POLLHUP`).
    pub hup: bool,
}

/// The frontend's end of one data ring. See the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct DataIo {
    order: u32,
    rx: Consumer,
    tx: Producer,
    in_error: i32,
    out_error: i32,
    broken: bool,
    /// A read since the last call may have been from a ring the backend
    /// found full ([`take_refill_owed`](Self::take_refill_owed)).
    refill_owed: bool,
    /// `in_cons` before the first read not yet checked against `in_prod`
    /// (reads that leave data queued are checked by the one that empties
    /// the ring; see `recv`).
    unchecked_since: Option<u32>,
}

impl DataIo {
    /// The frontend's end of a ring of `1 << order` data pages.
    ///
    /// # Panics
    ///
    /// If `order` is 0 or above 9 (the protocol's range).
    pub fn new(order: u32) -> Self {
        assert!((1..=MAX_RING_ORDER).contains(&order), "data ring order out of range");
        let size = data_ring_size(order) as u32;
        DataIo {
            order,
            rx: ByteRing::new(0, size, intf::IN_PROD, intf::IN_CONS).consumer(),
            tx: ByteRing::new(size as usize, size, intf::OUT_PROD, intf::OUT_CONS).producer(),
            in_error: 0,
            out_error: 0,
            broken: false,
            refill_owed: false,
            unchecked_since: None,
        }
    }

    /// The ring order.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// Bytes in each direction.
    pub fn size(&self) -> usize {
        data_ring_size(self.order)
    }

    /// Writes `ring_order` and the data pages' grant refs into a zeroed
    /// indexes page, before the page is passed to the backend.
    ///
    /// # Panics
    ///
    /// If `refs.len() != 1 << order`.
    pub fn init_intf<I: SharedMem + ?Sized>(&self, idx: &I, refs: &[u32]) {
        assert_eq!(refs.len(), 1 << self.order, "one grant ref per data page");
        idx.store_u32(intf::RING_ORDER, self.order);
        for (i, r) in refs.iter().enumerate() {
            idx.store_u32(intf::REF + 4 * i, *r);
        }
    }

    fn refresh_errors<I: SharedMem + ?Sized>(&mut self, idx: &I) {
        if self.in_error == 0 {
            self.in_error = idx.load_u32(intf::IN_ERROR) as i32;
        }
        if self.out_error == 0 {
            self.out_error = idx.load_u32(intf::OUT_ERROR) as i32;
        }
    }

    fn map_error(e: i32) -> Errno {
        match Errno::from_backend(e) {
            Err(e) => e,
            // A positive "error" is garbage; treat it as one.
            Ok(()) => Errno::EIO,
        }
    }

    /// Reads available bytes into `dst`. Returns the number read (the
    /// caller then notifies the backend), `Ok(0)` at EOF (or for an empty
    /// `dst`), `Pending` if nothing is there yet, or the socket's error
    /// once `in` is drained.
    pub fn recv<I, D>(&mut self, idx: &I, data: &D, dst: &mut [u8]) -> Poll<Result<usize, Errno>>
    where
        I: SharedMem + ?Sized,
        D: SharedMem + ?Sized,
    {
        if self.broken {
            return Poll::Ready(Err(Errno::EIO));
        }
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Error first (acquire), then the indexes: see the module docs.
        self.refresh_errors(idx);
        match self.rx.read_split_counted(idx, data, dst) {
            Ok(t) if t.n == 0 => {}
            Ok(t) => {
                self.note_refill(idx, t);
                return Poll::Ready(Ok(t.n));
            }
            Err(_) => {
                self.broken = true;
                return Poll::Ready(Err(Errno::EIO));
            }
        }
        match self.in_error {
            0 => Poll::Pending,
            EOF_ERROR => Poll::Ready(Ok(0)),
            e => Poll::Ready(Err(Self::map_error(e))),
        }
    }

    /// Writes as much of `src` as fits. Returns the number written (the
    /// caller then notifies the backend), `Pending` if `out` is full, or
    /// the socket's error (`-ENOTCONN` from the backend becomes `EPIPE`).
    ///
    /// A receive error other than EOF (the connection failed) fails writes
    /// too, with that error, every time (Linux fails the next `send` after a
    /// reset with it once, then with `EPIPE`).
    /// Without it a writer waiting for room in a full `out` would wait on
    /// a dead connection for as long as the backend takes to report it on
    /// `out_error`, which it may never do, while `poll` already reports the
    /// error: an event loop would spin on a socket it can neither write
    /// nor drop.
    pub fn send<I, D>(&mut self, idx: &I, data: &D, src: &[u8]) -> Poll<Result<usize, Errno>>
    where
        I: SharedMem + ?Sized,
        D: SharedMem + ?Sized,
    {
        if self.broken {
            return Poll::Ready(Err(Errno::EIO));
        }
        self.refresh_errors(idx);
        if self.out_error != 0 {
            return Poll::Ready(Err(self.out_errno()));
        }
        if let Some(e) = self.connection_error() {
            return Poll::Ready(Err(e));
        }
        if src.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match self.tx.write_split(idx, data, src) {
            Ok(0) => Poll::Pending,
            Ok(n) => Poll::Ready(Ok(n)),
            Err(_) => {
                self.broken = true;
                Poll::Ready(Err(Errno::EIO))
            }
        }
    }

    /// The receive side's error if it is one that ends the connection
    /// (anything but EOF: for TCP a reset or a timeout; the backend's
    /// `recvmsg` reports nothing else).
    fn connection_error(&self) -> Option<Errno> {
        match self.in_error {
            0 | EOF_ERROR => None,
            e => Some(Self::map_error(e)),
        }
    }

    fn out_errno(&self) -> Errno {
        if self.out_error == EOF_ERROR { Errno::EPIPE } else { Self::map_error(self.out_error) }
    }

    /// Whether the backend has finished the receiving side: `in_error` is
    /// set (EOF or an error), or the ring is broken.
    pub fn recv_finished<I: SharedMem + ?Sized>(&mut self, idx: &I) -> bool {
        self.refresh_errors(idx);
        self.broken || self.in_error != 0
    }

    /// Bytes waiting in `in`.
    pub fn available<I: SharedMem + ?Sized>(&mut self, idx: &I) -> Result<usize, Errno> {
        match self.rx.available(idx) {
            Ok(n) => Ok(n as usize),
            Err(_) => {
                self.broken = true;
                Err(Errno::EIO)
            }
        }
    }

    /// Whether the backend may have stopped reading its socket on finding
    /// `in` full since our last event, after a read of `t`.
    ///
    /// The backend can fill `in` between our look at the indexes and our
    /// new `in_cons`, and stop. A read that saw `in` full owes it an event
    /// at once. Otherwise, the read that takes all it saw fences and looks
    /// at `in_prod` again, against `in_cons` as it was before the first
    /// read not yet checked: a backend stopped on any `in_cons` since then
    /// is seen. Reads that leave data queued skip the look (a cache line
    /// the backend is writing): the application reads on, and the read that
    /// empties the ring looks for them.
    fn note_refill<I: SharedMem + ?Sized>(&mut self, idx: &I, t: Taken) {
        let since = *self.unchecked_since.get_or_insert(t.cons);
        let owed = if t.queued as usize >= self.size() {
            true
        } else if t.n as u32 == t.queued {
            self.rx.full_since(idx, since)
        } else {
            return;
        };
        self.unchecked_since = None;
        self.refill_owed |= owed;
    }

    /// Whether a read since the last call took data from `in` while the
    /// backend may have found it full: the backend then stops reading its
    /// socket until our next event, which it is owed (see `note_refill`).
    pub fn take_refill_owed(&mut self) -> bool {
        core::mem::take(&mut self.refill_owed)
    }

    /// Whether `in` is full (the backend has stopped reading its socket).
    pub fn in_full<I: SharedMem + ?Sized>(&mut self, idx: &I) -> bool {
        matches!(self.rx.available(idx), Ok(n) if n as usize >= self.size())
    }

    /// Whether everything written to `out` has been consumed by the backend.
    pub fn out_drained<I: SharedMem + ?Sized>(&mut self, idx: &I) -> bool {
        matches!(self.tx.space(idx), Ok(s) if s as usize == self.size())
    }

    /// Whether `out` needs no more waiting before RELEASE: everything was
    /// consumed, or the backend reported an error on `out` (it will send no
    /// more) or a failed connection on `in`, or the ring is broken.
    pub fn out_settled<I: SharedMem + ?Sized>(&mut self, idx: &I) -> bool {
        if self.broken {
            return true;
        }
        self.refresh_errors(idx);
        self.out_error != 0
            || self.connection_error().is_some()
            || !matches!(self.tx.space(idx), Ok(s) if (s as usize) < self.size())
    }

    /// Current readiness (reads the indexes page).
    pub fn readiness<I: SharedMem + ?Sized>(&mut self, idx: &I) -> Readiness {
        if self.broken {
            return Readiness {
                readable: true,
                writable: true,
                error: Some(Errno::EIO),
                rdhup: true,
                hup: true,
            };
        }
        self.refresh_errors(idx);
        let avail = self.rx.available(idx);
        let space = self.tx.space(idx);
        if avail.is_err() || space.is_err() {
            self.broken = true;
            return self.readiness(idx);
        }
        let (avail, space) = (avail.unwrap_or(0), space.unwrap_or(0));
        let in_err = self.connection_error();
        let out_err = (self.out_error != 0).then(|| self.out_errno());
        let error = in_err.or(out_err);
        Readiness {
            readable: avail > 0 || self.in_error != 0,
            writable: space > 0 || error.is_some(),
            error,
            rdhup: self.in_error != 0,
            hup: error.is_some(),
        }
    }

    /// Marks the ring failed with `EIO` (used when the backend is gone).
    pub fn set_broken(&mut self) {
        self.broken = true;
    }
}

//! Granted pages and event channels: allocation, teardown (leaking what the backend still maps) and accounting.

use alloc::vec::Vec;
use core::task::Poll;

use crate::Errno;
use crate::data::{DataIo, Readiness};
use crate::platform::{DomId, EndGrantError, GrantRef, PageBlock, Platform, Port, Resources};

/// Counters of what the frontend holds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Accounting {
    pub grants: usize,
    pub pages: usize,
    pub ports: usize,
    /// Data rings allocated and not yet released or leaked.
    pub rings: usize,
    pub leaked_pages: usize,
    pub leaked_grants: usize,
}

impl Accounting {
    pub fn resources(&self, req_ids: usize, sockets: usize, orphans: usize) -> Resources {
        Resources {
            grants: self.grants,
            pages: self.pages,
            ports: self.ports,
            rings: self.rings,
            req_ids,
            sockets,
            orphans,
            leaked_pages: self.leaked_pages,
            leaked_grants: self.leaked_grants,
        }
    }
}

/// A block of pages, each granted to the backend.
#[derive(Debug)]
pub(crate) struct GrantedBlock<B> {
    pub mem: B,
    pub refs: Vec<GrantRef>,
}

impl<B: PageBlock> GrantedBlock<B> {
    /// Allocates `2^order` pages and grants each of them to `domid`.
    pub fn new<P: Platform<Pages = B>>(
        p: &mut P,
        acct: &mut Accounting,
        domid: DomId,
        order: u32,
    ) -> Result<Self, Errno> {
        let mem = p.alloc_pages(order).map_err(|_| Errno::ENOMEM)?;
        let n = mem.pages();
        acct.pages += n;
        let mut block = GrantedBlock { mem, refs: Vec::with_capacity(n) };
        for i in 0..n {
            match p.grant(domid, block.mem.gfn(i)) {
                Ok(r) => {
                    block.refs.push(r);
                    acct.grants += 1;
                }
                Err(_) => {
                    block.release(p, acct);
                    return Err(Errno::ENOMEM);
                }
            }
        }
        Ok(block)
    }

    /// Ends every grant and frees the pages; if the backend still maps any
    /// page, that grant stays active and the whole block is leaked.
    pub fn release<P: Platform<Pages = B>>(self, p: &mut P, acct: &mut Accounting) {
        let mut mapped = false;
        for r in &self.refs {
            match p.end_grant(*r) {
                Ok(()) => acct.grants -= 1,
                Err(EndGrantError::StillMapped) => {
                    mapped = true;
                    acct.grants -= 1;
                    acct.leaked_grants += 1;
                }
                // Not a grant we hold any more: nothing to account.
                Err(EndGrantError::BadRef) => acct.grants -= 1,
            }
        }
        let n = self.mem.pages();
        acct.pages -= n;
        if mapped {
            acct.leaked_pages += n;
            p.leak_pages(self.mem);
        }
    }

    /// Gives the block up without ending its grants: the backend may map
    /// it at any time, so it is never reused.
    pub fn leak<P: Platform<Pages = B>>(self, p: &mut P, acct: &mut Accounting) {
        acct.grants -= self.refs.len();
        acct.leaked_grants += self.refs.len();
        let n = self.mem.pages();
        acct.pages -= n;
        acct.leaked_pages += n;
        p.leak_pages(self.mem);
    }
}

/// Allocates an unbound event channel for `domid`, counted.
pub(crate) fn alloc_port<P: Platform>(
    p: &mut P,
    acct: &mut Accounting,
    domid: DomId,
) -> Result<Port, Errno> {
    let port = p.alloc_evtchn(domid).map_err(|_| Errno::ENOMEM)?;
    acct.ports += 1;
    Ok(port)
}

/// Closes a counted event channel.
pub(crate) fn close_port<P: Platform>(p: &mut P, acct: &mut Accounting, port: Port) {
    p.close_evtchn(port);
    acct.ports -= 1;
}

/// One data ring: indexes page, data pages, event channel, and the I/O state.
#[derive(Debug)]
pub(crate) struct DataRing<B> {
    pub idx: GrantedBlock<B>,
    pub data: GrantedBlock<B>,
    pub port: Port,
    pub io: DataIo,
    /// The backend is owed an event: we consumed from a full `in`, or it
    /// signalled us (see [`on_event`](Self::on_event)).
    pub notify_due: bool,
}

impl<B: PageBlock> DataRing<B> {
    /// Allocates, grants and initialises a data ring of `1 << order` pages.
    pub fn new<P: Platform<Pages = B>>(
        p: &mut P,
        acct: &mut Accounting,
        domid: DomId,
        order: u32,
    ) -> Result<Self, Errno> {
        let idx = GrantedBlock::new(p, acct, domid, 0)?;
        let data = match GrantedBlock::new(p, acct, domid, order) {
            Ok(d) => d,
            Err(e) => {
                idx.release(p, acct);
                return Err(e);
            }
        };
        let port = match alloc_port(p, acct, domid) {
            Ok(port) => port,
            Err(e) => {
                data.release(p, acct);
                idx.release(p, acct);
                return Err(e);
            }
        };
        let io = DataIo::new(order);
        io.init_intf(&idx.mem, &data.refs);
        acct.rings += 1;
        Ok(DataRing { idx, data, port, io, notify_due: false })
    }

    /// Readiness of the connection on this ring; once the backend is
    /// `gone`, everything is ready and the error is `ECONNABORTED` (unless
    /// the ring reported one first).
    pub fn readiness(&mut self, gone: bool) -> Readiness {
        let mut r = self.io.readiness(&self.idx.mem);
        if gone {
            r.error = r.error.or(Some(Errno::ECONNABORTED));
            r.writable = true;
            r.readable = true;
            r.rdhup = true;
            r.hup = true;
        }
        r
    }

    /// Grant of the indexes page (what CONNECT and ACCEPT carry).
    pub fn intf_ref(&self) -> GrantRef {
        self.idx.refs[0]
    }

    /// Tears the ring down: only after the backend has unmapped it
    /// (RELEASE answered, or a CONNECT/ACCEPT that failed), or when it is
    /// gone; a page it still maps is leaked.
    pub fn release<P: Platform<Pages = B>>(self, p: &mut P, acct: &mut Accounting) {
        acct.rings -= 1;
        self.data.release(p, acct);
        self.idx.release(p, acct);
        close_port(p, acct, self.port);
    }

    /// Gives the ring up for good, grants left active: for a ring the
    /// backend may still map (its CONNECT or ACCEPT is unanswered).
    pub fn leak<P: Platform<Pages = B>>(self, p: &mut P, acct: &mut Accounting) {
        acct.rings -= 1;
        self.data.leak(p, acct);
        self.idx.leak(p, acct);
        close_port(p, acct, self.port);
    }

    /// Reads into `dst`. Consuming from a full `in` calls for an event: the
    /// backend stops reading its socket while `in` is full and resumes on
    /// our next event. Whether the ring was full is decided after the read
    /// is published ([`DataIo::take_refill_owed`](crate::data::DataIo)):
    /// the backend may fill it while we read.
    ///
    /// With `at_once`, the event goes out now, so that the backend refills
    /// `in` while the application takes in the rest: a stream into the
    /// guest is not stop-and-go. Without it (a backend without the
    /// masked-channel fix, see [`Options::defer_acks`](crate::Options)),
    /// it is due, sent by the next [`send`](Self::send) or
    /// [`flush_notify`](Self::flush_notify), whichever comes first: such a
    /// backend treats every frontend event as "out has data", and an event
    /// that finds `out` empty leaves the channel masked until a later write
    /// succeeds, so the stream can stall; deferring lets a recv-then-send
    /// (echo, request/response) carry both in one event with `out`
    /// non-empty. Consuming from a ring that was not full needs no event.
    pub fn recv<P: Platform<Pages = B>>(
        &mut self,
        p: &mut P,
        dst: &mut [u8],
        at_once: bool,
    ) -> Poll<Result<usize, Errno>> {
        let r = self.io.recv(&self.idx.mem, &self.data.mem, dst);
        if self.io.take_refill_owed() {
            if at_once {
                self.notify_due = false;
                p.notify(self.port);
            } else {
                self.notify_due = true;
            }
        }
        r
    }

    /// Handles an event from the backend on this ring: answer it with the
    /// next send or flush (see [`Options::answer_events`](crate::Options)),
    /// unless the backend has finished the receiving side (`in_error` set):
    /// it reads the socket no more, so an answer would tell it nothing.
    pub fn on_event(&mut self) {
        if !self.io.recv_finished(&self.idx.mem) {
            self.notify_due = true;
        }
    }

    /// Sends a notification made due by [`recv`](Self::recv) or
    /// [`on_event`](Self::on_event), if any.
    pub fn flush_notify<P: Platform<Pages = B>>(&mut self, p: &mut P) {
        if core::mem::take(&mut self.notify_due) {
            p.notify(self.port);
        }
    }

    pub fn send<P: Platform<Pages = B>>(
        &mut self,
        p: &mut P,
        src: &[u8],
    ) -> Poll<Result<usize, Errno>> {
        let r = self.io.send(&self.idx.mem, &self.data.mem, src);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.notify_due = false;
            p.notify(self.port);
        }
        r
    }
}

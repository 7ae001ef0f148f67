//! `send()` and `recv()` on fds: flags, blocking, timeouts and partial transfers.

use core::task::Poll;

use skiff_pvcalls::Errno;

use super::consts::*;
use super::{Fd, FdTable};
use crate::{Stack, block_on};

impl<S: Stack> FdTable<S> {
    /// `send(fd, buf, flags)`. Blocking: returns once all of `buf` is
    /// queued, or with the count queued so far when the send timeout
    /// expires or an error occurs after some bytes (the error, or `EAGAIN`,
    /// if nothing was queued). Non-blocking or `MSG_DONTWAIT`: queues what
    /// fits, `EAGAIN` if nothing does. Flags: `MSG_DONTWAIT`,
    /// `MSG_NOSIGNAL`, `MSG_MORE`; others give `EOPNOTSUPP`.
    pub fn send(&mut self, fd: Fd, buf: &[u8], flags: i32) -> Result<usize, Errno> {
        let e = *self.entry(fd)?;
        if flags & !(MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE) != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = self.write_deadline(&e, flags);
        let mut sent = 0;
        while sent < buf.len() {
            match block_on(&self.stack, deadline, |fe| fe.send(e.id, &buf[sent..])) {
                Poll::Ready(Ok(n)) => sent += n,
                _ if sent > 0 => break,
                Poll::Ready(Err(err)) => return Err(err),
                Poll::Pending => return Err(Errno::EAGAIN),
            }
            if deadline == crate::NON_BLOCKING {
                break;
            }
        }
        Ok(sent)
    }

    /// `recv(fd, buf, flags)`: `Ok(0)` at end of stream. Blocking: waits
    /// for at least one byte (all of `buf` with `MSG_WAITALL`, unless EOF,
    /// an error or the timeout comes first) up to the receive timeout
    /// (`EAGAIN`). Non-blocking or `MSG_DONTWAIT`: `EAGAIN` if nothing is
    /// waiting. `MSG_PEEK` is not supported (`EOPNOTSUPP`).
    pub fn recv(&mut self, fd: Fd, buf: &mut [u8], flags: i32) -> Result<usize, Errno> {
        let e = *self.entry(fd)?;
        if flags & !(MSG_DONTWAIT | MSG_WAITALL | MSG_NOSIGNAL) != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = self.read_deadline(&e, flags);
        let wait_all = flags & MSG_WAITALL != 0 && deadline != crate::NON_BLOCKING;
        let mut got = 0;
        loop {
            match block_on(&self.stack, deadline, |fe| fe.recv(e.id, &mut buf[got..])) {
                Poll::Ready(Ok(0)) => break,
                Poll::Ready(Ok(n)) => got += n,
                _ if got > 0 => break,
                Poll::Ready(Err(err)) => return Err(err),
                Poll::Pending => return Err(Errno::EAGAIN),
            }
            if !wait_all || got == buf.len() {
                break;
            }
        }
        Ok(got)
    }
}

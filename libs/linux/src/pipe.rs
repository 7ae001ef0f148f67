//! A pipe's buffer (`pipe(7)`): bounded, atomic writes up to `PIPE_BUF`, EOF without writers, `EPIPE` without readers.

use alloc::collections::VecDeque;

use skiff_pvcalls::Errno;

/// Default capacity of a pipe (16 pages, as Linux).
pub const CAPACITY: usize = 65536;
/// Writes of at most this many bytes are atomic.
pub const PIPE_BUF: usize = 4096;

/// One pipe: the buffer and how many open files hold each end.
#[derive(Clone, Debug)]
pub struct Pipe {
    buf: VecDeque<u8>,
    cap: usize,
    /// Open files of the read end.
    pub readers: usize,
    /// Open files of the write end.
    pub writers: usize,
}

impl Pipe {
    /// An empty pipe of `cap` bytes with one reader and one writer.
    pub fn new(cap: usize) -> Self {
        Pipe { buf: VecDeque::new(), cap, readers: 1, writers: 1 }
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Bytes buffered.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Nothing buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// `read`: up to `out.len()` bytes; `Ok(0)` at EOF (empty, no writer),
    /// `EAGAIN` if empty while a writer exists.
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, Errno> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.buf.is_empty() {
            return if self.writers == 0 { Ok(0) } else { Err(Errno::EAGAIN) };
        }
        let n = out.len().min(self.buf.len());
        for (d, s) in out.iter_mut().zip(self.buf.drain(..n)) {
            *d = s;
        }
        Ok(n)
    }

    /// `write`: `EPIPE` without a reader; otherwise as much as fits, except
    /// that a write of at most [`PIPE_BUF`] bytes goes in whole or not at
    /// all; `EAGAIN` if nothing goes in.
    pub fn write(&mut self, data: &[u8]) -> Result<usize, Errno> {
        if self.readers == 0 {
            return Err(Errno::EPIPE);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let room = self.cap - self.buf.len();
        if room == 0 || (data.len() <= PIPE_BUF && room < data.len()) {
            return Err(Errno::EAGAIN);
        }
        let n = room.min(data.len());
        self.buf.extend(&data[..n]);
        Ok(n)
    }

    /// A read would not block (data, or EOF).
    pub fn readable(&self) -> bool {
        !self.buf.is_empty() || self.writers == 0
    }

    /// A write of `PIPE_BUF` bytes would not block (or would fail with `EPIPE`).
    pub fn writable(&self) -> bool {
        self.readers == 0 || self.cap - self.buf.len() >= PIPE_BUF.min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    #[test]
    fn eof_and_epipe() {
        let mut p = Pipe::new(8);
        let mut b = [0u8; 4];
        assert_eq!(p.read(&mut b), Err(Errno::EAGAIN));
        assert_eq!(p.write(b"abcdefghij"), Err(Errno::EAGAIN), "atomic: 10 <= PIPE_BUF, room 8");
        assert_eq!(p.write(b"abc"), Ok(3));
        assert_eq!(p.read(&mut b), Ok(3));
        p.writers = 0;
        assert_eq!(p.read(&mut b), Ok(0));
        assert!(p.readable());
        p.readers = 0;
        assert_eq!(p.write(b"x"), Err(Errno::EPIPE));
    }

    proptest! {
        /// Bytes come out in order, nothing is lost or invented, capacity holds.
        #[test]
        fn fifo_model(ops in proptest::collection::vec((any::<bool>(), 0usize..6000), 1..60)) {
            let mut p = Pipe::new(CAPACITY / 8);
            let mut written: Vec<u8> = Vec::new();
            let mut read: Vec<u8> = Vec::new();
            let mut counter = 0u8;
            for (is_write, n) in ops {
                if is_write {
                    let data: Vec<u8> = (0..n).map(|_| { counter = counter.wrapping_add(1); counter }).collect();
                    let before = p.len();
                    match p.write(&data) {
                        Ok(k) => {
                            prop_assert!(k > 0 || n == 0);
                            if n <= PIPE_BUF { prop_assert_eq!(k, n); }
                            written.extend_from_slice(&data[..k]);
                        }
                        Err(e) => {
                            prop_assert_eq!(e, Errno::EAGAIN);
                            prop_assert!(p.capacity() - before < n.clamp(1, PIPE_BUF));
                        }
                    }
                    // Unwritten bytes are not remembered by the model either.
                    counter = written.last().copied().unwrap_or(0);
                } else {
                    let mut buf = alloc::vec![0u8; n];
                    match p.read(&mut buf) {
                        Ok(k) => read.extend_from_slice(&buf[..k]),
                        Err(e) => { prop_assert_eq!(e, Errno::EAGAIN); prop_assert!(p.is_empty()); }
                    }
                }
                prop_assert!(p.len() <= p.capacity());
                prop_assert_eq!(written.len() - read.len(), p.len());
                prop_assert_eq!(&written[..read.len()], &read[..]);
            }
        }
    }
}

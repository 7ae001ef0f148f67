//! Baselines: one-thread `memcpy`, loopback TCP, the `rtrb` SPSC ring, and `skiff_ring` alone.

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use skiff_ring::{ByteRing, HostMem};
use skiff_xen::pvcalls::intf;

use crate::{PING, RING, Wake, chunk, wait_for};

/// One thread copying `size`-byte chunks from one buffer to another.
#[derive(Debug)]
pub struct Memcpy {
    src: Vec<u8>,
    dst: Vec<u8>,
}

impl Memcpy {
    /// Buffers for `size`-byte copies.
    pub fn new(size: usize) -> Self {
        Memcpy { src: chunk(size), dst: vec![0; size] }
    }

    /// `iters` copies.
    pub fn run(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            self.dst.copy_from_slice(std::hint::black_box(&self.src));
            std::hint::black_box(&mut self.dst);
        }
        start.elapsed()
    }
}

/// What the far end of a [`Tcp`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Far {
    /// Reads and counts everything.
    Reader,
    /// Writes as many bytes as granted.
    Writer,
    /// Sends back every byte.
    Echo,
}

/// A connected pair on 127.0.0.1; `TCP_NODELAY` only for ping-pong (`Echo`): bulk transfers
/// keep Linux's defaults, which are faster for them.
fn pair(far: Far) -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let near = TcpStream::connect(l.local_addr().unwrap()).expect("connect loopback");
    let (far_end, _) = l.accept().expect("accept loopback");
    near.set_nodelay(far == Far::Echo).unwrap();
    (near, far_end)
}

/// Runs the far end of a connection until it ends or `stop` is set.
fn run_far(
    far: Far,
    mut peer: TcpStream,
    c: &AtomicU64,
    cr: &AtomicU64,
    st: &AtomicBool,
    done: &Wake,
) {
    let mut buf = vec![0u8; 64 * 1024];
    match far {
        Far::Reader => {
            while let Ok(n @ 1..) = peer.read(&mut buf) {
                c.fetch_add(n as u64, Ordering::Release);
                done.wake();
            }
        }
        Far::Echo => {
            while let Ok(n @ 1..) = peer.read(&mut buf) {
                if peer.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
        Far::Writer => {
            let data = chunk(buf.len());
            while !st.load(Ordering::Acquire) {
                let n = cr.load(Ordering::Acquire).min(data.len() as u64) as usize;
                if n == 0 {
                    thread::park_timeout(Duration::from_millis(1));
                    continue;
                }
                cr.fetch_sub(n as u64, Ordering::AcqRel);
                if peer.write_all(&data[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// The far end of a host TCP connection, on a thread: reads and counts, writes what it is
/// granted, or echoes.
#[derive(Debug)]
pub struct HostPeer {
    counted: Arc<AtomicU64>,
    done: Arc<Wake>,
    credit: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HostPeer {
    /// Listens on 127.0.0.1 and serves the first connection as `far`.
    pub fn listen(far: Far) -> (Self, SocketAddrV4) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = match l.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            std::net::SocketAddr::V6(_) => unreachable!("bound to IPv4"),
        };
        let peer = Self::spawn(far, move || {
            let (s, _) = l.accept().expect("accept loopback");
            s
        });
        (peer, addr)
    }

    fn spawn(far: Far, connect: impl FnOnce() -> TcpStream + Send + 'static) -> Self {
        let counted = Arc::new(AtomicU64::new(0));
        let credit = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(Wake::default());
        let (c, cr, st, d) = (counted.clone(), credit.clone(), stop.clone(), done.clone());
        let thread = thread::spawn(move || {
            let s = connect();
            s.set_nodelay(far == Far::Echo).unwrap();
            run_far(far, s, &c, &cr, &st, &d);
        });
        HostPeer { counted, done, credit, stop, thread: Some(thread) }
    }

    /// Bytes read so far ([`Far::Reader`]).
    pub fn counter(&self) -> &AtomicU64 {
        &self.counted
    }

    /// Waits until a [`Far::Reader`] has read `target` bytes in all.
    pub fn wait_for(&self, target: u64) {
        wait_for(&self.done, &self.counted, target);
    }

    /// Lets a [`Far::Writer`] write `bytes` more.
    pub fn grant(&self, bytes: u64) {
        self.credit.fetch_add(bytes, Ordering::AcqRel);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }
}

impl Drop for HostPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// One thread copying `size`-byte chunks into and out of the simulator's shared memory
/// (`HostMem` of [`RING`] bytes or one chunk, at the next position each time, as a ring does).
#[derive(Debug)]
pub struct SharedCopy {
    mem: HostMem,
    src: Vec<u8>,
    dst: Vec<u8>,
    pos: usize,
}

impl SharedCopy {
    /// Buffers for `size`-byte copies.
    pub fn new(size: usize) -> Self {
        let mem = HostMem::new(RING.max(size));
        SharedCopy { mem, src: chunk(size), dst: vec![0; size], pos: 0 }
    }

    /// `iters` copies in and `iters` copies out; counts as `iters` chunks moved.
    pub fn run(&mut self, iters: u64) -> Duration {
        use skiff_ring::SharedMem;
        let n = self.src.len();
        let start = Instant::now();
        for _ in 0..iters {
            let at = self.pos;
            self.mem.write_bytes(at, std::hint::black_box(&self.src));
            self.mem.read_bytes(at, &mut self.dst);
            std::hint::black_box(&mut self.dst);
            self.pos = (at + n) % (self.mem.size() - n + 1);
        }
        start.elapsed()
    }
}

/// A loopback TCP connection between the bench thread and a [`HostPeer`].
#[derive(Debug)]
pub struct Tcp {
    near: TcpStream,
    far: HostPeer,
    buf: Vec<u8>,
}

impl Tcp {
    /// A connection with `far` at the other end.
    pub fn new(far: Far) -> Self {
        let (near, far_end) = pair(far);
        let far = HostPeer::spawn(far, move || far_end);
        Tcp { near, far, buf: vec![0; 64 * 1024] }
    }

    /// Writes `iters` chunks of `data` and waits until the far end read them all.
    pub fn send(&mut self, data: &[u8], iters: u64) -> Duration {
        let target = self.far.counter().load(Ordering::Acquire) + iters * data.len() as u64;
        let start = Instant::now();
        for _ in 0..iters {
            self.near.write_all(data).expect("write loopback");
        }
        self.far.wait_for(target);
        start.elapsed()
    }

    /// Reads `iters` chunks of `size` bytes that the far end writes.
    pub fn recv(&mut self, size: usize, iters: u64) -> Duration {
        let start = Instant::now();
        self.far.grant(iters * size as u64);
        for _ in 0..iters {
            self.near.read_exact(&mut self.buf[..size]).expect("read loopback");
        }
        start.elapsed()
    }

    /// `iters` round trips of a [`PING`]-byte message.
    pub fn ping(&mut self, iters: u64) -> Duration {
        let msg = [7u8; PING];
        let mut back = [0u8; PING];
        let start = Instant::now();
        for _ in 0..iters {
            self.near.write_all(&msg).expect("write loopback");
            self.near.read_exact(&mut back).expect("read loopback");
        }
        start.elapsed()
    }
}

impl Drop for Tcp {
    fn drop(&mut self) {
        // The far end sees EOF (reader, echo) or a failed write (writer).
        let _ = self.near.shutdown(std::net::Shutdown::Both);
    }
}

/// Signals a peer thread to stop and joins it when dropped.
#[derive(Debug)]
struct Peer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Peer {
    fn spawn(f: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        Peer { stop, thread: Some(thread::spawn(move || f(s))) }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes `src` into an `rtrb` producer, waiting on `me` while the ring is full and waking
/// `peer` after each commit.
fn rtrb_write(p: &mut rtrb::Producer<u8>, mut src: &[u8], me: &Wake, peer: &Wake) {
    while !src.is_empty() {
        let n = p.slots().min(src.len());
        if n == 0 {
            me.wait_until(|| p.slots() > 0);
            continue;
        }
        let mut c = p.write_chunk(n).expect("slots were free");
        let (a, b) = c.as_mut_slices();
        let (x, y) = src[..n].split_at(a.len());
        a.copy_from_slice(x);
        b.copy_from_slice(y);
        c.commit_all();
        peer.wake();
        src = &src[n..];
    }
}

/// Reads what is available (at most `dst.len()`) from an `rtrb` consumer.
fn rtrb_read(c: &mut rtrb::Consumer<u8>, dst: &mut [u8]) -> usize {
    let n = c.slots().min(dst.len());
    if n == 0 {
        return 0;
    }
    let r = c.read_chunk(n).expect("slots were filled");
    let (a, b) = r.as_slices();
    dst[..a.len()].copy_from_slice(a);
    dst[a.len()..n].copy_from_slice(b);
    r.commit_all();
    n
}

/// The wake-ups of a two-thread harness: the bench thread waits on `bench`, the peer on `peer`.
#[derive(Debug, Default)]
struct Wakes {
    bench: Wake,
    peer: Wake,
}

/// The `rtrb` SPSC ring ([`RING`] bytes) between the bench thread and a peer thread that does
/// what the simulated backend does with a data ring: drains everything queued into its buffer
/// (send), or fills all free space with what it was granted (receive). Both sides spin, then
/// park, and wake each other after each commit.
#[derive(Debug)]
pub struct Rtrb {
    tx: Option<rtrb::Producer<u8>>,
    rx: Option<rtrb::Consumer<u8>>,
    counted: Arc<AtomicU64>,
    credit: Arc<AtomicU64>,
    wakes: Arc<Wakes>,
    _peer: Peer,
}

impl Rtrb {
    /// The bench thread produces; the peer drains.
    pub fn sender() -> Self {
        let (tx, mut rx) = rtrb::RingBuffer::new(RING);
        let counted = Arc::new(AtomicU64::new(0));
        let wakes = Arc::new(Wakes::default());
        let (c, w) = (counted.clone(), wakes.clone());
        let peer = Peer::spawn(move |stop| {
            let mut buf = vec![0u8; 64 * 1024];
            while !stop.load(Ordering::Relaxed) {
                let n = rtrb_read(&mut rx, &mut buf);
                if n == 0 {
                    w.peer.wait_until(|| rx.slots() > 0 || stop.load(Ordering::Relaxed));
                    continue;
                }
                std::hint::black_box(&buf);
                c.fetch_add(n as u64, Ordering::Release);
                w.bench.wake();
            }
        });
        Rtrb { tx: Some(tx), rx: None, counted, credit: Arc::default(), wakes, _peer: peer }
    }

    /// The peer produces what it is granted; the bench thread consumes.
    pub fn receiver() -> Self {
        let (mut tx, rx) = rtrb::RingBuffer::new(RING);
        let credit = Arc::new(AtomicU64::new(0));
        let wakes = Arc::new(Wakes::default());
        let (cr, w) = (credit.clone(), wakes.clone());
        let peer = Peer::spawn(move |stop| {
            let data = chunk(64 * 1024);
            let mut pos = 0;
            while !stop.load(Ordering::Relaxed) {
                let n = (cr.load(Ordering::Acquire) as usize).min(tx.slots()).min(data.len() - pos);
                if n == 0 {
                    w.peer.wait_until(|| {
                        (cr.load(Ordering::Acquire) > 0 && tx.slots() > 0)
                            || stop.load(Ordering::Relaxed)
                    });
                    continue;
                }
                cr.fetch_sub(n as u64, Ordering::AcqRel);
                rtrb_write(&mut tx, &data[pos..pos + n], &w.peer, &w.bench);
                pos = (pos + n) % data.len();
            }
        });
        Rtrb { tx: None, rx: Some(rx), counted: Arc::default(), credit, wakes, _peer: peer }
    }

    /// Writes `iters` chunks of `data`; returns once the peer has drained them all.
    pub fn send(&mut self, data: &[u8], iters: u64) -> Duration {
        let tx = self.tx.as_mut().expect("a sender");
        let target = self.counted.load(Ordering::Acquire) + iters * data.len() as u64;
        let start = Instant::now();
        for _ in 0..iters {
            rtrb_write(tx, data, &self.wakes.bench, &self.wakes.peer);
        }
        wait_for(&self.wakes.bench, &self.counted, target);
        start.elapsed()
    }

    /// Reads `iters` chunks of `buf.len()` bytes.
    pub fn recv(&mut self, buf: &mut [u8], iters: u64) -> Duration {
        let rx = self.rx.as_mut().expect("a receiver");
        let start = Instant::now();
        self.credit.fetch_add(iters * buf.len() as u64, Ordering::AcqRel);
        self.wakes.peer.wake();
        for _ in 0..iters {
            let mut got = 0;
            while got < buf.len() {
                let n = rtrb_read(rx, &mut buf[got..]);
                if n == 0 {
                    self.wakes.bench.wait_until(|| rx.slots() > 0);
                    continue;
                }
                self.wakes.peer.wake();
                got += n;
            }
            std::hint::black_box(&buf);
        }
        start.elapsed()
    }
}

impl Drop for Rtrb {
    fn drop(&mut self) {
        self._peer.stop.store(true, Ordering::Release);
        self.wakes.peer.wake();
    }
}

/// The byte ring of `skiff_ring` alone: the PV Calls `out` ring (order 4) in `HostMem`, written
/// by the bench thread with [`skiff_ring::Producer`] and drained by a peer thread with
/// [`skiff_ring::Consumer`], both spinning when they cannot move.
#[derive(Debug)]
pub struct RawRing {
    idx: Arc<HostMem>,
    data: Arc<HostMem>,
    ring: ByteRing,
    counted: Arc<AtomicU64>,
    wakes: Arc<Wakes>,
    _peer: Peer,
}

impl Default for RawRing {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RawRing {
    fn drop(&mut self) {
        self._peer.stop.store(true, Ordering::Release);
        self.wakes.peer.wake();
    }
}

impl RawRing {
    /// A ring with its consumer thread running.
    pub fn new() -> Self {
        let idx = Arc::new(HostMem::pages(1));
        let data = Arc::new(HostMem::new(RING));
        let ring = ByteRing::new(0, RING as u32, intf::OUT_PROD, intf::OUT_CONS);
        let counted = Arc::new(AtomicU64::new(0));
        let wakes = Arc::new(Wakes::default());
        let (i, d, c, w) = (idx.clone(), data.clone(), counted.clone(), wakes.clone());
        let peer = Peer::spawn(move |stop| {
            let mut buf = vec![0u8; 64 * 1024];
            let rx = ring.consumer();
            while !stop.load(Ordering::Relaxed) {
                match rx.read_split(&*i, &*d, &mut buf) {
                    Ok(0) => w.peer.wait_until(|| {
                        rx.available(&*i).is_ok_and(|n| n > 0) || stop.load(Ordering::Relaxed)
                    }),
                    Ok(n) => {
                        std::hint::black_box(&buf);
                        c.fetch_add(n as u64, Ordering::Release);
                        w.bench.wake();
                    }
                    Err(e) => panic!("ring: {e:?}"),
                }
            }
        });
        RawRing { idx, data, ring, counted, wakes, _peer: peer }
    }

    /// Writes `iters` chunks of `data`; returns once the peer has drained them all.
    pub fn send(&mut self, data: &[u8], iters: u64) -> Duration {
        let tx = self.ring.producer();
        let target = self.counted.load(Ordering::Acquire) + iters * data.len() as u64;
        let start = Instant::now();
        for _ in 0..iters {
            let mut left = data;
            while !left.is_empty() {
                match tx.write_split(&*self.idx, &*self.data, left) {
                    Ok(0) => {
                        self.wakes.bench.wait_until(|| tx.space(&*self.idx).is_ok_and(|n| n > 0))
                    }
                    Ok(n) => {
                        self.wakes.peer.wake();
                        left = &left[n..];
                    }
                    Err(e) => panic!("ring: {e:?}"),
                }
            }
        }
        wait_for(&self.wakes.bench, &self.counted, target);
        start.elapsed()
    }
}

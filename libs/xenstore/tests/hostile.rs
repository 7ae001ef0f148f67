//! A xenstored that never stops talking: a response ring that is always full, and a server that
//! answers nothing but keeps sending watch events. Neither may hold a call beyond its bounds.

use std::cell::Cell;

use skiff_ring::{HostMem, SharedMem};
use skiff_xen::xs_wire::intf;
use skiff_xenstore::wire::encode_message;
use skiff_xenstore::{
    Client, MsgType, RECEIVE_BUDGET, RSP_RING, Transport, Xenstore, XsError, XsIo,
};

/// One 64-byte watch event for a token nobody registered.
fn event_block() -> Vec<u8> {
    let mut payload = b"/a\0other\0".to_vec();
    payload.resize(48, 0);
    let m = encode_message(MsgType::WatchEvent, 0, 0, &[&payload]).unwrap();
    assert_eq!(m.len(), 64);
    m
}

/// A xenstore page whose response ring always looks full of watch events:
/// `rsp_prod` reads as `rsp_cons + 1024` however much the client consumes.
/// Panics once the client has read the producer index a very large number
/// of times, which only an unbounded drain does.
struct EndlessRing {
    mem: HostMem,
    block: Vec<u8>,
    prod_loads: Cell<u64>,
}

impl EndlessRing {
    fn new() -> Self {
        EndlessRing { mem: HostMem::pages(1), block: event_block(), prod_loads: Cell::new(0) }
    }
}

impl SharedMem for EndlessRing {
    fn size(&self) -> usize {
        self.mem.size()
    }
    fn load_u32(&self, off: usize) -> u32 {
        if off == intf::RSP_PROD {
            let n = self.prod_loads.get() + 1;
            self.prod_loads.set(n);
            assert!(n < 100_000, "the client drains a producer that never stops, without bound");
            return self.mem.load_u32(intf::RSP_CONS).wrapping_add(1024);
        }
        self.mem.load_u32(off)
    }
    fn store_u32(&self, off: usize, val: u32) {
        self.mem.store_u32(off, val)
    }
    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        if (intf::RSP..intf::RSP + 1024).contains(&off) {
            for (i, b) in dst.iter_mut().enumerate() {
                *b = self.block[(off - intf::RSP + i) % self.block.len()];
            }
            return;
        }
        self.mem.read_bytes(off, dst)
    }
    fn write_bytes(&self, off: usize, src: &[u8]) {
        self.mem.write_bytes(off, src)
    }
}

#[test]
fn one_receive_reads_a_bounded_amount_from_a_server_that_never_stops() {
    let mem = EndlessRing::new();
    let mut c = Client::new();
    let got = c.receive(&mem).unwrap();
    assert!(got.consumed && got.more, "{got:?}");
    assert_eq!(c.dropped(), (RECEIVE_BUDGET / 64) as u64, "every event read was unrouted");
    assert_eq!(c.failure(), None, "a chatty server is not a broken one");
}

/// A transport over [`EndlessRing`] with a clock that moves 1 ms each time
/// it is read.
struct Flooded {
    ring: EndlessRing,
    now: Cell<u64>,
}

impl Transport for Flooded {
    type Mem = EndlessRing;
    fn mem(&self) -> &EndlessRing {
        &self.ring
    }
    fn notify(&mut self) {}
    fn now_ns(&self) -> u64 {
        self.now.set(self.now.get() + 1_000_000);
        self.now.get()
    }
    fn wait_until(&mut self, _deadline_ns: u64) -> Result<(), XsError> {
        panic!("there is always more to read: the client must not wait");
    }
}

#[test]
fn a_request_drowned_in_traffic_times_out() {
    let mut xs = Xenstore::new(Flooded { ring: EndlessRing::new(), now: Cell::new(0) });
    xs.set_request_timeout(2_000_000_000);
    assert_eq!(xs.read("anything"), Err(XsError::TimedOut));
    assert_eq!(xs.client().outstanding(), 0, "the request is forgotten");
}

/// A xenstored that reads requests and never answers them, but sends one
/// watch event (for a token nobody registered) whenever the client waits:
/// every wait ends early. The clock moves 100 ms per wait.
struct Silent {
    mem: HostMem,
    now: u64,
    waits: u32,
}

impl Transport for Silent {
    type Mem = HostMem;
    fn mem(&self) -> &HostMem {
        &self.mem
    }
    fn notify(&mut self) {}
    fn now_ns(&self) -> u64 {
        self.now
    }
    fn wait_until(&mut self, _deadline_ns: u64) -> Result<(), XsError> {
        self.waits += 1;
        assert!(self.waits < 100_000, "a request waited for ever");
        // Consume the requests, answer none, send an event instead.
        let mut sink = [0u8; 1024];
        while skiff_xenstore::REQ_RING.consumer().read(&self.mem, &mut sink).unwrap() > 0 {}
        let ev = encode_message(MsgType::WatchEvent, 0, 0, &[b"/x\0nobody\0"]).unwrap();
        RSP_RING.producer().write(&self.mem, &ev).unwrap();
        self.now += 100_000_000;
        Ok(())
    }
}

#[test]
fn a_request_never_answered_times_out_despite_other_traffic() {
    let mut xs = Xenstore::new(Silent { mem: HostMem::pages(1), now: 0, waits: 0 });
    let r = xs.read("device/pvcalls/0/state");
    assert_eq!(r, Err(XsError::TimedOut));
    let t = xs.transport();
    assert_eq!(t.now, xs.request_timeout(), "gave up at the request's own deadline");
    assert_eq!(t.waits, 100);
    // A watch wait, likewise, ends at its deadline.
    let deadline = xs.transport().now_ns() + 1_000_000_000;
    assert_eq!(xs.wait_watch_until("mine", deadline), Ok(None));
}

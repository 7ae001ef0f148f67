//! The simulated xenstored on its own thread, the client blocking on another.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use skiff_ring::HostMem;
use skiff_xenstore::sim::SimXenstored;
use skiff_xenstore::{Transport, WatchEvent, Xenstore, XsError, XsIo};

/// "Event channel" between the two threads: a counter of notifications.
struct ThreadTransport {
    mem: Arc<HostMem>,
    events: Arc<AtomicU64>,
    seen: u64,
    epoch: Instant,
}

impl Transport for ThreadTransport {
    type Mem = HostMem;
    fn mem(&self) -> &HostMem {
        &self.mem
    }
    fn notify(&mut self) {}
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
    fn wait_until(&mut self, deadline_ns: u64) -> Result<(), XsError> {
        loop {
            let now = self.events.load(Ordering::Acquire);
            if now != self.seen {
                self.seen = now;
                return Ok(());
            }
            if self.now_ns() >= deadline_ns {
                return Ok(());
            }
            thread::yield_now();
        }
    }
}

#[test]
fn client_and_daemon_on_two_threads() {
    let mem = Arc::new(HostMem::pages(1));
    let events = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let daemon = {
        let (mem, events, stop) = (mem.clone(), events.clone(), stop.clone());
        thread::spawn(move || {
            let mut sim = SimXenstored::new(3);
            while !stop.load(Ordering::Acquire) {
                if sim.step(&*mem).unwrap() {
                    events.fetch_add(1, Ordering::Release);
                } else {
                    thread::yield_now();
                }
            }
            sim.requests_handled()
        })
    };
    let mut xs = Xenstore::new(ThreadTransport { mem, events, seen: 0, epoch: Instant::now() });
    xs.watch("data", "w").unwrap();
    assert_eq!(xs.wait_watch("w").unwrap(), WatchEvent { path: "data".into(), token: "w".into() });
    for i in 0..300u32 {
        let value = vec![b'0' + (i % 10) as u8; (i as usize * 53) % 4000];
        xs.write(&format!("data/{}", i % 17), &value).unwrap();
        assert_eq!(xs.read(&format!("data/{}", i % 17)).unwrap(), value);
    }
    let total = xs
        .transaction(|t| {
            let names = t.directory("data")?;
            t.write("count", names.len().to_string())?;
            Ok(names.len())
        })
        .unwrap();
    assert_eq!(total, 17);
    assert_eq!(xs.read_u32("count"), Ok(17));
    assert!(xs.client().has_watch_events("w") || xs.client().watch_overflows() > 0);
    stop.store(true, Ordering::Release);
    assert!(daemon.join().unwrap() >= 600);
}

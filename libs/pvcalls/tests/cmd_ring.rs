//! Command ring client against a scripted (and hostile) backend: validation, out-of-order completion, full ring.

use proptest::prelude::*;
use skiff_pvcalls::Errno;
use skiff_pvcalls::cmd::{CMD_LAYOUT, CmdClient, NR_REQ_IDS, SubmitError};
use skiff_pvcalls::wire::{Decoded, Request, Response, decode_request};
use skiff_ring::{BackRing, HostMem, SharedMem, sring::hdr};
use skiff_xen::pvcalls::{PVCALLS_ACCEPT, PVCALLS_BIND, PVCALLS_LISTEN};

struct Peer {
    ring: BackRing,
}

impl Peer {
    fn new() -> Self {
        Peer { ring: BackRing::new(CMD_LAYOUT) }
    }

    /// Takes every published request: (req_id, request).
    fn take(&mut self, mem: &HostMem) -> Vec<(u32, Request)> {
        let mut out = Vec::new();
        let mut e = [0u8; 64];
        while self.ring.take_request(mem, &mut e).unwrap() {
            match decode_request(&e) {
                Decoded::Known { req_id, req, .. } => out.push((req_id, req)),
                Decoded::Unknown { .. } => panic!("unknown request"),
            }
        }
        out
    }

    fn respond(&mut self, mem: &HostMem, r: Response) {
        self.ring.push_response(mem, &r.encode()).unwrap();
        self.ring.push_responses(mem);
    }
}

fn listen(id: u64) -> Request {
    Request::Listen { id, backlog: 1 }
}

#[test]
fn init_and_notify_rule() {
    let mem = HostMem::pages(1);
    let mut c = CmdClient::init(&mem);
    assert_eq!(mem.load_u32(hdr::REQ_EVENT), 1);
    assert_eq!(mem.load_u32(hdr::RSP_EVENT), 1);
    c.submit(&mem, &listen(1)).unwrap();
    assert!(c.push(&mem), "first request: req_event = 1 asks for a notification");
    c.submit(&mem, &listen(2)).unwrap();
    assert!(!c.push(&mem), "backend did not re-arm req_event");
    let mut p = Peer::new();
    assert_eq!(p.take(&mem).len(), 2);
    assert!(!p.ring.final_check_for_requests(&mem).unwrap());
    c.submit(&mem, &listen(3)).unwrap();
    assert!(c.push(&mem), "backend re-armed req_event");
}

#[test]
fn out_of_order_completion_and_unique_req_ids() {
    let mem = HostMem::pages(1);
    let mut c = CmdClient::init(&mem);
    let mut p = Peer::new();
    let accept = Request::Accept { id: 1, id_new: 2, ring_ref: 10, evtchn: 3 };
    let a = c.submit(&mem, &accept).unwrap();
    let b = c.submit(&mem, &listen(5)).unwrap();
    assert_ne!(a, b);
    c.push(&mem);
    let reqs = p.take(&mem);
    // LISTEN answered first, ACCEPT much later.
    p.respond(&mem, Response { req_id: reqs[1].0, cmd: PVCALLS_LISTEN, ret: 0, id: 5 });
    let done = c.poll(&mem).unwrap().unwrap();
    assert_eq!((done.req_id, done.req), (b, listen(5)));
    assert_eq!(c.poll(&mem).unwrap(), None);
    // b's id is free again and gets reused while a is still outstanding.
    let again = c.submit(&mem, &listen(6)).unwrap();
    assert_eq!(again, b);
    assert_ne!(again, a);
    c.push(&mem);
    p.take(&mem);
    p.respond(&mem, Response { req_id: a.0, cmd: PVCALLS_ACCEPT, ret: -111, id: 1 });
    let done = c.poll(&mem).unwrap().unwrap();
    assert_eq!(done.req, accept);
    assert_eq!(done.result(), Err(Errno::ECONNREFUSED));
    assert_eq!(c.outstanding(), 1);
}

#[test]
fn hostile_responses_are_dropped_and_counted() {
    let mem = HostMem::pages(1);
    let mut c = CmdClient::init(&mem);
    let mut p = Peer::new();
    for id in 0..4 {
        c.submit(&mem, &listen(id)).unwrap();
    }
    c.push(&mem);
    let reqs = p.take(&mem);
    // req_id out of range, wrong cmd, wrong id.
    p.respond(&mem, Response { req_id: 40, cmd: PVCALLS_LISTEN, ret: 0, id: 0 });
    p.respond(&mem, Response { req_id: u32::MAX, cmd: PVCALLS_LISTEN, ret: 0, id: 0 });
    p.respond(&mem, Response { req_id: reqs[0].0, cmd: PVCALLS_BIND, ret: 0, id: 0 });
    p.respond(&mem, Response { req_id: reqs[1].0, cmd: PVCALLS_LISTEN, ret: 0, id: 99 });
    assert_eq!(c.poll(&mem).unwrap(), None);
    let st = c.stats();
    assert_eq!((st.bad_req_id, st.mismatched, st.unexpected), (2, 2, 0));
    assert_eq!(c.outstanding(), 4, "still waiting for the real answers");
}

#[test]
fn duplicates_and_impossible_indexes_fail_safely() {
    let mem = HostMem::pages(1);
    let mut c = CmdClient::init(&mem);
    let mut p = Peer::new();
    c.submit(&mem, &listen(1)).unwrap();
    c.submit(&mem, &listen(2)).unwrap();
    c.push(&mem);
    let reqs = p.take(&mem);
    let r0 = Response { req_id: reqs[0].0, cmd: PVCALLS_LISTEN, ret: 0, id: 1 };
    p.respond(&mem, r0);
    p.respond(&mem, r0);
    assert!(c.poll(&mem).unwrap().is_some());
    assert_eq!(c.poll(&mem).unwrap(), None, "duplicate dropped");
    assert_eq!(c.stats().unexpected, 1);
    // More responses than requests: the ring is corrupt, for good.
    mem.store_u32(hdr::RSP_PROD, 50);
    assert!(c.poll(&mem).is_err());
    assert!(c.poll(&mem).is_err());
    assert_eq!(c.submit(&mem, &listen(3)), Err(SubmitError::Failed));
}

#[test]
fn full_ring_reports_full_not_failure() {
    let mem = HostMem::pages(1);
    let mut c = CmdClient::init(&mem);
    let mut p = Peer::new();
    let mut ids = Vec::new();
    for i in 0..NR_REQ_IDS as u64 {
        ids.push(c.submit(&mem, &listen(i)).unwrap());
    }
    assert!(!c.has_room());
    assert_eq!(c.submit(&mem, &listen(99)), Err(SubmitError::Full));
    c.push(&mem);
    let reqs = p.take(&mem);
    assert_eq!(reqs.len(), NR_REQ_IDS);
    let mut sorted: Vec<u32> = ids.iter().map(|r| r.0).collect();
    sorted.sort();
    assert_eq!(sorted, (0..32).collect::<Vec<_>>());
    p.respond(&mem, Response { req_id: reqs[7].0, cmd: PVCALLS_LISTEN, ret: 0, id: 7 });
    assert!(c.poll(&mem).unwrap().is_some());
    assert_eq!(c.submit(&mem, &listen(100)).unwrap().0, reqs[7].0);
}

proptest! {
    /// Any sequence of garbage responses (random req_id, cmd, id, ret,
    /// interleaved with real answers in random order) never panics, never
    /// completes a request twice, and completes only what was sent.
    #[test]
    fn random_hostile_backend(
        script in proptest::collection::vec((0u32..40, 0u32..8, 0u64..6, any::<i32>(), any::<bool>()), 1..200)
    ) {
        let mem = HostMem::pages(1);
        let mut c = CmdClient::init(&mem);
        let mut p = Peer::new();
        let mut sent = std::collections::HashMap::new();
        let mut completed = 0;
        for (req_id, cmd, id, ret, real) in script {
            if c.has_room() {
                let r = listen(id);
                let rid = c.submit(&mem, &r).unwrap();
                sent.insert(rid.0, r);
                c.push(&mem);
            }
            let pending = p.take(&mem);
            // Backend may only respond to consumed requests.
            let _ = pending;
            let resp = if real {
                match sent.iter().next() {
                    Some((&rid, r)) => Response { req_id: rid, cmd: r.cmd(), ret, id: r.id() },
                    None => continue,
                }
            } else {
                Response { req_id, cmd, ret, id }
            };
            if p.ring.push_response(&mem, &resp.encode()).is_err() {
                continue;
            }
            p.ring.push_responses(&mem);
            while let Ok(Some(done)) = c.poll(&mem) {
                let r = sent.remove(&done.req_id.0);
                prop_assert_eq!(r, Some(done.req));
                completed += 1;
            }
            prop_assert_eq!(c.outstanding(), sent.len());
        }
        prop_assert!(completed <= 200);
    }
}

//! The sans-IO client against hand-written (and hostile) response streams.

use proptest::prelude::*;
use skiff_ring::{HostMem, SharedMem};
use skiff_xen::xs_wire::{XENSTORE_SERVER_FEATURE_ERROR, intf};
use skiff_xenstore::wire::{Header, encode_message};
use skiff_xenstore::{Client, MsgType, ProtocolError, RSP_RING, WatchEvent, XsError};

/// Writes `bytes` into the response ring as xenstored would; all must fit.
fn respond(mem: &HostMem, bytes: &[u8]) {
    assert_eq!(RSP_RING.producer().write(mem, bytes), Ok(bytes.len()));
}

fn reply(ty: MsgType, req_id: u32, payload: &[u8]) -> Vec<u8> {
    encode_message(ty, req_id, 0, &[payload]).unwrap()
}

#[test]
fn replies_match_by_req_id_in_any_order() {
    let mem = HostMem::pages(1);
    let mut c = Client::new();
    let a = c.start(0, MsgType::Read, &[b"a\0"]).unwrap();
    let b = c.start(0, MsgType::Directory, &[b"b\0"]).unwrap();
    assert!(c.flush(&mem));
    respond(&mem, &reply(MsgType::Directory, b.0, b"x\0y\0"));
    respond(&mem, &reply(MsgType::Error, a.0, b"ENOENT\0"));
    assert!(c.receive(&mem).unwrap().consumed);
    assert!(!c.receive(&mem).unwrap().consumed);
    assert_eq!(c.take_reply(a), Some(Err(XsError::NoEnt)));
    assert_eq!(c.take_reply(b), Some(Ok(b"x\0y\0".to_vec())));
    assert_eq!(c.take_reply(b), None);
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn unknown_req_ids_and_bad_events_are_dropped_and_counted() {
    let mem = HostMem::pages(1);
    let mut c = Client::new();
    c.register_watch("tok");
    let a = c.start(0, MsgType::Read, &[b"a\0"]).unwrap();
    c.flush(&mem);
    respond(&mem, &reply(MsgType::Read, 999, b"stray"));
    respond(&mem, &reply(MsgType::WatchEvent, 0, b"only-a-path\0"));
    respond(&mem, &reply(MsgType::WatchEvent, 0, b"/p\0tok\0"));
    respond(&mem, &reply(MsgType::Write, a.0, b"OK\0"));
    assert!(c.receive(&mem).unwrap().consumed);
    assert_eq!(c.dropped(), 2);
    let ev = WatchEvent { path: "/p".into(), token: "tok".into() };
    assert_eq!(c.take_watch_event("tok"), Some(ev));
    let expect = ProtocolError::UnexpectedType { request: 2, reply: 11 };
    assert_eq!(c.take_reply(a), Some(Err(XsError::Protocol(expect))));
    assert_eq!(c.failure(), None, "a mismatched reply does not break the stream");
}

#[test]
fn forgotten_requests_drop_their_late_reply() {
    let mem = HostMem::pages(1);
    let mut c = Client::new();
    let a = c.start(0, MsgType::Read, &[b"a\0"]).unwrap();
    c.flush(&mem);
    c.forget(a);
    respond(&mem, &reply(MsgType::Read, a.0, b"late"));
    c.receive(&mem).unwrap();
    assert_eq!((c.take_reply(a), c.dropped()), (None, 1));
}

#[test]
fn messages_arrive_byte_by_byte_across_the_wrap() {
    let mem = HostMem::pages(1);
    // Start the response ring 5 bytes before the 1024-byte wrap.
    mem.store_u32(intf::RSP_PROD, 1019);
    mem.store_u32(intf::RSP_CONS, 1019);
    let mut c = Client::new();
    let ids: Vec<_> = (0..3).map(|_| c.start(0, MsgType::Read, &[b"k\0"]).unwrap()).collect();
    let mut stream = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        stream.extend(reply(MsgType::Read, id.0, &vec![b'a' + i as u8; 700]));
    }
    let mut sent = 0;
    while sent < stream.len() {
        let n = (sent % 13 + 1).min(stream.len() - sent);
        respond(&mem, &stream[sent..sent + n]);
        sent += n;
        c.receive(&mem).unwrap();
    }
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(c.take_reply(*id), Some(Ok(vec![b'a' + i as u8; 700])));
    }
}

#[test]
fn oversized_header_breaks_the_connection() {
    let mem = HostMem::pages(1);
    let mut c = Client::new();
    let a = c.start(0, MsgType::Read, &[b"a\0"]).unwrap();
    let h = Header { msg_type: 2, req_id: a.0, tx_id: 0, len: 4097 };
    respond(&mem, &h.encode());
    let err = XsError::Protocol(ProtocolError::PayloadTooLong(4097));
    assert_eq!(c.receive(&mem), Err(err.clone()));
    assert_eq!(c.take_reply(a), Some(Err(err.clone())));
    assert_eq!(c.start(0, MsgType::Read, &[b"b\0"]), Err(err.clone()));
    assert_eq!(c.receive(&mem), Err(err));
    assert!(!c.flush(&mem));
}

#[test]
fn unknown_type_is_a_protocol_error() {
    let mem = HostMem::pages(1);
    let mut c = Client::new();
    let h = Header { msg_type: 20, req_id: 1, tx_id: 0, len: 0 };
    respond(&mem, &h.encode());
    assert_eq!(c.receive(&mem), Err(XsError::Protocol(ProtocolError::UnknownType(20))));
}

#[test]
fn corrupt_indexes_and_server_errors_are_reported() {
    let mem = HostMem::pages(1);
    let mut c = Client::new();
    mem.store_u32(intf::RSP_PROD, 5000);
    assert!(matches!(
        c.receive(&mem),
        Err(XsError::Protocol(ProtocolError::Ring(skiff_ring::RingError::Corrupt { .. })))
    ));

    let mem = HostMem::pages(1);
    let mut c = Client::new();
    mem.store_u32(intf::REQ_CONS, 7);
    c.start(0, MsgType::Read, &[b"a\0"]).unwrap();
    assert!(!c.flush(&mem));
    assert!(c.failure().is_some());

    let mem = HostMem::pages(1);
    let mut c = Client::new();
    mem.store_u32(intf::ERROR, 3);
    assert_eq!(c.receive(&mem), Ok(Default::default()), "error field ignored unless advertised");
    mem.store_u32(intf::SERVER_FEATURES, XENSTORE_SERVER_FEATURE_ERROR);
    assert_eq!(c.receive(&mem), Err(XsError::Protocol(ProtocolError::Server(3))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 512 }))]

    /// Arbitrary bytes from the "daemon", fed in arbitrary pieces, never
    /// panic; each receive either succeeds or reports a protocol error, and
    /// outstanding requests are answered or fail cleanly.
    #[test]
    fn random_response_bytes_never_panic(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..1100), 0..8),
        headers in prop::collection::vec((0u32..30, 0u32..4, 0u32..5000), 0..4),
    ) {
        let mem = HostMem::pages(1);
        let mut c = Client::new();
        let ids: Vec<_> = (0..3).map(|_| c.start(0, MsgType::Read, &[b"a\0"]).unwrap()).collect();
        c.flush(&mem);
        // Plausible headers make it past the first checks more often.
        let mut stream: Vec<u8> = Vec::new();
        for (i, (ty, id, len)) in headers.iter().enumerate() {
            stream.extend(Header { msg_type: *ty, req_id: *id, tx_id: 0, len: *len }.encode());
            if let Some(chunk) = chunks.get(i) {
                stream.extend(chunk);
            }
        }
        for chunk in &chunks {
            stream.extend(chunk);
        }
        let mut off = 0;
        while off < stream.len() {
            let n = RSP_RING.producer().write(&mem, &stream[off..]).unwrap();
            off += n;
            match c.receive(&mem) {
                Ok(_) => {}
                Err(XsError::Protocol(_)) => break,
                Err(e) => prop_assert!(false, "unexpected error {e:?}"),
            }
        }
        for id in ids {
            match c.take_reply(id) {
                None | Some(Ok(_)) => {}
                Some(Err(e)) => prop_assert!(
                    matches!(e, XsError::Protocol(_)) || e.name().is_some(),
                    "odd error {e:?}"
                ),
            }
        }
    }

    /// Arbitrary indexes in the page never panic the client.
    #[test]
    fn random_indexes_never_panic(idx in prop::collection::vec(any::<u32>(), 8)) {
        let mem = HostMem::pages(1);
        for (i, v) in idx.iter().enumerate() {
            mem.store_u32(intf::REQ_CONS + 4 * i, *v);
        }
        let mut c = Client::new();
        let _ = c.start(0, MsgType::Read, &[b"a\0"]);
        let _ = c.flush(&mem);
        let _ = c.receive(&mem);
    }
}

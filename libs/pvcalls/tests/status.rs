//! What the engine tells the socket faces about one socket (phase, peer, SO_ERROR), against the scripted backend.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::task::Poll::{Pending, Ready};

use skiff_pvcalls::sim::{Answer, FakeFrontend, FakeWorld, Shutdown};
use skiff_pvcalls::wire::{AF_INET, SOCK_STREAM};
use skiff_pvcalls::{Errno, Options, Peer, SocketId, SocketPhase};
use skiff_xen::pvcalls::{
    PVCALLS_ACCEPT, PVCALLS_BIND, PVCALLS_CONNECT, PVCALLS_LISTEN, PVCALLS_SOCKET,
};

fn addr() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80)
}

fn world() -> (FakeWorld, FakeFrontend) {
    let w = FakeWorld::new();
    let fe = w.connect(1, Options::default()).expect("frontend");
    (w, fe)
}

/// A socket with SOCKET and CONNECT sent, and SOCKET answered.
fn connecting(w: &FakeWorld, fe: &mut FakeFrontend) -> SocketId {
    let s = fe.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(fe.phase(s), Some(SocketPhase::Fresh));
    assert_eq!(fe.connect(s, addr()), Pending);
    assert_eq!(w.backend().take(), 2);
    assert!(w.backend().answer_request(PVCALLS_SOCKET, s.0, Answer::Right));
    assert_eq!(fe.phase(s), Some(SocketPhase::Connecting));
    assert_eq!((fe.peer(s), fe.take_error(s)), (None, Ok(None)));
    s
}

#[test]
fn a_connect_answered_is_connected_at_once_and_reported_once() {
    let (w, mut fe) = world();
    let s = connecting(&w, &mut fe);
    assert!(w.backend().answer_request(PVCALLS_CONNECT, s.0, Answer::Right));
    assert_eq!(fe.phase(s), Some(SocketPhase::Connecting), "asking changes nothing");
    assert!(fe.take_answers());
    assert_eq!(fe.phase(s), Some(SocketPhase::Connected));
    assert_eq!(fe.peer(s), Some(Peer::Addr(addr())));
    assert_eq!(fe.take_error(s), Ok(None), "a success is not an error to take");
    assert_eq!(fe.connect(s, addr()), Ready(Ok(())), "the outcome is still the caller's");
    assert_eq!(fe.connect(s, addr()), Ready(Err(Errno::EISCONN)));
    w.shutdown(fe, Shutdown::Clean { unmaps: true }).unwrap();
}

#[test]
fn a_refused_connect_is_taken_once_and_the_socket_may_try_again() {
    let (w, mut fe) = world();
    let s = connecting(&w, &mut fe);
    assert!(w.backend().answer_request(PVCALLS_CONNECT, s.0, Answer::Ret(-111)));
    assert!(fe.take_answers());
    assert_eq!(fe.phase(s), Some(SocketPhase::Fresh));
    assert_eq!(fe.peer(s), None);
    assert_eq!(fe.poll(s).unwrap().error, Some(Errno::ECONNREFUSED));
    assert_eq!(fe.take_error(s), Ok(Some(Errno::ECONNREFUSED)));
    assert_eq!(fe.take_error(s), Ok(None));
    assert_eq!(fe.poll(s).unwrap().error, None);
    assert_eq!(fe.connect(s, addr()), Pending, "a new attempt");
    w.shutdown(fe, Shutdown::Clean { unmaps: true }).unwrap();
}

#[test]
fn a_connect_cut_off_by_the_backend_closing_is_no_connection() {
    let (w, mut fe) = world();
    let s = connecting(&w, &mut fe);
    fe.backend_gone();
    // The engine keeps the ring (the backend unmapped it) until close.
    assert_eq!(fe.phase(s), Some(SocketPhase::Connected));
    assert_eq!(fe.peer(s), None, "never connected");
    assert_eq!(fe.take_error(s), Ok(Some(Errno::ECONNABORTED)));
    assert_eq!(fe.take_error(s), Ok(None));
    fe.close(s).unwrap();
    w.shutdown(fe, Shutdown::Clean { unmaps: true }).unwrap();
}

#[test]
fn an_accepted_connection_has_a_peer_nobody_knows() {
    let (w, mut fe) = world();
    let l = fe.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(fe.bind(l, addr()), Pending);
    w.backend().take();
    assert!(w.backend().answer_request(PVCALLS_SOCKET, l.0, Answer::Right));
    assert!(w.backend().answer_request(PVCALLS_BIND, l.0, Answer::Right));
    assert_eq!(fe.bind(l, addr()), Ready(Ok(())));
    assert_eq!(fe.phase(l), Some(SocketPhase::Bound));
    assert_eq!(fe.listen(l, 8), Pending);
    w.backend().take();
    assert!(w.backend().answer_request(PVCALLS_LISTEN, l.0, Answer::Right));
    assert_eq!(fe.listen(l, 8), Ready(Ok(())));
    let listening = SocketPhase::Listener { accept_in_flight: false, ready: false };
    assert_eq!(fe.phase(l), Some(listening));
    assert_eq!(fe.accept(l), Pending);
    w.backend().take();
    assert!(w.backend().answer_request(PVCALLS_ACCEPT, l.0, Answer::Right));
    let Ready(Ok(a)) = fe.accept(l) else { panic!("the accepted connection") };
    assert_eq!((fe.peer(l), fe.peer(a)), (None, Some(Peer::Unknown)));
    assert_eq!(fe.take_error(a), Ok(None));
    w.backend().set_in_error(a.0, -104);
    assert_eq!(fe.take_error(a), Ok(Some(Errno::ECONNRESET)));
    assert_eq!(fe.take_error(a), Ok(Some(Errno::ECONNRESET)), "a connection's error stays");
    w.shutdown(fe, Shutdown::Clean { unmaps: true }).unwrap();
}

//! The deterministic simulation itself: the scripted backend, the virtual clock, tampering and the checked shutdown.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::task::Poll::{Pending, Ready};

use skiff_pvcalls::sim::{Answer, FakeFrontend, FakeWorld, Poke, Shutdown, Step};
use skiff_pvcalls::wire::{AF_INET, SOCK_STREAM};
use skiff_pvcalls::{Errno, GoneReason, Options, SocketId};
use skiff_xen::pvcalls::{PVCALLS_CONNECT, PVCALLS_RELEASE, PVCALLS_SOCKET};

fn addr() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80)
}

fn world() -> (FakeWorld, FakeFrontend) {
    let w = FakeWorld::new();
    let fe = w.connect(1, Options::default()).expect("frontend");
    (w, fe)
}

fn connected(w: &FakeWorld, fe: &mut FakeFrontend) -> SocketId {
    let s = fe.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(fe.connect(s, addr()), Pending);
    assert_eq!(w.backend().take(), 2, "SOCKET and CONNECT");
    assert!(w.backend().answer_request(PVCALLS_SOCKET, s.0, Answer::Right));
    assert!(w.backend().answer_request(PVCALLS_CONNECT, s.0, Answer::Right));
    assert_eq!(fe.connect(s, addr()), Ready(Ok(())));
    w.check(fe).unwrap();
    s
}

#[test]
fn bytes_flow_both_ways_and_a_clean_shutdown_leaves_nothing() {
    let (w, mut fe) = world();
    let s = connected(&w, &mut fe);
    assert_eq!(fe.send(s, b"hello"), Ready(Ok(5)));
    assert_eq!(w.backend().read_out(s.0, 100), b"hello");
    assert_eq!(w.backend().write_in(s.0, 7), 7);
    let mut buf = [0u8; 16];
    assert_eq!(fe.recv(s, &mut buf), Ready(Ok(7)));
    assert_eq!(&buf[..7], &skiff_pvcalls::sim::pattern(7, s.0)[..]);
    w.backend().set_in_error(s.0, -107);
    assert_eq!(fe.recv(s, &mut buf), Ready(Ok(0)), "end of stream");
    fe.close(s).unwrap();
    assert_eq!(w.backend().take(), 1);
    assert!(w.backend().answer_request(PVCALLS_RELEASE, s.0, Answer::Right));
    fe.process();
    assert_eq!(fe.resources().sockets, 0);
    assert!(w.backend().ring_ids().is_empty(), "RELEASE unmapped the ring");
    w.shutdown(fe, Shutdown::Clean { unmaps: true }).unwrap();
    assert_eq!(w.host.stats().leaked_frames, 0);
}

#[test]
fn a_ring_left_mapped_after_a_failed_connect_is_leaked_not_freed() {
    let (w, mut fe) = world();
    let s = fe.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(fe.connect(s, addr()), Pending);
    w.backend().take();
    w.backend().answer_request(PVCALLS_SOCKET, s.0, Answer::Right);
    w.backend().answer_request(PVCALLS_CONNECT, s.0, Answer::MapThenRet(-111));
    assert_eq!(fe.connect(s, addr()), Ready(Err(Errno::ECONNREFUSED)));
    let res = fe.resources();
    assert_eq!((res.leaked_pages, res.leaked_grants), (3, 3), "{res:?}");
    assert_eq!(fe.platform().leaks().while_mapped, 3);
    w.check(&fe).unwrap();
    w.shutdown(fe, Shutdown::Clean { unmaps: true }).unwrap();
}

#[test]
fn a_silent_backend_is_given_up_on_in_virtual_time() {
    let w = FakeWorld::new();
    let opts = Options { command_timeout_ns: 5_000_000_000, ..Options::default() };
    let mut fe = w.connect(1, opts).unwrap();
    let s = fe.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(fe.bind(s, addr()), Pending);
    let mut waits = 0;
    while fe.gone_reason().is_none() {
        fe.wait(None);
        waits += 1;
        assert!(waits < 10, "the watchdog's deadline is reached in a few waits");
    }
    assert!(matches!(fe.gone_reason(), Some(GoneReason::Stuck(_))));
    assert_eq!(fe.now_ns(), 5_000_000_000, "the clock jumped to the deadline");
    assert_eq!(fe.bind(s, addr()), Ready(Err(Errno::ETIMEDOUT)));
    w.shutdown(fe, Shutdown::Clean { unmaps: false }).unwrap();
}

#[test]
fn a_script_runs_one_step_per_wait() {
    let (w, mut fe) = world();
    let s = fe.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(fe.bind(s, addr()), Pending);
    w.backend().extend_script([
        Step::Take,
        Step::Answer { pick: 0, how: Answer::Right },
        Step::Answer { pick: 0, how: Answer::Right },
    ]);
    for left in [2, 1, 0] {
        fe.wait(None);
        assert_eq!(w.backend().script_len(), left);
    }
    assert_eq!(fe.bind(s, addr()), Ready(Ok(())));
    w.check(&fe).unwrap();
    w.shutdown(fe, Shutdown::Clean { unmaps: true }).unwrap();
}

#[test]
fn tampering_stores_between_the_frontends_loads() {
    let (w, mut fe) = world();
    let s = connected(&w, &mut fe);
    // The next load the frontend makes (any page) sees in_prod moved far
    // beyond in_cons: the ring is broken, nothing is read out of bounds.
    let before = w.tamper.fired();
    for off in [4u32, 4, 4, 4] {
        w.tamper.push(Poke { after: 0, off: 4096 + off, val: 0x7fff_0000 });
    }
    let mut buf = [0u8; 8];
    let r = fe.recv(s, &mut buf);
    assert!(w.tamper.fired() > before);
    assert!(matches!(r, Ready(Err(Errno::EIO)) | Pending), "{r:?}");
    w.check(&fe).unwrap();
    w.shutdown(fe, Shutdown::Drop).unwrap();
}

#[test]
fn a_second_answer_is_dropped_while_other_commands_are_outstanding() {
    let (w, mut fe) = world();
    let a = fe.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let b = fe.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(fe.bind(a, addr()), Pending);
    assert_eq!(fe.bind(b, addr()), Pending);
    assert_eq!(w.backend().take(), 4);
    assert!(w.backend().answer(0, Answer::Twice));
    fe.process();
    assert_eq!(fe.cmd_stats().unexpected, 1, "{:?}", fe.cmd_stats());
    assert_eq!(fe.gone_reason(), None);
    w.shutdown(fe, Shutdown::Clean { unmaps: true }).unwrap();
}

#[test]
fn impossible_response_indexes_break_the_ring_for_good() {
    let (w, mut fe) = world();
    let s = fe.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(fe.bind(s, addr()), Pending);
    w.backend().apply(&Step::RspProd { delta: 1000 });
    fe.process();
    assert_eq!(fe.gone_reason(), Some(GoneReason::BrokeRing));
    assert_eq!(fe.bind(s, addr()), Ready(Err(Errno::ECONNABORTED)));
    w.shutdown(fe, Shutdown::Clean { unmaps: true }).unwrap();
}

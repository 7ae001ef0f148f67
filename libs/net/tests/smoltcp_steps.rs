//! TcpSocket and the embedded-nal connect step by step against the scripted backend: a connect waiting for a command slot, refused, tried again.

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::task::Poll;

use embedded_nal::TcpClientStack;
use skiff_net::{Errno, NalStack, RecvError, SendError, TcpSocket, TcpState};
use skiff_pvcalls::sim::{Answer, FakeFrontend, FakeWorld, Shutdown};
use skiff_pvcalls::{Options, SocketId};
use skiff_xen::pvcalls::{PVCALLS_BIND, PVCALLS_CONNECT, PVCALLS_SOCKET};

type Shared = Rc<RefCell<FakeFrontend>>;

fn remote() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80))
}

fn setup() -> (FakeWorld, Shared) {
    let w = FakeWorld::new();
    let fe = w.connect(1, Options::default()).expect("frontend");
    (w, Rc::new(RefCell::new(fe)))
}

fn answer(w: &FakeWorld, cmd: u32, id: SocketId, how: Answer) {
    assert!(w.backend().answer_request(cmd, id.0, how), "a {cmd} for {id:?} to answer");
}

fn finish(w: FakeWorld, fe: Shared) {
    let fe = Rc::try_unwrap(fe).map_err(|_| "shared").unwrap().into_inner();
    w.shutdown(fe, Shutdown::Clean { unmaps: true }).unwrap();
}

#[test]
fn a_connect_waits_for_a_command_slot_then_goes_out() {
    let (w, fe) = setup();
    // Sixteen binds (SOCKET + BIND each) fill the 32 command slots.
    let binds: Vec<SocketId> = (0..16)
        .map(|i| {
            let s = fe.borrow_mut().socket(2, 1, 0).unwrap();
            let a = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1000 + i);
            assert_eq!(fe.borrow_mut().bind(s, a), Poll::Pending);
            s
        })
        .collect();
    assert_eq!(w.backend().take(), 32);
    let mut s = TcpSocket::new(&fe).unwrap();
    s.connect(remote()).unwrap();
    assert_eq!(s.state(), TcpState::SynSent, "waiting for a slot");
    assert_eq!(s.connect(remote()), Err(Errno::EALREADY));
    assert_eq!(w.backend().take(), 0, "nothing sent");
    answer(&w, PVCALLS_SOCKET, binds[0], Answer::Right);
    answer(&w, PVCALLS_BIND, binds[0], Answer::Right);
    assert_eq!(s.state(), TcpState::SynSent);
    assert_eq!(w.backend().take(), 2, "SOCKET and CONNECT went out");
    answer(&w, PVCALLS_SOCKET, s.id(), Answer::Right);
    answer(&w, PVCALLS_CONNECT, s.id(), Answer::Right);
    assert_eq!(s.state(), TcpState::Established);
    assert_eq!(s.connect(remote()), Err(Errno::EISCONN));
    assert_eq!(s.send_slice(b"hi"), Ok(2));
    drop(s);
    finish(w, fe);
}

#[test]
fn a_refused_connect_is_the_sockets_error_until_it_connects_again() {
    let (w, fe) = setup();
    let mut s = TcpSocket::new(&fe).unwrap();
    assert_eq!(s.send_slice(b"x"), Err(SendError::InvalidState));
    s.connect(remote()).unwrap();
    assert_eq!(w.backend().take(), 2);
    answer(&w, PVCALLS_SOCKET, s.id(), Answer::Right);
    answer(&w, PVCALLS_CONNECT, s.id(), Answer::Ret(-111));
    for _ in 0..2 {
        assert_eq!(s.state(), TcpState::Closed);
        assert_eq!(s.error(), Some(Errno::ECONNREFUSED));
        assert_eq!(s.send_slice(b"x"), Err(SendError::Failed(Errno::ECONNREFUSED)));
        assert_eq!(s.recv_slice(&mut [0; 4]), Err(RecvError::Failed(Errno::ECONNREFUSED)));
    }
    assert_eq!(s.listen(remote()), Err(Errno::EINVAL), "not a fresh socket");
    s.connect(remote()).unwrap();
    assert_eq!((s.state(), s.error()), (TcpState::SynSent, None));
    assert_eq!(w.backend().take(), 1, "CONNECT again");
    answer(&w, PVCALLS_CONNECT, s.id(), Answer::Right);
    assert_eq!(s.state(), TcpState::Established);
    assert_eq!(s.remote_endpoint(), Some(remote()));
    s.close();
    assert_eq!((s.state(), s.error()), (TcpState::Closed, None));
    assert_eq!(s.connect(remote()), Err(Errno::EBADF));
    drop(s);
    finish(w, fe);
}

#[test]
fn the_nal_connect_reports_a_failure_once_then_starts_again() {
    let (w, fe) = setup();
    let mut nal = NalStack::new(fe.clone());
    let mut s = nal.socket().unwrap();
    assert!(matches!(nal.connect(&mut s, remote()), Err(nb::Error::WouldBlock)));
    assert!(matches!(nal.connect(&mut s, remote()), Err(nb::Error::WouldBlock)));
    assert_eq!(w.backend().take(), 2);
    answer(&w, PVCALLS_SOCKET, s.id(), Answer::Right);
    answer(&w, PVCALLS_CONNECT, s.id(), Answer::Ret(-111));
    match nal.connect(&mut s, remote()) {
        Err(nb::Error::Other(e)) => assert_eq!(e.errno(), Some(Errno::ECONNREFUSED)),
        r => panic!("{r:?}"),
    }
    assert_eq!((s.state(), s.error()), (TcpState::Closed, None), "reported, forgotten");
    assert!(matches!(nal.connect(&mut s, remote()), Err(nb::Error::WouldBlock)));
    assert_eq!(w.backend().take(), 1, "CONNECT again");
    answer(&w, PVCALLS_CONNECT, s.id(), Answer::Right);
    assert!(matches!(nal.connect(&mut s, remote()), Ok(())));
    assert!(matches!(nal.connect(&mut s, remote()), Ok(())), "connected stays Ok");
    drop(s);
    drop(nal);
    finish(w, fe);
}

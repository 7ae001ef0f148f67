//! A non-blocking connect through the fd table, step by step against the scripted backend: EINPROGRESS, EALREADY, the outcome once, SO_ERROR, addresses.

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use skiff_net::posix::consts::*;
use skiff_net::posix::{Fd, FdTable, PollFd};
use skiff_net::{Errno, SockAddr, Stack};
use skiff_pvcalls::Options;
use skiff_pvcalls::sim::{Answer, FakeFrontend, FakeWorld, Shutdown};
use skiff_xen::pvcalls::{PVCALLS_CONNECT, PVCALLS_SOCKET};

type Shared = Rc<RefCell<FakeFrontend>>;

fn target() -> SockAddr {
    SockAddr::from(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80))
}

fn setup() -> (FakeWorld, Shared, FdTable<Shared>) {
    let w = FakeWorld::new();
    let fe = Rc::new(RefCell::new(w.connect(1, Options::default()).expect("frontend")));
    let t = FdTable::new(fe.clone());
    (w, fe, t)
}

/// A non-blocking fd whose CONNECT (and SOCKET) the backend holds unanswered.
fn in_flight(w: &FakeWorld, t: &mut FdTable<Shared>) -> Fd {
    let fd = t.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).unwrap();
    assert_eq!(t.connect(fd, &target()), Err(Errno::EINPROGRESS));
    assert_eq!(t.connect(fd, &target()), Err(Errno::EALREADY));
    assert_eq!(w.backend().take(), 2, "SOCKET and CONNECT");
    let other = SockAddr::new(Ipv4Addr::LOCALHOST, 1);
    assert_eq!(t.connect(fd, &other), Err(Errno::EALREADY), "the first address stands");
    assert_eq!(w.backend().take(), 0, "nothing more sent");
    let mut p = [PollFd::new(fd, POLLIN | POLLOUT)];
    assert_eq!(t.poll(&mut p, 0), Ok(0));
    assert_eq!(t.getpeername(fd), Err(Errno::ENOTCONN));
    assert_eq!(t.getsockname(fd), Err(Errno::EINVAL));
    assert_eq!(t.take_error(fd), Ok(None));
    assert!(w.backend().answer_request(PVCALLS_SOCKET, t.socket_id(fd).unwrap().0, Answer::Right));
    fd
}

fn answer_connect(w: &FakeWorld, t: &FdTable<Shared>, fd: Fd, how: Answer) {
    let id = t.socket_id(fd).unwrap().0;
    assert!(w.backend().answer_request(PVCALLS_CONNECT, id, how));
}

fn finish(w: FakeWorld, fe: Shared, t: FdTable<Shared>) {
    drop(t);
    let fe = Rc::try_unwrap(fe).map_err(|_| "shared").unwrap().into_inner();
    w.shutdown(fe, Shutdown::Clean { unmaps: true }).unwrap();
}

#[test]
fn a_connect_seen_by_poll_is_reported_by_the_next_connect_once() {
    let (w, fe, mut t) = setup();
    let fd = in_flight(&w, &mut t);
    answer_connect(&w, &t, fd, Answer::Right);
    let mut p = [PollFd::new(fd, POLLIN | POLLOUT)];
    assert_eq!(t.poll(&mut p, 0), Ok(1));
    assert_eq!(p[0].revents, POLLOUT);
    assert_eq!(t.take_error(fd), Ok(None));
    assert_eq!(t.getpeername(fd), Ok(target()));
    assert_eq!(t.getsockname(fd), Err(Errno::EOPNOTSUPP));
    assert_eq!(t.connect(fd, &target()), Ok(()), "the outcome, once");
    assert_eq!(t.connect(fd, &target()), Err(Errno::EISCONN));
    assert_eq!(t.send(fd, b"x", 0), Ok(1));
    finish(w, fe, t);
}

#[test]
fn a_refused_connect_is_reported_by_connect_and_the_fd_may_connect_again() {
    let (w, fe, mut t) = setup();
    let fd = in_flight(&w, &mut t);
    answer_connect(&w, &t, fd, Answer::Ret(-111));
    let mut p = [PollFd::new(fd, POLLOUT)];
    assert_eq!(t.poll(&mut p, 0), Ok(1));
    assert_eq!(p[0].revents, POLLOUT | POLLERR | POLLHUP);
    assert_eq!(t.getpeername(fd), Err(Errno::ENOTCONN));
    assert_eq!(t.connect(fd, &target()), Err(Errno::ECONNREFUSED), "the outcome, once");
    assert_eq!(t.take_error(fd), Ok(None), "reported already");
    assert_eq!(t.connect(fd, &target()), Err(Errno::EINPROGRESS), "a new attempt");
    assert_eq!(w.backend().take(), 1, "CONNECT again (SOCKET went with the first)");
    answer_connect(&w, &t, fd, Answer::Right);
    assert_eq!(t.connect(fd, &target()), Ok(()));
    finish(w, fe, t);
}

#[test]
fn a_blocking_connect_that_times_out_is_einprogress_then_ealready() {
    let (w, fe, mut t) = setup();
    let fd = t.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    t.set_send_timeout(fd, Some(std::time::Duration::from_millis(5))).unwrap();
    assert_eq!(t.connect(fd, &target()), Err(Errno::EINPROGRESS));
    assert_eq!(w.backend().take(), 2);
    t.set_nonblocking(fd, true).unwrap();
    assert_eq!(t.connect(fd, &target()), Err(Errno::EALREADY));
    answer_connect(&w, &t, fd, Answer::Ret(-110));
    assert!(fe.now_ns() >= 5_000_000, "the send timeout passed");
    assert_eq!(t.take_error(fd), Ok(Some(Errno::ETIMEDOUT)), "SO_ERROR takes it");
    assert_eq!(t.take_error(fd), Ok(None));
    finish(w, fe, t);
}

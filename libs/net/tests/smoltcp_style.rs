//! smoltcp-style socket methods and states against the simulated backend serving real host TCP.

mod common;

use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use skiff_net::{Errno, RecvError, SendError, Stack, TcpSocket, TcpState};

fn wait_until(stack: &Shared, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "condition never held");
        stack.wait(Some(stack.now_ns() + 10_000_000));
    }
}

#[test]
fn states_across_connect_data_and_eof() {
    let env = setup();
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = TcpSocket::new(&env.stack).unwrap();
    assert_eq!(s.state(), TcpState::Closed);
    assert!(!s.may_send() && !s.may_recv() && !s.is_open());
    assert_eq!(s.send_slice(b"x"), Err(SendError::InvalidState));
    assert_eq!(s.recv_slice(&mut [0; 1]), Err(RecvError::InvalidState));

    s.connect(host.local_addr().unwrap()).unwrap();
    assert!(matches!(s.state(), TcpState::SynSent | TcpState::Established));
    let again = s.connect(host.local_addr().unwrap());
    assert!(matches!(again, Err(Errno::EALREADY | Errno::EISCONN)), "{again:?}");
    wait_until(&env.stack, || s.state() == TcpState::Established);
    assert!(s.is_active() && s.may_send() && s.may_recv() && s.can_send());
    assert!(!s.can_recv());
    assert_eq!(s.remote_endpoint(), Some(host.local_addr().unwrap()));

    let (mut peer, _) = host.accept().unwrap();
    assert_eq!(s.send_slice(b"ping").unwrap(), 4);
    let mut b = [0u8; 4];
    peer.read_exact(&mut b).unwrap();
    peer.write_all(b"pong!").unwrap();
    drop(peer);

    // Data first, then the FIN: CloseWait with bytes still waiting.
    wait_until(&env.stack, || s.state() == TcpState::CloseWait);
    wait_until(&env.stack, || s.recv_queue() == 5);
    assert!(s.can_recv() && s.may_recv() && s.may_send());
    let mut buf = [0u8; 16];
    assert_eq!(s.recv_slice(&mut buf), Ok(5));
    assert_eq!(&buf[..5], b"pong!");
    assert!(!s.may_recv());
    assert_eq!(s.recv_slice(&mut buf), Err(RecvError::Finished));
    s.close();
    assert_eq!(s.state(), TcpState::Closed);
    assert_eq!(s.connect(host.local_addr().unwrap()), Err(Errno::EBADF));
}

#[test]
fn refused_connect_is_closed_with_the_error() {
    let env = setup();
    let mut s = TcpSocket::new(&env.stack).unwrap();
    s.connect(localhost(free_port())).unwrap();
    wait_until(&env.stack, || s.state() != TcpState::SynSent);
    assert_eq!(s.state(), TcpState::Closed);
    assert_eq!(s.error(), Some(Errno::ECONNREFUSED));
    assert_eq!(s.send_slice(b"x"), Err(SendError::Failed(Errno::ECONNREFUSED)));
}

#[test]
fn listen_accept_and_full_ring() {
    let env = setup();
    let port = free_port();
    let mut l = TcpSocket::new(&env.stack).unwrap();
    l.listen(localhost(port)).unwrap();
    assert_eq!(l.state(), TcpState::Listen);
    assert!(l.is_listening() && l.is_open() && !l.is_active());
    assert!(l.accept().unwrap().is_none());
    let client = thread::spawn(move || std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
    let mut a = None;
    wait_until(&env.stack, || {
        a = l.accept().unwrap();
        a.is_some()
    });
    let mut a = a.unwrap();
    assert_eq!(a.state(), TcpState::Established);
    assert_eq!(a.remote_endpoint(), None);
    // The peer does not read: send_slice eventually queues nothing.
    let chunk = vec![1u8; 1 << 16];
    let deadline = Instant::now() + Duration::from_secs(20);
    while a.send_slice(&chunk).unwrap() > 0 {
        assert!(Instant::now() < deadline);
    }
    assert!(a.may_send(), "a full ring is not a closed connection");
    let _c = client.join().unwrap();
}

#[test]
fn reset_by_peer_is_closed_with_the_error() {
    let env = setup();
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = TcpSocket::new(&env.stack).unwrap();
    s.connect(host.local_addr().unwrap()).unwrap();
    wait_until(&env.stack, || s.state() == TcpState::Established);
    let (peer, _) = host.accept().unwrap();
    let mut sent = 0;
    while sent < 11 {
        sent += s.send_slice(&b"unread data"[sent..]).unwrap();
    }
    peer.peek(&mut [0u8; 1]).unwrap();
    drop(peer); // unread data: the host sends RST
    wait_until(&env.stack, || s.state() == TcpState::Closed);
    assert_eq!(s.error(), Some(Errno::ECONNRESET));
    assert_eq!(s.recv_slice(&mut [0; 4]), Err(RecvError::Failed(Errno::ECONNRESET)));
}

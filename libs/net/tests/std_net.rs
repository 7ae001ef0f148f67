//! The std::net-shaped face against the simulated backend: streams, listeners, timeouts, errors, Drop.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use skiff_net::{Errno, ErrorKind, TcpListener, TcpStream};

#[test]
fn stream_round_trip_with_a_host_echo_server() {
    let env = setup();
    let server = echo_server();
    let s = TcpStream::connect_in(&env.stack, server).unwrap();
    let data = pattern(100_000, 3);
    s.write_all(&data).unwrap();
    s.flush().unwrap();
    let mut back = vec![0u8; data.len()];
    s.read_exact(&mut back).unwrap();
    assert!(back == data);
    assert_eq!(s.peer_addr().unwrap(), SocketAddr::V4(server));
}

#[test]
fn listener_accept_and_incoming_with_host_clients() {
    let env = setup();
    let port = free_port();
    let l = TcpListener::bind_in(&env.stack, localhost(port)).unwrap();
    assert_eq!(l.local_addr().unwrap(), SocketAddr::V4(localhost(port)));
    let clients = thread::spawn(move || {
        for i in 0..3u8 {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(&[i; 5]).unwrap();
            let mut back = [0u8; 5];
            c.read_exact(&mut back).unwrap();
            assert_eq!(back, [i + 1; 5]);
        }
    });
    let (first, peer) = l.accept().unwrap();
    assert_eq!(peer, None);
    let e = first.peer_addr().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    // Streams are kept until the clients are done: dropping one releases
    // it at once, and bytes the backend has not taken yet would be lost.
    let serve = |s: TcpStream<Shared>| {
        let mut b = [0u8; 5];
        s.read_exact(&mut b).unwrap();
        s.write_all(&[b[0] + 1; 5]).unwrap();
        s
    };
    let mut keep = vec![serve(first)];
    for s in l.incoming().take(2) {
        keep.push(serve(s.unwrap()));
    }
    clients.join().unwrap();
}

#[test]
fn read_timeout_is_timed_out_and_nonblocking_is_would_block() {
    let env = setup();
    let s = TcpStream::connect_in(&env.stack, echo_server()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_millis(50)));
    let start = Instant::now();
    let e = s.read(&mut [0; 8]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert_eq!(e.errno(), Some(Errno::ETIMEDOUT));
    assert!(start.elapsed() >= Duration::from_millis(45));
    assert_eq!(
        s.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );

    s.set_nonblocking(true).unwrap();
    let e = s.read(&mut [0; 8]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert_eq!(e.raw_os_error(), Some(11));

    let l = TcpListener::bind_in(&env.stack, localhost(free_port())).unwrap();
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn connect_errors_are_typed() {
    let env = setup();
    let e = TcpStream::connect_in(&env.stack, localhost(free_port())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(e.errno(), Some(Errno::ECONNREFUSED));
    let v6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 80, 0, 0));
    let e = TcpStream::connect_in(&env.stack, v6).unwrap_err();
    assert_eq!((e.kind(), e.errno()), (ErrorKind::Unsupported, Some(Errno::EAFNOSUPPORT)));
    assert_eq!(TcpListener::bind_in(&env.stack, v6).unwrap_err().kind(), ErrorKind::Unsupported);
    let e = TcpStream::connect_timeout_in(&env.stack, &v6, Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let e = TcpListener::bind_in(&env.stack, host.local_addr().unwrap()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
}

#[test]
fn connect_timeout_succeeds_and_read_exact_reports_eof() {
    let env = setup();
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = host.local_addr().unwrap();
    let s = TcpStream::connect_timeout_in(&env.stack, &addr, Duration::from_secs(10)).unwrap();
    let (mut peer, _) = host.accept().unwrap();
    peer.write_all(b"abc").unwrap();
    drop(peer);
    let mut b = [0u8; 8];
    let e = s.read_exact(&mut b).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
    assert_eq!(s.read(&mut b).unwrap(), 0, "EOF is sticky");
}

#[test]
fn default_stack_gives_std_like_constructors() {
    ThreadStack::install();
    let port = free_port();
    let l = TcpListener::<ThreadStack>::bind(localhost(port)).unwrap();
    let client = thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"x").unwrap();
    });
    let (s, _) = l.accept().unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    client.join().unwrap();
    let c = TcpStream::<ThreadStack>::connect(echo_server()).unwrap();
    c.write_all(b"yz").unwrap();
    let mut b = [0u8; 2];
    c.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"yz");
    drop((s, c, l));
    ThreadStack::uninstall();
}

#[test]
fn drop_releases_every_socket() {
    let env = setup();
    let addr = echo_server();
    let base = env.stack.borrow().resources();
    for i in 0..200u32 {
        let s = TcpStream::connect_in(&env.stack, addr).unwrap();
        s.write_all(&i.to_le_bytes()).unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        assert_eq!(b, i.to_le_bytes());
    }
    let port = free_port();
    let l = TcpListener::bind_in(&env.stack, localhost(port)).unwrap();
    for _ in 0..20 {
        let c = thread::spawn(move || std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
        let (s, _) = l.accept().unwrap();
        drop((s, c.join().unwrap()));
    }
    // A failed connect releases its socket too.
    assert!(TcpStream::connect_in(&env.stack, localhost(free_port())).is_err());
    drop(l);
    settle(&env.stack);
    assert_eq!(env.stack.borrow().resources(), base);
    let st = env.world.backend_stats();
    assert_eq!((st.active, st.passive), (0, 0));
}

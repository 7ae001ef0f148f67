//! The POSIX face against the simulated backend serving real host TCP: echo, poll, flags, errnos.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use skiff_net::posix::consts::*;
use skiff_net::posix::{FdTable, PollFd};
use skiff_net::{Errno, SockAddr};

fn table(env: &Env) -> FdTable<Shared> {
    FdTable::new(env.stack.clone())
}

fn tcp(t: &mut FdTable<Shared>) -> i32 {
    t.socket(AF_INET, SOCK_STREAM, 0).expect("socket")
}

/// A connected fd and the host's end of its connection.
fn connected(t: &mut FdTable<Shared>) -> (i32, TcpStream) {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let fd = tcp(t);
    t.connect(fd, &v4(host.local_addr().unwrap()).into()).unwrap();
    (fd, host.accept().unwrap().0)
}

/// A listening fd on a free port.
fn listener(t: &mut FdTable<Shared>) -> (i32, u16) {
    let port = free_port();
    let l = tcp(t);
    t.bind(l, &localhost(port).into()).unwrap();
    t.listen(l, 16).unwrap();
    (l, port)
}

#[test]
fn echo_through_a_host_server() {
    let env = setup();
    let mut t = table(&env);
    let fd = tcp(&mut t);
    assert_eq!(fd, 3, "first fd");
    t.connect(fd, &echo_server().into()).unwrap();
    assert_eq!(t.connect(fd, &echo_server().into()), Err(Errno::EISCONN));
    let data = pattern(200_000, 1);
    assert_eq!(t.send(fd, &data, 0), Ok(data.len()), "blocking send queues everything");
    let mut back = vec![0u8; data.len()];
    assert_eq!(t.recv(fd, &mut back, MSG_WAITALL), Ok(data.len()));
    assert!(back == data);
    t.close(fd).unwrap();
    assert_eq!(t.open_fds(), 0);
}

#[test]
fn sockaddr_bytes_at_the_edge() {
    let env = setup();
    let mut t = table(&env);
    let fd = tcp(&mut t);
    let addr = SockAddr::from_bytes(&SockAddr::from(echo_server()).to_bytes()).unwrap();
    t.connect(fd, &addr).unwrap();
    assert_eq!(t.getpeername(fd), Ok(addr));
    assert_eq!(t.getsockname(fd), Err(Errno::EOPNOTSUPP));
    let mut v6 = [0u8; 28];
    v6[..2].copy_from_slice(&(AF_INET6 as u16).to_ne_bytes());
    assert_eq!(SockAddr::from_bytes(&v6), Err(Errno::EAFNOSUPPORT));
}

#[test]
fn errnos_ebadf_eafnosupport_econnrefused_eaddrinuse() {
    let env = setup();
    let mut t = table(&env);
    assert_eq!(t.socket(AF_INET6, SOCK_STREAM, 0), Err(Errno::EAFNOSUPPORT));
    assert_eq!(t.socket(AF_UNIX, SOCK_STREAM, 0), Err(Errno::EAFNOSUPPORT));
    assert_eq!(t.socket(AF_INET, SOCK_DGRAM, 0), Err(Errno::ESOCKTNOSUPPORT));
    for bad in [-1, 0, 2, 3, 99, 1 << 20] {
        assert_eq!(t.send(bad, b"x", 0), Err(Errno::EBADF));
        assert_eq!(t.recv(bad, &mut [0; 1], 0), Err(Errno::EBADF));
        assert_eq!(t.close(bad), Err(Errno::EBADF));
        assert_eq!(t.set_nonblocking(bad, true), Err(Errno::EBADF));
    }
    let fd = tcp(&mut t);
    assert_eq!(t.connect(fd, &localhost(free_port()).into()), Err(Errno::ECONNREFUSED));
    assert_eq!(t.send(fd, b"x", 0), Err(Errno::ENOTCONN));
    t.close(fd).unwrap();
    assert_eq!(t.close(fd), Err(Errno::EBADF));

    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = tcp(&mut t);
    assert_eq!(t.bind(b, &v4(host.local_addr().unwrap()).into()), Err(Errno::EADDRINUSE));
    assert_eq!(t.listen(b, 1), Err(Errno::EINVAL), "not bound");
    assert_eq!(t.send(b, b"x", MSG_PEEK), Err(Errno::EOPNOTSUPP));
    assert_eq!(t.recv(b, &mut [0; 1], MSG_PEEK), Err(Errno::EOPNOTSUPP));
}

#[test]
fn bind_patiently_waits_until_the_port_is_free() {
    let env = setup();
    let mut t = table(&env);
    let holder = TcpListener::bind("0.0.0.0:0").unwrap();
    let addr = SockAddr::new(Ipv4Addr::UNSPECIFIED, holder.local_addr().unwrap().port());
    // Nobody frees it: EADDRINUSE once the patience has passed.
    let fd = tcp(&mut t);
    let mut told = 0;
    let start = Instant::now();
    let r = t.bind_patiently(fd, &addr, Duration::from_millis(700), || told += 1);
    assert_eq!(r, Err(Errno::EADDRINUSE));
    assert!(start.elapsed() >= Duration::from_millis(700), "gave up early");
    assert_eq!(told, 1);
    // Freed while it waits (once it said it waits): bound, and listening works.
    let (waiting, told_waiting) = std::sync::mpsc::channel();
    let release = thread::spawn(move || {
        told_waiting.recv().unwrap();
        drop(holder);
    });
    let mut told = 0;
    t.bind_patiently(fd, &addr, Duration::from_secs(10), || {
        told += 1;
        waiting.send(()).unwrap();
    })
    .unwrap();
    assert_eq!(told, 1);
    t.listen(fd, 4).unwrap();
    release.join().unwrap();
}

#[test]
fn fds_are_lowest_free_first() {
    let env = setup();
    let mut t = table(&env);
    let fds: Vec<i32> = (0..4).map(|_| tcp(&mut t)).collect();
    assert_eq!(fds, [3, 4, 5, 6]);
    t.close(4).unwrap();
    assert_eq!(tcp(&mut t), 4);
    t.close(6).unwrap();
    t.close(5).unwrap();
    assert_eq!(tcp(&mut t), 5);
}

#[test]
fn nonblocking_eagain_and_msg_dontwait() {
    let env = setup();
    let mut t = table(&env);
    let (l, port) = listener(&mut t);
    t.set_nonblocking(l, true).unwrap();
    assert_eq!(t.fcntl(l, F_GETFL, 0), Ok(O_NONBLOCK));
    assert_eq!(t.accept(l), Err(Errno::EAGAIN));

    let host = thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut b = [0u8; 2];
        c.read_exact(&mut b).unwrap();
        c.write_all(b"pong").unwrap();
        c
    });
    t.fcntl(l, F_SETFL, 0).unwrap();
    let (a, peer) = t.accept(l).unwrap();
    assert_eq!(peer, None, "PV Calls gives no peer address");
    assert_eq!(t.getpeername(a), Err(Errno::EOPNOTSUPP));
    // Blocking fd, but MSG_DONTWAIT: nothing sent by the host yet.
    assert_eq!(t.recv(a, &mut [0; 8], MSG_DONTWAIT), Err(Errno::EAGAIN));
    t.send(a, b"hi", 0).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(t.recv(a, &mut buf, MSG_WAITALL), Ok(4));
    assert_eq!(&buf, b"pong");
    t.set_nonblocking(a, true).unwrap();
    assert_eq!(t.recv(a, &mut buf, 0), Err(Errno::EAGAIN));
    let _keep = host.join().unwrap();

    // SOCK_NONBLOCK on accept4 and on socket().
    let nb = t.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP).unwrap();
    assert!(t.is_nonblocking(nb).unwrap());
}

#[test]
fn send_fills_then_eagain_when_the_peer_does_not_read() {
    let env = setup();
    let mut t = table(&env);
    let (fd, _peer) = connected(&mut t);
    let chunk = vec![7u8; 1 << 16];
    let mut total = 0;
    let start = Instant::now();
    loop {
        match t.send(fd, &chunk, MSG_DONTWAIT) {
            Ok(n) => total += n,
            Err(Errno::EAGAIN) => break,
            Err(e) => panic!("{e:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(20), "never filled");
    }
    assert!(total > 0);
    // With a send timeout a blocking send gives up with EAGAIN.
    t.set_send_timeout(fd, Some(Duration::from_millis(50))).unwrap();
    // Host socket buffers may still grow and absorb a whole chunk: retry
    // until a blocking send gives up (EAGAIN, or a partial count).
    let start = Instant::now();
    loop {
        let t0 = Instant::now();
        match t.send(fd, &chunk, 0) {
            Ok(n) if n == chunk.len() => {}
            r => {
                assert!(matches!(r, Err(Errno::EAGAIN) | Ok(_)), "{r:?}");
                assert!(t0.elapsed() >= Duration::from_millis(45), "{:?}", t0.elapsed());
                break;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(20), "send never timed out");
    }
}

#[test]
fn recv_timeout_gives_eagain() {
    let env = setup();
    let mut t = table(&env);
    let fd = tcp(&mut t);
    t.connect(fd, &echo_server().into()).unwrap();
    t.set_recv_timeout(fd, Some(Duration::from_millis(50))).unwrap();
    assert_eq!(t.recv_timeout(fd), Ok(Some(Duration::from_millis(50))));
    let start = Instant::now();
    assert_eq!(t.recv(fd, &mut [0; 4], 0), Err(Errno::EAGAIN));
    assert!(start.elapsed() >= Duration::from_millis(45));
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn poll_many_fds_with_listeners_and_timeouts() {
    let env = setup();
    let mut t = table(&env);
    let (l1, p1) = listener(&mut t);
    let (l2, p2) = listener(&mut t);
    let c = tcp(&mut t);
    t.connect(c, &echo_server().into()).unwrap();

    let mut fds = [PollFd::new(l1, POLLIN), PollFd::new(l2, POLLIN), PollFd::new(c, POLLIN)];
    // Timeout 0: nothing ready, returns at once.
    assert_eq!(t.poll(&mut fds, 0), Ok(0));
    assert!(fds.iter().all(|p| p.revents == 0));
    // A short timeout with nothing ready returns 0 after about that long.
    let start = Instant::now();
    assert_eq!(t.poll(&mut fds, 60), Ok(0));
    assert!(start.elapsed() >= Duration::from_millis(55), "{:?}", start.elapsed());

    // Connected socket writable at once.
    let mut w = [PollFd::new(c, POLLOUT)];
    assert_eq!(t.poll(&mut w, 0), Ok(1));
    assert_eq!(w[0].revents, POLLOUT);

    // Clients on both listeners; data on the echo connection.
    let h1 = thread::spawn(move || TcpStream::connect(("127.0.0.1", p1)).unwrap());
    let h2 = thread::spawn(move || TcpStream::connect(("127.0.0.1", p2)).unwrap());
    t.send(c, b"ping", 0).unwrap();
    let mut seen = [false; 3];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.iter().all(|s| *s) {
        assert!(Instant::now() < deadline, "not all ready: {seen:?}");
        let n = t.poll(&mut fds, -1).unwrap();
        assert!(n > 0);
        for (i, p) in fds.iter_mut().enumerate() {
            if p.revents & POLLIN != 0 && !seen[i] {
                seen[i] = true;
                if i < 2 {
                    let (a, _) = t.accept(p.fd).unwrap();
                    t.close(a).unwrap();
                } else {
                    let mut b = [0u8; 4];
                    assert_eq!(t.recv(c, &mut b, MSG_WAITALL), Ok(4));
                    assert_eq!(&b, b"ping");
                }
                p.fd = -1; // skip from now on
            }
        }
    }
    drop((h1.join().unwrap(), h2.join().unwrap()));

    // Closed and never-opened fds: POLLNVAL, reported without being asked.
    let mut bad = [PollFd::new(99, POLLIN), PollFd::new(-5, POLLIN)];
    assert_eq!(t.poll(&mut bad, 0), Ok(1));
    assert_eq!((bad[0].revents, bad[1].revents), (POLLNVAL, 0));
}

#[test]
fn nonblocking_connect_completes_as_pollout() {
    let env = setup();
    let mut t = table(&env);
    let fd = t.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).unwrap();
    let addr: SockAddr = echo_server().into();
    assert_eq!(t.connect(fd, &addr), Err(Errno::EINPROGRESS));
    let r = t.connect(fd, &addr);
    assert!(matches!(r, Err(Errno::EALREADY) | Ok(())), "{r:?}");
    if r.is_err() {
        let mut p = [PollFd::new(fd, POLLOUT)];
        assert_eq!(t.poll(&mut p, 10_000), Ok(1));
        assert_eq!(p[0].revents, POLLOUT);
        assert_eq!(t.take_error(fd), Ok(None));
        assert_eq!(t.connect(fd, &addr), Ok(()), "outcome reported once");
    }
    assert_eq!(t.connect(fd, &addr), Err(Errno::EISCONN));
    assert_eq!(t.getpeername(fd), Ok(addr));

    // A refused one: POLLOUT|POLLERR|POLLHUP, SO_ERROR, then free to retry.
    let fd2 = t.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).unwrap();
    assert_eq!(t.connect(fd2, &localhost(free_port()).into()), Err(Errno::EINPROGRESS));
    let mut p = [PollFd::new(fd2, POLLOUT)];
    assert_eq!(t.poll(&mut p, 10_000), Ok(1));
    assert_eq!(p[0].revents, POLLOUT | POLLERR | POLLHUP);
    assert_eq!(t.take_error(fd2), Ok(Some(Errno::ECONNREFUSED)));
    assert_eq!(t.take_error(fd2), Ok(None));
    assert_eq!(t.connect(fd2, &addr), Err(Errno::EINPROGRESS));
}

#[test]
fn peer_close_is_pollin_rdhup_then_eof() {
    let env = setup();
    let mut t = table(&env);
    let (fd, mut peer) = connected(&mut t);
    peer.write_all(b"bye").unwrap();
    drop(peer);
    let mut p = [PollFd::new(fd, POLLIN | POLLRDHUP)];
    let deadline = Instant::now() + Duration::from_secs(20);
    while p[0].revents & POLLRDHUP == 0 {
        assert!(Instant::now() < deadline);
        t.poll(&mut p, 100).unwrap();
    }
    assert_eq!(p[0].revents & (POLLIN | POLLERR | POLLHUP), POLLIN);
    let mut b = [0u8; 8];
    assert_eq!(t.recv(fd, &mut b, 0), Ok(3));
    assert_eq!(t.recv(fd, &mut b, 0), Ok(0));
}

#[test]
fn peer_reset_is_pollerr_pollhup_and_econnreset() {
    let env = setup();
    let mut t = table(&env);
    let (fd, peer) = connected(&mut t);
    assert_eq!(t.send(fd, b"unread data", 0), Ok(11));
    peer.peek(&mut [0u8; 1]).unwrap();
    drop(peer); // unread data: the host sends RST
    let mut p = [PollFd::new(fd, POLLIN | POLLRDHUP)];
    let deadline = Instant::now() + Duration::from_secs(20);
    while p[0].revents & POLLERR == 0 {
        assert!(Instant::now() < deadline, "no POLLERR after the reset");
        t.poll(&mut p, 100).unwrap();
    }
    // As Linux: the connection is over in both directions.
    assert_eq!(p[0].revents, POLLIN | POLLERR | POLLHUP | POLLRDHUP);
    assert_eq!(t.recv(fd, &mut [0u8; 8], 0), Err(Errno::ECONNRESET));
}

#[test]
fn dropping_the_table_closes_everything() {
    let env = setup();
    let base = env.stack.borrow().resources();
    {
        let mut t = table(&env);
        for _ in 0..10 {
            let fd = tcp(&mut t);
            t.connect(fd, &echo_server().into()).unwrap();
        }
        let _ = listener(&mut t);
    }
    settle(&env.stack);
    assert_eq!(env.stack.borrow().resources(), base);
}

#[test]
fn any_fd_number_that_is_not_open_is_ebadf() {
    let env = setup();
    let mut t = table(&env);
    let open = tcp(&mut t);
    let addr: SockAddr = localhost(free_port()).into();
    for fd in [i32::MIN, i32::MIN + 2, -1, 0, 2, open + 1, i32::MAX] {
        let mut buf = [0u8; 4];
        assert_eq!(t.bind(fd, &addr), Err(Errno::EBADF), "bind({fd})");
        assert_eq!(t.listen(fd, 1), Err(Errno::EBADF), "listen({fd})");
        assert_eq!(t.accept4(fd, 0).map(|_| ()), Err(Errno::EBADF), "accept4({fd})");
        assert_eq!(t.connect(fd, &addr), Err(Errno::EBADF), "connect({fd})");
        assert_eq!(t.send(fd, b"x", 0), Err(Errno::EBADF), "send({fd})");
        assert_eq!(t.recv(fd, &mut buf, 0), Err(Errno::EBADF), "recv({fd})");
        assert_eq!(t.fcntl(fd, F_GETFL, 0), Err(Errno::EBADF), "fcntl({fd})");
        assert_eq!(t.set_nonblocking(fd, true), Err(Errno::EBADF), "set_nonblocking({fd})");
        assert_eq!(t.is_nonblocking(fd), Err(Errno::EBADF), "is_nonblocking({fd})");
        assert_eq!(t.set_recv_timeout(fd, None), Err(Errno::EBADF), "set_recv_timeout({fd})");
        assert_eq!(t.recv_timeout(fd), Err(Errno::EBADF), "recv_timeout({fd})");
        assert_eq!(t.take_error(fd), Err(Errno::EBADF), "take_error({fd})");
        assert_eq!(t.getsockname(fd), Err(Errno::EBADF), "getsockname({fd})");
        assert_eq!(t.getpeername(fd), Err(Errno::EBADF), "getpeername({fd})");
        assert_eq!(t.socket_id(fd), Err(Errno::EBADF), "socket_id({fd})");
        assert_eq!(t.close(fd), Err(Errno::EBADF), "close({fd})");
        let mut fds = [PollFd::new(fd, POLLIN)];
        assert_eq!(t.poll(&mut fds, 0), Ok(usize::from(fd >= 0)), "poll({fd})");
        assert_eq!(fds[0].revents, if fd >= 0 { POLLNVAL } else { 0 }, "poll({fd}) revents");
    }
    assert_eq!(t.open_fds(), 1);
}

//! Socket calls through the dispatcher against the scriptable engine: refusals, connect in both modes, options, poll, blocking accept.

mod common;

use common::{H, err};
use skiff_linux::Errno;
use skiff_linux::abi::*;
use skiff_linux::dispatch::Action;
use skiff_linux::env::Notice;
use skiff_linux::mem::sockaddr_in;
use skiff_linux::sysno::nr;
use std::net::{Ipv4Addr, SocketAddrV4};

fn sa(h: &mut H, ip: [u8; 4], port: u16) -> u64 {
    h.put_val(&sockaddr_in(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
}

fn tcp(h: &mut H, flags: u32) -> u64 {
    h.sys(nr::socket, &[AF_INET as u64, u64::from(SOCK_STREAM | flags), 0]) as u64
}

#[test]
fn only_ipv4_tcp_exists() {
    let mut h = H::new();
    assert_eq!(
        h.sys(nr::socket, &[AF_INET6 as u64, SOCK_STREAM as u64, 0]),
        err(Errno::EAFNOSUPPORT)
    );
    assert_eq!(
        h.sys(nr::socket, &[AF_UNIX as u64, SOCK_STREAM as u64, 0]),
        err(Errno::EAFNOSUPPORT)
    );
    assert_eq!(
        h.sys(nr::socket, &[AF_INET as u64, (SOCK_DGRAM | SOCK_CLOEXEC) as u64, 0]),
        err(Errno::ESOCKTNOSUPPORT)
    );
    assert_eq!(
        h.sys(nr::socket, &[AF_INET as u64, SOCK_STREAM as u64, IPPROTO_UDP as u64]),
        err(Errno::EPROTONOSUPPORT)
    );
    assert_eq!(
        h.sys(nr::socket, &[AF_INET as u64, (SOCK_STREAM | 0x10_0000) as u64, 0]),
        err(Errno::EINVAL)
    );
    assert_eq!(h.env.notices, [Notice::NoIpv6, Notice::NoUdp], "once each, telling the user why");
    assert_eq!(tcp(&mut h, 0), 3);
    assert_eq!(h.sys(nr::socket, &[AF_INET as u64, SOCK_STREAM as u64, IPPROTO_TCP as u64]), 4);
    let v6 = h.put(&[
        10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    assert_eq!(h.sys(nr::connect, &[3, v6, 28]), err(Errno::EAFNOSUPPORT));
    let e = h.sys(nr::eventfd2, &[0, 0]);
    let a = sa(&mut h, [127, 0, 0, 1], 80);
    assert_eq!(h.sys(nr::connect, &[e as u64, a, 16]), err(Errno::ENOTSOCK));
    assert_eq!(h.sys(nr::listen, &[3, 10]), err(Errno::EINVAL), "no implicit bind");
}

#[test]
fn blocking_connect_waits_for_dom0() {
    let mut h = H::new();
    let tid = h.tid;
    let s = tcp(&mut h, 0);
    let a = sa(&mut h, [10, 1, 1, 1], 443);
    h.env.net.hold_commands = true;
    h.blocks(nr::connect, &[s, a, 16]);
    assert_eq!(h.p.poll(&mut h.env), 0, "still connecting");
    h.env.net.hold_commands = false;
    h.resume(tid);
    assert_eq!(h.sys(nr::connect, &[s, a, 16]), 0);
    assert_eq!(h.sys(nr::connect, &[s, a, 16]), err(Errno::EISCONN));
    let out = h.buf(16);
    let len = h.put_val(&16u32);
    assert_eq!(h.sys(nr::getpeername, &[s, out, len]), 0);
    assert_eq!(
        h.get::<SockaddrIn>(out),
        sockaddr_in(SocketAddrV4::new(Ipv4Addr::new(10, 1, 1, 1), 443))
    );
    // A refused connection: the error, then the socket may try again.
    let s2 = tcp(&mut h, 0);
    let closed = sa(&mut h, [10, 1, 1, 2], 1);
    h.env
        .net
        .connect_errors
        .push((SocketAddrV4::new(Ipv4Addr::new(10, 1, 1, 2), 1), Errno::ECONNREFUSED));
    assert_eq!(h.sys(nr::connect, &[s2, closed, 16]), err(Errno::ECONNREFUSED));
    assert_eq!(h.sys(nr::getpeername, &[s2, out, len]), err(Errno::ENOTCONN));
}

#[test]
fn nonblocking_connect_as_tokio_does_it() {
    let mut h = H::new();
    let s = tcp(&mut h, SOCK_NONBLOCK);
    let a = sa(&mut h, [10, 1, 1, 1], 80);
    h.env.net.hold_commands = true;
    assert_eq!(h.sys(nr::connect, &[s, a, 16]), err(Errno::EINPROGRESS));
    assert_eq!(h.sys(nr::connect, &[s, a, 16]), err(Errno::EALREADY));
    let pfd = h.put_val(&PollFd { fd: s as i32, events: (EPOLLOUT | EPOLLIN) as i16, revents: 0 });
    assert_eq!(h.sys(nr::poll, &[pfd, 1, 0]), 0);
    h.env.net.hold_commands = false;
    assert_eq!(h.sys(nr::poll, &[pfd, 1, 0]), 1);
    assert_eq!(h.get::<PollFd>(pfd).revents & EPOLLOUT as i16, EPOLLOUT as i16);
    let v = h.buf(4);
    let vlen = h.put_val(&4u32);
    assert_eq!(h.sys(nr::getsockopt, &[s, u64::from(SOL_SOCKET), u64::from(SO_ERROR), v, vlen]), 0);
    assert_eq!(h.get::<i32>(v), 0);
    assert_eq!(h.sys(nr::connect, &[s, a, 16]), 0, "the completion, reported once");
    assert_eq!(h.sys(nr::connect, &[s, a, 16]), err(Errno::EISCONN));
    // A failing one: POLLERR, SO_ERROR says why, once.
    let s2 = tcp(&mut h, SOCK_NONBLOCK);
    let b = sa(&mut h, [10, 9, 9, 9], 81);
    h.env
        .net
        .connect_errors
        .push((SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 9), 81), Errno::ETIMEDOUT));
    h.env.net.hold_commands = true;
    assert_eq!(h.sys(nr::connect, &[s2, b, 16]), err(Errno::EINPROGRESS));
    h.env.net.hold_commands = false;
    let pfd2 = h.put_val(&PollFd { fd: s2 as i32, events: EPOLLOUT as i16, revents: 0 });
    assert_eq!(h.sys(nr::poll, &[pfd2, 1, 0]), 1);
    assert_ne!(h.get::<PollFd>(pfd2).revents & EPOLLERR as i16, 0);
    assert_eq!(
        h.sys(nr::getsockopt, &[s2, u64::from(SOL_SOCKET), u64::from(SO_ERROR), v, vlen]),
        0
    );
    assert_eq!(h.get::<i32>(v), Errno::ETIMEDOUT.0);
    assert_eq!(
        h.sys(nr::getsockopt, &[s2, u64::from(SOL_SOCKET), u64::from(SO_ERROR), v, vlen]),
        0
    );
    assert_eq!(h.get::<i32>(v), 0, "read once");
}

#[test]
fn options_names_and_bind_errors() {
    let mut h = H::new();
    let s = tcp(&mut h, 0);
    let one = h.put_val(&1i32);
    for (level, name) in [
        (SOL_SOCKET, SO_KEEPALIVE),
        (IPPROTO_TCP, TCP_NODELAY),
        (SOL_SOCKET, SO_REUSEPORT),
        (SOL_SOCKET, SO_RCVBUF),
    ] {
        assert_eq!(h.sys(nr::setsockopt, &[s, u64::from(level), u64::from(name), one, 4]), 0);
    }
    assert_eq!(
        h.sys(nr::setsockopt, &[s, u64::from(IPPROTO_TCP), u64::from(TCP_NODELAY), one, 2]),
        err(Errno::EINVAL)
    );
    assert_eq!(
        h.sys(nr::setsockopt, &[s, u64::from(SOL_SOCKET), 77, one, 4]),
        err(Errno::ENOPROTOOPT)
    );
    assert_eq!(
        h.sys(nr::setsockopt, &[s, u64::from(IPPROTO_IPV6), u64::from(IPV6_V6ONLY), one, 4]),
        err(Errno::ENOPROTOOPT)
    );
    let v = h.buf(16);
    let vlen = h.put_val(&16u32);
    assert_eq!(
        h.sys(nr::getsockopt, &[s, u64::from(IPPROTO_TCP), u64::from(TCP_NODELAY), v, vlen]),
        0
    );
    assert_eq!((h.get::<i32>(v), h.get::<u32>(vlen)), (1, 4));
    assert_eq!(
        h.sys(nr::getsockopt, &[s, u64::from(SOL_SOCKET), u64::from(SO_RCVBUF), v, vlen]),
        0
    );
    assert_eq!(h.get::<i32>(v), 2, "doubled, as Linux reports it");
    assert_eq!(h.sys(nr::getsockopt, &[s, u64::from(SOL_SOCKET), u64::from(SO_TYPE), v, vlen]), 0);
    assert_eq!(h.get::<i32>(v), SOCK_STREAM as i32);
    let tv = h.put_val(&Timeval { tv_sec: 1, tv_usec: 500_000 });
    assert_eq!(
        h.sys(nr::setsockopt, &[s, u64::from(SOL_SOCKET), u64::from(SO_SNDTIMEO), tv, 16]),
        0
    );
    let len16 = h.put_val(&16u32);
    assert_eq!(
        h.sys(nr::getsockopt, &[s, u64::from(SOL_SOCKET), u64::from(SO_SNDTIMEO), v, len16]),
        0
    );
    assert_eq!(h.get::<Timeval>(v), Timeval { tv_sec: 1, tv_usec: 500_000 });
    // bind: port 0 reports 0 (dom0's choice is not known); a port in use is EADDRINUSE.
    let any0 = sa(&mut h, [0, 0, 0, 0], 0);
    assert_eq!(h.sys(nr::bind, &[s, any0, 16]), 0);
    assert_eq!(h.sys(nr::bind, &[s, any0, 16]), err(Errno::EINVAL), "bound already");
    let name = h.buf(16);
    let nlen = h.put_val(&16u32);
    assert_eq!(h.sys(nr::getsockname, &[s, name, nlen]), 0);
    assert_eq!(h.get::<SockaddrIn>(name), sockaddr_in(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
    let p80 = sa(&mut h, [0, 0, 0, 0], 80);
    let s2 = tcp(&mut h, 0);
    let s3 = tcp(&mut h, 0);
    assert_eq!(h.sys(nr::bind, &[s2, p80, 16]), 0);
    assert_eq!(h.sys(nr::bind, &[s3, p80, 16]), err(Errno::EADDRINUSE));
    assert_eq!(h.sys(nr::bind, &[s3, p80, 8]), err(Errno::EINVAL), "short address");
    assert_eq!(h.sys(nr::shutdown, &[s2, u64::from(SHUT_RDWR)]), err(Errno::ENOTCONN));
    assert_eq!(h.sys(nr::shutdown, &[s2, 7]), err(Errno::EINVAL));
}

#[test]
fn blocking_accept_recv_and_send() {
    let mut h = H::new();
    let tid = h.tid;
    let l = tcp(&mut h, 0);
    let a = sa(&mut h, [0, 0, 0, 0], 7);
    assert_eq!(h.sys(nr::bind, &[l, a, 16]), 0);
    assert_eq!(h.sys(nr::listen, &[l, 128]), 0);
    assert_eq!(h.sys(nr::listen, &[l, 128]), 0, "listening again is fine");
    h.blocks(nr::accept, &[l, 0, 0]);
    let handle = h.env.net.listener_on(7).unwrap();
    let conn = h.env.net.incoming(handle);
    h.resume(tid);
    let c = h.sys(nr::accept, &[l, 0, 0]) as u64;
    // getsockname of an accepted connection: the listener's address.
    let name = h.buf(16);
    let nlen = h.put_val(&16u32);
    assert_eq!(h.sys(nr::getsockname, &[c, name, nlen]), 0);
    assert_eq!(h.get::<SockaddrIn>(name), sockaddr_in(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7)));
    h.env.net.push_rx(conn, b"12345");
    let n = h.buf(4);
    assert_eq!(h.sys(nr::ioctl, &[c, u64::from(FIONREAD), n]), 0);
    assert_eq!(h.get::<i32>(n), 5);
    let buf = h.buf(16);
    let iov = h.put_val(&[IoVec { base: buf, len: 2 }, IoVec { base: buf + 8, len: 8 }]);
    let msg = h.put_val(&MsgHdr { iov, iovlen: 2, controllen: 99, ..MsgHdr::default() });
    assert_eq!(h.sys(nr::recvmsg, &[c, msg, 0]), 5);
    assert_eq!(h.bytes(buf, 2), b"12");
    assert_eq!(h.bytes(buf + 8, 3), b"345");
    assert_eq!(h.get::<MsgHdr>(msg).controllen, 0);
    assert_eq!(
        h.sys(nr::recvfrom, &[c, buf, 16, u64::from(MSG_PEEK), 0, 0]),
        err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        h.sys(nr::recvfrom, &[c, buf, 16, u64::from(MSG_DONTWAIT), 0, 0]),
        err(Errno::EAGAIN)
    );
    // The peer resets: the reader sees the error after the data.
    h.env.net.push_rx(conn, b"z");
    h.env.net.reset(conn);
    assert_eq!(h.sys(nr::read, &[c, buf, 16]), 1);
    assert_eq!(h.sys(nr::read, &[c, buf, 16]), err(Errno::ECONNRESET));
    // Sending to a full connection blocks until there is room.
    // SOCK_NONBLOCK is for the new socket; the listener's own flag decides waiting.
    assert_eq!(h.sys(nr::fcntl, &[l, u64::from(F_SETFL), u64::from(O_NONBLOCK)]), 0);
    assert_eq!(h.sys(nr::accept4, &[l, 0, 0, u64::from(SOCK_NONBLOCK)]), err(Errno::EAGAIN));
    assert_eq!(h.sys(nr::fcntl, &[l, u64::from(F_SETFL), 0]), 0);
    let conn2 = h.env.net.incoming(handle);
    let c2 = h.sys(nr::accept4, &[l, 0, 0, 0]) as u64;
    h.env.net.sock(conn2).tx_room = 3;
    let data = h.put(b"abcdef");
    assert_eq!(h.sys(nr::write, &[c2, data, 6]), 3, "a short count, not a wait");
    h.blocks(nr::write, &[c2, data + 3, 3]);
    h.env.net.add_tx_room(conn2, 10);
    h.resume(tid);
    assert_eq!(h.sys(nr::write, &[c2, data + 3, 3]), 3);
    assert_eq!(h.env.net.take_tx(conn2), b"abcdef");
}

#[test]
fn closing_a_socket_wakes_its_waiter() {
    let mut h = H::new();
    let s = tcp(&mut h, 0);
    let a = sa(&mut h, [10, 0, 0, 1], 80);
    assert_eq!(h.sys(nr::connect, &[s, a, 16]), 0);
    let stack = h.buf(64) + 64;
    let flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
    let skiff_linux::dispatch::Action::Spawn(t) = h.call(nr::clone, &[flags, stack, 0, 0, 0]).0
    else {
        panic!()
    };
    let buf = h.buf(16);
    h.blocks(nr::read, &[s, buf, 16]);
    assert_eq!(h.p.pick(), Some(t.tid));
    assert_eq!(h.call_on(t.tid, nr::close, &[s]).1, 0);
    let main = h.tid;
    assert_eq!(h.p.sched.ready().collect::<Vec<_>>(), [main], "the reader was woken by the close");
    assert_eq!(h.call_on(t.tid, nr::sched_yield, &[]).1, 0);
    assert_eq!(h.p.pick(), Some(main));
    assert_eq!(h.sys(nr::read, &[s, buf, 16]), err(Errno::EBADF));
    assert!(h.env.net.all().any(|(_, so)| so.closed));
}

/// A non-blocking listener on port 7: its fd and the fake engine's handle.
fn listener_7(h: &mut H) -> (u64, skiff_linux::env::SocketHandle) {
    let l = tcp(h, SOCK_NONBLOCK);
    let a = sa(h, [0, 0, 0, 0], 7);
    assert_eq!(h.sys(nr::bind, &[l, a, 16]), 0);
    assert_eq!(h.sys(nr::listen, &[l, 128]), 0);
    (l, h.env.net.listener_on(7).unwrap())
}

/// An epoll instance with `fd` registered edge-triggered for reading.
fn epoll_et_on(h: &mut H, fd: u64) -> u64 {
    let ep = h.sys(nr::epoll_create1, &[0]) as u64;
    let ev = h.put_val(&EpollEvent { events: EPOLLIN | EPOLLET, data: 5 });
    assert_eq!(h.sys(nr::epoll_ctl, &[ep, EPOLL_CTL_ADD as u64, fd, ev]), 0);
    ep
}

/// tokio's shape: one thread waits in `epoll_wait` while another accepts.
/// The waiter blocked while the listener was readable (its edge already
/// reported); the acceptor drains the queue to `EAGAIN`, which re-arms the
/// edge, and a new connection makes the listener readable again before the
/// kernel looks. The waiter must wake and be told, although the listener
/// looks as readable as when it went to sleep.
#[test]
fn an_edge_rearmed_while_a_waiter_sleeps_wakes_it() {
    let mut h = H::new();
    let (l, handle) = listener_7(&mut h);
    let ep = epoll_et_on(&mut h, l);
    let evs = h.buf(12 * 4);
    h.env.net.incoming(handle);
    assert_eq!(h.sys(nr::epoll_wait, &[ep, evs, 4, 0]), 1, "the first connection's edge");

    // A second thread waits for more while the connection is still queued.
    let stack = h.buf(64) + 64;
    let flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
    let Action::Spawn(t) = h.call(nr::clone, &[flags, stack, 0, 0, 0]).0 else {
        panic!("clone did not spawn")
    };
    let (act, _) = h.call_on(t.tid, nr::epoll_wait, &[ep, evs, 4, u64::MAX]);
    assert_eq!(act, Action::Block, "reported once, not again");

    // The acceptor takes it and drains the queue; then another client comes.
    assert!(h.sys(nr::accept4, &[l, 0, 0, 0]) > 0);
    assert_eq!(h.sys(nr::accept4, &[l, 0, 0, 0]), err(Errno::EAGAIN));
    h.env.net.incoming(handle);
    h.p.poll(&mut h.env);
    assert!(h.p.sched.ready().any(|r| r == t.tid), "the waiter wakes for the re-armed edge");
    let (act, n) = h.call_on(t.tid, nr::epoll_wait, &[ep, evs, 4, u64::MAX]);
    assert_eq!((act, n), (Action::Return, 1), "the new edge is reported");
}

/// A connection that arrives between the looks of one wait (the engine
/// takes in dom0's answers whenever it is asked about a socket), at the
/// `n`-th look for `n` in 1..=4, is either reported by the call `wait`
/// makes or wakes it: never slept through.
fn arrival_is_not_slept_through(wait: impl Fn(&mut H, u64) -> (u64, Vec<u64>)) {
    for n in 1..=4 {
        let mut h = H::new();
        let tid = h.tid;
        let (l, handle) = listener_7(&mut h);
        let (call, args) = wait(&mut h, l);
        h.env.net.arrive_during_readiness = Some((n, handle));
        let (act, r) = h.call(call, &args);
        if act == Action::Block {
            // The kernel looks again at every event; the arrival brings one.
            for _ in 0..4 {
                h.p.poll(&mut h.env);
                if h.env.net.arrive_during_readiness.is_none() {
                    break;
                }
            }
            assert!(h.p.sched.ready().any(|t| t == tid), "arrival at look {n} slept through");
            assert_eq!(h.sys(call, &args), 1);
        } else {
            assert_eq!(r, 1, "arrival at look {n}");
        }
        assert!(h.env.net.arrive_during_readiness.is_none(), "look {n} happened");
    }
}

#[test]
fn an_arrival_during_epoll_wait_is_not_slept_through() {
    arrival_is_not_slept_through(|h, l| {
        let ep = epoll_et_on(h, l);
        let evs = h.buf(12 * 4);
        (nr::epoll_wait, vec![ep, evs, 4, u64::MAX])
    });
}

#[test]
fn an_arrival_during_poll_is_not_slept_through() {
    arrival_is_not_slept_through(|h, l| {
        let pfd = h.put_val(&PollFd { fd: l as i32, events: EPOLLIN as i16, revents: 0 });
        (nr::poll, vec![pfd, 1, u64::MAX])
    });
}

/// An accepted, non-blocking connection and an epoll instance watching it edge-triggered for
/// `events`; the first report (the connection is ready) is taken. Returns the fd, its engine
/// handle, the epoll fd and an event buffer.
fn watched_connection(h: &mut H, events: u32) -> (u64, skiff_linux::env::SocketHandle, u64, u64) {
    let (l, handle) = listener_7(h);
    let conn = h.env.net.incoming(handle);
    let c = h.sys(nr::accept4, &[l, 0, 0, u64::from(SOCK_NONBLOCK)]) as u64;
    let ep = h.sys(nr::epoll_create1, &[0]) as u64;
    let ev = h.put_val(&EpollEvent { events: events | EPOLLET, data: 5 });
    assert_eq!(h.sys(nr::epoll_ctl, &[ep, EPOLL_CTL_ADD as u64, c, ev]), 0);
    (c, conn, ep, h.buf(12 * 4))
}

/// Bytes the reads and writes below ask for: more than one call moves.
const BIG: usize = 256 * 1024;

/// tokio takes a read that returns less than its buffer for "drained" and waits for the next
/// edge. One call moves at most 64 KiB, so a read of a larger buffer can come back short while
/// more is queued: the edge must be re-armed then too, or the rest is never reported (an axum
/// upload of 200 kB over a data ring of order 5 stalled so).
#[test]
fn a_read_cut_short_by_the_per_call_limit_rearms_the_edge() {
    let mut h = H::new();
    let (c, conn, ep, evs) = watched_connection(&mut h, EPOLLIN);
    h.env.net.push_rx(conn, &vec![7u8; BIG]);
    assert_eq!(h.sys(nr::epoll_wait, &[ep, evs, 4, 0]), 1, "readable");
    let buf = h.buf(BIG);
    let n = h.sys(nr::read, &[c, buf, BIG as u64]);
    assert!(n > 0 && (n as usize) < BIG, "a short read: {n}");
    assert_eq!(h.sys(nr::epoll_wait, &[ep, evs, 4, 0]), 1, "reported again after the short read");
    let mut total = n as usize;
    loop {
        match h.sys(nr::read, &[c, buf, BIG as u64]) {
            n if n > 0 => total += n as usize,
            n => {
                assert_eq!(n, err(Errno::EAGAIN));
                break;
            }
        }
    }
    assert_eq!(total, BIG, "everything queued is read");
}

/// Likewise for writes: tokio takes a short write for "full" and waits for the next writable edge.
#[test]
fn a_write_cut_short_by_the_per_call_limit_rearms_the_edge() {
    let mut h = H::new();
    let (c, conn, ep, evs) = watched_connection(&mut h, EPOLLOUT);
    h.env.net.sock(conn).tx_room = 4 * BIG;
    assert_eq!(h.sys(nr::epoll_wait, &[ep, evs, 4, 0]), 1, "writable");
    let data = h.put(&vec![9u8; BIG]);
    let n = h.sys(nr::write, &[c, data, BIG as u64]);
    assert!(n > 0 && (n as usize) < BIG, "a short write: {n}");
    assert_eq!(h.sys(nr::epoll_wait, &[ep, evs, 4, 0]), 1, "reported again after the short write");
}

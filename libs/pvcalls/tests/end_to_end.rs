//! End to end over the simulated backend with real host TCP: echo, accept, EOF, reset, errors, leaks.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::task::Poll;
use std::task::Poll::{Pending, Ready};
use std::thread;

use common::*;
use skiff_pvcalls::sim::{BackendConfig, SimConfig};
use skiff_pvcalls::wire::{AF_INET, AF_INET6, AF_UNIX, SOCK_DGRAM, SOCK_STREAM};
use skiff_pvcalls::{
    Errno, FIRST_GRANT_SHARE, FIRST_RING_SHARE, FIRST_RINGS, GRANT_SHARE, GoneReason, Options,
    RING_SHARE, SocketId, handshake,
};
use skiff_xen::pvcalls::{PVCALLS_ACCEPT, PVCALLS_RELEASE, PVCALLS_SOCKET};

/// Sends `data` and reads the echo back, interleaving both directions.
fn echo_through(fe: &mut Fe, s: skiff_pvcalls::SocketId, data: &[u8]) -> Vec<u8> {
    let mut sent = 0;
    let mut back = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; 50_000];
    let deadline = fe.now_ns() + 60_000_000_000;
    while back.len() < data.len() {
        let mut moved = false;
        if sent < data.len() {
            let end = (sent + 40_000).min(data.len());
            match fe.send(s, &data[sent..end]) {
                Ready(Ok(n)) => {
                    sent += n;
                    moved = true;
                }
                Pending => {}
                Ready(Err(e)) => panic!("send: {e:?}"),
            }
        }
        match fe.recv(s, &mut buf) {
            Ready(Ok(0)) => panic!("EOF after {} bytes", back.len()),
            Ready(Ok(n)) => {
                back.extend_from_slice(&buf[..n]);
                moved = true;
            }
            Pending => {}
            Ready(Err(e)) => panic!("recv: {e:?}"),
        }
        if !moved {
            let now = fe.now_ns();
            assert!(now < deadline, "echo stalled at {} of {}", back.len(), data.len());
            fe.wait(Some(now + 50_000_000));
        }
    }
    back
}

#[test]
fn echo_multi_megabyte_with_checksum() {
    let mut s = setup();
    let addr = echo_server();
    let c = connect(&mut s.fe, addr).unwrap();
    let data = pattern(8 << 20, 42);
    let back = echo_through(&mut s.fe, c, &data);
    assert_eq!(checksum(&back), checksum(&data));
    assert!(back == data);
    s.fe.close(c).unwrap();
    settle(&mut s.fe);
    let st = s.world.backend_stats();
    assert_eq!(st.bytes_out, 8 << 20);
    assert_eq!(st.bytes_in, 8 << 20);
    assert_eq!(st.active, 0);
}

#[test]
fn smallest_ring_order_wraps_correctly() {
    let hs = handshake::Config {
        options: Options { ring_order: Some(1), ..Options::default() },
        ..Default::default()
    };
    let mut s = setup_with(SimConfig::default(), hs);
    let c = connect(&mut s.fe, echo_server()).unwrap();
    let data = pattern(1 << 20, 7);
    assert!(echo_through(&mut s.fe, c, &data) == data);
}

#[test]
fn short_of_pages_new_connections_get_smaller_rings() {
    // An explicit order: only a failed allocation makes a ring smaller.
    let hs = handshake::Config {
        options: Options { ring_order: Some(4), ..Options::default() },
        ..Default::default()
    };
    let mut s = setup_with(SimConfig::default(), hs);
    assert_eq!(s.fe.ring_order(), 4);
    let addr = echo_server();
    let live = s.world.host().stats().frames;
    // Room for one ring of order 4 (indexes page + 16) and one of order 3.
    s.fe.platform_mut().page_limit = Some(live + 17 + 9);
    let pages = |fe: &Fe| fe.resources().pages;
    let before = pages(&s.fe);
    let a = connect(&mut s.fe, addr).unwrap();
    assert_eq!(pages(&s.fe) - before, 17);
    let b = connect(&mut s.fe, addr).unwrap();
    assert_eq!(pages(&s.fe) - before, 17 + 9, "the second ring is of order 3");
    let c = tcp_socket(&mut s.fe);
    assert_eq!(block(&mut s.fe, |fe| fe.connect(c, addr)), Err(Errno::ENOMEM));
    for (i, sock) in [a, b].into_iter().enumerate() {
        let data = pattern(300_000, i as u64);
        assert!(echo_through(&mut s.fe, sock, &data) == data, "connection {i} echoes");
    }
    s.fe.close(a).unwrap();
    settle(&mut s.fe);
    assert_eq!(block(&mut s.fe, |fe| fe.connect(c, addr)), Ok(()), "connects once pages are back");
    assert_eq!(pages(&s.fe) - before, 9 + 17);
}

/// Opens `n` connections to `addr` one after the other; returns them and
/// how much of `count` (pages, grants) each one took.
fn connect_counting(
    s: &mut Setup,
    addr: std::net::SocketAddrV4,
    n: usize,
    count: impl Fn(&Fe) -> usize,
) -> (Vec<SocketId>, Vec<usize>) {
    let mut socks = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..n {
        let before = count(&s.fe);
        socks.push(connect(&mut s.fe, addr).unwrap());
        sizes.push(count(&s.fe) - before);
    }
    (socks, sizes)
}

#[test]
fn rings_shrink_as_free_pages_do() {
    let mut s = setup();
    let addr = echo_server();
    let live = s.world.host().stats().frames;
    // 16 * RING_SHARE pages free: room for the backend's largest ring.
    s.fe.platform_mut().page_limit = Some(live + 16 * RING_SHARE);
    let pages = |fe: &Fe| fe.resources().pages;
    let (mut socks, sizes) = connect_counting(&mut s, addr, FIRST_RINGS + 2, pages);
    // The first rings take the larger share: order 4 (indexes page + 16), the backend's largest;
    // then fewer than 16 * RING_SHARE pages are free: order 3.
    let mut want = vec![17; FIRST_RINGS];
    want.extend([9, 9]);
    assert_eq!(sizes, want);
    for (i, &sock) in socks.iter().enumerate().skip(FIRST_RINGS - 1) {
        let data = pattern(200_000, i as u64);
        assert!(echo_through(&mut s.fe, sock, &data) == data, "connection {i} echoes");
    }
    // Nearly nothing free: order 1, the smallest, while pages last.
    let live = s.world.host().stats().frames;
    s.fe.platform_mut().page_limit = Some(live + 3);
    assert_eq!(s.fe.next_ring_order(), 1);
    let before = pages(&s.fe);
    socks.push(connect(&mut s.fe, addr).unwrap());
    assert_eq!(pages(&s.fe) - before, 3);
    let data = pattern(100_000, 9);
    assert!(echo_through(&mut s.fe, *socks.last().unwrap(), &data) == data, "order 1 echoes");
    // An unknown amount of free memory: the backend's maximum.
    s.fe.platform_mut().page_limit = None;
    assert_eq!(s.fe.next_ring_order(), 4);
}

/// A backend that maps rings up to `max_order`, as Skiff's patched one does (up to 9).
fn big_ring_backend(max_order: u32) -> SimConfig {
    SimConfig {
        backend: BackendConfig { max_ring_order: max_order, ..Default::default() },
        agent: skiff_pvcalls::sim::AgentConfig {
            max_page_order: Some(max_order.to_string()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn rings_shrink_as_free_grants_do() {
    let mut s = setup_with(big_ring_backend(5), Default::default());
    let addr = echo_server();
    let live = s.world.host().stats().grants;
    // 32 * GRANT_SHARE grants free: room for one ring of order 5 at the common share.
    s.fe.platform_mut().grant_limit = Some(live + 32 * GRANT_SHARE);
    let (socks, sizes) =
        connect_counting(&mut s, addr, FIRST_RINGS + 1, |fe| fe.resources().grants);
    // The first rings: order 5 (indexes page + 32); then fewer than 32 * GRANT_SHARE are free:
    // order 4.
    let mut want = vec![33; FIRST_RINGS];
    want.push(17);
    assert_eq!(sizes, want);
    for (i, &sock) in socks.iter().enumerate().skip(FIRST_RINGS - 1) {
        let data = pattern(300_000, i as u64);
        assert!(echo_through(&mut s.fe, sock, &data) == data, "connection {i} echoes");
    }
    // No limit known: the backend's maximum.
    s.fe.platform_mut().grant_limit = None;
    assert_eq!(s.fe.next_ring_order(), 5);
}

#[test]
fn the_first_rings_take_a_larger_share() {
    let mut s = setup_with(big_ring_backend(9), Default::default());
    let addr = echo_server();
    let (frames, grants) = (s.world.host().stats().frames, s.world.host().stats().grants);
    // Free: room for eight rings of order 7 at the first rings' share, and after them for order 4
    // at the common one; grants enough for order 9 at either share.
    s.fe.platform_mut().page_limit = Some(frames + 192 * FIRST_RING_SHARE);
    s.fe.platform_mut().grant_limit = Some(grants + 512 * RING_SHARE.max(GRANT_SHARE));
    assert_eq!(s.fe.next_ring_order(), 7);
    let pages = |fe: &Fe| fe.resources().pages;
    let (socks, sizes) = connect_counting(&mut s, addr, FIRST_RINGS + 1, pages);
    let mut want = vec![129; FIRST_RINGS];
    want.push(17);
    assert_eq!(sizes, want, "order 7 for the first rings, then order 4");
    // A large ring carries a stream (its halves wrap more than once).
    let data = pattern(1 << 20, 5);
    assert!(echo_through(&mut s.fe, socks[0], &data) == data, "the order-7 ring echoes");
    // Fewer than FIRST_RINGS rings live again: the next new one takes the larger share again.
    assert_eq!(s.fe.next_ring_order(), 4);
    s.fe.close(socks[1]).unwrap();
    settle(&mut s.fe);
    assert_eq!(s.fe.next_ring_order(), 4, "{} rings live", FIRST_RINGS);
    s.fe.close(socks[FIRST_RINGS]).unwrap();
    settle(&mut s.fe);
    assert_eq!(s.fe.next_ring_order(), 7);
    // Without a page limit, grants decide: 1 / FIRST_GRANT_SHARE of them for the first rings.
    s.fe.platform_mut().page_limit = None;
    let left = s.fe.resources().grants;
    s.fe.platform_mut().grant_limit = Some(s.world.host().stats().grants + 128 * FIRST_GRANT_SHARE);
    assert_eq!(s.fe.next_ring_order(), 7, "with {left} grants held");
}

#[test]
fn listen_and_accept_from_a_host_client() {
    let mut s = setup();
    let port = free_port();
    let l = tcp_socket(&mut s.fe);
    block(&mut s.fe, |fe| fe.bind(l, localhost(port))).unwrap();
    block(&mut s.fe, |fe| fe.listen(l, 16)).unwrap();
    assert_eq!(s.fe.local_addr(l), Some(localhost(port)));
    assert!(!s.fe.poll(l).unwrap().readable);

    let client = thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"hello guest").unwrap();
        let mut reply = [0u8; 10];
        c.read_exact(&mut reply).unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        (reply, rest)
    });
    // Readable via the pending ACCEPT's response.
    block(&mut s.fe, |fe| if fe.poll(l)?.readable { Ready(Ok(())) } else { Pending }).unwrap();
    let rings = |fe: &Fe| fe.resources().rings;
    assert_eq!(rings(&s.fe), 1, "the ring the ACCEPT carries");
    let a = block(&mut s.fe, |fe| fe.accept(l)).unwrap();
    assert_eq!(rings(&s.fe), 1, "now the accepted connection's");
    assert_eq!(recv_exact(&mut s.fe, a, 11), b"hello guest");
    send_all(&mut s.fe, a, b"hello host");
    s.fe.close(a).unwrap();
    settle(&mut s.fe);
    assert_eq!(rings(&s.fe), 0, "the closed connection's ring is released");
    let (reply, rest) = client.join().unwrap();
    assert_eq!(&reply, b"hello host");
    assert!(rest.is_empty());
    s.fe.close(l).unwrap();
    settle(&mut s.fe);
    let st = s.world.backend_stats();
    assert_eq!((st.active, st.passive), (0, 0));
}

/// Connects to a host peer that reads everything until EOF; returns the
/// socket and the reader, which yields what it read.
fn connect_to_reader(s: &mut Setup) -> (skiff_pvcalls::SocketId, thread::JoinHandle<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let reader = thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        got
    });
    (connect(&mut s.fe, localhost(port)).unwrap(), reader)
}

#[test]
fn close_right_after_writing_delivers_everything() {
    let mut s = setup();
    let (c, reader) = connect_to_reader(&mut s);
    let head = pattern(1 << 20, 5);
    send_all(&mut s.fe, c, &head);
    block(&mut s.fe, |fe| if fe.poll(c)?.writable { Ready(Ok(())) } else { Pending }).unwrap();
    // Pause the backend so that the tail is still in `out` at close.
    let paused = s.world.backend();
    let tail = pattern(20_000, 6);
    let Ready(Ok(n)) = s.fe.send(c, &tail) else { panic!("the ring takes the tail") };
    s.fe.close(c).unwrap();
    assert!(s.fe.is_draining(), "the unsent tail must hold RELEASE back");
    drop(paused);
    settle(&mut s.fe);
    assert!(!s.fe.is_draining());
    let got = reader.join().unwrap();
    assert_eq!(got.len(), head.len() + n);
    assert!(got[..head.len()] == head[..] && got[head.len()..] == tail[..n]);
    assert_eq!(s.world.backend_stats().active, 0);
}

/// Linger time of the two tests below.
const LINGER_NS: u64 = 100_000_000;

/// Closes a connection with bytes still in `out` while the backend is
/// paused (it will never say that `out` drained), calls `drain(fe, before,
/// after)` (the close was made between those two times) to wait out the
/// linger, then checks that RELEASE ended the socket and discarded what was
/// not sent.
fn close_unsent_while_paused(drain: impl FnOnce(&mut Fe, u64, u64)) {
    let hs = handshake::Config {
        options: Options { linger_ns: LINGER_NS, ..Options::default() },
        ..Default::default()
    };
    let mut s = setup_with(SimConfig::default(), hs);
    let (c, reader) = connect_to_reader(&mut s);
    let paused = s.world.backend();
    let Ready(Ok(n)) = s.fe.send(c, &pattern(20_000, 8)) else { panic!("room in the ring") };
    assert!(n > 0);
    let before = s.fe.now_ns();
    s.fe.close(c).unwrap();
    let after = s.fe.now_ns();
    drain(&mut s.fe, before, after);
    drop(paused);
    settle(&mut s.fe);
    assert_eq!(s.world.backend_stats().active, 0);
    assert!(reader.join().unwrap().is_empty(), "RELEASE discards what was not sent");
}

#[test]
fn close_gives_up_draining_after_the_linger_time() {
    close_unsent_while_paused(|fe, closed_at, _| {
        while fe.is_draining() {
            let now = fe.now_ns();
            assert!(now < closed_at + 10_000_000_000, "still draining after 10 s");
            fe.wait(Some(now + 10_000_000));
        }
        assert!(fe.now_ns() >= closed_at + LINGER_NS, "gave up before the linger time");
    });
}

/// The engine's timer covers a lingering close: a caller that waits with
/// no deadline of its own (an application blocked on nothing else) still
/// releases the connection when the linger time runs out.
#[test]
fn a_lingering_close_sets_the_engines_timer() {
    close_unsent_while_paused(|fe, before, after| {
        assert!(fe.is_draining());
        let timer = fe.next_timer_ns().expect("a timer for the linger time");
        assert!(
            (before + LINGER_NS..=after + LINGER_NS).contains(&timer),
            "timer at {timer}, closed between {before} and {after}"
        );
        while fe.is_draining() {
            assert!(fe.now_ns() < before + 10_000_000_000, "still draining after 10 s");
            fe.wait(None);
        }
        assert!(fe.now_ns() >= before + LINGER_NS, "released before the linger time");
    });
}

#[test]
fn many_concurrent_connections() {
    let mut s = setup();
    let addr = echo_server();
    let n = 64;
    let conns: Vec<_> = (0..n).map(|_| connect(&mut s.fe, addr).unwrap()).collect();
    let datas: Vec<Vec<u8>> = (0..n).map(|i| pattern(20_000 + i * 1000, i as u64)).collect();
    let mut sent = vec![0usize; n];
    let mut got: Vec<Vec<u8>> = vec![Vec::new(); n];
    let mut buf = vec![0u8; 65536];
    let deadline = s.fe.now_ns() + 60_000_000_000;
    while got.iter().zip(&datas).any(|(g, d)| g.len() < d.len()) {
        let mut moved = false;
        for i in 0..n {
            if sent[i] < datas[i].len()
                && let Ready(Ok(k)) = s.fe.send(conns[i], &datas[i][sent[i]..])
            {
                sent[i] += k;
                moved = true;
            }
            match s.fe.recv(conns[i], &mut buf) {
                Ready(Ok(k)) if k > 0 => {
                    got[i].extend_from_slice(&buf[..k]);
                    moved = true;
                }
                Ready(Ok(_)) => panic!("early EOF on {i}"),
                Pending => {}
                Ready(Err(e)) => panic!("{i}: {e:?}"),
            }
        }
        if !moved {
            let now = s.fe.now_ns();
            assert!(now < deadline, "stalled");
            s.fe.wait(Some(now + 20_000_000));
        }
    }
    for i in 0..n {
        assert!(got[i] == datas[i], "connection {i} corrupted");
    }
    let r = s.fe.resources();
    assert_eq!(r.ports, 1 + n);
    assert_eq!(r.grants, 1 + n * 17, "order 4: indexes page + 16 data pages each");
    for c in conns {
        s.fe.close(c).unwrap();
    }
    settle(&mut s.fe);
    assert_eq!(s.fe.resources().grants, 1);
}

#[test]
fn peer_half_close_gives_eof_after_draining_and_writes_still_work() {
    let mut s = setup();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let payload = pattern(300_000, 9);
    let expect = payload.clone();
    let (finished, sent_all) = std::sync::mpsc::channel();
    let server = thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.write_all(&payload).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        finished.send(()).unwrap();
        let mut ack = [0u8; 3];
        c.read_exact(&mut ack).unwrap();
        ack
    });
    let c = connect(&mut s.fe, localhost(port)).unwrap();
    // The whole payload and the FIN are on their way before reading starts.
    sent_all.recv().unwrap();
    let got = recv_to_end(&mut s.fe, c).expect("orderly EOF");
    assert!(got == expect, "got {} bytes", got.len());
    assert_eq!(s.fe.recv(c, &mut [0; 4]), Ready(Ok(0)), "EOF is sticky");
    let r = s.fe.poll(c).unwrap();
    assert!(r.rdhup && !r.hup, "the peer finished sending; the connection is still up");
    send_all(&mut s.fe, c, b"ack");
    assert_eq!(&server.join().unwrap(), b"ack");
}

#[test]
fn peer_reset_is_reported() {
    let mut s = setup();
    let (port, server) = resetting_server();
    let c = connect(&mut s.fe, localhost(port)).unwrap();
    send_all(&mut s.fe, c, b"unread data");
    server.join().unwrap();
    let e = recv_to_end(&mut s.fe, c).unwrap_err().1;
    assert_eq!(e, Errno::ECONNRESET);
    let p = s.fe.poll(c).unwrap();
    assert_eq!(p.error, Some(Errno::ECONNRESET));
    assert!(p.readable);
}

#[test]
fn connect_refused_and_retry() {
    let mut s = setup();
    let base = s.fe.resources();
    let port = free_port();
    let c = tcp_socket(&mut s.fe);
    assert_eq!(s.fe.connect(c, localhost(port)), Pending);
    assert_eq!(block(&mut s.fe, |fe| fe.connect(c, localhost(port))), Err(Errno::ECONNREFUSED));
    assert_eq!(s.fe.resources().grants, base.grants, "failed ring freed at once");
    // The same socket may try again.
    let addr = echo_server();
    block(&mut s.fe, |fe| fe.connect(c, addr)).unwrap();
    assert_eq!(s.fe.connect(c, addr), Ready(Err(Errno::EISCONN)));
    send_all(&mut s.fe, c, b"again");
    assert_eq!(recv_exact(&mut s.fe, c, 5), b"again");
    s.fe.close(c).unwrap();
    settle(&mut s.fe);
    assert_eq!(s.fe.resources(), base);
}

#[test]
fn address_in_use() {
    let mut s = setup();
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let b = tcp_socket(&mut s.fe);
    assert_eq!(block(&mut s.fe, |fe| fe.bind(b, localhost(port))), Err(Errno::EADDRINUSE));
    assert_eq!(s.fe.listen(b, 1), Ready(Err(Errno::EINVAL)), "not bound");
    s.fe.close(b).unwrap();
    assert_eq!(s.world.backend_stats().passive, 0);
}

#[test]
fn unsupported_families_and_types_are_refused_locally() {
    let mut s = setup();
    assert_eq!(s.fe.socket(AF_INET6, SOCK_STREAM, 0), Err(Errno::EAFNOSUPPORT));
    assert_eq!(s.fe.socket(AF_UNIX, SOCK_STREAM, 0), Err(Errno::EAFNOSUPPORT));
    assert_eq!(s.fe.socket(AF_INET, SOCK_DGRAM, 0), Err(Errno::ESOCKTNOSUPPORT));
    assert_eq!(s.fe.socket(AF_INET, SOCK_STREAM, 17), Err(Errno::EPROTONOSUPPORT));
    let ok = s.fe.socket(AF_INET, SOCK_STREAM | 0o4000, 6).unwrap();
    assert_eq!(s.fe.send(ok, b"x"), Ready(Err(Errno::ENOTCONN)));
    assert_eq!(s.fe.recv(ok, &mut [0; 1]), Ready(Err(Errno::ENOTCONN)));
    assert_eq!(s.fe.accept(ok), Ready(Err(Errno::EINVAL)));
    s.fe.close(ok).unwrap();
    assert_eq!(s.fe.close(ok), Err(Errno::EBADF));
    assert_eq!(s.world.backend_stats().requests, [0; 8], "no round trip");
}

#[test]
fn second_accept_does_not_send_a_second_accept() {
    let mut s = setup();
    let port = free_port();
    let l = tcp_socket(&mut s.fe);
    block(&mut s.fe, |fe| fe.bind(l, localhost(port))).unwrap();
    block(&mut s.fe, |fe| fe.listen(l, 4)).unwrap();
    for _ in 0..5 {
        assert_eq!(s.fe.accept(l), Pending);
        assert!(s.fe.poll(l).is_ok());
        s.fe.wait(Some(s.fe.now_ns() + 5_000_000));
    }
    assert!(s.fe.accept_pending(l));
    let st = s.world.backend_stats();
    assert_eq!(st.requests[PVCALLS_ACCEPT as usize], 1);
    assert_eq!(st.eintr, 0);
    let client = thread::spawn(move || TcpStream::connect(("127.0.0.1", port)).unwrap());
    let a = block(&mut s.fe, |fe| fe.accept(l)).unwrap();
    let _host_side = client.join().unwrap();
    assert!(!s.fe.accept_pending(l));
    s.fe.close(a).unwrap();
    s.fe.close(l).unwrap();
    settle(&mut s.fe);
}

#[test]
fn closing_a_listener_with_a_pending_accept_waits_for_its_answer() {
    let mut s = setup();
    let base = s.fe.resources();
    let port = free_port();
    let l = tcp_socket(&mut s.fe);
    block(&mut s.fe, |fe| fe.bind(l, localhost(port))).unwrap();
    block(&mut s.fe, |fe| fe.listen(l, 4)).unwrap();
    assert_eq!(s.fe.accept(l), Pending);
    s.fe.close(l).unwrap();
    assert_eq!(s.fe.accept(l), Ready(Err(Errno::EBADF)));
    for _ in 0..5 {
        s.fe.wait(Some(s.fe.now_ns() + 5_000_000));
    }
    // Still listening in dom0, ACCEPT still outstanding, nothing lost.
    assert_eq!(s.world.backend_stats().passive, 1);
    assert_eq!(s.fe.resources().req_ids, 1);
    let _c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    settle(&mut s.fe);
    assert_eq!(s.fe.resources(), base);
    let st = s.world.backend_stats();
    assert_eq!((st.active, st.passive), (0, 0));
}

#[test]
fn lazy_socket_command_can_be_disabled() {
    let hs = handshake::Config {
        options: Options { send_socket: false, ..Options::default() },
        ..Default::default()
    };
    let mut s = setup_with(SimConfig::default(), hs);
    let c = connect(&mut s.fe, echo_server()).unwrap();
    send_all(&mut s.fe, c, b"no socket cmd");
    assert_eq!(recv_exact(&mut s.fe, c, 13), b"no socket cmd");
    assert_eq!(s.world.backend_stats().requests[PVCALLS_SOCKET as usize], 0);
}

/// A frontend on a backend with `backend`'s behaviour, with a listener on a
/// free port: (setup, listener, port).
fn listening_on(backend: BackendConfig) -> (Setup, skiff_pvcalls::SocketId, u16) {
    let mut s = setup_with(SimConfig { backend, ..SimConfig::default() }, Default::default());
    let port = free_port();
    let l = tcp_socket(&mut s.fe);
    block(&mut s.fe, |fe| fe.bind(l, localhost(port))).unwrap();
    block(&mut s.fe, |fe| fe.listen(l, 4)).unwrap();
    (s, l, port)
}

#[test]
fn old_backend_answering_accept_with_eagain_still_works() {
    let (mut s, l, port) =
        listening_on(BackendConfig { accept_eagain: true, ..BackendConfig::default() });
    // The first ACCEPT finds nothing queued and is answered EAGAIN.
    assert_eq!(s.fe.accept(l), Pending);
    while s.fe.accept_pending(l) {
        let now = s.fe.now_ns();
        s.fe.wait(Some(now + 50_000_000));
    }
    let client = thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"hi").unwrap();
        c
    });
    let a = block(&mut s.fe, |fe| fe.accept(l)).unwrap();
    assert_eq!(recv_exact(&mut s.fe, a, 2), b"hi");
    drop(client.join().unwrap());
    s.fe.close(a).unwrap();
    s.fe.close(l).unwrap();
    settle(&mut s.fe);
    assert_eq!(s.fe.resources().grants, 1);
}

#[test]
fn accept_answered_with_eintr_right_after_an_answer_is_retried() {
    let (mut s, l, port) =
        listening_on(BackendConfig { busy_after_accept: true, ..BackendConfig::default() });
    let clients = thread::spawn(move || {
        let mut cs = Vec::new();
        for i in 0..3u8 {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(&[i]).unwrap();
            cs.push(c);
        }
        cs
    });
    for i in 0..3u8 {
        let a = block(&mut s.fe, |fe| fe.accept(l)).expect("accept (EINTR is not an error)");
        assert_eq!(recv_exact(&mut s.fe, a, 1), [i]);
        s.fe.close(a).unwrap();
    }
    assert!(s.world.backend_stats().eintr >= 2, "the backend refused the ACCEPTs after answers");
    drop(clients.join().unwrap());
    s.fe.close(l).unwrap();
    settle(&mut s.fe);
    assert_eq!(s.fe.resources().grants, 1);
}

#[test]
fn open_close_500_connections_leaks_nothing() {
    let mut s = setup();
    let addr = echo_server();
    // Warm up, then take the baseline.
    let base = s.fe.resources();
    let host_base = s.world.host().stats();
    for i in 0..500u32 {
        let c = connect(&mut s.fe, addr).unwrap();
        let msg = i.to_le_bytes();
        send_all(&mut s.fe, c, &msg);
        assert_eq!(recv_exact(&mut s.fe, c, 4), msg);
        s.fe.close(c).unwrap();
        if i % 50 == 0 {
            s.fe.process();
        }
    }
    // Accepted connections too.
    let port = free_port();
    let l = tcp_socket(&mut s.fe);
    block(&mut s.fe, |fe| fe.bind(l, localhost(port))).unwrap();
    block(&mut s.fe, |fe| fe.listen(l, 64)).unwrap();
    for _ in 0..100 {
        let client = thread::spawn(move || {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(b"x").unwrap();
            c
        });
        let a = block(&mut s.fe, |fe| fe.accept(l)).unwrap();
        assert_eq!(recv_exact(&mut s.fe, a, 1), b"x");
        s.fe.close(a).unwrap();
        drop(client.join().unwrap());
    }
    s.fe.close(l).unwrap();
    settle(&mut s.fe);
    let r = s.fe.resources();
    assert_eq!(r, base, "grants, pages, ports, req_ids back to baseline");
    assert_eq!(r.leaked_pages, 0);
    let h = s.world.host().stats();
    assert_eq!(
        (h.frames, h.grants, h.ports, h.mapped),
        (host_base.frames, host_base.grants, host_base.ports, 1)
    );
    let st = s.world.backend_stats();
    assert_eq!((st.active, st.passive), (0, 0));
    assert_eq!(s.fe.cmd_stats(), Default::default(), "no invalid response");
}

#[test]
fn a_backend_that_stops_answering_is_given_up_on_and_waiting_calls_fail() {
    let cfg = SimConfig {
        backend: BackendConfig { stall_on: Some(PVCALLS_RELEASE), ..Default::default() },
        ..Default::default()
    };
    let hs = handshake::Config {
        options: Options { command_timeout_ns: 300_000_000, ..Default::default() },
        ..Default::default()
    };
    let mut s = setup_with(cfg, hs);
    let c = connect(&mut s.fe, echo_server()).unwrap();
    s.fe.close(c).unwrap();
    let l = tcp_socket(&mut s.fe);
    let started = s.fe.now_ns();
    assert_eq!(block(&mut s.fe, |fe| fe.bind(l, localhost(free_port()))), Err(Errno::ETIMEDOUT));
    let waited = s.fe.now_ns() - started;
    assert!(waited < 2_000_000_000, "gave up after {waited} ns");
    assert!(s.world.backend().is_stalled());
    match s.fe.gone_reason() {
        Some(GoneReason::Stuck(st)) => {
            assert_eq!((st.cmd_name(), st.id), ("RELEASE", c.0));
            assert!(st.waited_ns >= 300_000_000, "{st:?}");
        }
        other => panic!("gone for {other:?}"),
    }
    // Nothing waits any more, and nothing the backend maps is reused.
    assert_eq!(s.fe.socket(AF_INET, SOCK_STREAM, 0), Err(Errno::ENETDOWN));
    s.fe.close(l).unwrap();
    let r = s.fe.resources();
    assert_eq!(r.sockets, 0, "{r:?}");
    assert_eq!((r.leaked_pages, r.leaked_grants), (17, 17), "the connection's ring: {r:?}");
    let Setup { fe, world, .. } = s;
    drop(fe);
    assert_eq!(world.host().stats().freed_while_granted, 0);
}

#[test]
fn the_command_ring_runs_across_the_32_bit_wrap() {
    let hs = handshake::Config {
        options: Options { cmd_ring_start: u32::MAX - 40, ..Default::default() },
        ..Default::default()
    };
    let mut s = setup_with(SimConfig::default(), hs);
    let addr = echo_server();
    let base = s.fe.resources();
    // Each connection takes SOCKET, CONNECT and RELEASE: well past the wrap.
    for i in 0..60u32 {
        let c = connect(&mut s.fe, addr).unwrap();
        send_all(&mut s.fe, c, &i.to_le_bytes());
        assert_eq!(recv_exact(&mut s.fe, c, 4), i.to_le_bytes());
        s.fe.close(c).unwrap();
    }
    settle(&mut s.fe);
    assert_eq!(s.fe.resources(), base);
    assert_eq!(s.fe.cmd_stats(), Default::default(), "no response dropped");
}

/// A caller that blocks by other means than `Frontend::wait` (the Linux
/// personality's scheduler waits for any event itself) must call
/// `before_block` first: reading from a full `in` ring makes an event due,
/// and a reader that stops at a short read (as tokio does: it takes a short
/// read as "drained" and waits for readiness) never reaches the `EAGAIN`
/// that would send it. Without it the backend never refills the ring while
/// the caller waits for data: a 1 MiB download from axum stalled under Xen.
#[test]
fn bulk_towards_the_guest_flows_for_a_caller_that_blocks_itself() {
    let mut s = setup();
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = localhost(host.local_addr().unwrap().port());
    let total = 4 << 20;
    let writer = thread::spawn(move || {
        let (mut peer, _) = host.accept().unwrap();
        peer.write_all(&pattern(total, 9)).unwrap();
    });
    let c = connect(&mut s.fe, addr).unwrap();
    let mut got = Vec::with_capacity(total);
    let mut buf = vec![0u8; 48 << 10];
    let started = s.fe.now_ns();
    while got.len() < total && s.fe.now_ns() - started < 20_000_000_000 {
        // Wait for readiness as the personality's scheduler does: handle
        // what came, send what is due, block on the platform itself.
        while !s.fe.poll(c).unwrap().readable && s.fe.now_ns() - started < 20_000_000_000 {
            s.fe.process();
            s.fe.before_block();
            let deadline = s.fe.now_ns() + 50_000_000;
            skiff_pvcalls::Platform::wait(s.fe.platform_mut(), Some(deadline));
        }
        // One read per readiness, as an edge-triggered reader does after a
        // short read.
        match s.fe.recv(c, &mut buf) {
            Poll::Ready(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Poll::Pending => {}
            Poll::Ready(Err(e)) => panic!("recv: {e:?}"),
        }
    }
    assert_eq!(got.len(), total, "the download stalled");
    assert!(got == pattern(total, 9), "bytes differ");
    s.fe.close(c).unwrap();
    settle(&mut s.fe);
    writer.join().unwrap();
}

//! `PollSet` over std-shaped sockets against the simulated backend: a server of many connections,
//! timeouts, interests, errors.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::thread;
use std::time::{Duration, Instant as HostInstant};

use common::*;
use skiff_net::{Errno, Event, Instant, Interest, PollSet, Stack, TcpListener, TcpStream};

const LISTENER: usize = usize::MAX;

/// An echo server written with the std-shaped types and a poll set: serves
/// until `clients` connections have come and gone.
fn echo_server_with_a_poll_set(env: &Env, listener: &TcpListener<Shared>, clients: usize) {
    let mut poll = PollSet::new(env.stack.clone());
    poll.add(listener, LISTENER, Interest::READABLE).unwrap();
    listener.set_nonblocking(true).unwrap();
    let mut conns: HashMap<usize, TcpStream<Shared>> = HashMap::new();
    let (mut next, mut done) = (0usize, 0usize);
    let mut events = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = HostInstant::now() + Duration::from_secs(60);
    while done < clients {
        assert!(HostInstant::now() < deadline, "served {done} of {clients} in time");
        poll.wait(&mut events, Some(Duration::from_secs(1))).unwrap();
        for ev in events.clone() {
            if ev.token == LISTENER {
                while let Ok((s, _)) = listener.accept() {
                    s.set_nonblocking(true).unwrap();
                    poll.add(&s, next, Interest::READABLE).unwrap();
                    conns.insert(next, s);
                    next += 1;
                }
                continue;
            }
            let s = &conns[&ev.token];
            let finished = match s.read(&mut buf) {
                Ok(0) => true,
                Ok(n) => {
                    s.write_all(&buf[..n]).unwrap();
                    false
                }
                Err(e) => e.errno() != Some(Errno::EAGAIN),
            };
            if finished {
                poll.remove(ev.token).unwrap();
                conns.remove(&ev.token);
                done += 1;
            }
        }
    }
    assert!(poll.len() == 1 && conns.is_empty());
}

#[test]
fn a_std_shaped_server_serves_many_connections_with_a_poll_set() {
    let env = setup();
    let port = free_port();
    let listener = TcpListener::bind_in(&env.stack, localhost(port)).unwrap();
    const CLIENTS: usize = 40;
    let clients = thread::spawn(move || {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|i| {
                thread::spawn(move || {
                    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                    let data = pattern(20_000, i as u64);
                    c.write_all(&data).unwrap();
                    c.shutdown(std::net::Shutdown::Write).unwrap();
                    let mut back = Vec::new();
                    c.read_to_end(&mut back).unwrap();
                    assert!(back == data, "client {i} got {} bytes back", back.len());
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    echo_server_with_a_poll_set(&env, &listener, CLIENTS);
    // The last connections close in the background: the engine must run
    // for the clients to see their end of stream.
    settle(&env.stack);
    clients.join().unwrap();
}

#[test]
fn a_wait_with_nothing_ready_ends_at_its_timeout_or_deadline() {
    let env = setup();
    let listener = TcpListener::bind_in(&env.stack, localhost(free_port())).unwrap();
    let mut poll = PollSet::new(env.stack.clone());
    poll.add(&listener, 1, Interest::READABLE).unwrap();
    let mut events =
        vec![Event { token: 9, readable: true, writable: true, error: None, read_closed: false }];
    let start = env.stack.now_ns();
    assert_eq!(poll.wait(&mut events, Some(Duration::from_millis(50))).unwrap(), 0);
    assert!(events.is_empty(), "stale events are cleared");
    let waited = env.stack.now_ns() - start;
    assert!(waited >= 50_000_000, "returned after {waited} ns");
    let deadline = Instant::from_nanos(env.stack.now_ns()) + Duration::from_millis(30);
    assert_eq!(poll.wait_until(&mut events, Some(deadline)).unwrap(), 0);
    assert!(env.stack.now_ns() >= deadline.as_nanos());
}

#[test]
fn interests_select_what_is_reported_and_errors_always_are() {
    let env = setup();
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, host.local_addr().unwrap().port());
    let s = TcpStream::connect_in(&env.stack, addr).unwrap();
    let (peer, _) = host.accept().unwrap();
    let mut poll = PollSet::new(env.stack.clone());
    poll.add(&s, 7, Interest::READABLE).unwrap();
    assert_eq!(poll.add(&s, 7, Interest::WRITABLE).unwrap_err().errno(), Some(Errno::EEXIST));
    let mut events = Vec::new();
    // Writable but not readable: nothing to report for READABLE.
    assert_eq!(poll.wait(&mut events, Some(Duration::from_millis(20))).unwrap(), 0);
    poll.modify(7, Interest::BOTH).unwrap();
    assert_eq!(poll.wait(&mut events, None).unwrap(), 1);
    assert!(events[0].writable && !events[0].readable && events[0].error.is_none());
    // A reset is reported whatever the interest.
    poll.modify(7, Interest::READABLE).unwrap();
    s.write_all(b"unread").unwrap();
    peer.peek(&mut [0u8; 1]).unwrap();
    drop(peer);
    let deadline = HostInstant::now() + Duration::from_secs(20);
    loop {
        poll.wait(&mut events, Some(Duration::from_millis(100))).unwrap();
        if events.first().is_some_and(|e| e.error.is_some()) {
            break;
        }
        assert!(HostInstant::now() < deadline, "no error after the reset: {events:?}");
    }
    assert_eq!(events[0].error, Some(Errno::ECONNRESET));
    assert!(events[0].read_closed);
    assert_eq!(poll.remove(8).unwrap_err().errno(), Some(Errno::ENOENT));
    poll.remove(7).unwrap();
    assert!(poll.is_empty());
}

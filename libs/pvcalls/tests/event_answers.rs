//! When the frontend answers the backend's data-ring events, and what reaches it without answers.

mod common;

use std::io::Write;
use std::net::{Shutdown, TcpListener};
use std::task::Poll::Ready;
use std::thread;

use common::*;
use skiff_pvcalls::sim::{BackendConfig, SimConfig};
use skiff_pvcalls::{Errno, Options, SocketId, handshake};

/// Connects `s` to a host server that resets the connection as soon as
/// data arrives, sends it some and waits until the server has reset it.
fn reset_by_peer(s: &mut Setup) -> SocketId {
    let (port, server) = resetting_server();
    let c = connect(&mut s.fe, localhost(port)).unwrap();
    send_all(&mut s.fe, c, b"unread data");
    server.join().unwrap();
    c
}

/// A simulated dom0 whose backend behaves as `backend` says.
fn with_backend(backend: BackendConfig) -> Setup {
    setup_with(SimConfig { backend, ..Default::default() }, Default::default())
}

/// What a poll()-driven server does, without ever blocking: look, read,
/// look again, until the read has an answer.
fn polled_until_ready(s: &mut Setup, c: SocketId) -> Result<usize, Errno> {
    let deadline = s.fe.now_ns() + 10_000_000_000;
    loop {
        let _ = s.fe.poll(c).unwrap();
        if let Ready(r) = s.fe.recv(c, &mut [0u8; 64]) {
            return r;
        }
        assert!(s.fe.now_ns() < deadline, "the read never got an answer");
        thread::yield_now();
    }
}

#[test]
fn a_reset_reaches_a_caller_that_polls_without_ever_blocking() {
    // Linux's backend reads a reset socket only when our next event runs
    // its worker (BackendConfig::reset_needs_event): the answer must go out
    // even when the application never blocks or sends.
    let mut s = with_backend(BackendConfig { reset_needs_event: true, ..Default::default() });
    let c = reset_by_peer(&mut s);
    assert_eq!(polled_until_ready(&mut s, c), Err(Errno::ECONNRESET));
}

#[test]
fn no_answer_goes_out_once_the_receiving_side_has_failed() {
    let mut s = with_backend(BackendConfig { reset_needs_event: true, ..Default::default() });
    let c = reset_by_peer(&mut s);
    assert_eq!(recv_to_end(&mut s.fe, c).unwrap_err().1, Errno::ECONNRESET);
    // The backend has finished reading this socket: events it sends now
    // (a write that fails, say) are not answered.
    let sent = s.fe.platform().notifications();
    s.world.host().notify_front(ring_port(&s.fe, c));
    let now = s.fe.now_ns();
    s.fe.wait(Some(now + 10_000_000));
    assert_eq!(s.fe.platform().notifications(), sent, "an answer went out");
}

/// Connects with rings of order 1 (4 KiB each way) to a host server that
/// sends 10,000 bytes, waits until `in` is full, reads 100 bytes and says
/// how many events the frontend sent for that read; then reads the rest.
fn events_for_a_read_from_a_full_ring(defer_acks: bool) -> u64 {
    let options = Options {
        ring_order: Some(1),
        defer_acks,
        answer_events: !defer_acks,
        ..Options::default()
    };
    let mut s =
        setup_with(SimConfig::default(), handshake::Config { options, ..Default::default() });
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let data = pattern(10_000, 3);
    let sent = data.clone();
    let server = thread::spawn(move || l.accept().unwrap().0.write_all(&sent).unwrap());
    let c = connect(&mut s.fe, localhost(port)).unwrap();
    let deadline = s.fe.now_ns() + 10_000_000_000;
    while s.fe.available(c).unwrap() < 4096 {
        assert!(s.fe.now_ns() < deadline, "in never filled");
        let now = s.fe.now_ns();
        s.fe.wait(Some(now + 10_000_000));
    }
    let before = s.fe.platform().notifications();
    let mut first = [0u8; 100];
    assert_eq!(s.fe.recv(c, &mut first), Ready(Ok(100)));
    let events = s.fe.platform().notifications() - before;
    let mut got = first.to_vec();
    got.extend(recv_to_end(&mut s.fe, c).unwrap());
    server.join().unwrap();
    assert!(got == data, "the stream arrives whole");
    events
}

#[test]
fn a_read_from_a_full_ring_tells_the_backend_at_once() {
    assert_eq!(events_for_a_read_from_a_full_ring(false), 1);
    // For a backend without the masked-channel fix the event waits for the
    // next send or block.
    assert_eq!(events_for_a_read_from_a_full_ring(true), 0);
}

/// A simulated dom0 whose backend reads its sockets by itself and says so
/// in xenstore (`feature-unprompted-read`), as Skiff's patched one; the
/// frontend with `options`.
fn setup_unprompted_read(options: Options) -> Setup {
    let mut cfg = SimConfig::default();
    cfg.agent.unprompted_read = Some("1".into());
    setup_with(cfg, handshake::Config { options, ..Default::default() })
}

/// Events the frontend sends over 200 request/response rounds of 64 bytes.
fn events_for_200_rounds(s: &mut Setup) -> u64 {
    let c = connect(&mut s.fe, echo_server()).unwrap();
    let before = s.fe.platform().notifications();
    for i in 0..200 {
        let msg = pattern(64, i);
        send_all(&mut s.fe, c, &msg);
        assert!(recv_exact(&mut s.fe, c, 64) == msg, "round {i} echoes");
    }
    s.fe.platform().notifications() - before
}

#[test]
fn a_backend_that_reads_by_itself_gets_no_answers() {
    // One event of ours per round, the one that carries the request: an
    // answer to the backend's events would wake its worker for nothing
    // (Linux counts that as spurious and backs the channel off).
    assert_eq!(events_for_200_rounds(&mut setup_unprompted_read(Options::default())), 200);
    // A backend that does not say so gets answers as well: up to one for
    // each of its two events per round (the echo delivered, the request
    // taken), fewer when they come together.
    let with_answers = events_for_200_rounds(&mut setup());
    assert!(with_answers > 200, "{with_answers} events: no answers went out");
}

#[test]
fn without_answers_a_reset_still_reaches_a_caller_that_polls() {
    let mut s = setup_unprompted_read(Options::default());
    let c = reset_by_peer(&mut s);
    assert_eq!(polled_until_ready(&mut s, c), Err(Errno::ECONNRESET));
}

/// A host server that sends `len` bytes in pieces of 1000 with pauses
/// between them, then ends the stream (the FIN may come with the last
/// piece); returns its port and what it sends.
fn trickling_server(len: usize) -> (u16, Vec<u8>, thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let data = pattern(len, 5);
    let sent = data.clone();
    let server = thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        for piece in sent.chunks(1000) {
            c.write_all(piece).unwrap();
            // Pieces apart, so that the backend reads while more comes.
            thread::yield_now();
        }
        c.shutdown(Shutdown::Write).unwrap();
    });
    (port, data, server)
}

/// Receives a trickled stream to its end from the backend of `s`.
fn trickled_stream_arrives_whole(mut s: Setup) {
    let (port, data, server) = trickling_server(200_000);
    let c = connect(&mut s.fe, localhost(port)).unwrap();
    let got = recv_to_end(&mut s.fe, c).expect("orderly EOF");
    server.join().unwrap();
    assert!(got == data, "got {} of {} bytes", got.len(), data.len());
}

#[test]
fn a_backend_that_reads_only_at_our_events_still_delivers_a_stream_and_its_end() {
    // Linux's backend as it is: after a read that leaves data or the FIN
    // in the socket, it reads again only at our next event. It does not
    // say it reads by itself, so it gets answers.
    trickled_stream_arrives_whole(with_backend(BackendConfig {
        read_needs_event: true,
        ..Default::default()
    }));
}

#[test]
fn without_answers_a_stream_and_its_end_still_arrive() {
    trickled_stream_arrives_whole(setup_unprompted_read(Options::default()));
}

#[test]
fn without_answers_a_stream_into_the_guest_never_stalls_on_a_full_ring() {
    // Rings of order 1 fill up over and over. The backend stops reading
    // when it finds `in` full and goes on at our next event; it may find
    // it full just as we take the data in, so whether we owe it the event
    // is decided after our read is published, not before.
    let mut s = setup_unprompted_read(Options { ring_order: Some(1), ..Options::default() });
    for round in 0..4 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let data = pattern(2 << 20, round);
        let sent = data.clone();
        let server = thread::spawn(move || l.accept().unwrap().0.write_all(&sent).unwrap());
        let c = connect(&mut s.fe, localhost(port)).unwrap();
        // Reads of 8 KiB take all there is; reads of 700 bytes mostly leave
        // some behind, and only the one that empties the ring looks again.
        let got = if round % 2 == 0 {
            recv_to_end(&mut s.fe, c).expect("orderly EOF")
        } else {
            let mut got = Vec::new();
            while got.len() < data.len() {
                got.extend(recv_exact(&mut s.fe, c, 700.min(data.len() - got.len())));
            }
            assert_eq!(recv_to_end(&mut s.fe, c), Ok(Vec::new()), "EOF after the stream");
            got
        };
        server.join().unwrap();
        assert!(got == data, "round {round}: got {} of {} bytes", got.len(), data.len());
        s.fe.close(c).unwrap();
    }
}

//! The frontend against a simulated backend with Linux 6.1's permanently-masked event channel bug.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::task::Poll::{Pending, Ready};
use std::thread;

use common::*;
use skiff_pvcalls::sim::{BackendConfig, SimConfig};
use skiff_pvcalls::{Options, handshake};

/// A frontend with `answer_events` against a backend with the bug; without
/// answers it also defers its acks, as `no-event-answers` sets it up.
fn masking_backend(answer_events: bool) -> Setup {
    let cfg = SimConfig {
        backend: BackendConfig { mask_after_empty_event: true, ..BackendConfig::default() },
        ..SimConfig::default()
    };
    let hs = handshake::Config {
        options: Options { answer_events, defer_acks: !answer_events, ..Options::default() },
        ..Default::default()
    };
    setup_with(cfg, hs)
}

/// Without answers to backend events (`no-event-answers`), request/response
/// traffic never sends the backend an event with `out` empty, so the bug
/// never triggers.
#[test]
fn request_response_without_event_answers_never_masks_the_channel() {
    let mut s = masking_backend(false);
    let c = connect(&mut s.fe, echo_server()).unwrap();
    for round in 0..200u64 {
        let req = pattern(1 + (round as usize * 37) % 3000, round);
        send_all(&mut s.fe, c, &req);
        assert!(recv_exact(&mut s.fe, c, req.len()) == req, "round {round}");
    }
    assert_eq!(s.world.backend_stats().masked_channels, 0);
}

/// Bulk data towards the guest fills `in`; the frontend then has to signal
/// the space it freed with `out` empty, and that event masks the channel:
/// the model reproduces the stall the rig's patched module avoids.
#[test]
fn bulk_towards_the_guest_stalls_on_that_backend() {
    let mut s = masking_backend(false);
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = localhost(host.local_addr().unwrap().port());
    let total = 4 << 20;
    let writer = thread::spawn(move || {
        let (mut peer, _) = host.accept().unwrap();
        // Fails once the test ends and drops its socket.
        let _ = peer.write_all(&pattern(total, 3));
    });
    let c = connect(&mut s.fe, addr).unwrap();
    let mut got = 0;
    let mut buf = vec![0u8; 64 << 10];
    let mut idle_since = s.fe.now_ns();
    while got < total && s.fe.now_ns() - idle_since < 2_000_000_000 {
        match s.fe.recv(c, &mut buf) {
            Ready(Ok(n)) => {
                assert!(n > 0, "EOF after {got} bytes");
                got += n;
                idle_since = s.fe.now_ns();
            }
            Pending => s.fe.wait(Some(s.fe.now_ns() + 20_000_000)),
            Ready(Err(e)) => panic!("recv: {e:?}"),
        }
    }
    assert!(got < total, "all {total} bytes arrived: the model no longer stalls");
    assert_eq!(s.world.backend_stats().masked_channels, 1);
    s.fe.close(c).unwrap();
    settle(&mut s.fe);
    drop(s);
    writer.join().unwrap();
}

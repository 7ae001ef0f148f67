//! The simulated backend with in-memory peers (`MemNet`): sink, source and echo through the frontend.

mod common;

use common::*;
use skiff_pvcalls::handshake;
use skiff_pvcalls::sim::{MemEcho, MemNet, MemSink, MemSource, SimConfig};

fn setup_mem(net: &MemNet) -> Setup {
    setup_with(SimConfig { net: net.clone(), ..SimConfig::default() }, handshake::Config::default())
}

#[test]
fn sink_counts_what_the_frontend_sends() {
    let net = MemNet::new();
    let sink = MemSink::new();
    let addr = localhost(1);
    net.route(addr, sink.clone());
    let mut s = setup_mem(&net);
    let c = connect(&mut s.fe, addr).unwrap();
    let data = pattern(3 << 20, 5);
    send_all(&mut s.fe, c, &data);
    let deadline = s.fe.now_ns() + 20_000_000_000;
    while sink.received() < data.len() as u64 {
        assert!(s.fe.now_ns() < deadline, "sink got {} of {}", sink.received(), data.len());
        let now = s.fe.now_ns();
        s.fe.wait(Some(now + 10_000_000));
    }
    assert_eq!(sink.received(), data.len() as u64);
    s.fe.close(c).unwrap();
    settle(&mut s.fe);
}

#[test]
fn source_sends_exactly_its_grant_in_pattern_order() {
    let net = MemNet::new();
    let source = MemSource::new();
    let addr = localhost(2);
    net.route(addr, source.clone());
    let mut s = setup_mem(&net);
    let c = connect(&mut s.fe, addr).unwrap();
    let total = 200_000;
    source.grant(total as u64);
    let got = recv_exact(&mut s.fe, c, total);
    let period = pattern(64 * 1024, 1);
    assert!(got.iter().enumerate().all(|(i, &b)| b == period[i % period.len()]));
    assert_eq!(source.credit(), 0);
    assert_eq!(s.fe.available(c), Ok(0));
    s.fe.close(c).unwrap();
    settle(&mut s.fe);
}

#[test]
fn echo_returns_what_it_was_sent() {
    let net = MemNet::new();
    let addr = localhost(3);
    net.route(addr, MemEcho::new());
    let mut s = setup_mem(&net);
    let c = connect(&mut s.fe, addr).unwrap();
    for round in 0..50u64 {
        let msg = pattern(1 + (round as usize * 997) % 20_000, round);
        send_all(&mut s.fe, c, &msg);
        assert!(recv_exact(&mut s.fe, c, msg.len()) == msg, "round {round}");
    }
    s.fe.close(c).unwrap();
    settle(&mut s.fe);
}

//! Xenbus handshake against the simulated xenstore and backend: happy path, refusals, backend closing.

mod common;

use std::task::Poll::{Pending, Ready};

use common::*;
use skiff_pvcalls::handshake::{self, HandshakeError};
use skiff_pvcalls::sim::{AgentConfig, GUEST_DOMID, SimConfig, SimWorld};
use skiff_pvcalls::wire::AF_INET;
use skiff_pvcalls::{Errno, Options, SocketId};
use skiff_xen::xenbus::XenbusState;
use skiff_xenstore::XsIo;

fn try_connect(agent: AgentConfig, hs: handshake::Config) -> Result<Setup, HandshakeError> {
    let cfg = SimConfig { agent, ..SimConfig::default() };
    let (world, xs, fe, info) = SimWorld::connect(cfg, hs)?;
    Ok(Setup { fe, xs, info, world })
}

fn agent_with(f: impl FnOnce(&mut AgentConfig)) -> AgentConfig {
    let mut a = AgentConfig::default();
    f(&mut a);
    a
}

#[test]
fn happy_path_publishes_ring_and_reaches_connected() {
    let mut s = setup();
    let fe_path = format!("/local/domain/{GUEST_DOMID}/device/pvcalls/0");
    assert_eq!(s.xs.read_string(&format!("{fe_path}/state")).unwrap(), "4");
    assert_eq!(s.xs.read_string(&format!("{fe_path}/version")).unwrap(), "1");
    assert_eq!(s.xs.read_u32(&format!("{fe_path}/ring-ref")).unwrap(), s.fe.cmd_ring_ref());
    assert_eq!(s.xs.read_u32(&format!("{fe_path}/port")).unwrap(), s.fe.cmd_port());
    assert_eq!(handshake::backend_state(&mut s.xs, &s.info), Ok(XenbusState::Connected));
    assert_eq!(s.info.path, format!("/local/domain/0/backend/pvcalls/{GUEST_DOMID}/0"));
    assert_eq!((s.info.domid, s.info.max_page_order), (0, 4));
    assert_eq!(s.fe.ring_order(), 4, "default: the backend's maximum");
    assert!(s.world.backend().is_connected());
    let r = s.fe.resources();
    assert_eq!((r.grants, r.pages, r.ports, r.req_ids, r.sockets), (1, 1, 1, 0, 0));
    // The command ring works.
    let addr = echo_server();
    let c = connect(&mut s.fe, addr).unwrap();
    send_all(&mut s.fe, c, b"ping");
    assert_eq!(recv_exact(&mut s.fe, c, 4), b"ping");
}

#[test]
fn missing_device_is_a_clear_error() {
    let e = try_connect(agent_with(|a| a.device = false), Default::default()).err().unwrap();
    assert_eq!(e, HandshakeError::NoDevice);
    assert!(e.to_string().contains("pvcalls = [\"backend=0\"]"), "{e}");
}

#[test]
fn wrong_versions_or_functions_are_refused_without_leaks() {
    type Check = fn(&HandshakeError) -> bool;
    let cases: Vec<(AgentConfig, Check)> = vec![
        (
            agent_with(|a| a.versions = Some("2".into())),
            |e| matches!(e, HandshakeError::UnsupportedVersion(v) if v == "2"),
        ),
        (agent_with(|a| a.function_calls = Some("0".into())), |e| {
            matches!(e, HandshakeError::NoFunctionCalls(_))
        }),
        (agent_with(|a| a.function_calls = None), |e| {
            matches!(e, HandshakeError::NoFunctionCalls(_))
        }),
        (agent_with(|a| a.max_page_order = Some("0".into())), |e| {
            matches!(e, HandshakeError::BadPageOrder(0))
        }),
        (agent_with(|a| a.max_page_order = Some("x".into())), |e| {
            matches!(e, HandshakeError::BadNode(..))
        }),
    ];
    for (agent, check) in cases {
        let cfg = SimConfig { agent, ..SimConfig::default() };
        let (world, mut xs, platform) = SimWorld::start(cfg);
        let e = handshake::connect(&mut xs, platform, Default::default()).err().unwrap();
        assert!(check(&e), "unexpected {e:?}");
        let h = world.host().stats();
        assert_eq!((h.frames, h.grants, h.ports), (0, 0, 0), "{e:?} leaked");
    }
}

#[test]
fn versions_list_and_missing_max_order_are_accepted() {
    let agent = agent_with(|a| {
        a.versions = Some("3,1".into());
        a.max_page_order = None;
    });
    // No max-page-order: default to the protocol maximum, but the backend
    // only maps up to 4, so ask for 2 explicitly.
    let hs = handshake::Config {
        options: Options { ring_order: Some(2), ..Options::default() },
        ..Default::default()
    };
    let mut s = try_connect(agent, hs).unwrap();
    assert_eq!(s.fe.ring_order(), 2);
    let c = connect(&mut s.fe, echo_server()).unwrap();
    let data = pattern(100_000, 3);
    send_all(&mut s.fe, c, &data[..5000]);
    assert_eq!(recv_exact(&mut s.fe, c, 5000), &data[..5000]);
}

#[test]
fn ring_order_outside_the_backend_range_is_refused() {
    for order in [0, 5] {
        let hs = handshake::Config {
            options: Options { ring_order: Some(order), ..Options::default() },
            ..Default::default()
        };
        let e = try_connect(AgentConfig::default(), hs).err().unwrap();
        assert_eq!(e, HandshakeError::BadPageOrder(order));
    }
}

#[test]
fn backend_that_never_probes_times_out() {
    let hs = handshake::Config { timeout_ns: 50_000_000, ..Default::default() };
    let e = try_connect(agent_with(|a| a.probe = false), hs).err().unwrap();
    assert_eq!(
        e,
        HandshakeError::TimedOut { want: XenbusState::InitWait, seen: XenbusState::Initialising }
    );
}

#[test]
fn backend_closing_fails_every_socket_and_nothing_hangs() {
    let mut s = setup();
    let (c, l) = busy_sockets(&mut s);

    s.xs.transport_mut().close_backend();
    // The caller watches the backend state and reports it.
    let state = handshake::backend_state(&mut s.xs, &s.info).unwrap();
    assert!(state.is_closed());
    handshake::backend_closing(&mut s.xs, &mut s.fe, &s.info, 1_000_000_000).unwrap();

    assert_eq!(block(&mut s.fe, |fe| fe.recv(c, &mut [0; 8])), Err(Errno::ECONNABORTED));
    assert_eq!(s.fe.send(c, b"x"), Ready(Err(Errno::ECONNABORTED)));
    assert_eq!(block(&mut s.fe, |fe| fe.accept(l)), Err(Errno::ECONNABORTED));
    assert_eq!(s.fe.socket(AF_INET, 1, 0), Err(Errno::ENETDOWN));
    assert!(s.fe.poll(c).unwrap().error.is_some());
    s.fe.close(c).unwrap();
    s.fe.close(l).unwrap();
    let r = s.fe.resources();
    assert_eq!((r.sockets, r.leaked_pages, r.leaked_grants), (0, 0, 0), "backend unmapped first");
    assert_eq!((r.grants, r.pages, r.ports), (0, 0, 0), "the command ring went too");
    assert_eq!(s.world.host().stats().frames, 0);
}

/// Open sockets of `s`: a connection that moved data and a listener with
/// an ACCEPT outstanding.
fn busy_sockets(s: &mut Setup) -> (SocketId, SocketId) {
    let c = connect(&mut s.fe, echo_server()).unwrap();
    send_all(&mut s.fe, c, b"data");
    assert_eq!(recv_exact(&mut s.fe, c, 4), b"data");
    let l = tcp_socket(&mut s.fe);
    block(&mut s.fe, |fe| fe.bind(l, localhost(free_port()))).unwrap();
    block(&mut s.fe, |fe| fe.listen(l, 8)).unwrap();
    assert_eq!(s.fe.accept(l), Pending);
    (c, l)
}

/// A backend that never lets go of its mappings, with the sockets of
/// [`busy_sockets`] open and libxl's removal of the device under way.
fn deaf_backend_being_removed() -> (Setup, SocketId, SocketId) {
    let cfg = SimConfig { agent: agent_with(|a| a.deaf_to_close = true), ..SimConfig::default() };
    let mut s = setup_with(cfg, Default::default());
    let (c, l) = busy_sockets(&mut s);
    s.xs.transport_mut().toolstack_remove();
    (s, c, l)
}

#[test]
fn toolstack_removal_closes_the_frontend_and_reclaims_everything() {
    let mut s = setup();
    let (c, l) = busy_sockets(&mut s);
    let fe_state = format!("/local/domain/{GUEST_DOMID}/device/pvcalls/0/state");

    // libxl's removal only writes xenstore; the backend still maps our rings.
    s.xs.transport_mut().toolstack_remove();
    assert_eq!(handshake::backend_state(&mut s.xs, &s.info), Ok(XenbusState::Closing));
    assert!(s.world.backend().is_connected());

    handshake::backend_closing(&mut s.xs, &mut s.fe, &s.info, 1_000_000_000).unwrap();
    assert_eq!(s.xs.read_string(&fe_state).unwrap(), "6", "frontend Closed");
    assert_eq!(
        handshake::backend_state(&mut s.xs, &s.info),
        Ok(XenbusState::Closed),
        "backend followed"
    );
    assert!(!s.world.backend().is_connected(), "backend disconnected (unmapped the rings)");

    assert_eq!(block(&mut s.fe, |fe| fe.recv(c, &mut [0; 8])), Err(Errno::ECONNABORTED));
    assert_eq!(block(&mut s.fe, |fe| fe.accept(l)), Err(Errno::ECONNABORTED));
    assert_eq!(s.fe.socket(AF_INET, 1, 0), Err(Errno::ENETDOWN));
    s.fe.close(c).unwrap();
    s.fe.close(l).unwrap();
    let r = s.fe.resources();
    assert_eq!((r.sockets, r.grants, r.pages, r.ports), (0, 0, 0, 0));
    assert_eq!((r.leaked_pages, r.leaked_grants), (0, 0));
    assert_eq!(r.req_ids, 0, "the listener's ACCEPT was abandoned with the ring");
    assert_eq!(s.world.host().stats().frames, 0);
}

#[test]
fn sockets_still_closing_at_removal_are_freed_after_the_backend_unmapped_them() {
    let mut s = setup();
    let (c, l) = busy_sockets(&mut s);
    // RELEASEs go out but are not answered before the removal.
    s.fe.close(c).unwrap();
    s.fe.close(l).unwrap();
    assert!(s.fe.resources().sockets > 0, "releases still outstanding");
    s.xs.transport_mut().toolstack_remove();

    handshake::backend_closing(&mut s.xs, &mut s.fe, &s.info, 1_000_000_000).unwrap();
    let r = s.fe.resources();
    assert_eq!((r.leaked_pages, r.leaked_grants), (0, 0), "freed only once unmapped");
    assert_eq!((r.sockets, r.grants, r.pages, r.ports, r.req_ids), (0, 0, 0, 0, 0));
}

#[test]
fn a_backend_node_removed_before_closed_is_reported_and_its_rings_leaked() {
    let (mut s, c, _l) = deaf_backend_being_removed();
    s.xs.transport_mut().daemon().rm(&s.info.state_path()).unwrap();

    let e = handshake::backend_closing(&mut s.xs, &mut s.fe, &s.info, 1_000_000_000).unwrap_err();
    assert_eq!(e, HandshakeError::BackendVanished);
    assert_eq!(s.fe.send(c, b"x"), Ready(Err(Errno::ECONNABORTED)));
    s.fe.close(c).unwrap();
    assert_eq!(s.fe.resources().leaked_pages, 18, "the connection's and the command ring");
}

#[test]
fn a_backend_that_keeps_its_mappings_times_out_and_pages_are_leaked_not_reused() {
    let (mut s, c, l) = deaf_backend_being_removed();

    let e = handshake::backend_closing(&mut s.xs, &mut s.fe, &s.info, 50_000_000).unwrap_err();
    assert_eq!(
        e,
        HandshakeError::TimedOut { want: XenbusState::Closed, seen: XenbusState::Closing }
    );
    assert_eq!(s.fe.send(c, b"x"), Ready(Err(Errno::ECONNABORTED)), "sockets failed all the same");
    s.fe.close(c).unwrap();
    s.fe.close(l).unwrap();
    let r = s.fe.resources();
    assert_eq!(r.sockets, 0);
    // The connection's ring (1 + 2^4 pages) and the command ring stay
    // mapped in the backend: given up (counted as leaked, no longer as
    // held), never freed for reuse. The listener's spare ring for its
    // ACCEPT was never mapped and is freed.
    assert_eq!((r.leaked_pages, r.leaked_grants), (18, 18));
    assert_eq!((r.grants, r.pages, r.ports), (0, 0, 0));
}

#[test]
fn frontend_initiated_disconnect_reclaims_everything() {
    let mut s = setup();
    let c = connect(&mut s.fe, echo_server()).unwrap();
    send_all(&mut s.fe, c, b"x");
    assert_eq!(recv_exact(&mut s.fe, c, 1), b"x");
    s.fe.close(c).unwrap();
    handshake::disconnect(&mut s.xs, &mut s.fe, &s.info, 1_000_000_000).unwrap();
    let r = s.fe.resources();
    assert_eq!((r.grants, r.pages, r.ports, r.sockets), (0, 0, 0, 0));
    assert!(!s.world.backend().is_connected());
    let fe_state = format!("/local/domain/{GUEST_DOMID}/device/pvcalls/0/state");
    assert_eq!(s.xs.read_string(&fe_state).unwrap(), "6");
}

#[test]
fn disconnect_with_an_accept_in_flight_gives_its_ring_back() {
    let mut s = setup();
    let (c, _l) = busy_sockets(&mut s);
    s.fe.close(c).unwrap();
    settle(&mut s.fe);
    handshake::disconnect(&mut s.xs, &mut s.fe, &s.info, 1_000_000_000).unwrap();
    let r = s.fe.resources();
    assert_eq!((r.grants, r.pages, r.ports, r.orphans), (0, 0, 0, 0), "{r:?}");
    assert_eq!((r.leaked_pages, r.leaked_grants), (0, 0), "the backend had unmapped it");
    let Setup { fe, world, .. } = s;
    drop(fe);
    let h = world.host().stats();
    assert_eq!((h.frames, h.grants, h.ports, h.freed_while_granted), (0, 0, 0, 0), "{h:?}");
}

#[test]
fn a_failed_xenstore_write_in_disconnect_still_gives_everything_back() {
    let mut s = setup();
    let (c, _l) = busy_sockets(&mut s);
    s.fe.close(c).unwrap();
    settle(&mut s.fe);
    let fe_state = format!("/local/domain/{GUEST_DOMID}/device/pvcalls/0/state");
    s.xs.transport_mut().daemon().deny_writes(&fe_state);
    let r = handshake::disconnect(&mut s.xs, &mut s.fe, &s.info, 200_000_000);
    assert!(matches!(r, Err(HandshakeError::Xenstore(_))), "{r:?}");
    // The backend never saw the frontend leave, so it may still map the
    // command ring: that page is leaked, everything else is given back.
    let r = s.fe.resources();
    assert_eq!((r.grants, r.pages, r.ports, r.orphans), (0, 0, 0, 0), "{r:?}");
    assert_eq!((r.leaked_pages, r.leaked_grants), (1, 1), "{r:?}");
    let Setup { fe, world, .. } = s;
    drop(fe);
    assert_eq!(world.host().stats().freed_while_granted, 0);
}

#[test]
fn dropping_a_connected_frontend_frees_nothing_the_backend_may_map() {
    let mut s = setup();
    let (_c, _l) = busy_sockets(&mut s);
    let Setup { fe, world, .. } = s;
    drop(fe);
    let h = world.host().stats();
    assert_eq!(h.freed_while_granted, 0, "{h:?}");
    // The backend maps the connection's ring and the command ring (18
    // pages); the listener's pre-allocated ring (17) may be mapped any time.
    assert_eq!(h.leaked_frames, 1 + 17 + 17, "{h:?}");
}

#[test]
fn a_backend_that_keeps_rewriting_its_state_still_times_out() {
    use skiff_pvcalls::sim::FakeWorld;
    use skiff_xenstore::Xenstore;
    use skiff_xenstore::sim::ScriptedTransport;

    let fe = format!("/local/domain/{GUEST_DOMID}/device/pvcalls/0");
    let be = format!("/local/domain/0/backend/pvcalls/{GUEST_DOMID}/0");
    let mut t = ScriptedTransport::new(GUEST_DOMID, vec![], vec![]);
    for (path, value) in [(format!("{fe}/backend"), be.as_str()), (format!("{fe}/backend-id"), "0")]
    {
        t.daemon().write(&path, value.as_bytes()).unwrap();
    }
    // The backend never leaves Initialising but writes its state again at
    // every turn: each write fires the frontend's watch.
    let mut waits = 0u32;
    let state = format!("{be}/state");
    t.set_hook(move |xs| {
        waits += 1;
        assert!(waits < 100_000, "the handshake is still waiting after {waits} waits");
        xs.write(&state, b"1").is_ok()
    });
    let mut xs = Xenstore::new(t);
    let w = FakeWorld::new();
    let cfg = handshake::Config { timeout_ns: 100_000_000, ..Default::default() };
    let r = handshake::connect(&mut xs, w.platform(), cfg).map(drop);
    assert_eq!(
        r,
        Err(HandshakeError::TimedOut {
            want: XenbusState::InitWait,
            seen: XenbusState::Initialising
        })
    );
    assert!(xs.transport().now_peek() < 200_000_000, "gave up at its deadline");
}

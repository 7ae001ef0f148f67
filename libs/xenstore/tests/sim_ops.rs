//! Blocking operations against the simulated xenstored, stepped on the same thread.

use skiff_xenstore::Transport;
use skiff_xenstore::sim::SimTransport;
use skiff_xenstore::{
    MsgType, ProtocolError, TRANSACTION_TRIES, WatchEvent, Xenstore, XsError, XsIo,
};

fn xs() -> Xenstore<SimTransport> {
    Xenstore::new(SimTransport::new(7))
}

fn ev(path: &str, token: &str) -> WatchEvent {
    WatchEvent { path: path.into(), token: token.into() }
}

#[test]
fn read_write_directory() {
    let mut xs = xs();
    xs.write("/local/domain/7/device/vif/0/state", "1").unwrap();
    xs.write("data/x", b"hello").unwrap();
    assert_eq!(xs.read("device/vif/0/state").unwrap(), b"1");
    assert_eq!(xs.read_string("/local/domain/7/data/x").unwrap(), "hello");
    assert_eq!(xs.read_u32("device/vif/0/state"), Ok(1));
    assert_eq!(xs.read_u32("data/x"), Err(XsError::BadValue));
    assert_eq!(xs.directory("/local/domain/7").unwrap(), ["data", "device"]);
    assert_eq!(xs.directory("device/vif/0").unwrap(), ["state"]);
    assert!(xs.directory("device/vif/0/state").unwrap().is_empty());
    xs.write("empty", "").unwrap();
    assert_eq!(xs.read("empty").unwrap(), b"");
    assert_eq!(xs.transport().sim().read("/local/domain/7/data/x"), Some(&b"hello"[..]));
    assert!(xs.transport().notifications() > 0);
}

#[test]
fn missing_nodes_are_enoent() {
    let mut xs = xs();
    assert_eq!(xs.read("nope"), Err(XsError::NoEnt));
    assert_eq!(xs.try_read("nope"), Ok(None));
    assert_eq!(xs.directory("/nope"), Err(XsError::NoEnt));
    assert_eq!(xs.rm("/nope/deeper"), Err(XsError::NoEnt));
    assert_eq!(xs.rm("/local/nope"), Ok(()), "missing node with existing parent");
    assert_eq!(xs.read("bad//path"), Err(XsError::Inval));
    assert_eq!(xs.read("with\0nul"), Err(XsError::Inval), "refused locally");
}

#[test]
fn mkdir_rm_and_domain_path() {
    let mut xs = xs();
    xs.mkdir("a/b/c").unwrap();
    xs.write("a/b/c/v", "1").unwrap();
    xs.mkdir("a/b").unwrap();
    assert_eq!(xs.read("a/b/c/v").unwrap(), b"1", "mkdir keeps existing nodes");
    xs.rm("a/b").unwrap();
    assert_eq!(xs.directory("a").unwrap(), Vec::<String>::new());
    assert_eq!(xs.get_domain_path(7).unwrap(), "/local/domain/7");
    assert_eq!(xs.get_domain_path(0).unwrap(), "/local/domain/0");
}

#[test]
fn watch_fires_on_registration_and_on_changes() {
    let mut xs = xs();
    xs.watch("/local/domain/7/control", "ctl").unwrap();
    assert_eq!(xs.poll_watch("ctl").unwrap(), Some(ev("/local/domain/7/control", "ctl")));
    assert_eq!(xs.poll_watch("ctl").unwrap(), None);

    xs.write("control/shutdown", "poweroff").unwrap();
    // Creating the parent and the node: both are changes under the watch.
    let mut seen = Vec::new();
    while let Some(e) = xs.poll_watch("ctl").unwrap() {
        seen.push(e);
    }
    assert!(seen.contains(&ev("/local/domain/7/control/shutdown", "ctl")));

    // A change made by someone else (the toolstack) reaches the client too.
    xs.transport_mut().sim_mut().write("/local/domain/7/control/shutdown", b"reboot").unwrap();
    assert_eq!(xs.wait_watch("ctl").unwrap(), ev("/local/domain/7/control/shutdown", "ctl"));

    // Unrelated paths do not fire; unwatch stops events.
    xs.write("other", "1").unwrap();
    assert_eq!(xs.poll_watch("ctl").unwrap(), None);
    xs.unwatch("/local/domain/7/control", "ctl").unwrap();
    assert_eq!(xs.unwatch("/local/domain/7/control", "ctl"), Err(XsError::NoEnt));
    xs.write("control/shutdown", "").unwrap();
    assert_eq!(xs.poll_watch("ctl").unwrap(), None);
    assert_eq!(xs.client().dropped(), 0, "nothing fired for the token after unwatch");
    assert_eq!(xs.transport().sim().watch_count(), 0);
}

#[test]
fn relative_watches_report_relative_paths_and_removal() {
    let mut xs = xs();
    xs.write("backend/x/state", "4").unwrap();
    xs.watch("backend/x/state", "t").unwrap();
    assert_eq!(xs.wait_watch("t").unwrap(), ev("backend/x/state", "t"));
    xs.write("backend/x/state", "5").unwrap();
    assert_eq!(xs.wait_watch("t").unwrap(), ev("backend/x/state", "t"));
    // Removing a parent reports the watched path itself.
    xs.rm("backend").unwrap();
    assert_eq!(xs.wait_watch("t").unwrap(), ev("backend/x/state", "t"));
    assert_eq!(xs.watch("backend/x/state", "t"), Err(XsError::Exist));
    xs.watch("@releaseDomain", "rd").unwrap();
    assert_eq!(xs.wait_watch("rd").unwrap(), ev("@releaseDomain", "rd"));
}

#[test]
fn each_watch_sees_only_its_own_events() {
    let mut xs = xs();
    xs.watch("a", "ta").unwrap();
    xs.watch("b", "tb").unwrap();
    xs.write("b", "1").unwrap();
    xs.write("a", "1").unwrap();
    // Waiting for one token never takes (or drops) the other's events.
    let mut a = Vec::new();
    while let Some(e) = xs.poll_watch("ta").unwrap() {
        a.push(e.token);
    }
    assert!(!a.is_empty() && a.iter().all(|t| t == "ta"), "{a:?}");
    let mut b = Vec::new();
    while let Some(e) = xs.poll_watch("tb").unwrap() {
        b.push(e.token);
    }
    assert!(!b.is_empty() && b.iter().all(|t| t == "tb"), "{b:?}");
}

#[test]
fn transaction_commits() {
    let mut xs = xs();
    xs.write("n", "1").unwrap();
    let got = xs
        .transaction(|t| {
            let n = t.read_u32("n")?;
            t.write("n", format!("{}", n + 1))?;
            t.write("m", "x")?;
            // Reads inside see the transaction's own writes.
            t.read_u32("n")
        })
        .unwrap();
    assert_eq!(got, 2);
    assert_eq!(xs.read_u32("n"), Ok(2));
    assert_eq!(xs.read("m").unwrap(), b"x");
    assert_eq!(xs.transport().sim().open_transactions(), 0);
}

#[test]
fn transaction_is_isolated_until_commit() {
    let mut xs = xs();
    let tx = xs.transaction_start().unwrap();
    xs.request(tx, MsgType::Write, &[b"iso\0", b"v"]).unwrap();
    assert_eq!(xs.read("iso"), Err(XsError::NoEnt));
    xs.transaction_end(tx, false).unwrap();
    assert_eq!(xs.read("iso"), Err(XsError::NoEnt));
    assert_eq!(xs.transaction_end(tx, true), Err(XsError::NoEnt), "already ended");
    assert_eq!(xs.request(999, MsgType::Read, &[b"iso\0"]), Err(XsError::NoEnt));
}

#[test]
fn conflicting_transaction_is_retried_and_succeeds() {
    let mut xs = xs();
    xs.write("counter", "0").unwrap();
    // Someone else sets the counter to 100 right before our first commit.
    xs.transport_mut().sim_mut().interfere_with_commits("counter", b"100", 1);
    let mut runs = 0;
    xs.transaction(|t| {
        runs += 1;
        let n = t.read_u32("counter")?;
        t.write("counter", format!("{}", n + 1))
    })
    .unwrap();
    assert_eq!(runs, 2);
    assert_eq!(xs.read_u32("counter"), Ok(101), "the retry saw the other write");
}

#[test]
fn endless_conflicts_give_up_with_eagain() {
    let mut xs = xs();
    xs.transport_mut().sim_mut().interfere_with_commits("x", b"1", u32::MAX);
    let mut runs = 0;
    let r = xs.transaction(|t| {
        runs += 1;
        t.write("y", "1")
    });
    assert_eq!(r, Err(XsError::Again));
    assert_eq!(runs, TRANSACTION_TRIES);
    assert_eq!(xs.transport().sim().open_transactions(), 0);
}

#[test]
fn errors_inside_a_transaction_abort_it() {
    let mut xs = xs();
    let r: Result<(), _> = xs.transaction(|t| {
        t.write("half", "1")?;
        t.read("missing").map(drop)
    });
    assert_eq!(r, Err(XsError::NoEnt));
    assert_eq!(xs.read("half"), Err(XsError::NoEnt));
    assert_eq!(xs.transport().sim().open_transactions(), 0);
}

#[test]
fn large_messages_straddle_the_ring_wrap_in_pieces() {
    let mut xs = xs();
    xs.transport_mut().sim_mut().set_chunk_limit(Some(7));
    for i in 0..12u8 {
        let value = vec![b'a' + i; 3000 + usize::from(i) * 37];
        let path = format!("big/{i}");
        xs.write(&path, &value).unwrap();
        assert_eq!(xs.read(&path).unwrap(), value);
    }
    let names = xs.directory("big").unwrap();
    assert_eq!(names.len(), 12);
    // The largest request that fits the protocol goes through too.
    let path = "p";
    let value = vec![b'z'; 4096 - path.len() - 1];
    xs.write(path, &value).unwrap();
    assert_eq!(xs.read(path).unwrap(), value);
    assert_eq!(xs.write(path, vec![b'z'; 4096]), Err(XsError::RequestTooLarge));
}

#[test]
fn garbage_from_the_daemon_is_an_error_not_a_panic() {
    let mut xs = xs();
    xs.write("a", "1").unwrap();
    xs.transport_mut().sim_mut().inject_raw(&[0xff; 16]);
    let r = xs.read("a");
    assert!(matches!(r, Err(XsError::Protocol(ProtocolError::PayloadTooLong(_)))), "{r:?}");
    assert!(matches!(xs.read("a"), Err(XsError::Protocol(_))));
}

#[test]
fn silent_daemon_times_out_and_late_reply_is_dropped() {
    let mut xs = xs();
    xs.write("a", "1").unwrap();
    xs.transport_mut().sim_mut().set_paused(true);
    let before = xs.transport().now_ns();
    assert_eq!(xs.read("a"), Err(XsError::TimedOut));
    assert_eq!(xs.transport().now_ns() - before, xs.request_timeout(), "gave up at the timeout");
    assert_eq!(xs.client().outstanding(), 0, "the abandoned request is forgotten");
    xs.transport_mut().sim_mut().set_paused(false);
    // The daemon now answers the abandoned request first; that reply is dropped.
    assert_eq!(xs.read("a").unwrap(), b"1");
    assert_eq!(xs.client().dropped(), 1);
}

#[test]
fn client_breaking_the_protocol_stops_the_daemon() {
    use skiff_ring::SharedMem;
    use skiff_xen::xs_wire::{XENSTORE_ERROR_PROTO, intf};
    use skiff_xenstore::wire::Header;
    let mut xs = xs();
    xs.write("a", "1").unwrap();
    {
        let (mem, sim) = xs.transport_mut().parts();
        let h = Header { msg_type: 2, req_id: 9, tx_id: 0, len: 5000 };
        skiff_xenstore::REQ_RING.producer().write(mem, &h.encode()).unwrap();
        assert_eq!(sim.step(mem), Err(ProtocolError::PayloadTooLong(5000)));
        assert_eq!(mem.load_u32(intf::ERROR), XENSTORE_ERROR_PROTO);
    }
    assert_eq!(xs.read("a"), Err(XsError::Protocol(ProtocolError::Server(XENSTORE_ERROR_PROTO))));
}

//! The scripted hostile xenstored itself: serving, silence, endless traffic and forged replies, on a virtual clock.

use skiff_xenstore::sim::{ScriptedTransport, XsAutopilot, XsStep};
use skiff_xenstore::{MsgType, ProtocolError, Xenstore, XsError, XsIo};

fn xs() -> Xenstore<ScriptedTransport> {
    let t = ScriptedTransport::new(3, vec!["data/a".into()], vec!["tok".into()]);
    let mut xs = Xenstore::new(t);
    xs.set_request_timeout(50_000_000);
    xs
}

#[test]
fn serves_like_xenstored_once_the_script_runs_out() {
    let mut xs = xs();
    xs.transport_mut().extend_script([XsStep::Silence, XsStep::Chunk(5)]);
    xs.write("data/a", "v").unwrap();
    assert_eq!(xs.read("data/a").unwrap(), b"v");
    xs.transport_mut().extend_script([XsStep::Write { path: 0, value: b"w".to_vec() }]);
    assert_eq!(xs.read("data/a").unwrap(), b"w", "another client wrote it meanwhile");
}

#[test]
fn silence_times_out_at_the_request_deadline() {
    let mut xs = xs();
    xs.transport_mut().set_autopilot(XsAutopilot::Silence);
    assert_eq!(xs.read("data/a"), Err(XsError::TimedOut));
    assert!(xs.transport().waits() < 5, "the clock jumps to the deadline");
    assert_eq!(xs.client().outstanding(), 0);
}

#[test]
fn endless_traffic_times_out_without_waiting_for_ever() {
    let mut xs = xs();
    xs.transport_mut().extend_script([XsStep::Endless(Some(0))]);
    xs.watch("data", "tok").unwrap_or_default();
    let r = xs.read("data/a");
    assert!(matches!(r, Err(XsError::TimedOut) | Err(XsError::Protocol(_))), "{r:?}");
    assert_eq!(xs.client().outstanding(), 0);
}

#[test]
fn a_forged_reply_of_the_wrong_type_to_the_first_request_fails_it() {
    let mut xs = xs();
    let forged = XsStep::Forge {
        ty: MsgType::Write as u32,
        to_last: false,
        req_id: 1,
        tx_id: 0,
        payload: b"OK\0".to_vec(),
    };
    xs.transport_mut().extend_script([forged]);
    xs.transport_mut().set_autopilot(XsAutopilot::Silence);
    let r = xs.read("data/a");
    assert_eq!(r, Err(XsError::Protocol(ProtocolError::UnexpectedType { request: 2, reply: 11 })));
}

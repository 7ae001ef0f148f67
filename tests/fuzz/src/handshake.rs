//! The xenbus handshake (connect, then the frontend's or the backend's close) against hostile xenstore contents and backend state sequences.
//!
//! The toolstack's nodes come from the input (right, garbled or missing),
//! a scripted xenbus driver for the backend probes, maps the command ring
//! and closes as the input says, and the xenstore script may write any
//! backend state at any time. Whatever happens, the frontend must end up
//! holding nothing but pages the backend still maps.

use std::cell::Cell;
use std::rc::Rc;

use arbitrary::Arbitrary;
use skiff_pvcalls::Options;
use skiff_pvcalls::handshake::{self, Config};
use skiff_pvcalls::sim::{FakeWorld, GUEST_DOMID, invariants};
use skiff_xenstore::Xenstore;
use skiff_xenstore::sim::{ScriptedTransport, SimXenstored, XsAutopilot, XsStep};

use crate::{decode, must};

const FE: &str = "/local/domain/7/device/pvcalls/0";
const BE: &str = "/local/domain/0/backend/pvcalls/7/0";

/// A node's value as the toolstack or backend left it.
#[derive(Debug, Arbitrary)]
enum Node {
    Right,
    Missing,
    Value(String),
}

#[derive(Debug, Arbitrary)]
struct Contents {
    backend: Node,
    backend_id: Node,
    versions: Node,
    calls: Node,
    order: Node,
}

/// How the backend's xenbus driver behaves.
#[derive(Debug, Arbitrary)]
struct Driver {
    probe: bool,
    maps: bool,
    closes: bool,
    unmaps: bool,
}

#[derive(Debug, Arbitrary)]
enum End {
    Disconnect,
    BackendClosing,
    Drop,
}

#[derive(Debug, Arbitrary)]
struct Input {
    contents: Contents,
    driver: Driver,
    script: Vec<XsStep>,
    autopilot: XsAutopilot,
    timeout_ms: u8,
    end: End,
}

fn put(xs: &mut SimXenstored, path: &str, node: &Node, right: &str) {
    let v = match node {
        Node::Right => right,
        Node::Missing => return,
        Node::Value(v) => v,
    };
    let _ = xs.write(path, v.as_bytes());
}

fn read_u32(xs: &SimXenstored, path: &str) -> Option<u32> {
    core::str::from_utf8(xs.read(path)?).ok()?.trim().parse().ok()
}

/// The backend's xenbus driver: reacts to the frontend's state each wait.
fn driver(w: &FakeWorld, d: Driver, phase: Rc<Cell<u32>>) -> impl FnMut(&mut SimXenstored) -> bool {
    let w = w.clone();
    move |xs| {
        let set = |xs: &mut SimXenstored, s: u32| {
            let _ = xs.write(&format!("{BE}/state"), s.to_string().as_bytes());
        };
        let front = read_u32(xs, &format!("{FE}/state"));
        match phase.get() {
            1 if d.probe => set(xs, 2),
            2 if matches!(front, Some(3 | 4)) => {
                let rref = read_u32(xs, &format!("{FE}/ring-ref"));
                let port = read_u32(xs, &format!("{FE}/port"));
                let ok = match (rref, port) {
                    (Some(r), Some(p)) if d.maps => w.backend().connect(r, p).is_ok(),
                    _ => false,
                };
                set(xs, if ok { 4 } else { 5 });
            }
            4 if d.closes && matches!(front, Some(5 | 6)) => {
                if d.unmaps {
                    w.backend().disconnect();
                }
                set(xs, 6);
            }
            _ => return false,
        }
        phase.set(phase.get() + if phase.get() == 2 { 2 } else { 1 });
        true
    }
}

/// The input `data` decodes to.
pub fn describe(data: &[u8]) -> String {
    format!("{:#?}", decode::<Input>(data))
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some(input) = decode::<Input>(data) else { return };
    let w = FakeWorld::new();
    let paths = ["state", "versions", "function-calls", "max-page-order", "online"]
        .iter()
        .map(|k| format!("{BE}/{k}"))
        .chain(["backend", "backend-id", "state"].iter().map(|k| format!("{FE}/{k}")))
        .collect();
    let mut t = ScriptedTransport::new(GUEST_DOMID, paths, vec!["skiff-pvcalls".into()]);
    let c = &input.contents;
    let daemon = t.daemon();
    put(daemon, &format!("{FE}/backend"), &c.backend, BE);
    put(daemon, &format!("{FE}/backend-id"), &c.backend_id, "0");
    put(daemon, &format!("{FE}/state"), &Node::Right, "1");
    put(daemon, &format!("{BE}/state"), &Node::Right, "1");
    put(daemon, &format!("{BE}/versions"), &c.versions, "1");
    put(daemon, &format!("{BE}/function-calls"), &c.calls, "1");
    put(daemon, &format!("{BE}/max-page-order"), &c.order, "2");
    t.set_hook(driver(&w, input.driver, Rc::new(Cell::new(1))));
    t.extend_script(input.script.into_iter().take(64));
    t.set_autopilot(input.autopilot);
    let mut xs = Xenstore::new(t);
    xs.set_request_timeout(20_000_000);
    let timeout = (1 + u64::from(input.timeout_ms % 32)) * 2_000_000;
    let opts = Options { ring_order: Some(1), ..Options::default() };
    let cfg = Config { options: opts, timeout_ns: timeout };
    let gone = match handshake::connect(&mut xs, w.platform(), cfg) {
        Ok((mut fe, info)) => {
            must(w.check(&fe), "after the handshake");
            match input.end {
                End::Disconnect => drop(handshake::disconnect(&mut xs, &mut fe, &info, timeout)),
                End::BackendClosing => {
                    drop(handshake::backend_closing(&mut xs, &mut fe, &info, timeout))
                }
                End::Drop => {
                    drop(fe);
                    let host = w.host.stats();
                    return must(invariants::dropped(&host, w.host.grants_name_live_frames()), "");
                }
            }
            must(invariants::torn_down(&fe.resources(), &w.host.stats()), "after closing");
            fe.gone_reason()
        }
        Err(_) => None,
    };
    must(invariants::dropped(&w.host.stats(), w.host.grants_name_live_frames()), "at the end");
    must(invariants::leaks_justified(&w.host.leak_record(), gone), "at the end");
}

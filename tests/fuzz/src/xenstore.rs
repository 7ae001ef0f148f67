//! The xenstore client and `Xenstore` against a hostile xenstored: forged replies, raw bytes, endless traffic, silence.
//!
//! After every operation: no request is left outstanding, and the
//! operation ended within its requests' deadlines (virtual time) and a
//! bounded number of waits.

use arbitrary::Arbitrary;
use skiff_xenstore::sim::{ScriptedTransport, XsAutopilot, XsStep};
use skiff_xenstore::{TRANSACTION_TRIES, Xenstore, XsIo};

use crate::decode;

/// Nodes and tokens the operations and the script pick from.
const PATHS: [&str; 4] = ["data/a", "data/b", "device/pvcalls/0/state", "/local/domain/0/x"];
const TOKENS: [&str; 3] = ["t0", "t1", "skiff-pvcalls"];

#[derive(Debug, Arbitrary)]
enum Op {
    Read(u8),
    Write(u8, Vec<u8>),
    Directory(u8),
    Mkdir(u8),
    Rm(u8),
    Watch(u8, u8),
    Unwatch(u8, u8),
    PollWatch(u8),
    WaitWatch(u8, u16),
    Transaction(Vec<(u8, Vec<u8>)>),
    DomainPath(u32),
    ReadRaw(String),
    Script(Vec<XsStep>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    autopilot: XsAutopilot,
    script: Vec<XsStep>,
    timeout_ms: u8,
    ops: Vec<Op>,
}

fn path(i: u8) -> &'static str {
    PATHS[usize::from(i) % PATHS.len()]
}

fn token(i: u8) -> &'static str {
    TOKENS[usize::from(i) % TOKENS.len()]
}

/// The input `data` decodes to.
pub fn describe(data: &[u8]) -> String {
    format!("{:#?}", decode::<Input>(data))
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some(input) = decode::<Input>(data) else { return };
    let paths = PATHS.iter().map(|p| p.to_string()).collect();
    let tokens = TOKENS.iter().map(|t| t.to_string()).collect();
    let mut t = ScriptedTransport::new(7, paths, tokens);
    t.set_autopilot(input.autopilot);
    t.extend_script(input.script);
    let mut xs = Xenstore::new(t);
    let timeout = (1 + u64::from(input.timeout_ms % 32)) * 1_000_000;
    xs.set_request_timeout(timeout);
    for op in input.ops.into_iter().take(64) {
        let (start, waits) = (xs.transport().now_peek(), xs.transport().waits());
        let (requests, extra_ns) = apply(&mut xs, op);
        let elapsed = xs.transport().now_peek() - start;
        let budget = requests * (timeout + 50 * xs.transport().tick_ns) + extra_ns + 1_000_000_000;
        assert!(elapsed <= budget, "an operation of {requests} requests took {elapsed} ns");
        let waited = xs.transport().waits() - waits;
        assert!(waited <= requests * 100_000, "{waited} waits for {requests} requests");
        assert_eq!(xs.client().outstanding(), 0, "a request outlived its call");
    }
}

/// Applies `op`; returns how many requests it may make at most, and how
/// long it may wait besides.
fn apply(xs: &mut Xenstore<ScriptedTransport>, op: Op) -> (u64, u64) {
    match op {
        Op::Read(p) => drop(xs.read(path(p))),
        Op::Write(p, v) => drop(xs.write(path(p), v)),
        Op::Directory(p) => drop(xs.directory(path(p))),
        Op::Mkdir(p) => drop(xs.mkdir(path(p))),
        Op::Rm(p) => drop(xs.rm(path(p))),
        Op::Watch(p, t) => drop(xs.watch(path(p), token(t))),
        Op::Unwatch(p, t) => drop(xs.unwatch(path(p), token(t))),
        Op::PollWatch(t) => drop(xs.poll_watch(token(t))),
        Op::WaitWatch(t, ms) => {
            let wait = u64::from(ms % 100) * 1_000_000;
            let deadline = xs.transport().now_peek() + wait;
            drop(xs.wait_watch_until(token(t), deadline));
            return (1, wait);
        }
        Op::Transaction(writes) => {
            let n = writes.len() as u64;
            drop(xs.transaction(|tx| {
                for (p, v) in &writes {
                    tx.write(path(*p), v)?;
                }
                Ok(())
            }));
            return (u64::from(TRANSACTION_TRIES) * (n + 3), 0);
        }
        Op::DomainPath(d) => drop(xs.get_domain_path(d)),
        Op::ReadRaw(p) => drop(xs.read(&p)),
        Op::Script(steps) => xs.transport_mut().extend_script(steps),
    }
    (1, 0)
}

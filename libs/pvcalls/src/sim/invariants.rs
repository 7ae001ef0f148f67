//! What must hold between the frontend's accounting and the simulated hypervisor, while running and after shutdown.
//!
//! Every check returns a [`Violation`] naming what disagreed, so fuzz
//! targets can panic on it and property tests can report it.

use std::format;
use std::string::String;

use super::host::{HostStats, LeakRecord};
use crate::Frontend;
use crate::engine::GoneReason;
use crate::platform::{Platform, Resources};

/// An invariant that does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation(pub String);

impl core::fmt::Display for Violation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), Violation> {
    if ok { Ok(()) } else { Err(Violation(what())) }
}

/// The frontend's counters agree with the host's, for a host that serves
/// this one frontend: every page it holds or leaked is a live frame, every
/// grant it holds or left active is an active grant, every port it holds
/// is open, and no frame was freed while granted.
pub fn accounting(res: &Resources, host: &HostStats) -> Result<(), Violation> {
    let why = |what: &str| format!("{what}: frontend {res:?}, host {host:?}");
    ensure(host.freed_while_granted == 0, || why("a page was freed while granted"))?;
    ensure(host.frames == res.pages + res.leaked_pages, || why("frames"))?;
    ensure(host.leaked_frames == res.leaked_pages, || why("leaked frames"))?;
    ensure(host.grants == res.grants + res.leaked_grants, || why("grants"))?;
    ensure(host.ports == res.ports, || why("ports"))?;
    ensure(res.grants == res.pages, || why("a live page without exactly one grant"))
}

/// [`accounting`], plus what the frontend's own views must agree with:
/// one `req_id` per outstanding command (at most 32), one socket per
/// table entry, and (without orphaned ACCEPTs) exactly the pages and ports
/// of the rings the sockets show, plus the command ring's.
pub fn frontend<P: Platform>(fe: &Frontend<P>, host: &HostStats) -> Result<(), Violation> {
    let res = fe.resources();
    accounting(&res, host)?;
    let commands = fe.commands().count();
    let why = |what: &str| format!("{what}: {res:?}, {commands} commands");
    ensure(res.req_ids == commands && commands <= 32, || why("req_ids"))?;
    ensure(res.sockets == fe.sockets().count(), || why("sockets"))?;
    if res.orphans == 0 {
        let (mut pages, mut ports) = (0, 0);
        for s in fe.sockets() {
            if let (Some(order), Some(_)) = (s.ring_order, s.port) {
                pages += 1 + (1usize << order);
                ports += 1;
            }
        }
        let cmd_pages = res.pages.checked_sub(pages);
        let cmd_ports = res.ports.checked_sub(ports);
        ensure(cmd_pages == cmd_ports && cmd_pages.is_some_and(|n| n <= 1), || {
            why(&format!("rings shown hold {pages} pages and {ports} ports"))
        })?;
    }
    Ok(())
}

/// After every socket was closed and the frontend torn down
/// ([`Frontend::release_all`], [`Frontend::teardown`]): nothing is held
/// but what was leaked.
pub fn torn_down(res: &Resources, host: &HostStats) -> Result<(), Violation> {
    accounting(res, host)?;
    let held = Resources { leaked_pages: 0, leaked_grants: 0, ..*res };
    ensure(held == Resources::default(), || format!("held after teardown: {res:?}"))
}

/// After the frontend was dropped: only leaked frames are left, every
/// grant still active names one of them, no port is open.
pub fn dropped(host: &HostStats, grants_named_live_frames: bool) -> Result<(), Violation> {
    let why = |what: &str| format!("{what} after the frontend was dropped: {host:?}");
    ensure(host.freed_while_granted == 0, || why("a page was freed while granted"))?;
    ensure(host.frames == host.leaked_frames, || why("frames not leaked but not freed"))?;
    ensure(host.ports == 0, || why("ports open"))?;
    ensure(grants_named_live_frames, || why("a grant names a freed frame"))
}

/// Pages are leaked only because the backend mapped them, except the
/// rings of commands in flight when the frontend gave up on a backend
/// that stopped answering or broke the command ring (it may map them any
/// time). (A frontend dropped without a teardown leaks the rings of
/// commands in flight too: check those runs with [`dropped`] only.)
pub fn leaks_justified(leaks: &LeakRecord, gone: Option<GoneReason>) -> Result<(), Violation> {
    let gave_up = matches!(gone, Some(GoneReason::Stuck(_) | GoneReason::BrokeRing));
    ensure(leaks.while_unmapped == 0 || gave_up, || {
        format!("pages leaked that the backend did not map: {leaks:?}, gone {gone:?}")
    })
}

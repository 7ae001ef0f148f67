//! The PV Calls connection policy: the frontend connected on first use and shared by every socket
//! of the application, tuned by kernel arguments, with the backend's xenbus `state` watched so that
//! a backend going away (or stuck) fails every socket instead of hanging.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;

use skiff_kernel::net::KernelPlatform;
use skiff_kernel::println;
use skiff_kernel::xen::xenstore;
use skiff_pvcalls::handshake::{self, BackendInfo, Config};
use skiff_pvcalls::{Errno, Frontend, GoneReason};
use spin::Mutex;

/// Watch token for the backend's `state` node.
const BACKEND_TOKEN: &str = "skiff-pvcalls-backend";

enum State {
    /// Not connected yet (nothing used sockets).
    Idle,
    /// Connected.
    Up(Box<Up>),
    /// The handshake failed; why. (A backend that goes away later leaves
    /// the state `Up`, with `closed` set and every socket failed.)
    Down(Errno, String),
}

/// A connected frontend.
struct Up {
    fe: Frontend<KernelPlatform>,
    info: BackendInfo,
    /// The backend left Connected and the xenbus close ran.
    closed: bool,
    /// The console was told that the backend stopped answering.
    stuck_reported: bool,
}

static NET: Mutex<State> = Mutex::new(State::Idle);

/// Runs `f` on the frontend, connecting to the backend first if needed.
/// Fails with `ENETDOWN` (and a printed reason, once) when there is no
/// usable PV Calls backend.
pub fn with<R>(f: impl FnOnce(&mut Frontend<KernelPlatform>) -> R) -> Result<R, Errno> {
    let mut state = NET.lock();
    if matches!(*state, State::Idle) {
        *state = connect();
    }
    match &mut *state {
        State::Up(up) => {
            watch_backend(up);
            let r = f(&mut up.fe);
            report_stuck(up);
            Ok(r)
        }
        State::Down(e, _) => Err(*e),
        State::Idle => unreachable!("connect() never leaves the state idle"),
    }
}

/// Lets a connected frontend handle what arrived (answers, closes, its
/// timers) and send what is due before the caller blocks the vCPU; returns
/// when it next needs this without an event (monotonic ns). Does nothing,
/// and connects nothing, before the first socket.
pub fn before_block() -> Option<u64> {
    let mut state = NET.lock();
    match &mut *state {
        State::Up(up) => {
            watch_backend(up);
            up.fe.process();
            up.fe.before_block();
            report_stuck(up);
            up.fe.next_timer_ns()
        }
        _ => None,
    }
}

/// Why networking is down, if it is.
pub fn down_reason() -> Option<String> {
    match &*NET.lock() {
        State::Down(_, why) => Some(why.clone()),
        _ => None,
    }
}

fn connect() -> State {
    let started = skiff_kernel::time::Instant::now();
    let mut cfg = Config::default();
    // `ring-order=N` on the command line picks the data-ring order (pages
    // per socket: 1 << N); default: the backend's max-page-order.
    if let Some(v) = skiff_kernel::args().get("ring-order") {
        match v.parse() {
            Ok(order) => cfg.options.ring_order = Some(order),
            Err(_) => return down(format!("ring-order={v} is not a number")),
        }
    }
    // `no-event-answers`: for a Linux 6.1 pvcalls-back without the
    // masked-channel fix (see `Options::answer_events`).
    let masked_channel_bug = skiff_kernel::args().has_flag("no-event-answers");
    cfg.options.answer_events = !masked_channel_bug;
    cfg.options.defer_acks = masked_channel_bug;
    let result =
        xenstore::with_connection(|xs| Ok(handshake::connect(xs, KernelPlatform::new(), cfg)));
    match result {
        Ok(Ok((fe, info))) => {
            if let Err(e) = xenstore::watch(&info.state_path(), BACKEND_TOKEN) {
                log::warn!("cannot watch the PV Calls backend state: {e}");
            }
            log::info!(
                "PV Calls connected to {} (domain {}, max-page-order {}, {}) in {} us",
                info.path,
                info.domid,
                info.max_page_order,
                if info.unprompted_read { "reads unprompted" } else { "events answered" },
                started.elapsed().as_micros()
            );
            State::Up(Box::new(Up { fe, info, closed: false, stuck_reported: false }))
        }
        Ok(Err(e)) => down(format!("PV Calls unavailable: {e}")),
        Err(e) => down(format!("PV Calls unavailable: xenstore: {e}")),
    }
}

fn down(why: String) -> State {
    println!("skiff: {why}");
    State::Down(Errno::ENETDOWN, why)
}

/// If the backend left the Connected state: fails every socket and closes
/// the xenbus connection ([`handshake::backend_closing`]), once.
fn watch_backend(up: &mut Up) {
    if !matches!(xenstore::take_watch_event(BACKEND_TOKEN), Ok(Some(_))) {
        return;
    }
    while let Ok(Some(_)) = xenstore::take_watch_event(BACKEND_TOKEN) {}
    if up.closed {
        return;
    }
    let Up { fe, info, closed, .. } = up;
    let state = xenstore::with_connection(|xs| handshake::backend_state(xs, info));
    let Ok(s) = state else { return };
    if !s.is_closed() {
        return;
    }
    log::warn!("PV Calls backend {} is closing (state {s}): failing all sockets", info.path);
    *closed = true;
    let started = skiff_kernel::time::Instant::now();
    let result = xenstore::with_connection(|xs| {
        Ok(handshake::backend_closing(xs, fe, info, handshake::DEFAULT_TIMEOUT_NS))
    });
    // Nothing more to hear from the backend (its queue goes with the watch).
    let _ = xenstore::unwatch(&info.state_path(), BACKEND_TOKEN);
    match result {
        Ok(Ok(())) => log::info!(
            "PV Calls backend closed in {} us; its rings are unmapped",
            started.elapsed().as_micros()
        ),
        Ok(Err(e)) => log::warn!(
            "PV Calls backend did not close ({e}); rings it still maps are given up, not reused"
        ),
        Err(e) => log::warn!("PV Calls close: xenstore: {e}"),
    }
}

/// Says once on the console that the backend stopped answering commands
/// (the frontend then fails every socket call instead of waiting).
fn report_stuck(up: &mut Up) {
    if let Some(GoneReason::Stuck(st)) = up.fe.gone_reason()
        && !core::mem::replace(&mut up.stuck_reported, true)
    {
        println!(
            "skiff: PV Calls backend {} left {} of socket {} unanswered for {} ms: it is stuck, \
             networking stops (calls fail with ETIMEDOUT, then ECONNABORTED; see \
             docs/pvcalls-back.md)",
            up.info.path,
            st.cmd_name(),
            st.id,
            st.waited_ns / 1_000_000
        );
    }
}

/// A description of the frontend for a debugging dump (`xl sysrq`): what
/// it holds, its sockets by phase and the commands dom0 has not answered.
/// `None` while networking is not up or the frontend is in use (this runs
/// from an idle hook, which must not wait for a lock).
pub fn describe() -> Option<String> {
    use core::fmt::Write;
    let mut state = NET.try_lock()?;
    let State::Up(up) = &mut *state else { return None };
    let mut out = String::new();
    let _ = write!(out, "PV Calls {}: {:?}", up.info.path, up.fe.resources());
    let mut phases: alloc::collections::BTreeMap<String, usize> =
        alloc::collections::BTreeMap::new();
    for s in up.fe.sockets() {
        let key = format!("{:?}{}", s.phase, if s.closing { " (closing)" } else { "" });
        *phases.entry(key).or_default() += 1;
    }
    let _ = write!(out, "\n  sockets by phase: {phases:?}");
    let ids: alloc::vec::Vec<_> = up.fe.sockets().map(|s| (s.id, s.port)).collect();
    for (id, port) in ids.into_iter().take(48) {
        let ready = up.fe.poll(id);
        let ev = port.map(skiff_kernel::xen::evtchn::port_state);
        let _ = write!(out, "\n  {id:?} port {port:?} {ready:?} evtchn {ev:?}");
    }
    for c in up.fe.commands() {
        let _ = write!(out, "\n  command in flight: {:?}", c.request);
    }
    if let Some(reason) = up.fe.gone_reason() {
        let _ = write!(out, "\n  backend gone: {reason:?}");
    }
    Some(out)
}

/// What the frontend holds and how many of its sockets the application
/// has open, without connecting; `None` while networking is not up.
pub fn resources() -> Option<(skiff_pvcalls::Resources, usize)> {
    match &*NET.lock() {
        State::Up(up) => Some((up.fe.resources(), up.fe.open_sockets())),
        _ => None,
    }
}

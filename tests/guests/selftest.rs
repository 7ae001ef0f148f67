//! `selftest`: exercises the kernel's Xen services under real Xen (time,
//! timers, event channels, grants, xenstore) and prints one line per check,
//! then `selftest: PASS n/n` (exit 0) or `selftest: FAIL k/n` (exit 1).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::time::Duration;

// A test of the kernel's own services: it uses the kernel crate directly.
use skiff::time::Instant;
use skiff_kernel::mm::pages::PageBlock;
use skiff_kernel::xen::xenstore::XsIo;
use skiff_kernel::xen::{evtchn, grant, xenstore};

use skiff::checks::{Check, ensure};

skiff::main!(main);

type NamedCheck = (&'static str, fn() -> Check);

fn main() -> i32 {
    let checks: [NamedCheck; 13] = [
        ("the clock keeps pace with the TSC", clock_follows_tsc),
        ("clock is monotonic", clock_monotonic),
        ("wall clock is plausible", wall_clock),
        ("a sleep blocks the vCPU until its deadline", sleep_timer),
        ("a wait times out at its deadline", wait_deadline),
        ("event channel loopback", event_loopback),
        ("an upcall arrives through the vector", upcall_vector),
        ("grant to dom0 and end access", grant_to_dom0),
        ("grant references are recycled", grant_recycle),
        ("xenstore reads own domid and name", xenstore_identity),
        ("xenstore write and read back", xenstore_write_read),
        ("xenstore watch fires", xenstore_watch),
        ("xenstore transaction", xenstore_transaction),
    ];
    skiff::checks::report("selftest", checks.into_iter().map(|(name, f)| (name, f())))
}

/// Right after boot, 5 ms of TSC time (a busy wait) must show as about 5 ms
/// of system time. A pvclock that mistook the first record's timestamp (from
/// before the guest's TSC origin) for a future one stood still here until
/// Xen's next update, up to a second later. The two measures differ by a
/// few percent under emulation (Xen recalibrates its TSC scale, and
/// `since_entry` applies the current scale to the whole span: 8.9 ms of TSC
/// time was 8.3 ms of system time once), so three quarters must show.
fn clock_follows_tsc() -> Check {
    let (tsc0, t0) = (skiff::time::since_entry(), Instant::now());
    // saturating: since_entry rescales with the current pvclock multiplier.
    let tsc_since = || skiff::time::since_entry().saturating_sub(tsc0);
    while tsc_since() < Duration::from_millis(5) {}
    let (tsc, t) = (tsc_since(), t0.elapsed());
    ensure(t >= tsc * 3 / 4, || format!("{tsc:?} of TSC time was {t:?} of system time"))?;
    Ok(format!("{tsc:?} of TSC time, {t:?} of system time"))
}

fn clock_monotonic() -> Check {
    let mut prev = Instant::now();
    for _ in 0..10_000 {
        let now = Instant::now();
        ensure(now >= prev, || format!("went back from {prev:?} to {now:?}"))?;
        prev = now;
    }
    let a = Instant::now();
    let mut spin = 0u64;
    while Instant::now() == a {
        spin += 1;
        ensure(spin < 10_000_000, || "clock does not advance".into())?;
    }
    Ok(format!("now = {} ns of system time", Instant::now().as_nanos()))
}

fn wall_clock() -> Check {
    let t = skiff::time::wall_clock();
    // 2020-01-01 .. 2100-01-01
    ensure(t.as_secs() > 1_577_836_800 && t.as_secs() < 4_102_444_800, || {
        format!("{} s since the epoch", t.as_secs())
    })?;
    Ok(format!("{} s since the epoch", t.as_secs()))
}

/// A sleep ends at its deadline, and the vCPU spends it blocked in Xen
/// (Xen's runstate), not spinning: at least half of it, so that the
/// check holds when the emulated machine is slow to wake the vCPU.
fn sleep_timer() -> Check {
    let usage = || skiff_kernel::usage::now().map_err(|e| format!("runstate: {e}"));
    let before = usage()?;
    let start = Instant::now();
    skiff::time::sleep(Duration::from_millis(50));
    let took = start.elapsed();
    let blocked = usage()?.blocked.saturating_sub(before.blocked);
    ensure(took >= Duration::from_millis(50), || format!("woke after {took:?}"))?;
    ensure(took < Duration::from_secs(5), || format!("slept far too long: {took:?}"))?;
    ensure(blocked >= Duration::from_millis(25), || {
        format!("the vCPU was blocked for only {blocked:?} of a {took:?} sleep")
    })?;
    Ok(format!(
        "50 ms sleep took {} us, {} us of it blocked",
        took.as_micros(),
        blocked.as_micros()
    ))
}

fn wait_deadline() -> Check {
    let start = Instant::now();
    let deadline = start + Duration::from_millis(30);
    let ready = skiff_kernel::wait::block_until(Some(deadline), || false);
    let now = Instant::now();
    ensure(!ready, || "condition reported ready".into())?;
    ensure(now >= deadline, || "returned before the deadline".into())?;
    Ok(format!("returned {} us after the deadline", now.duration_since(deadline).as_micros()))
}

fn event_loopback() -> Check {
    let domid = xenstore::domid().map_err(|e| format!("domid: {e}"))?;
    let a = evtchn::alloc_unbound(domid).map_err(|e| format!("alloc_unbound: {e}"))?;
    let b = evtchn::bind_interdomain(domid, a).map_err(|e| format!("bind_interdomain: {e}"))?;
    let deadline = || Some(Instant::now() + Duration::from_secs(2));
    let mut result = Ok(());
    for (from, to) in [(b, a), (a, b), (b, a)] {
        if let Err(e) = evtchn::send(from) {
            result = Err(format!("send on {from}: {e}"));
            break;
        }
        if !skiff_kernel::wait::block_until(deadline(), || evtchn::take_fired(to)) {
            result = Err(format!("port {to} did not fire after a send on {from}"));
            break;
        }
    }
    let closed = evtchn::close(a).and(evtchn::close(b));
    result?;
    closed.map_err(|e| format!("close: {e}"))?;
    Ok(format!("ports {a} <-> {b}, 3 events delivered"))
}

/// An event on a loopback channel is delivered through the upcall vector
/// (`HVM_PARAM_CALLBACK_IRQ`) once interrupts are let in, and the handler
/// marks the port fired.
fn upcall_vector() -> Check {
    ensure(evtchn::upcall_vector_routed(), || "no upcall vector is routed".into())?;
    let domid = xenstore::domid().map_err(|e| format!("domid: {e}"))?;
    let a = evtchn::alloc_unbound(domid).map_err(|e| format!("alloc_unbound: {e}"))?;
    let b = evtchn::bind_interdomain(domid, a).map_err(|e| format!("bind_interdomain: {e}"))?;
    let before = evtchn::vector_upcalls();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut windows = 0u32;
    let result = evtchn::send(b).map_err(|e| format!("send on {b}: {e}")).and_then(|()| {
        while !evtchn::take_fired(a) {
            if Instant::now() >= deadline {
                return Err(format!("port {a} not delivered after {windows} interrupt windows"));
            }
            evtchn::take_upcall_interrupts();
            windows += 1;
        }
        Ok(())
    });
    let taken = evtchn::vector_upcalls() - before;
    let closed = evtchn::close(a).and(evtchn::close(b));
    result?;
    closed.map_err(|e| format!("close: {e}"))?;
    ensure(taken > 0, || format!("port {a} fired, but not through the vector"))?;
    Ok(format!("port {a}: {taken} upcall(s) through the vector in {windows} window(s)"))
}

fn grant_to_dom0() -> Check {
    let page = PageBlock::alloc(0).map_err(|_| "no page".to_string())?;
    let before = grant::in_use();
    let r = grant::grant_access(0, page.gfn(0), false).map_err(|e| e.to_string())?;
    ensure(grant::in_use() == before + 1, || "in-use count did not grow".into())?;
    grant::end_access(r).map_err(|e| format!("end_access({r}): {e}"))?;
    ensure(grant::in_use() == before, || "in-use count did not shrink".into())?;
    ensure(grant::end_access(r) == Err(grant::GrantError::BadRef), || {
        "ending a grant twice was not refused".into()
    })?;
    Ok(format!("ref {r} for gfn {:#x}", page.gfn(0)))
}

fn grant_recycle() -> Check {
    let pages: Vec<PageBlock> =
        (0..4).map(|_| PageBlock::alloc(0)).collect::<Result<_, _>>().map_err(|_| "no page")?;
    let cap = grant::capacity() as usize;
    let mut refs = Vec::new();
    // Use every free reference, so the next grant must reuse one.
    while let Ok(r) = grant::grant_access(0, pages[refs.len() % 4].gfn(0), true) {
        refs.push(r);
    }
    let used = refs.len();
    ensure(
        grant::grant_access(0, pages[0].gfn(0), true) == Err(grant::GrantError::Exhausted),
        || "table did not report exhaustion".into(),
    )?;
    let last = *refs.last().ok_or("no grant at all")?;
    for r in refs.drain(..) {
        grant::end_access(r).map_err(|e| format!("end_access({r}): {e}"))?;
    }
    let again = grant::grant_access(0, pages[0].gfn(0), true).map_err(|e| e.to_string())?;
    grant::end_access(again).map_err(|e| e.to_string())?;
    ensure(again == last, || format!("expected recycled ref {last}, got {again}"))?;
    Ok(format!("{used} of {cap} refs granted, ended and reused"))
}

fn xenstore_identity() -> Check {
    let domid = xenstore::domid().map_err(|e| e.to_string())?;
    ensure(domid > 0, || "domid 0 for a guest".into())?;
    let name = xenstore::read("name").map_err(|e| format!("read name: {e}"))?;
    ensure(name == "selftest", || format!("name is {name:?}"))?;
    Ok(format!("domid {domid}, name {name:?}"))
}

fn xenstore_write_read() -> Check {
    let v = format!("value-{}", Instant::now().as_nanos());
    xenstore::write("data/skiff-selftest", &v).map_err(|e| format!("write: {e}"))?;
    let back = xenstore::read("data/skiff-selftest").map_err(|e| format!("read: {e}"))?;
    ensure(back == v, || format!("wrote {v:?}, read {back:?}"))?;
    let missing = xenstore::read("data/skiff-no-such-key");
    ensure(matches!(missing, Err(xenstore::Error::NoEnt)), || {
        format!("missing key gave {missing:?}")
    })?;
    let dir = xenstore::directory("data").map_err(|e| format!("directory: {e}"))?;
    ensure(dir.iter().any(|k| k == "skiff-selftest"), || format!("directory is {dir:?}"))?;
    xenstore::rm("data/skiff-selftest").map_err(|e| format!("rm: {e}"))?;
    Ok(format!("{} bytes round-tripped, ENOENT for a missing key", v.len()))
}

fn xenstore_watch() -> Check {
    let token = "selftest-watch";
    let path = "data/skiff-watched";
    xenstore::write(path, "0").map_err(|e| format!("write: {e}"))?;
    xenstore::watch(path, token).map_err(|e| format!("watch: {e}"))?;
    let soon = || Instant::now() + Duration::from_secs(5);
    // xenstored fires every new watch once.
    let wait = || xenstore::wait_watch_event(token, soon()).map_err(|e| format!("wait: {e}"));
    let first = wait()?.ok_or("no initial event")?;
    xenstore::write(path, "1").map_err(|e| format!("write: {e}"))?;
    let ev = wait()?.ok_or("no event after a write")?;
    xenstore::unwatch(path, token).map_err(|e| format!("unwatch: {e}"))?;
    ensure(ev.path.ends_with(path), || format!("event for {:?}", ev.path))?;
    Ok(format!("initial event {:?}, then {:?} after a write", first.path, ev.path))
}

fn xenstore_transaction() -> Check {
    let mut attempts = 0;
    let sum = xenstore::transaction(|tx| {
        attempts += 1;
        tx.write("data/skiff-tx-a", "20")?;
        tx.write("data/skiff-tx-b", "22")?;
        let a = tx.read_u32("data/skiff-tx-a")?;
        let b = tx.read_u32("data/skiff-tx-b")?;
        Ok(a + b)
    })
    .map_err(|e| format!("transaction: {e}"))?;
    ensure(sum == 42, || format!("read {sum} inside the transaction"))?;
    let a = xenstore::read("data/skiff-tx-a").map_err(|e| format!("read after commit: {e}"))?;
    ensure(a == "20", || format!("committed value is {a:?}"))?;
    xenstore::rm("data/skiff-tx-a")
        .and(xenstore::rm("data/skiff-tx-b"))
        .map_err(|e| e.to_string())?;
    Ok(format!("committed after {attempts} attempt(s)"))
}

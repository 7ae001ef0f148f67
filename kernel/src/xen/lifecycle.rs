//! The toolstack's `control/shutdown` requests (`xl shutdown`, `xl reboot`) and `control/sysrq`
//! keys (`xl sysrq`), honoured through xenstore watches of our own whenever the kernel waits (an
//! idle hook; docs/misc/xenstore-paths.pandoc).
#![forbid(unsafe_code)]

use spin::Once;

use super::evtchn;
use super::shutdown::{Reason, shutdown};
use super::xenstore::{self, Error, XsIo};

const WATCH_TOKEN: &str = "skiff-lifecycle";
const SYSRQ_TOKEN: &str = "skiff-sysrq";

static SYSRQ_HOOK: Once<fn(char)> = Once::new();

/// Registers what `xl sysrq DOMAIN KEY` runs (with the key), whenever the
/// kernel next waits. Only the first call counts. Without one, a key is
/// answered with a console line saying nothing handles it.
pub fn set_sysrq_hook(hook: fn(char)) {
    SYSRQ_HOOK.call_once(|| hook);
}

/// Advertises what the domain supports, watches `control/shutdown` and
/// registers the idle hook that acts on requests.
pub fn init() -> Result<(), Error> {
    xenstore::write("control/feature-poweroff", "1")?;
    xenstore::write("control/feature-reboot", "1")?;
    xenstore::watch("control/shutdown", WATCH_TOKEN)?;
    if let Err(e) = xenstore::watch("control/sysrq", SYSRQ_TOKEN) {
        log::warn!("xl sysrq will not be answered: {e}");
    }
    crate::wait::add_idle_hook(poll);
    Ok(())
}

/// The idle hook: acts on a pending shutdown request, if its watch fired.
/// Skips a turn while xenstore is in use (a request of the kernel's waits);
/// the watch event stays queued for our token, so nothing is missed.
fn poll() {
    let request = xenstore::try_with(|xs| {
        let fired = evtchn::take_fired(xs.transport().port());
        let ev = if fired { xs.poll_watch(WATCH_TOKEN)? } else { xs.take_watch(WATCH_TOKEN) };
        if ev.is_none() {
            return Ok(None);
        }
        while xs.take_watch(WATCH_TOKEN).is_some() {}
        match xs.read_string("control/shutdown") {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoEnt) => Ok(None),
            Err(e) => Err(e),
        }
    });
    match request {
        None | Some(Ok(None)) => {}
        Some(Ok(Some(r))) => act(&r),
        Some(Err(e)) => log::warn!("cannot read control/shutdown: {e}"),
    }
    let key = xenstore::try_with(|xs| {
        if xs.take_watch(SYSRQ_TOKEN).is_none() {
            return Ok(None);
        }
        while xs.take_watch(SYSRQ_TOKEN).is_some() {}
        match xs.read_string("control/sysrq") {
            Ok(v) => Ok(v.chars().next()),
            Err(Error::NoEnt) => Ok(None),
            Err(e) => Err(e),
        }
    });
    if let Some(Ok(Some(k))) = key {
        // Acknowledge, as Linux does, then run the hook outside xenstore.
        let _ = xenstore::write("control/sysrq", "");
        match SYSRQ_HOOK.get() {
            Some(hook) => hook(k),
            None => crate::println!("skiff: sysrq {k:?}: nothing handles sysrq keys in this image"),
        }
    }
}

fn act(request: &str) {
    let reason = match request {
        "" => return,
        "poweroff" | "halt" => Reason::Poweroff,
        "reboot" => Reason::Reboot,
        other => {
            log::warn!("ignoring unsupported shutdown request {other:?}");
            let _ = xenstore::write("control/shutdown", "");
            return;
        }
    };
    // Acknowledge, then go.
    let _ = xenstore::write("control/shutdown", "");
    crate::println!("skiff: {request} requested by the toolstack");
    crate::usage::print();
    shutdown(reason);
}

//! The toolstack's `control/shutdown` requests (`xl shutdown`, `xl reboot`),
//! honoured through a xenstore watch of our own whenever the kernel waits
//! (an idle hook; docs/misc/xenstore-paths.pandoc).
#![forbid(unsafe_code)]

use super::evtchn;
use super::shutdown::{Reason, shutdown};
use super::xenstore::{self, Error, XsIo};

const WATCH_TOKEN: &str = "skiff-lifecycle";

/// Advertises what the domain supports, watches `control/shutdown` and
/// registers the idle hook that acts on requests.
pub fn init() -> Result<(), Error> {
    xenstore::write("control/feature-poweroff", "1")?;
    xenstore::write("control/feature-reboot", "1")?;
    xenstore::watch("control/shutdown", WATCH_TOKEN)?;
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
    shutdown(reason);
}

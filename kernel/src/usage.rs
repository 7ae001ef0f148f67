//! What the vCPU spent its time on since it was created (Xen's runstate) and which hypercalls it made.
#![forbid(unsafe_code)]

use core::fmt;
use core::time::Duration;

use skiff_xen::vcpu::{RUNSTATE_BLOCKED, RUNSTATE_RUNNABLE, RUNSTATE_RUNNING};

use crate::xen::hypercall::XenError;
use crate::xen::{abi, hypercall};

/// The vCPU's time since Xen created it, by state.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    /// Running: the kernel's and the application's own work, and the
    /// hypercalls and exits Xen handled for them.
    pub running: Duration,
    /// Ready to run but waiting for a physical CPU (other domains ran).
    pub runnable: Duration,
    /// Blocked, waiting for an event or a deadline.
    pub blocked: Duration,
}

/// The vCPU's times now, from Xen (`VCPUOP_get_runstate_info`).
pub fn now() -> Result<Usage, XenError> {
    let info = hypercall::runstate()?;
    let now = crate::time::now_ns();
    let at = |state| Duration::from_nanos(info.time_at(state, now));
    Ok(Usage {
        running: at(RUNSTATE_RUNNING),
        runnable: at(RUNSTATE_RUNNABLE),
        blocked: at(RUNSTATE_BLOCKED),
    })
}

/// Prints one line: the vCPU's running, runnable and blocked time, how
/// often it blocked, and how many hypercalls of each kind it made. Each
/// hypercall is an exit to Xen, which under emulation costs tens of
/// microseconds: the line shows where a guest's own time went.
pub fn print() {
    let polls = crate::wait::polls();
    match now() {
        Ok(u) => crate::println!(
            "skiff: vCPU ran {} ms, waited {} ms for a CPU, blocked {} ms ({polls} polls); \
             hypercalls:{}",
            u.running.as_millis(),
            u.runnable.as_millis(),
            u.blocked.as_millis(),
            Counts
        ),
        Err(e) => crate::println!(
            "skiff: no runstate from Xen ({e}); {polls} polls; hypercalls:{}",
            Counts
        ),
    }
}

/// " name count," for each hypercall of the table made at least once.
struct Counts;

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let made = abi::NAMES.iter().map(|&(nr, name)| (name, hypercall::calls(nr)));
        for (i, (name, n)) in made.filter(|&(_, n)| n > 0).enumerate() {
            write!(f, "{} {name} {n}", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

//! What the vCPU spent its time on since boot, printed when the domain stops.
#![forbid(unsafe_code)]

use core::fmt;

use crate::xen::{abi, hypercall};

/// Prints the time since the PVH entry point, how much of it the vCPU was
/// busy (not blocked in Xen) and how many hypercalls of each kind it made.
/// Each hypercall is an exit to Xen, which under emulation costs tens of
/// microseconds: these show where a guest's own time goes.
pub fn print() {
    let (blocked, blocks) = crate::wait::blocked();
    let up = crate::time::since_entry();
    crate::println!(
        "skiff: vCPU busy {} ms of {} ms since PVH entry (blocked {blocks} times); hypercalls:{}",
        up.saturating_sub(blocked).as_millis(),
        up.as_millis(),
        Counts
    );
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

//! Boot milestones of the program on the console, in milliseconds after the PVH entry point.

/// Logs "linux: WHAT X.XXX ms after PVH entry" with the time since entry now.
pub(crate) fn report(what: &str) {
    let us = skiff_kernel::time::since_entry().as_micros();
    log::info!("linux: {what} {}.{:03} ms after PVH entry", us / 1000, us % 1000);
}

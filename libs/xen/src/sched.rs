//! Scheduler operations: `xen/include/public/sched.h`.

/// `SCHEDOP_yield`.
pub const SCHEDOP_YIELD: usize = 0;
/// `SCHEDOP_block`.
pub const SCHEDOP_BLOCK: usize = 1;
/// `SCHEDOP_shutdown`: argument is a [`SchedShutdown`].
pub const SCHEDOP_SHUTDOWN: usize = 2;

/// `SHUTDOWN_*` reason codes.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownReason {
    /// Domain exited normally. Clean up and kill.
    Poweroff = 0,
    /// Clean up, kill, and then restart.
    Reboot = 1,
    /// Clean up, save suspend info, kill.
    Suspend = 2,
    /// Tell controller we've crashed.
    Crash = 3,
    /// Restart because watchdog time expired.
    Watchdog = 4,
}

/// `struct sched_shutdown`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SchedShutdown {
    /// A [`ShutdownReason`] as u32.
    pub reason: u32,
}

const _: () = assert!(core::mem::size_of::<SchedShutdown>() == 4);

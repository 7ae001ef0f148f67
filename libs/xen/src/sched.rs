//! Scheduler operations: `xen/include/public/sched.h`.

/// `SCHEDOP_yield`.
pub const SCHEDOP_YIELD: usize = 0;

/// `SCHEDOP_yield` (no argument).
#[derive(Clone, Copy, Debug, Default)]
pub struct Yield;
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

/// `SCHEDOP_poll`: block until one of the listed ports is pending or the
/// timeout passes. Argument is a [`SchedPoll`].
pub const SCHEDOP_POLL: usize = 3;
/// Most ports one `SCHEDOP_poll` may list (`do_poll` in common/sched/core.c).
pub const POLL_MAX_PORTS: usize = 128;

/// `struct sched_poll`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SchedPoll {
    /// Guest address of an array of `evtchn_port_t` (u32).
    pub ports: u64,
    /// Number of ports in the array.
    pub nr_ports: u32,
    /// Padding before the 64-bit field.
    pub pad: u32,
    /// Absolute system time (ns) to give up at; 0 = no timeout.
    pub timeout: u64,
}

const _: () = assert!(core::mem::size_of::<SchedPoll>() == 24);

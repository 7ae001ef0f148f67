//! VCPU operations: `xen/include/public/vcpu.h`.

/// `VCPUOP_set_singleshot_timer`: argument is a [`SingleshotTimer`].
/// (4 is [`VCPUOP_GET_RUNSTATE_INFO`], which writes a 48-byte
/// `vcpu_runstate_info` where this 16-byte struct lies.)
pub const VCPUOP_SET_SINGLESHOT_TIMER: usize = 8;
/// `VCPUOP_stop_singleshot_timer`.
pub const VCPUOP_STOP_SINGLESHOT_TIMER: usize = 9;
/// `VCPU_SSHOTTMR_future`: fail with -ETIME if the deadline already passed.
pub const SSHOTTMR_FUTURE: u32 = 1;

/// `struct vcpu_set_singleshot_timer`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SingleshotTimer {
    /// Absolute system time (ns) of the deadline.
    pub timeout_abs_ns: u64,
    /// `VCPU_SSHOTTMR_*`.
    pub flags: u32,
    /// Tail padding of the C struct.
    pub pad: u32,
}

const _: () = assert!(core::mem::size_of::<SingleshotTimer>() == 16);

/// `VCPUOP_stop_periodic_timer`.
pub const VCPUOP_STOP_PERIODIC_TIMER: usize = 7;

/// `VCPUOP_get_runstate_info`: Xen fills a [`RunstateInfo`].
pub const VCPUOP_GET_RUNSTATE_INFO: usize = 4;
/// `RUNSTATE_running`: index into [`RunstateInfo::time`].
pub const RUNSTATE_RUNNING: usize = 0;
/// `RUNSTATE_runnable`: ready to run, waiting for a physical CPU.
pub const RUNSTATE_RUNNABLE: usize = 1;
/// `RUNSTATE_blocked`: waiting for an event.
pub const RUNSTATE_BLOCKED: usize = 2;
/// `RUNSTATE_offline`: not runnable for another reason (being built, paused).
pub const RUNSTATE_OFFLINE: usize = 3;

/// `struct vcpu_runstate_info`: how long a vCPU has spent in each state
/// since it was created, as Xen accounts it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RunstateInfo {
    /// The state now (`RUNSTATE_*`).
    pub state: i32,
    /// Padding of the C struct before the 64-bit field.
    pub pad: u32,
    /// System time (ns) at which the state now was entered (bit 63 is an
    /// update flag Skiff does not turn on).
    pub state_entry_time: u64,
    /// Nanoseconds spent in each state before the one now, indexed by `RUNSTATE_*`.
    pub time: [u64; 4],
}

const _: () = assert!(core::mem::size_of::<RunstateInfo>() == 48);

impl RunstateInfo {
    /// Nanoseconds in state `i` up to system time `now_ns`, counting the
    /// time in the current state since it was entered.
    pub fn time_at(&self, i: usize, now_ns: u64) -> u64 {
        let mut t = self.time.get(i).copied().unwrap_or(0);
        if usize::try_from(self.state).is_ok_and(|s| s == i) {
            t = t.saturating_add(now_ns.saturating_sub(self.state_entry_time & !(1 << 63)));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_state_counts_up_to_now() {
        let r = RunstateInfo {
            state: RUNSTATE_RUNNING as i32,
            pad: 0,
            state_entry_time: 1_000,
            time: [10, 20, 30, 40],
        };
        assert_eq!(r.time_at(RUNSTATE_RUNNING, 1_500), 510);
        assert_eq!(r.time_at(RUNSTATE_BLOCKED, 1_500), 30);
        assert_eq!(r.time_at(7, 1_500), 0, "no such state");
        // A clock behind the entry time adds nothing.
        assert_eq!(r.time_at(RUNSTATE_RUNNING, 900), 10);
    }
}

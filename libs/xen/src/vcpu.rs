//! VCPU operations: `xen/include/public/vcpu.h`.

/// `VCPUOP_set_singleshot_timer`: argument is a [`SingleshotTimer`].
/// (4 is `VCPUOP_get_runstate_info`, which writes a 48-byte
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

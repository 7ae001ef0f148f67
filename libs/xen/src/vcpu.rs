//! VCPU operations: `xen/include/public/vcpu.h`.

/// `VCPUOP_set_singleshot_timer`: argument is a [`SingleshotTimer`].
pub const VCPUOP_SET_SINGLESHOT_TIMER: usize = 4;
/// `VCPUOP_stop_singleshot_timer`.
pub const VCPUOP_STOP_SINGLESHOT_TIMER: usize = 5;
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

//! Hypercall numbers: `xen/include/public/xen.h` (`__HYPERVISOR_*`).

/// `__HYPERVISOR_memory_op`.
pub const MEMORY_OP: usize = 12;
/// `__HYPERVISOR_xen_version`.
pub const XEN_VERSION: usize = 17;
/// `__HYPERVISOR_console_io`.
pub const CONSOLE_IO: usize = 18;
/// `__HYPERVISOR_grant_table_op`.
pub const GRANT_TABLE_OP: usize = 20;
/// `__HYPERVISOR_vcpu_op`.
pub const VCPU_OP: usize = 24;
/// `__HYPERVISOR_sched_op`.
pub const SCHED_OP: usize = 29;
/// `__HYPERVISOR_event_channel_op`.
pub const EVENT_CHANNEL_OP: usize = 32;
/// `__HYPERVISOR_hvm_op`.
pub const HVM_OP: usize = 34;

/// Each hypercall has a 32-byte stub in the hypercall page.
pub const STUB_SIZE: usize = 32;

/// `CONSOLEIO_write` (`xen.h`): write to Xen's own console (debug builds or
/// `guest_loglvl=all`).
pub const CONSOLEIO_WRITE: usize = 0;

/// CPUID signature of the Xen leaves ("XenVMMXenVMM" in ebx, ecx, edx),
/// `arch-x86/cpuid.h`.
pub const CPUID_SIGNATURE: [u32; 3] = [0x566e_6558, 0x65584d4d, 0x4d4d566e];
/// First CPUID leaf to probe for the Xen signature; leaves repeat every 0x100.
pub const CPUID_FIRST_LEAF: u32 = 0x4000_0000;
/// Last CPUID leaf base probed.
pub const CPUID_LAST_LEAF: u32 = 0x4001_0000;

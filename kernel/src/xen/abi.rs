//! The hypercall table: each ABI argument structure paired, once, with its hypercall and command
//! numbers and argument layout (`xen/include/public`). Nothing else in the kernel names a
//! hypercall number: calls go through [`hypercall::op`](super::hypercall::op).
//!
//! A sub-operation marked `unchecked` can break memory safety with some field values (it replaces
//! a guest page, or changes how Xen enters the guest) and is issued only with
//! [`hypercall::op_unchecked`](super::hypercall::op_unchecked) by a function that documents what
//! its callers must ensure.

use skiff_xen::event_channel::{self as ev, AllocUnbound, BindInterdomain, BindVirq};
use skiff_xen::grant_table::{GNTTABOP_QUERY_SIZE, QuerySize};
use skiff_xen::hvm::{self, GetParam, SetParam};
use skiff_xen::hypercall::{
    EVENT_CHANNEL_OP, GRANT_TABLE_OP, HVM_OP, MEMORY_OP, SCHED_OP, VCPU_OP, XEN_VERSION,
};
use skiff_xen::memory::{AddToPhysmap, XENMEM_ADD_TO_PHYSMAP};
use skiff_xen::sched::{
    SCHEDOP_POLL, SCHEDOP_SHUTDOWN, SCHEDOP_YIELD, SchedPoll, SchedShutdown, Yield,
};
use skiff_xen::vcpu::{RunstateInfo, VCPUOP_GET_RUNSTATE_INFO};
use skiff_xen::version::{Extraversion, Version, XENVER_EXTRAVERSION, XENVER_VERSION};

use super::hypercall::{Args, HypercallArg};

/// The hypercalls the table issues, named as in Xen's public headers (for
/// the usage counts of [`hypercall::calls`](super::hypercall::calls)).
pub const NAMES: [(usize, &str); 7] = [
    (SCHED_OP, "sched_op"),
    (EVENT_CHANNEL_OP, "event_channel_op"),
    (VCPU_OP, "vcpu_op"),
    (GRANT_TABLE_OP, "grant_table_op"),
    (MEMORY_OP, "memory_op"),
    (HVM_OP, "hvm_op"),
    (XEN_VERSION, "xen_version"),
];

macro_rules! table {
    ($($ty:ty => $hc:expr, $cmd:expr, $args:expr, $safe:ident;)*) => {
        $(
            // SAFETY: checked against Xen's public headers: this hypercall and command take
            // exactly this structure, laid out as `Args` says (sizes asserted in skiff-xen), and
            // access no other guest memory; `safe` entries are harmless whatever the fields hold.
            unsafe impl HypercallArg for $ty {
                const HYPERCALL: usize = $hc;
                const CMD: usize = $cmd;
                const ARGS: Args = $args;
                const SAFE: bool = table!(@safe $safe);
            }
        )*
    };
    (@safe safe) => { true };
    (@safe unchecked) => { false };
}

table! {
    // sched.h
    SchedShutdown => SCHED_OP, SCHEDOP_SHUTDOWN, Args::CmdPtr, safe;
    // Xen reads the port array `ports` names; it writes nothing.
    SchedPoll => SCHED_OP, SCHEDOP_POLL, Args::CmdPtr, safe;
    Yield => SCHED_OP, SCHEDOP_YIELD, Args::CmdNull, safe;
    // vcpu.h: vCPU 0, the only one Skiff runs; Xen writes the 48-byte structure and nothing else.
    RunstateInfo => VCPU_OP, VCPUOP_GET_RUNSTATE_INFO, Args::CmdVcpuPtr(0), safe;
    // grant_table.h: an array of one.
    QuerySize => GRANT_TABLE_OP, GNTTABOP_QUERY_SIZE, Args::CmdPtrCount(1), safe;
    // hvm_op.h: setting a parameter changes how Xen delivers events into the guest.
    GetParam => HVM_OP, hvm::HVMOP_GET_PARAM, Args::CmdPtr, safe;
    SetParam => HVM_OP, hvm::HVMOP_SET_PARAM, Args::CmdPtr, unchecked;
    // memory.h: replaces the page at `gpfn` with one of Xen's.
    AddToPhysmap => MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, Args::CmdPtr, unchecked;
    // event_channel.h
    AllocUnbound => EVENT_CHANNEL_OP, ev::EVTCHNOP_ALLOC_UNBOUND, Args::CmdPtr, safe;
    BindInterdomain => EVENT_CHANNEL_OP, ev::EVTCHNOP_BIND_INTERDOMAIN, Args::CmdPtr, safe;
    BindVirq => EVENT_CHANNEL_OP, ev::EVTCHNOP_BIND_VIRQ, Args::CmdPtr, safe;
    ev::Send => EVENT_CHANNEL_OP, ev::EVTCHNOP_SEND, Args::CmdPtr, safe;
    ev::Close => EVENT_CHANNEL_OP, ev::EVTCHNOP_CLOSE, Args::CmdPtr, safe;
    // version.h
    Version => XEN_VERSION, XENVER_VERSION, Args::CmdNull, safe;
    Extraversion => XEN_VERSION, XENVER_EXTRAVERSION, Args::CmdPtr, safe;
}

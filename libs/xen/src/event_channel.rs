//! Event channel operations: `xen/include/public/event_channel.h`.

use crate::DomId;

/// Event channel port number.
pub type Port = u32;

/// `EVTCHNOP_bind_interdomain`.
pub const EVTCHNOP_BIND_INTERDOMAIN: usize = 0;
/// `EVTCHNOP_bind_virq`.
pub const EVTCHNOP_BIND_VIRQ: usize = 1;
/// `EVTCHNOP_close`.
pub const EVTCHNOP_CLOSE: usize = 3;
/// `EVTCHNOP_send`.
pub const EVTCHNOP_SEND: usize = 4;
/// `EVTCHNOP_alloc_unbound`.
pub const EVTCHNOP_ALLOC_UNBOUND: usize = 6;
/// `EVTCHNOP_unmask`.
pub const EVTCHNOP_UNMASK: usize = 9;

/// `VIRQ_TIMER`: the per-vCPU single-shot/periodic timer (`xen.h`).
pub const VIRQ_TIMER: u32 = 0;

/// Number of ports the 2-level ABI supports on 64-bit guests (64 * 64).
pub const NR_2L_PORTS: u32 = 4096;

/// `struct evtchn_alloc_unbound`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct AllocUnbound {
    /// Allocating domain (`DOMID_SELF`).
    pub dom: DomId,
    /// Domain allowed to bind the other end.
    pub remote_dom: DomId,
    /// Out: the new port.
    pub port: Port,
}

/// `struct evtchn_bind_interdomain`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BindInterdomain {
    /// Remote domain.
    pub remote_dom: DomId,
    /// Padding.
    pub pad: u16,
    /// Remote port, unbound and allocated for us.
    pub remote_port: Port,
    /// Out: our new port.
    pub local_port: Port,
}

/// `struct evtchn_bind_virq`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BindVirq {
    /// `VIRQ_*`.
    pub virq: u32,
    /// vCPU to deliver to.
    pub vcpu: u32,
    /// Out: the port.
    pub port: Port,
}

/// `struct evtchn_close`, `evtchn_send` and `evtchn_unmask`: one port.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PortArg {
    /// The port.
    pub port: Port,
}

/// The argument of `EVTCHNOP_send`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Send(pub PortArg);

/// The argument of `EVTCHNOP_close`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Close(pub PortArg);

const _: () = assert!(core::mem::size_of::<AllocUnbound>() == 8);
const _: () = assert!(core::mem::size_of::<BindInterdomain>() == 12);
const _: () = assert!(core::mem::size_of::<BindVirq>() == 12);

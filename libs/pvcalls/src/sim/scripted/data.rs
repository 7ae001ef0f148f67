//! The scripted backend's end of one data ring: mapped through `SimHost` grants, written and read on command.

use std::sync::Arc;
use std::vec::Vec;

use skiff_ring::{ByteRing, SharedMem};
use skiff_xen::pvcalls::{data_ring_size, intf};

use crate::platform::{GrantRef, Port};
use crate::sim::BACKEND_DOMID;
use crate::sim::host::{Mapped, SimHost};

/// A data ring the backend maps (after a CONNECT or an ACCEPT).
#[derive(Debug)]
pub(crate) struct BackData {
    /// The socket it belongs to.
    pub id: u64,
    idx: Mapped,
    data: Mapped,
    port: Port,
    host: Arc<SimHost>,
    size: u32,
    /// Bytes produced into `in` so far.
    pub produced: u64,
    /// Bytes consumed from `out` so far.
    pub consumed: Vec<u8>,
}

impl BackData {
    /// Maps the ring whose indexes page is `ring_ref` (`ring_order` at
    /// most `max_order`) and binds `port`, as `pvcalls_back_connect` does;
    /// `None` (nothing left mapped or bound) if any of it fails.
    pub fn map(
        host: &Arc<SimHost>,
        id: u64,
        ring_ref: GrantRef,
        port: Port,
        max_order: u32,
    ) -> Option<Self> {
        let idx = Mapped::map(host, BACKEND_DOMID, &[ring_ref])?;
        let order = idx.load_u32(intf::RING_ORDER);
        if order == 0 || order > max_order {
            return None;
        }
        let refs: Vec<GrantRef> =
            (0..1usize << order).map(|i| idx.load_u32(intf::REF + 4 * i)).collect();
        let data = Mapped::map(host, BACKEND_DOMID, &refs)?;
        if !host.bind_port(port) {
            return None;
        }
        let size = data_ring_size(order) as u32;
        Some(BackData {
            id,
            idx,
            data,
            port,
            host: host.clone(),
            size,
            produced: 0,
            consumed: Vec::new(),
        })
    }

    fn in_ring(&self) -> ByteRing {
        ByteRing::new(0, self.size, intf::IN_PROD, intf::IN_CONS)
    }

    fn out_ring(&self) -> ByteRing {
        ByteRing::new(self.size as usize, self.size, intf::OUT_PROD, intf::OUT_CONS)
    }

    /// Writes as much of `bytes` into `in` as fits (nothing if its
    /// indexes are impossible); returns how much.
    pub fn write_in(&mut self, bytes: &[u8]) -> usize {
        let n = self.in_ring().producer().write_split(&self.idx, &self.data, bytes).unwrap_or(0);
        self.produced += n as u64;
        n
    }

    /// Consumes up to `max` bytes of `out`; returns them.
    pub fn read_out(&mut self, max: usize) -> Vec<u8> {
        let mut buf = std::vec![0u8; max.min(self.size as usize)];
        let n = self.out_ring().consumer().read_split(&self.idx, &self.data, &mut buf).unwrap_or(0);
        buf.truncate(n);
        self.consumed.extend_from_slice(&buf);
        buf
    }

    /// Bytes waiting in `out` (0 if its indexes are impossible).
    pub fn out_pending(&self) -> usize {
        self.out_ring().consumer().available(&self.idx).unwrap_or(0) as usize
    }

    /// Stores `val` at byte `off` of the indexes page.
    pub fn store(&self, off: usize, val: u32) {
        self.idx.store_u32(off, val);
    }

    /// Signals the frontend on the ring's port.
    pub fn notify(&self) {
        self.host.notify_front(self.port);
    }
}

impl Drop for BackData {
    fn drop(&mut self) {
        // The mappings go with `idx` and `data`.
        self.host.unbind_port(self.port);
    }
}

//! The scripted backend's end of the command ring: requests read and responses written raw, so any index can be published.

use std::vec::Vec;

use skiff_ring::SharedMem;
use skiff_ring::sring::hdr;
use skiff_xen::pvcalls::{CMD_RING_ENTRIES, req, rsp};

use crate::cmd::CMD_LAYOUT;
use crate::platform::Port;
use crate::sim::host::Mapped;
use crate::wire::Response;

/// The mapped command ring and the backend's private indexes.
#[derive(Debug)]
pub(crate) struct BackCmd {
    pub mem: Mapped,
    pub port: Port,
    req_cons: u32,
    rsp_prod: u32,
}

impl BackCmd {
    /// Attaches where the frontend initialised the ring.
    pub fn attach(mem: Mapped, port: Port) -> Self {
        let start = mem.load_u32(hdr::REQ_PROD);
        BackCmd { mem, port, req_cons: start, rsp_prod: start }
    }

    /// Every request published since the last call (none if `req_prod`
    /// is more than a ring ahead: the backend ignores a ring it cannot
    /// trust, as Linux's does).
    pub fn take(&mut self) -> Vec<[u8; req::SIZE]> {
        let prod = self.mem.load_u32(hdr::REQ_PROD);
        let n = prod.wrapping_sub(self.req_cons);
        if n > CMD_RING_ENTRIES {
            return Vec::new();
        }
        (0..n)
            .map(|_| {
                let mut e = [0u8; req::SIZE];
                self.mem.read_bytes(CMD_LAYOUT.entry_offset(self.req_cons), &mut e);
                self.req_cons = self.req_cons.wrapping_add(1);
                e
            })
            .collect()
    }

    /// Writes `r` into the next response slot and publishes it; returns
    /// whether the frontend asked to be notified (`rsp_event`).
    pub fn respond(&mut self, r: &Response) -> bool {
        self.mem.write_bytes(CMD_LAYOUT.entry_offset(self.rsp_prod), &r.encode());
        let old = self.rsp_prod;
        self.rsp_prod = old.wrapping_add(1);
        self.publish(old)
    }

    /// Moves the published `rsp_prod` by `delta` (it may claim responses
    /// that were never written, or take some back).
    pub fn shift(&mut self, delta: u32) -> bool {
        let old = self.rsp_prod;
        self.rsp_prod = old.wrapping_add(delta);
        self.publish(old)
    }

    fn publish(&self, old: u32) -> bool {
        self.mem.store_u32(hdr::RSP_PROD, self.rsp_prod);
        let event = self.mem.load_u32(hdr::RSP_EVENT);
        self.rsp_prod.wrapping_sub(event) < self.rsp_prod.wrapping_sub(old)
    }

    /// Stores `val` in the header word `which % 16`.
    pub fn store_header(&self, which: u8, val: u32) {
        self.mem.store_u32(usize::from(which % 16) * 4, val);
    }
}

const _: () = assert!(rsp::SIZE <= req::SIZE);

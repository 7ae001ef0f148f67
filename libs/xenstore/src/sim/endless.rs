//! A xenstore page whose response ring can look endlessly full of watch events, however much is read.

use alloc::vec::Vec;
use core::cell::Cell;

use skiff_ring::{HostMem, SharedMem};
use skiff_xen::xs_wire::intf;

use crate::MsgType;
use crate::wire::encode_message;

/// Size of one repeated event (header + padded payload).
const BLOCK: usize = 64;

/// [`HostMem`] with an "endless" switch: while on, `rsp_prod` reads as
/// `rsp_cons + 1024` and the response ring reads as back-to-back 64-byte
/// watch events for one token, so a client that drains without a bound
/// never stops.
#[derive(Debug)]
pub struct EndlessMem {
    mem: HostMem,
    endless: Cell<bool>,
    block: Vec<u8>,
}

impl EndlessMem {
    /// A zeroed page, not endless.
    pub fn new() -> Self {
        EndlessMem { mem: HostMem::pages(1), endless: Cell::new(false), block: Vec::new() }
    }

    /// Turns the endless stream on (events for `token`) or off.
    pub fn set_endless(&mut self, token: Option<&str>) {
        self.endless.set(token.is_some());
        self.block = token.map_or_else(Vec::new, |t| {
            let mut payload = [b"/flood\0", t.as_bytes(), b"\0"].concat();
            payload.resize(BLOCK - crate::wire::HEADER_LEN, 0);
            encode_message(MsgType::WatchEvent, 0, 0, &[&payload]).unwrap_or_default()
        });
        if self.block.len() != BLOCK {
            self.endless.set(false);
        }
    }

    /// Whether the endless stream is on.
    pub fn is_endless(&self) -> bool {
        self.endless.get()
    }
}

impl Default for EndlessMem {
    fn default() -> Self {
        Self::new()
    }
}

impl SharedMem for EndlessMem {
    fn size(&self) -> usize {
        self.mem.size()
    }
    fn load_u32(&self, off: usize) -> u32 {
        if self.endless.get() && off == intf::RSP_PROD {
            return self.mem.load_u32(intf::RSP_CONS).wrapping_add(1024);
        }
        self.mem.load_u32(off)
    }
    fn store_u32(&self, off: usize, val: u32) {
        self.mem.store_u32(off, val)
    }
    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        if self.endless.get() && (intf::RSP..intf::RSP + 1024).contains(&off) {
            for (i, b) in dst.iter_mut().enumerate() {
                *b = self.block[(off - intf::RSP + i) % BLOCK];
            }
            return;
        }
        self.mem.read_bytes(off, dst)
    }
    fn write_bytes(&self, off: usize, src: &[u8]) {
        self.mem.write_bytes(off, src)
    }
}

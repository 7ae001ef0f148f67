//! A fake `Env`: memory mapped into a shared `FakeMem`, a settable clock, recorded console and notices.

use alloc::vec::Vec;
use core::net::SocketAddrV4;
use core::task::Poll;

use skiff_pvcalls::{Errno, Readiness};

use super::{FakeMem, FakeSockets};
use crate::env::{Env, Notice, SocketHandle, Sockets};
use crate::vm::Prot;

/// The fake kernel. Fields are public for tests to script and inspect.
#[derive(Debug)]
pub struct FakeEnv {
    /// The memory `map_anon` maps into (shared with the test's `FakeMem`).
    pub mem: FakeMem,
    /// Where the next anonymous mapping goes.
    pub next_map: u64,
    /// Bytes still available for mappings.
    pub mem_left: u64,
    /// The socket engine.
    pub net: FakeSockets,
    /// Monotonic time, ns.
    pub now: u64,
    /// Wall-clock time at monotonic 0, ns since the epoch.
    pub epoch: u64,
    /// Whether the CPU has RDRAND.
    pub hw_random: bool,
    /// Counter for the random bytes.
    pub random_state: u8,
    /// Console output.
    pub console: Vec<u8>,
    /// Notices, in order.
    pub notices: Vec<Notice>,
    /// FS bases set, in order.
    pub fs_bases: Vec<u64>,
    /// Calls to `unmap`, `reset_range` and `protect`, in order.
    pub mem_calls: Vec<(&'static str, u64, u64)>,
}

impl FakeEnv {
    /// A fake with 64 MiB for mappings at 0x10_0000_0000, the clock at 1 s,
    /// the wall clock at 2026-01-01, and RDRAND.
    pub fn new(mem: FakeMem) -> Self {
        FakeEnv {
            mem,
            next_map: 0x10_0000_0000,
            mem_left: 64 << 20,
            net: FakeSockets::new(),
            now: 1_000_000_000,
            epoch: 1_767_225_600_000_000_000,
            hw_random: true,
            random_state: 0,
            console: Vec::new(),
            notices: Vec::new(),
            fs_bases: Vec::new(),
            mem_calls: Vec::new(),
        }
    }
}

impl Sockets for FakeEnv {
    fn socket(&mut self) -> Result<SocketHandle, Errno> {
        self.net.socket()
    }
    fn bind(&mut self, s: SocketHandle, addr: SocketAddrV4) -> Poll<Result<(), Errno>> {
        self.net.bind(s, addr)
    }
    fn listen(&mut self, s: SocketHandle, backlog: u32) -> Poll<Result<(), Errno>> {
        self.net.listen(s, backlog)
    }
    fn accept(&mut self, s: SocketHandle) -> Poll<Result<SocketHandle, Errno>> {
        self.net.accept(s)
    }
    fn connect(&mut self, s: SocketHandle, addr: SocketAddrV4) -> Poll<Result<(), Errno>> {
        self.net.connect(s, addr)
    }
    fn send(&mut self, s: SocketHandle, buf: &[u8]) -> Poll<Result<usize, Errno>> {
        self.net.send(s, buf)
    }
    fn recv(&mut self, s: SocketHandle, buf: &mut [u8]) -> Poll<Result<usize, Errno>> {
        self.net.recv(s, buf)
    }
    fn close(&mut self, s: SocketHandle) {
        self.net.close(s)
    }
    fn readiness(&mut self, s: SocketHandle) -> Readiness {
        self.net.readiness(s)
    }
    fn available(&mut self, s: SocketHandle) -> Result<usize, Errno> {
        self.net.available(s)
    }
}

impl Env for FakeEnv {
    fn map_anon(&mut self, len: u64, prot: Prot) -> Result<u64, Errno> {
        if len > self.mem_left {
            return Err(Errno::ENOMEM);
        }
        self.mem_left -= len;
        let at = self.next_map;
        // A guard page between mappings, so that overruns fault.
        self.next_map += len + 4096;
        self.mem.map_prot(at, len, prot);
        Ok(at)
    }

    fn reset_range(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        self.mem_calls.push(("reset", addr, len));
        self.mem.map_prot(addr, len, prot);
        Ok(())
    }

    fn unmap(&mut self, addr: u64, len: u64) {
        self.mem_calls.push(("unmap", addr, len));
        self.mem.unmap(addr, len);
        self.mem_left += len;
    }

    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        self.mem_calls.push(("protect", addr, len));
        self.mem.protect(addr, len, prot);
        Ok(())
    }

    fn set_fs_base(&mut self, base: u64) {
        self.fs_bases.push(base);
    }

    fn random(&mut self, buf: &mut [u8]) -> bool {
        for b in buf {
            self.random_state = self.random_state.wrapping_mul(17).wrapping_add(29);
            *b = self.random_state;
        }
        self.hw_random
    }

    fn monotonic_ns(&self) -> u64 {
        self.now
    }

    fn realtime_ns(&self) -> u64 {
        self.epoch + self.now
    }

    fn console(&mut self, bytes: &[u8]) {
        self.console.extend_from_slice(bytes);
    }

    fn notice(&mut self, notice: Notice) {
        self.notices.push(notice);
    }
}

//! The kernel's services to the Linux personality: application memory (`UserMem`), mappings,
//! clocks, randomness and the console (`Env`), and sockets on the one PV Calls frontend (`Sockets`).

use core::net::SocketAddrV4;
use core::task::Poll;

use skiff_kernel::user::memory::{self, Prot as KProt};
use skiff_kernel::user::thread;
use skiff_linux::env::{Env, Notice, SocketHandle, Sockets};
use skiff_linux::mem::UserMem;
use skiff_linux::vm::Prot;
use skiff_pvcalls::{Errno, Readiness, SocketId};

use crate::net::frontend;

/// The application's memory, reached through the kernel's checked copies.
#[derive(Debug, Default)]
pub(crate) struct KernelMem;

impl UserMem for KernelMem {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        memory::read(addr, buf).map_err(|_| Errno::EFAULT)
    }

    fn write(&mut self, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        memory::write(addr, buf).map_err(|_| Errno::EFAULT)
    }
}

/// The kernel's services. `seed` feeds the fallback generator when the
/// CPU has no RDRAND/RDSEED.
#[derive(Debug, Default)]
pub(crate) struct KernelEnv {
    seed: u64,
    /// The program called accept before (the console told when it first did).
    accepted_before: bool,
}

pub(crate) fn kprot(p: Prot) -> KProt {
    KProt {
        read: p.contains(Prot::READ),
        write: p.contains(Prot::WRITE),
        exec: p.contains(Prot::EXEC),
    }
}

/// Fills `buf` from the CPU's generator; `false` (and bytes of a
/// splitmix64 sequence seeded from the clock) when it has none.
pub(crate) fn random_bytes(seed: &mut u64, buf: &mut [u8]) -> bool {
    let mut hardware = true;
    for chunk in buf.chunks_mut(8) {
        let v = match skiff_kernel::arch::cpu::hardware_random() {
            Some(v) if hardware => v,
            _ => {
                hardware = false;
                if *seed == 0 {
                    *seed = skiff_kernel::arch::cpu::rdtsc() | 1;
                }
                *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = *seed;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            }
        };
        chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
    }
    hardware
}

fn id(s: SocketHandle) -> SocketId {
    SocketId(s.0)
}

impl Sockets for KernelEnv {
    fn socket(&mut self) -> Result<SocketHandle, Errno> {
        const AF_INET: u32 = 2;
        const SOCK_STREAM: u32 = 1;
        frontend::with(|fe| fe.socket(AF_INET, SOCK_STREAM, 0))?.map(|s| SocketHandle(s.0))
    }

    // The engine's answers are the trait's: `Pending` is "not yet". The
    // `?` is for a frontend that is down (`Ready(Err(ENETDOWN))`).

    fn bind(&mut self, s: SocketHandle, addr: SocketAddrV4) -> Poll<Result<(), Errno>> {
        frontend::with(|fe| fe.bind(id(s), addr))?
    }

    fn listen(&mut self, s: SocketHandle, backlog: u32) -> Poll<Result<(), Errno>> {
        frontend::with(|fe| fe.listen(id(s), backlog))?
    }

    fn accept(&mut self, s: SocketHandle) -> Poll<Result<SocketHandle, Errno>> {
        if !self.accepted_before {
            self.accepted_before = true;
            super::milestone::report("first accept");
        }
        frontend::with(|fe| fe.accept(id(s)))?.map_ok(|n| SocketHandle(n.0))
    }

    fn connect(&mut self, s: SocketHandle, addr: SocketAddrV4) -> Poll<Result<(), Errno>> {
        frontend::with(|fe| fe.connect(id(s), addr))?
    }

    fn send(&mut self, s: SocketHandle, buf: &[u8]) -> Poll<Result<usize, Errno>> {
        frontend::with(|fe| fe.send(id(s), buf))?
    }

    fn recv(&mut self, s: SocketHandle, buf: &mut [u8]) -> Poll<Result<usize, Errno>> {
        frontend::with(|fe| fe.recv(id(s), buf))?
    }

    fn close(&mut self, s: SocketHandle) {
        let _ = frontend::with(|fe| fe.close(id(s)));
    }

    fn readiness(&mut self, s: SocketHandle) -> Readiness {
        match frontend::with(|fe| fe.poll(id(s))).and_then(|r| r) {
            Ok(r) => r,
            Err(e) => {
                Readiness { readable: true, writable: true, error: Some(e), rdhup: true, hup: true }
            }
        }
    }

    fn available(&mut self, s: SocketHandle) -> Result<usize, Errno> {
        frontend::with(|fe| fe.available(id(s)))?
    }
}

impl Env for KernelEnv {
    fn map_anon(&mut self, len: u64, prot: Prot) -> Result<u64, Errno> {
        memory::alloc(len, kprot(prot)).map_err(|_| Errno::ENOMEM)
    }

    fn reset_range(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        memory::reset(addr, len, kprot(prot)).map_err(|_| Errno::ENOMEM)
    }

    fn unmap(&mut self, addr: u64, len: u64) {
        let _ = memory::free(addr, len);
    }

    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        memory::protect(addr, len, kprot(prot)).map_err(|_| Errno::ENOMEM)
    }

    fn set_fs_base(&mut self, base: u64) {
        thread::set_fs_base(base);
    }

    fn random(&mut self, buf: &mut [u8]) -> bool {
        random_bytes(&mut self.seed, buf)
    }

    fn monotonic_ns(&self) -> u64 {
        skiff_kernel::time::now_ns()
    }

    fn realtime_ns(&self) -> u64 {
        skiff_kernel::time::wall_clock().as_nanos() as u64
    }

    fn console(&mut self, bytes: &[u8]) {
        skiff_kernel::xen::console::write_bytes(bytes);
    }

    fn notice(&mut self, notice: Notice) {
        skiff_kernel::println!("skiff: {notice}");
    }
}

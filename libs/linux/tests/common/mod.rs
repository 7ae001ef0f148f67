//! A test harness: one process on the fakes, with a scratch area for arguments and a helper per syscall shape.
#![allow(dead_code)]

use skiff_linux::dispatch::Action;
use skiff_linux::fake::{FakeEnv, FakeMem};
use skiff_linux::mem::{UserMem, UserMemExt};
use skiff_linux::process::{Process, ProcessConfig};
use skiff_linux::regs::Regs;
use skiff_linux::sched::Tid;
use skiff_linux::vm::Prot;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// Where the test's argument area starts (1 MiB of it).
pub const SCRATCH: u64 = 0x10_0000;
/// The main thread's stack (64 KiB below this).
pub const STACK_TOP: u64 = 0x80_0000;

pub struct H {
    pub p: Process,
    pub mem: FakeMem,
    pub env: FakeEnv,
    pub tid: Tid,
    next: u64,
    pub regs: Regs,
}

impl H {
    pub fn new() -> Self {
        Self::with(ProcessConfig::default())
    }

    pub fn with(mut config: ProcessConfig) -> Self {
        let mut mem = FakeMem::new();
        mem.map(SCRATCH, 0x10_0000);
        mem.map(STACK_TOP - 0x1_0000, 0x1_0000);
        config.regions.push((SCRATCH..SCRATCH + 0x10_0000, Prot::RW));
        config.regions.push((STACK_TOP - 0x1_0000..STACK_TOP, Prot::RW));
        let env = FakeEnv::new(mem.clone());
        let mut p = Process::new(config);
        let tid = p.pick().expect("main thread");
        H {
            p,
            mem,
            env,
            tid,
            next: SCRATCH,
            regs: Regs { rsp: STACK_TOP - 64, rip: 0x40_1000, ..Regs::default() },
        }
    }

    /// Places `bytes` in the scratch area (16-byte aligned) and returns their address.
    pub fn put(&mut self, bytes: &[u8]) -> u64 {
        let at = self.next;
        self.mem.write(at, bytes).unwrap();
        self.next = (at + bytes.len() as u64 + 15) & !15;
        at
    }

    pub fn put_val<T: IntoBytes + Immutable>(&mut self, v: &T) -> u64 {
        self.put(v.as_bytes())
    }

    /// A zeroed buffer of `n` bytes in the scratch area.
    pub fn buf(&mut self, n: usize) -> u64 {
        self.put(&vec![0; n])
    }

    pub fn get<T: FromBytes + IntoBytes>(&self, at: u64) -> T {
        self.mem.read_val(at).unwrap()
    }

    pub fn bytes(&self, at: u64, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.mem.read(at, &mut v).unwrap();
        v
    }

    /// Makes syscall `nr` on thread `tid` and returns the action and `rax`.
    pub fn call_on(&mut self, tid: Tid, nr: u64, args: &[u64]) -> (Action, i64) {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        let mut regs = Regs {
            rax: nr,
            rdi: a[0],
            rsi: a[1],
            rdx: a[2],
            r10: a[3],
            r8: a[4],
            r9: a[5],
            ..self.regs
        };
        let act = self.p.syscall(tid, &mut regs, &mut self.mem, &mut self.env);
        if act == Action::Block {
            assert_eq!(regs.rax, nr, "a blocked call leaves the registers alone");
        }
        self.regs.rax = regs.rax;
        (act, regs.rax as i64)
    }

    pub fn call(&mut self, nr: u64, args: &[u64]) -> (Action, i64) {
        let tid = self.tid;
        self.call_on(tid, nr, args)
    }

    /// A call that must return: its `rax`.
    pub fn sys(&mut self, nr: u64, args: &[u64]) -> i64 {
        let (a, v) = self.call(nr, args);
        assert_eq!(
            a,
            Action::Return,
            "syscall {nr} ({:?}) did not return",
            skiff_linux::sysno::name(nr)
        );
        v
    }

    /// A call that must block.
    pub fn blocks(&mut self, nr: u64, args: &[u64]) {
        let (a, _) = self.call(nr, args);
        assert_eq!(
            a,
            Action::Block,
            "syscall {nr} ({:?}) did not block",
            skiff_linux::sysno::name(nr)
        );
    }

    /// Wakes what can be woken and runs the scheduler until `tid` is picked.
    pub fn resume(&mut self, tid: Tid) {
        self.p.poll(&mut self.env);
        let mut guard = 0;
        while self.p.pick() != Some(tid) {
            guard += 1;
            assert!(guard < 100, "thread {tid} never became runnable");
            self.p.poll(&mut self.env);
        }
    }
}

/// `-errno`.
pub fn err(e: skiff_linux::Errno) -> i64 {
    -i64::from(e.0)
}

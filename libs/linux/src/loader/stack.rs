//! The initial process stack as Linux builds it (`create_elf_tables`): argc, argv, envp, the auxiliary vector, and the strings above them.
//!
//! From the top down: a null word, the program's path (`AT_EXECFN`), the
//! environment and argument strings, the platform string `"x86_64"`, the
//! 16 random bytes of `AT_RANDOM`; then, 16-byte aligned at the bottom,
//! `argc`, the `argv` pointers and a null, the `envp` pointers and a null,
//! and the auxiliary vector ending with `AT_NULL`. `rsp` points at `argc`.

use alloc::vec::Vec;
use core::fmt;

use super::LoadPlan;

/// Auxiliary vector keys (`include/uapi/linux/auxvec.h`).
pub mod auxv {
    #![allow(missing_docs)]
    pub const AT_NULL: u64 = 0;
    pub const AT_PHDR: u64 = 3;
    pub const AT_PHENT: u64 = 4;
    pub const AT_PHNUM: u64 = 5;
    pub const AT_PAGESZ: u64 = 6;
    pub const AT_BASE: u64 = 7;
    pub const AT_FLAGS: u64 = 8;
    pub const AT_ENTRY: u64 = 9;
    pub const AT_UID: u64 = 11;
    pub const AT_EUID: u64 = 12;
    pub const AT_GID: u64 = 13;
    pub const AT_EGID: u64 = 14;
    pub const AT_PLATFORM: u64 = 15;
    pub const AT_HWCAP: u64 = 16;
    pub const AT_CLKTCK: u64 = 17;
    pub const AT_SECURE: u64 = 23;
    pub const AT_RANDOM: u64 = 25;
    pub const AT_HWCAP2: u64 = 26;
    pub const AT_EXECFN: u64 = 31;
    pub const AT_MINSIGSTKSZ: u64 = 51;
}

use auxv::*;

/// What goes on the stack.
#[derive(Clone, Debug)]
pub struct StackParams<'a> {
    /// One past the highest stack byte (16-byte aligned).
    pub top: u64,
    /// Bytes of stack below `top` (the strings and tables must fit, with
    /// room to spare for the program).
    pub size: u64,
    /// Arguments; `argv[0]` is the program name.
    pub argv: &'a [&'a str],
    /// Environment, `NAME=value` each.
    pub envp: &'a [&'a str],
    /// The program's path (`AT_EXECFN`).
    pub execfn: &'a str,
    /// The 16 bytes `AT_RANDOM` points at (the stack protector and malloc seed).
    pub random: [u8; 16],
    /// `AT_HWCAP`: CPUID leaf 1 EDX, as Linux reports it on x86.
    pub hwcap: u64,
    /// `AT_HWCAP2`.
    pub hwcap2: u64,
    /// `AT_MINSIGSTKSZ`: the smallest usable signal stack for this CPU's frame.
    pub minsigstksz: u64,
    /// `AT_CLKTCK`: clock ticks per second (`sysconf(_SC_CLK_TCK)`).
    pub clktck: u64,
}

/// The built stack: write `bytes` at `sp` (they end at `top`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialStack {
    /// Initial `rsp` (16-byte aligned; points at `argc`).
    pub sp: u64,
    /// The stack's contents from `sp` to `top`.
    pub bytes: Vec<u8>,
}

/// Why the stack could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackError {
    /// Arguments and environment do not fit (`E2BIG`): this many bytes were needed.
    TooBig(u64),
    /// An argument or variable holds a NUL byte.
    Nul,
    /// `top` is not 16-byte aligned or below `size`.
    BadTop,
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::TooBig(n) => {
                write!(f, "arguments and environment need {n} bytes of stack: too big")
            }
            StackError::Nul => f.write_str("an argument or environment variable holds a NUL byte"),
            StackError::BadTop => f.write_str("the stack top is not aligned"),
        }
    }
}

/// Most bytes of strings and tables (Linux: a quarter of the stack limit; here a fixed 256 KiB).
pub const MAX_ARGS_BYTES: u64 = 256 * 1024;

/// Builds the initial stack for `plan` (see the module documentation).
pub fn build_stack<'a>(p: &StackParams<'a>, plan: &LoadPlan) -> Result<InitialStack, StackError> {
    if !p.top.is_multiple_of(16) || p.top < p.size {
        return Err(StackError::BadTop);
    }
    let all = p.argv.iter().chain(p.envp.iter()).chain(core::iter::once(&p.execfn));
    if all.clone().any(|s| s.as_bytes().contains(&0)) {
        return Err(StackError::Nul);
    }
    let strings: u64 = all.map(|s| s.len() as u64 + 1).sum();
    let aux_pairs = 20u64;
    let items = 1 + (p.argv.len() as u64 + 1) + (p.envp.len() as u64 + 1) + 2 * aux_pairs;
    let need = 8 + strings + 7 + 16 + 16 + items * 8 + 16;
    if need > MAX_ARGS_BYTES || need > p.size / 2 {
        return Err(StackError::TooBig(need));
    }
    // Strings, from the top down, kept as (address, bytes); each list's
    // addresses come back in the list's order.
    let mut at = p.top - 8;
    let mut placed: Vec<(u64, &[u8])> = Vec::new();
    let mut place = |list: &[&'a str]| -> Vec<u64> {
        let mut addrs: Vec<u64> = list
            .iter()
            .rev()
            .map(|s| {
                at -= s.len() as u64 + 1;
                placed.push((at, s.as_bytes()));
                at
            })
            .collect();
        addrs.reverse();
        addrs
    };
    let execfn = place(&[p.execfn])[0];
    let envs = place(p.envp);
    let args = place(p.argv);
    let platform = place(&["x86_64"])[0];
    at = (at - 16) & !15;
    let random = at;
    let aux: [(u64, u64); 20] = [
        (AT_MINSIGSTKSZ, p.minsigstksz),
        (AT_HWCAP, p.hwcap),
        (AT_PAGESZ, 4096),
        (AT_CLKTCK, p.clktck),
        (AT_PHDR, plan.phdr),
        (AT_PHENT, plan.phent),
        (AT_PHNUM, plan.phnum),
        // No interpreter: 0, as Linux gives a static-pie (musl then finds its base from AT_PHDR).
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, plan.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_SECURE, 0),
        (AT_RANDOM, random),
        (AT_HWCAP2, p.hwcap2),
        (AT_EXECFN, execfn),
        (AT_PLATFORM, platform),
        (AT_NULL, 0),
    ];
    let mut table: Vec<u64> = Vec::with_capacity(items as usize);
    table.push(p.argv.len() as u64);
    table.extend(&args);
    table.push(0);
    table.extend(&envs);
    table.push(0);
    for (k, v) in aux {
        table.push(k);
        table.push(v);
    }
    let sp = (at - table.len() as u64 * 8) & !15;
    let mut bytes = alloc::vec![0u8; (p.top - sp) as usize];
    let off = |a: u64| (a - sp) as usize;
    for (i, w) in table.iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
    }
    bytes[off(random)..off(random) + 16].copy_from_slice(&p.random);
    for (a, s) in placed {
        bytes[off(a)..off(a) + s.len()].copy_from_slice(s);
    }
    Ok(InitialStack { sp, bytes })
}

//! `cpucheck`: runs a branchy integer workload many times and checks every run computes the same result.
//!
//! A check of the machine under the guest (the rig's Xen inside QEMU TCG):
//! `mode=tsc|cpuid|hypercall` puts an instruction Xen intercepts (RDTSC,
//! CPUID) or a cheap hypercall between the compares and branches of every
//! iteration, so a platform that loses guest state across VM exits shows
//! up as a differing result or a crash. `runs=` and `n=` size the work;
//! `sleep` adds a 1 ms sleep between runs.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use skiff::time::Instant;

skiff::main!(main);

/// A deterministic workload full of compares and conditional branches.
fn work(seed: u64, n: u32, mode: &str) -> u64 {
    let mut x = seed;
    let mut acc = 0u64;
    for i in 0..n {
        // An intercepted instruction (RDTSC) between the compares.
        let probe = match mode {
            "tsc" => Instant::now().as_nanos(),
            "cpuid" => u64::from(core::arch::x86_64::__cpuid(0).eax),
            "hypercall" => u64::from(skiff_kernel::xen::evtchn::send(0xfff_ffff).is_ok()),
            _ => 0,
        };
        if core::hint::black_box(probe) == u64::MAX {
            acc = acc.wrapping_add(1);
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(3) {
            acc = acc.wrapping_add(x >> 3);
        } else if (x & 0xff) < 0x40 {
            acc ^= x.rotate_left(i % 64);
        } else if x > acc {
            acc = acc.wrapping_mul(31).wrapping_add(i as u64);
        } else {
            acc = acc.wrapping_sub(x & 0xffff);
        }
    }
    acc
}

fn main() -> i32 {
    let args = skiff::args();
    let runs: u32 = args.get("runs").and_then(|r| r.parse().ok()).unwrap_or(200);
    let n: u32 = args.get("n").and_then(|r| r.parse().ok()).unwrap_or(200_000);
    let sleepy = args.has_flag("sleep");
    let mode = args.get("mode").unwrap_or("none");
    let want = work(0x1234_5678_9abc_def1, n, mode);
    let start = Instant::now();
    let mut bad = 0;
    for r in 0..runs {
        let got = work(core::hint::black_box(0x1234_5678_9abc_def1), n, mode);
        if got != want {
            bad += 1;
            skiff::println!("cpucheck: run {r}: {got:#x} != {want:#x}");
        }
        if sleepy {
            skiff::time::sleep(core::time::Duration::from_millis(1));
        }
    }
    skiff::println!(
        "cpucheck: mode {mode}: {bad} of {runs} runs differed ({} iterations each, {} ms)",
        n,
        start.elapsed().as_millis()
    );
    i32::from(bad != 0)
}

//! `crash`: fails on purpose as `how=` says (panic, stack overflow, exit code) to test crash reporting.
//!
//! The rig checks that each failure is reported on the console and crashes
//! the domain.
//!
//! - `how=panic`: panics; the kernel prints the message and location.
//! - `how=stack-overflow`: recurses until the stack's guard page; the page
//!   fault handler (on its own stack) names the guard page.
//! - `how=exit code=N`: returns exit code `N` (not 0); the kernel prints it.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

skiff::main!(main);

fn main() -> i32 {
    let args = skiff::args();
    let how = args.get("how").unwrap_or("panic");
    skiff::println!("crash: failing by {how}");
    match how {
        "panic" => panic!("crash: panicking on purpose"),
        "stack-overflow" => {
            let depth = recurse(0);
            skiff::println!("crash: recursion came back after {depth} calls");
            0
        }
        "exit" => match args.get("code").map(str::parse::<i32>) {
            Some(Ok(code)) if code != 0 => code,
            _ => {
                skiff::println!("crash: how=exit needs code=N, N not 0");
                2
            }
        },
        other => {
            skiff::println!("crash: unknown how={other} (panic, stack-overflow, exit)");
            2
        }
    }
}

/// Recurses with 512 bytes of locals per call until the stack runs out
/// (the limit is out of reach; `black_box` keeps the frames real).
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 64]);
    if depth == black_box(u64::MAX) {
        return depth;
    }
    recurse(depth + 1).wrapping_add(frame[63])
}

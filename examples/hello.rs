//! `hello`: prints a greeting and its arguments, sleeps 100 ms on the timer,
//! and exits 0. With `wait=forever` it waits until the toolstack shuts it down.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::time::Duration;

use skiff::time::Instant;

skiff::main!(main);

fn main() -> i32 {
    skiff::println!("hello from skiff");
    let args = skiff::args();
    skiff::print!("hello: args:");
    for a in args.iter() {
        skiff::print!(" {a}");
    }
    skiff::println!();
    if let Some(greeting) = args.get("greeting") {
        skiff::println!("hello, {greeting}!");
    }
    let start = Instant::now();
    skiff::time::sleep(Duration::from_millis(100));
    let slept = start.elapsed();
    skiff::println!("hello: slept {} us", slept.as_micros());
    if slept < Duration::from_millis(100) {
        skiff::println!("hello: woke too early");
        return 1;
    }
    if args.get("wait") == Some("forever") {
        skiff::println!("hello: waiting for the toolstack to shut the domain down");
        loop {
            skiff::time::sleep(Duration::from_secs(3600));
        }
    }
    0
}

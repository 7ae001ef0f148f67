//! `client`: connects to `addr=IP:PORT`, sends `bytes=N` of a deterministic pattern to an echo server,
//! reads it back, verifies it, and prints `client: ok <N> bytes` (exit 0; non-zero on any mismatch).
//!
//! Data goes in rounds of `chunk=` bytes (default 16 KiB): each round is
//! written, then read back in full, so at most one round is in flight.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use core::net::SocketAddr;

use skiff::net::TcpStream;
use skiff::time::Instant;

skiff::main!(main);

/// Byte `i` of the pattern: a xorshift stream, so shifted or repeated
/// data never matches by accident.
fn pattern_byte(i: u64) -> u8 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66;
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x ^ (x >> 32)) as u8
}

fn main() -> i32 {
    let args = skiff::args();
    let Some(addr) = args.get("addr").and_then(|a| a.parse::<SocketAddr>().ok()) else {
        skiff::println!("client: need addr=IP:PORT");
        return 2;
    };
    let Some(total) = args.get("bytes").map_or(Some(1 << 20), |b| b.parse::<u64>().ok()) else {
        skiff::println!("client: bytes= must be a number");
        return 2;
    };
    let Some(chunk) = args.get("chunk").map_or(Some(16 << 10), |c| c.parse::<usize>().ok()) else {
        skiff::println!("client: chunk= must be a number");
        return 2;
    };
    let chunk = chunk.max(1);
    let start = Instant::now();
    let stream = match TcpStream::connect(addr) {
        Ok(s) => s,
        Err(e) => {
            skiff::println!("client: connect {addr}: {e}");
            return 1;
        }
    };
    skiff::println!("client: connected to {addr}");
    let (mut out, mut back) = (vec![0u8; chunk], vec![0u8; chunk]);
    let mut done = 0u64;
    while done < total {
        let n = chunk.min((total - done) as usize);
        for (k, b) in out[..n].iter_mut().enumerate() {
            *b = pattern_byte(done + k as u64);
        }
        if let Err(e) = stream.write_all(&out[..n]) {
            skiff::println!("client: write after {done} bytes: {e}");
            return 1;
        }
        if let Err(e) = stream.read_exact(&mut back[..n]) {
            skiff::println!("client: read after {done} bytes: {e}");
            return 1;
        }
        if let Some(k) = (0..n).find(|&k| back[k] != out[k]) {
            skiff::println!("client: mismatch at byte {}", done + k as u64);
            return 1;
        }
        done += n as u64;
    }
    let us = start.elapsed().as_micros().max(1);
    skiff::println!(
        "client: ok {total} bytes in {} ms ({} KB/s)",
        us / 1000,
        total as u128 * 1000 / us
    );
    0
}

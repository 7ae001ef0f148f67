//! A client on std's `TcpStream`: sends a stream of bytes to an echo server and checks, by sha256,
//! that the same bytes come back.
//!
//! Usage: `std-client HOST:PORT [BYTES]` (default 4000000 bytes), with the environment variable
//! `STD_CLIENT_TAG` naming the run (`none` when unset). It sends one line
//! `std-client bytes=BYTES tag=TAG`, then BYTES bytes of a pseudo-random stream, from a second
//! thread while the first reads the echo; then it expects the echo and EOF (the server knows the
//! length from the line, so no half-close is needed: PV Calls cannot carry one).
//! On success it prints `std-client: ok bytes=BYTES tag=TAG sha256=HEX` (HEX: of the stream) and
//! exits 0; on any failure it prints `std-client: ...` naming it and exits 1 (2: bad arguments).

use sha2::{Digest, Sha256};
use std::env;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::thread;

const DEFAULT_BYTES: u64 = 4_000_000;
const CHUNK: usize = 64 * 1024;

/// The stream this client sends: xorshift64* bytes, the same on every run.
struct Stream(u64);

impl Stream {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let word = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the header line and `total` bytes of the stream; returns the stream's sha256.
fn send(mut conn: TcpStream, header: &[u8], total: u64) -> io::Result<Vec<u8>> {
    conn.write_all(header)?;
    let mut stream = Stream(0x9e37_79b9_7f4a_7c15);
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut left = total;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        stream.fill(&mut buf[..n]);
        conn.write_all(&buf[..n])?;
        hash.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hash.finalize().to_vec())
}

/// Reads the echoed header and `total` bytes, then expects EOF; returns the echo's sha256.
fn receive(conn: &mut TcpStream, header: &[u8], total: u64) -> Result<Vec<u8>, String> {
    let mut echoed_header = vec![0u8; header.len()];
    conn.read_exact(&mut echoed_header).map_err(|e| format!("reading the echoed header: {e}"))?;
    if echoed_header != header {
        return Err(format!(
            "the echoed header differs: {:?}",
            String::from_utf8_lossy(&echoed_header)
        ));
    }
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0u64;
    loop {
        let n = conn.read(&mut buf).map_err(|e| format!("after {got} echoed bytes: {e}"))?;
        if n == 0 {
            break;
        }
        got += n as u64;
        if got > total {
            return Err(format!("the echo is longer than the {total} bytes sent"));
        }
        hash.update(&buf[..n]);
    }
    if got < total {
        return Err(format!("EOF after {got} of {total} echoed bytes"));
    }
    Ok(hash.finalize().to_vec())
}

fn run(addr: &str, total: u64, tag: &str) -> Result<String, String> {
    let mut conn = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    let header = format!("std-client bytes={total} tag={tag}\n").into_bytes();
    let writer = conn.try_clone().map_err(|e| format!("try_clone: {e}"))?;
    let sender = {
        let header = header.clone();
        thread::spawn(move || send(writer, &header, total))
    };
    let received = receive(&mut conn, &header, total);
    if received.is_err() {
        // Unblocks the sending thread if it waits for room the server will never make.
        let _ = conn.shutdown(Shutdown::Both);
    }
    let sent = sender.join().map_err(|_| "the sending thread panicked".to_string())?;
    let received = received?;
    let sent = sent.map_err(|e| format!("sending: {e}"))?;
    if received != sent {
        return Err(format!(
            "sha256 of the echo {} differs from what was sent {}",
            hex(&received),
            hex(&sent)
        ));
    }
    Ok(hex(&sent))
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().collect();
    let total = match args.get(2).map(|a| a.parse::<u64>()) {
        None => DEFAULT_BYTES,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("usage: std-client HOST:PORT [BYTES]");
            return ExitCode::from(2);
        }
    };
    let Some(addr) = args.get(1).filter(|_| args.len() <= 3) else {
        eprintln!("usage: std-client HOST:PORT [BYTES]");
        return ExitCode::from(2);
    };
    let tag = env::var("STD_CLIENT_TAG").unwrap_or_else(|_| "none".to_string());
    match run(addr, total, &tag) {
        Ok(sha) => {
            println!("std-client: ok bytes={total} tag={tag} sha256={sha}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("std-client: {e}");
            ExitCode::FAILURE
        }
    }
}

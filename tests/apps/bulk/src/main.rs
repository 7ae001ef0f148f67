//! A bulk-transfer benchmark server on std's `TcpListener`, one thread per connection. Its client
//! is `tests/xen/peers.py bulk`.
//!
//! Usage: `bulk PORT` (0 picks a free port). Prints `bulk: listening on 0.0.0.0:PORT` once it
//! accepts connections, then serves until killed. A connection that goes wrong is reported on
//! stderr (`bulk: PEER: ERROR`) and closed; the server goes on.
//!
//! Protocol: the client first sends 9 bytes, a command byte and a count N (u64, little-endian).
//! - `R`: the server receives. It reads exactly N bytes (reads of 16 KiB at most), then writes 16
//!   bytes, the number of bytes it received and their checksum (u64 little-endian each), and
//!   closes. If the client closes early, the reply covers what arrived.
//! - `S`: the server sends. It writes N bytes of the pattern (`write_all` of 64 KiB at a time),
//!   shuts down its write side and closes.
//! - Any other command byte: `bulk: bad command 0xNN from PEER` on stderr, and the connection is
//!   closed.
//!
//! The pattern: byte `i` of a stream (0-based, over the whole stream) is
//! `(j * 7 + (j >> 8)) mod 256` with `j = i mod 65521`. Its period, 65521, is prime (so neither a
//! multiple of 256 nor of 8), and within a period consecutive 256-byte blocks differ. The server
//! builds it once and sends slices of that table: no work per byte.
//!
//! The checksum of n bytes: the bytes as little-endian u64 words `w[0] .. w[m-1]`, `m = ceil(n/8)`,
//! the last word padded with zero bytes; for each word in order, `a += w[k]; b += a` (both from 0,
//! mod 2^64), so `a = sum w[k]` and `b = sum (m - k) * w[k]`; the checksum is
//! `b + a.rotate_left(32) + n` (mod 2^64). Order-sensitive, two additions per 8 bytes.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;

/// The pattern's period in bytes: 65521, the largest prime below 2^16.
const PERIOD: usize = 65521;
/// The most `R` reads at a time.
const READ_CHUNK: usize = 16 * 1024;
/// What `S` writes at a time.
const WRITE_CHUNK: usize = 64 * 1024;

/// Byte `i` of every stream.
fn pattern_byte(i: u64) -> u8 {
    let j = i % PERIOD as u64;
    (j * 7 + (j >> 8)) as u8
}

/// The pattern from offset 0, `PERIOD + WRITE_CHUNK` bytes: the stream's bytes from offset `o`
/// are `table[o % PERIOD..]`, for up to `WRITE_CHUNK` bytes.
fn pattern_table() -> Vec<u8> {
    (0..(PERIOD + WRITE_CHUNK) as u64).map(pattern_byte).collect()
}

/// The checksum's running sums (see the module's documentation).
#[derive(Default)]
struct Checksum {
    a: u64,
    b: u64,
}

impl Checksum {
    /// Adds whole words: `bytes.len()` is a multiple of 8.
    fn add_words(&mut self, bytes: &[u8]) {
        let (mut a, mut b) = (self.a, self.b);
        for w in bytes.chunks_exact(8) {
            a = a.wrapping_add(u64::from_le_bytes(w.try_into().expect("8 bytes")));
            b = b.wrapping_add(a);
        }
        (self.a, self.b) = (a, b);
    }

    /// The checksum of `n` bytes, the last `tail` (fewer than 8) not added yet.
    fn finish(mut self, tail: &[u8], n: u64) -> u64 {
        if !tail.is_empty() {
            let mut w = [0u8; 8];
            w[..tail.len()].copy_from_slice(tail);
            self.add_words(&w);
        }
        self.b.wrapping_add(self.a.rotate_left(32)).wrapping_add(n)
    }
}

/// `R`: reads `want` bytes (or up to EOF), then replies with their count and checksum.
fn receive(stream: &mut TcpStream, want: u64) -> io::Result<()> {
    // buf[..pending] holds the bytes of a word not complete yet; reads go after them.
    let mut buf = vec![0u8; READ_CHUNK + 8];
    let mut pending = 0;
    let mut got = 0u64;
    let mut sum = Checksum::default();
    while got < want {
        let room = (want - got).min(READ_CHUNK as u64) as usize;
        let n = match stream.read(&mut buf[pending..pending + room]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        got += n as u64;
        let end = pending + n;
        let whole = end & !7;
        sum.add_words(&buf[..whole]);
        buf.copy_within(whole..end, 0);
        pending = end - whole;
    }
    let checksum = sum.finish(&buf[..pending], got);
    let mut reply = [0u8; 16];
    reply[..8].copy_from_slice(&got.to_le_bytes());
    reply[8..].copy_from_slice(&checksum.to_le_bytes());
    stream.write_all(&reply)
}

/// `S`: writes `want` bytes of the pattern, then shuts down the write side.
fn send(stream: &mut TcpStream, want: u64, table: &[u8]) -> io::Result<()> {
    let mut sent = 0u64;
    while sent < want {
        let n = (want - sent).min(WRITE_CHUNK as u64) as usize;
        let start = (sent % PERIOD as u64) as usize;
        stream.write_all(&table[start..start + n])?;
        sent += n as u64;
    }
    stream.shutdown(Shutdown::Write)
}

/// One connection: its command, then what the command does. `who` names the peer in messages.
fn serve(mut stream: TcpStream, who: &str, table: &[u8]) -> io::Result<()> {
    let mut head = [0u8; 9];
    stream
        .read_exact(&mut head)
        .map_err(|e| io::Error::new(e.kind(), format!("reading the 9-byte command: {e}")))?;
    let count = u64::from_le_bytes(head[1..].try_into().expect("8 bytes"));
    match head[0] {
        b'R' => receive(&mut stream, count),
        b'S' => send(&mut stream, count, table),
        c => {
            eprintln!("bulk: bad command {c:#04x} from {who}");
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let Some(port) = std::env::args().nth(1).and_then(|a| a.parse::<u16>().ok()) else {
        eprintln!("usage: bulk PORT");
        return ExitCode::from(2);
    };
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bulk: bind 0.0.0.0:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let table: &'static [u8] = Box::leak(pattern_table().into_boxed_slice());
    match listener.local_addr() {
        Ok(addr) => println!("bulk: listening on {addr}"),
        Err(e) => {
            eprintln!("bulk: local_addr: {e}");
            return ExitCode::FAILURE;
        }
    }
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let spawned = thread::Builder::new().spawn(move || {
                    let who = match stream.peer_addr() {
                        Ok(peer) => peer.to_string(),
                        Err(_) => "a peer".to_string(),
                    };
                    if let Err(e) = serve(stream, &who, table) {
                        eprintln!("bulk: {who}: {e}");
                    }
                });
                // Out of threads: this connection is dropped (closed), the server goes on.
                if let Err(e) = spawned {
                    eprintln!("bulk: spawning a thread: {e}");
                }
            }
            Err(e) => eprintln!("bulk: accept: {e}"),
        }
    }
    ExitCode::SUCCESS
}

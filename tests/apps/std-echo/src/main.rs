//! An echo server on std's `TcpListener`, one thread per connection.
//!
//! Usage: `std-echo PORT` (0 picks a free port). Prints `std-echo: listening on 0.0.0.0:PORT`
//! once it accepts connections, then echoes every byte each client sends until killed.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;

fn echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

fn main() -> ExitCode {
    let Some(port) = std::env::args().nth(1).and_then(|a| a.parse::<u16>().ok()) else {
        eprintln!("usage: std-echo PORT");
        return ExitCode::from(2);
    };
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("std-echo: bind 0.0.0.0:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("std-echo: listening on {addr}"),
        Err(e) => {
            eprintln!("std-echo: local_addr: {e}");
            return ExitCode::FAILURE;
        }
    }
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let spawned = thread::Builder::new().spawn(move || {
                    let peer = stream.peer_addr();
                    if let Err(e) = echo(stream) {
                        match peer {
                            Ok(peer) => eprintln!("std-echo: {peer}: {e}"),
                            Err(_) => eprintln!("std-echo: {e}"),
                        }
                    }
                });
                // Out of threads: this connection is dropped (closed), the server goes on.
                if let Err(e) = spawned {
                    eprintln!("std-echo: spawning a thread: {e}");
                }
            }
            Err(e) => eprintln!("std-echo: accept: {e}"),
        }
    }
    ExitCode::SUCCESS
}

//! An echo server on tokio's default runtime (`#[tokio::main]`, multi-thread): a task per
//! connection echoes what the client sends; when the client shuts its side down, the sha256 of
//! everything it sent is computed on tokio's blocking pool (`spawn_blocking`) and sent back as one
//! last line, `sha256 HEX BYTES`, before the server closes the connection.
//!
//! Usage: `tokio-echo PORT` (0 picks a free port). Prints `tokio-echo: listening on 0.0.0.0:PORT`
//! once it accepts connections, then serves until killed.

use sha2::{Digest, Sha256};
use std::io;
use std::process::ExitCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn echo(mut socket: TcpStream) -> io::Result<()> {
    let mut received = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        socket.write_all(&buf[..n]).await?;
        received.extend_from_slice(&buf[..n]);
    }
    // Hashing megabytes is CPU work: keep it off the threads that drive the other connections.
    let len = received.len();
    let digest = tokio::task::spawn_blocking(move || Sha256::digest(&received)).await?;
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    socket.write_all(format!("sha256 {hex} {len}\n").as_bytes()).await?;
    socket.shutdown().await
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(port) = std::env::args().nth(1).and_then(|a| a.parse::<u16>().ok()) else {
        eprintln!("usage: tokio-echo PORT");
        return ExitCode::from(2);
    };
    let listener = match TcpListener::bind(("0.0.0.0", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tokio-echo: bind 0.0.0.0:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("tokio-echo: listening on {addr}"),
        Err(e) => {
            eprintln!("tokio-echo: local_addr: {e}");
            return ExitCode::FAILURE;
        }
    }
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                tokio::spawn(async move {
                    if let Err(e) = echo(socket).await {
                        eprintln!("tokio-echo: {peer}: {e}");
                    }
                });
            }
            Err(e) => eprintln!("tokio-echo: accept: {e}"),
        }
    }
}

//! `httpd`: an HTTP/1.1 server on `port=N` (default 80) serving many clients at once with `poll()`.
//!
//! `GET /` returns a small HTML page, `GET /bytes/<n>` returns `n` bytes
//! (the alphabet, repeated), streamed without buffering the body. Keep-alive
//! and pipelined requests are served in order; `Connection: close` or
//! HTTP/1.0 closes after the response. Malformed requests get 400, unknown
//! paths 404, methods other than GET and HEAD 405 (with `Allow`); requests
//! with a body get 400 and the connection closes. Responses to HEAD carry
//! no body. Each time the last
//! client has gone it prints `httpd: idle after N connections: ...` (see
//! [`skiff::net::Usage`]).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use skiff::net::posix::consts::*;
use skiff::net::posix::{self, Fd, PollFd};
use skiff::net::server::AcceptPause;
use skiff::net::usage::IdleReport;
use skiff::net::{Errno, FdTable};
use skiff::time::Instant;

skiff::main!(main);

/// Largest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
/// Largest `/bytes/<n>`.
const MAX_BYTES: u64 = 1 << 30;
const ALPHABET: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";
const PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Skiff</title></head>\n<body><h1>Hello from Skiff</h1>\
<p>This page was served by a Rust unikernel whose sockets live in dom0 (Xen PV Calls).</p></body></html>\n";

/// One client connection.
struct Conn {
    fd: Fd,
    /// Received bytes not yet parsed.
    inbuf: Vec<u8>,
    /// Response head (and small body) being sent.
    out: Vec<u8>,
    sent: usize,
    /// Generated body still to send: `(offset, remaining)`.
    body: (u64, u64),
    /// Close once the current response is sent.
    close_after: bool,
    /// Peer finished sending, or an error: close when idle.
    done: bool,
}

impl Conn {
    fn new(fd: Fd) -> Self {
        Conn {
            fd,
            inbuf: Vec::new(),
            out: Vec::new(),
            sent: 0,
            body: (0, 0),
            close_after: false,
            done: false,
        }
    }

    fn sending(&self) -> bool {
        self.sent < self.out.len() || self.body.1 > 0
    }

    fn finished(&self) -> bool {
        !self.sending() && (self.done || self.close_after)
    }
}

fn main() -> Result<(), Errno> {
    let args = skiff::args();
    let port: u16 = args.get("port").map_or(Ok(80), str::parse).map_err(|_| Errno::EINVAL)?;
    let mut net = FdTable::new(skiff::net::Kernel);
    let listener = skiff::net::server::listen_fd(&mut net, "httpd", port)?;

    let mut conns: Vec<Conn> = Vec::new();
    let mut fds: Vec<PollFd> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut pause = AcceptPause::new();
    let mut idle = IdleReport::new();
    loop {
        fds.clear();
        let now = Instant::now();
        fds.push(PollFd::new(if pause.accepting(now) { listener } else { -1 }, POLLIN));
        for c in &conns {
            fds.push(PollFd::new(c.fd, if c.sending() { POLLOUT } else { POLLIN | POLLRDHUP }));
        }
        let timeout = idle.poll_timeout(conns.len(), pause.poll_timeout(now));
        net.poll(&mut fds, posix::timeout_ms(timeout))?;
        for (c, p) in conns.iter_mut().zip(&fds[1..]) {
            if p.revents != 0 {
                serve(&mut net, c, &mut buf);
            }
        }
        let open = conns.len();
        conns.retain(|c| {
            if c.finished() {
                let _ = net.close(c.fd);
            }
            !c.finished()
        });
        if conns.len() < open {
            pause.resume();
        }
        if fds[0].revents & POLLIN != 0 {
            skiff::net::server::accept_waiting(
                &mut net,
                "httpd",
                listener,
                conns.len(),
                &mut pause,
                &mut idle,
                |fd| {
                    conns.push(Conn::new(fd));
                    true
                },
            );
        }
        skiff::net::usage::report_if_idle("httpd", &mut idle, conns.len());
    }
}

/// Reads, parses and sends what it can for one connection.
fn serve(net: &mut FdTable, c: &mut Conn, buf: &mut [u8]) {
    if !c.sending() && !c.done {
        match net.recv(c.fd, buf, MSG_DONTWAIT) {
            Ok(0) => c.done = true,
            Ok(n) => c.inbuf.extend_from_slice(&buf[..n]),
            Err(Errno::EAGAIN) => {}
            Err(_) => {
                c.done = true;
                c.inbuf.clear();
            }
        }
        respond(c);
    }
    while c.sending() {
        if c.sent == c.out.len() {
            fill_body(c, buf.len());
        }
        match net.send(c.fd, &c.out[c.sent..], MSG_DONTWAIT) {
            Ok(n) => c.sent += n,
            Err(Errno::EAGAIN) => return,
            Err(_) => {
                c.done = true;
                c.body.1 = 0;
                c.sent = c.out.len();
                return;
            }
        }
    }
    // The response is out: serve a pipelined request that is already here.
    if !c.close_after {
        respond(c);
    }
}

/// Replaces `out` with the next piece of the generated body.
fn fill_body(c: &mut Conn, max: usize) {
    let (off, left) = c.body;
    let n = left.min(max as u64) as usize;
    c.out.clear();
    c.out.extend((0..n).map(|k| ALPHABET[((off + k as u64) % 26) as usize]));
    c.sent = 0;
    c.body = (off + n as u64, left - n as u64);
}

/// If a complete request head is buffered, queues its response.
fn respond(c: &mut Conn) {
    if c.sending() || c.close_after {
        return;
    }
    let Some(end) = c.inbuf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if c.inbuf.len() > MAX_HEAD {
            queue(c, 431, "text/plain", b"request head too large\n", 0, true, true);
        } else if c.done && !c.inbuf.is_empty() {
            queue(c, 400, "text/plain", b"incomplete request\n", 0, true, true);
        }
        return;
    };
    let head: Vec<u8> = c.inbuf.drain(..end + 4).collect();
    match parse(&head) {
        Err(()) => queue(c, 400, "text/plain", b"bad request\n", 0, true, true),
        Ok(req) => {
            let close = !req.keep_alive;
            // Every response carries its body but one to HEAD (RFC 9110 9.3.2).
            let with_body = req.method != "HEAD";
            if req.method != "GET" && req.method != "HEAD" {
                queue(c, 405, "text/plain", b"only GET and HEAD\n", 0, close, with_body);
            } else if req.path == "/" {
                queue(c, 200, "text/html; charset=utf-8", PAGE.as_bytes(), 0, close, with_body);
            } else if let Some(n) =
                req.path.strip_prefix("/bytes/").and_then(|n| n.parse::<u64>().ok())
            {
                if n > MAX_BYTES {
                    queue(c, 400, "text/plain", b"too many bytes\n", 0, close, with_body);
                } else {
                    queue(c, 200, "application/octet-stream", b"", n, close, with_body);
                }
            } else {
                queue(c, 404, "text/plain", b"not found\n", 0, close, with_body);
            }
        }
    }
}

/// Queues a response: `body`, or `generated` bytes of the alphabet.
fn queue(
    c: &mut Conn,
    status: u16,
    ctype: &str,
    body: &[u8],
    generated: u64,
    close: bool,
    with_body: bool,
) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let len = body.len() as u64 + generated;
    let conn = if close { "close" } else { "keep-alive" };
    // A 405 names the methods that are served (RFC 9110 15.5.6).
    let allow = if status == 405 { "Allow: GET, HEAD\r\n" } else { "" };
    c.out.clear();
    c.out.extend_from_slice(
        format!(
            "HTTP/1.1 {status} {reason}\r\nServer: skiff\r\nContent-Type: {ctype}\r\n\
             Content-Length: {len}\r\n{allow}Connection: {conn}\r\n\r\n"
        )
        .as_bytes(),
    );
    c.body = (0, 0);
    if with_body {
        c.out.extend_from_slice(body);
        c.body = (0, generated);
    }
    c.sent = 0;
    c.close_after = close;
}

/// The parts of a request head the server uses.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    keep_alive: bool,
}

/// Parses `METHOD SP PATH SP HTTP/1.x CRLF (header CRLF)* CRLF`.
fn parse(head: &[u8]) -> Result<Request<'_>, ()> {
    let text = core::str::from_utf8(head).map_err(drop)?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().ok_or(())?.split(' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(());
    };
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !path.starts_with('/')
    {
        return Err(());
    }
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(()),
    };
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(())?;
        if name.eq_ignore_ascii_case("connection") {
            let v = value.trim();
            if v.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if v.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if (name.eq_ignore_ascii_case("content-length") && value.trim() != "0")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            // No request bodies are accepted (only GET and HEAD are served):
            // 400 and close, rather than read a body as the next request.
            return Err(());
        }
    }
    Ok(Request { method, path, keep_alive })
}

//! embedded-io and embedded-nal faces against the simulated backend serving real host TCP.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::thread;

use common::*;
use embedded_io::{ReadExactError, ReadReady, WriteReady};
use embedded_nal::{TcpClientStack, TcpError, TcpErrorKind, TcpFullStack};
use skiff_net::{NalStack, Stack, TcpStream};

#[test]
fn embedded_io_write_all_read_exact_round_trip() {
    let env = setup();
    let mut s = TcpStream::connect_in(&env.stack, echo_server()).unwrap();
    let data = pattern(50_000, 11);
    embedded_io::Write::write_all(&mut s, &data).unwrap();
    embedded_io::Write::flush(&mut s).unwrap();
    assert!(s.write_ready().unwrap());
    let mut back = vec![0u8; data.len()];
    embedded_io::Read::read_exact(&mut s, &mut back).unwrap();
    assert!(back == data);
    assert!(!s.read_ready().unwrap());
}

#[test]
fn embedded_io_read_exact_reports_eof() {
    let env = setup();
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = TcpStream::connect_in(&env.stack, v4(host.local_addr().unwrap())).unwrap();
    let (mut peer, _) = host.accept().unwrap();
    peer.write_all(b"12").unwrap();
    drop(peer);
    let mut b = [0u8; 4];
    assert!(matches!(
        embedded_io::Read::read_exact(&mut s, &mut b),
        Err(ReadExactError::UnexpectedEof)
    ));
    assert_eq!(embedded_io::Read::read(&mut s, &mut b).unwrap(), 0);
    assert!(s.read_ready().unwrap(), "EOF is readable");
}

#[test]
fn nal_client_connect_send_receive() {
    let env = setup();
    let mut nal = NalStack::new(env.stack.clone());
    let mut sock = nal.socket().unwrap();
    let remote = SocketAddr::V4(echo_server());
    let first = nal.connect(&mut sock, remote);
    assert!(matches!(first, Err(nb::Error::WouldBlock) | Ok(())));
    // nb-style: spin, sleeping on the stack between attempts.
    let stack = env.stack.clone();
    let retry = |r: nb::Result<usize, skiff_net::Error>| -> Option<usize> {
        match r {
            Ok(n) => Some(n),
            Err(nb::Error::WouldBlock) => {
                stack.wait(Some(stack.now_ns() + 10_000_000));
                None
            }
            Err(nb::Error::Other(e)) => panic!("{e}"),
        }
    };
    loop {
        match nal.connect(&mut sock, remote) {
            Ok(()) => break,
            Err(nb::Error::WouldBlock) => env.stack.wait(Some(env.stack.now_ns() + 10_000_000)),
            Err(nb::Error::Other(e)) => panic!("{e}"),
        }
    }
    assert_eq!(nal.connect(&mut sock, remote), Ok(()), "already connected");
    let sent = loop {
        if let Some(n) = retry(nal.send(&mut sock, b"hello nal")) {
            break n;
        }
    };
    assert_eq!(sent, 9);
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    while got.len() < 9 {
        if let Some(n) = retry(nal.receive(&mut sock, &mut buf)) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(got, b"hello nal");
    nal.close(sock).unwrap();

    // Refused: an error of kind Other (not a closed pipe).
    let mut s2 = nal.socket().unwrap();
    let refused = SocketAddr::V4(localhost(free_port()));
    let e = loop {
        match nal.connect(&mut s2, refused) {
            Err(nb::Error::WouldBlock) => env.stack.wait(Some(env.stack.now_ns() + 10_000_000)),
            Err(nb::Error::Other(e)) => break e,
            Ok(()) => panic!("connected to a closed port"),
        }
    };
    assert_eq!(e.errno(), Some(skiff_net::Errno::ECONNREFUSED));
    assert_eq!(TcpError::kind(&e), TcpErrorKind::Other);
}

#[test]
fn nal_full_stack_bind_listen_accept() {
    let env = setup();
    let mut nal = NalStack::new(env.stack.clone());
    let port = free_port();
    let mut l = nal.socket().unwrap();
    nal.bind(&mut l, port).unwrap();
    nal.listen(&mut l).unwrap();
    assert!(matches!(nal.accept(&mut l), Err(nb::Error::WouldBlock)));
    let client = thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"from host").unwrap();
        let mut b = [0u8; 2];
        c.read_exact(&mut b).unwrap();
        b
    });
    let (mut a, addr) = loop {
        match nal.accept(&mut l) {
            Ok(x) => break x,
            Err(nb::Error::WouldBlock) => env.stack.wait(Some(env.stack.now_ns() + 10_000_000)),
            Err(nb::Error::Other(e)) => panic!("{e}"),
        }
    };
    assert_eq!(addr.port(), 0, "placeholder: PV Calls reports no peer");
    let mut got = Vec::new();
    let mut buf = [0u8; 32];
    while got.len() < 9 {
        match nal.receive(&mut a, &mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(nb::Error::WouldBlock) => env.stack.wait(Some(env.stack.now_ns() + 10_000_000)),
            Err(nb::Error::Other(e)) => panic!("{e}"),
        }
    }
    assert_eq!(got, b"from host");
    assert_eq!(nal.send(&mut a, b"ok"), Ok(2));
    assert_eq!(&client.join().unwrap(), b"ok");
    // EOF after the host closed.
    let eof = loop {
        match nal.receive(&mut a, &mut buf) {
            Ok(n) => break n,
            Err(nb::Error::WouldBlock) => env.stack.wait(Some(env.stack.now_ns() + 10_000_000)),
            Err(nb::Error::Other(e)) => panic!("{e}"),
        }
    };
    assert_eq!(eof, 0);
}

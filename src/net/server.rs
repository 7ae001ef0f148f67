//! Helpers for servers: listening patiently on a port dom0 may still hold, accepting with pacing.

use core::time::Duration;

use skiff_kernel::println;
use skiff_kernel::time::Instant;

pub use skiff_net::server::{AcceptPause, PAUSE};

use super::usage::IdleReport;
use super::{Errno, FdTable, Kernel, SockAddr, TcpListener, posix};

/// How long the listen helpers wait for a port dom0 still holds.
pub const BIND_PATIENCE: Duration = Duration::from_secs(90);

/// Says that `name` waits for `port` (once, if it has to).
fn say_waiting(name: &str, port: u16) {
    println!(
        "{name}: port {port} is still in use in dom0; trying for up to {} s",
        BIND_PATIENCE.as_secs()
    );
}

/// The backlog of the listeners these helpers make: dom0 queues this many
/// connections the server has not accepted yet (past it, clients' SYNs are
/// dropped and retried seconds later).
pub const BACKLOG: u32 = 1024;

/// The listener of a server named `name` on `0.0.0.0:port` with a backlog
/// of [`BACKLOG`], bound with
/// [`TcpListener::bind_patiently_in`](skiff_net::TcpListener::bind_patiently_in)
/// for up to [`BIND_PATIENCE`]: dom0 keeps a port in use for up to a
/// minute after a guest restarts (its closed connections sit in
/// `TIME_WAIT`). Says so on the console if it has to wait, and prints
/// `<name>: listening on 0.0.0.0:<port>` once it listens.
pub fn listen(name: &str, port: u16) -> super::Result<TcpListener> {
    let addr = core::net::SocketAddrV4::new(core::net::Ipv4Addr::UNSPECIFIED, port);
    let waiting = || say_waiting(name, port);
    let l = TcpListener::bind_patiently_in(&Kernel, addr, BACKLOG, BIND_PATIENCE, waiting)?;
    println!("{name}: listening on 0.0.0.0:{port}");
    Ok(l)
}

/// [`listen`] for a poll-based server on the POSIX face: a non-blocking
/// socket with a backlog of [`BACKLOG`], bound with
/// [`FdTable::bind_patiently`](posix::FdTable::bind_patiently).
pub fn listen_fd(net: &mut FdTable, name: &str, port: u16) -> Result<posix::Fd, Errno> {
    use posix::consts::{AF_INET, SOCK_NONBLOCK, SOCK_STREAM};
    let listener = net.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)?;
    let addr = SockAddr::new(core::net::Ipv4Addr::UNSPECIFIED, port);
    net.bind_patiently(listener, &addr, BIND_PATIENCE, || say_waiting(name, port))?;
    net.listen(listener, BACKLOG as i32)?;
    println!("{name}: listening on 0.0.0.0:{port}");
    Ok(listener)
}

/// Records an accept error of the server `name` with `open` connections:
/// a resource error pauses accepting ([`AcceptPause`]) and is printed once
/// per shortage (`<name>: accept: ENOMEM with N open; pausing accepts`);
/// other errors are printed unless accepting is paused.
pub fn accept_failed(name: &str, e: Errno, open: usize, pause: &mut AcceptPause) {
    if pause.on_error(e, Instant::now()) {
        println!("{name}: accept: {e:?} with {open} open; pausing accepts");
    } else if !pause.is_paused() {
        println!("{name}: accept: {e:?}");
    }
}

/// For a poll-based server named `name` on the POSIX face whose `listener`
/// polled readable, with `open` connections: accepts (non-blocking) every
/// waiting connection and hands its fd to `add`, which returns whether
/// there is room for another. Each accept is counted in `pause` and `idle`;
/// errors go to [`accept_failed`].
pub fn accept_waiting(
    net: &mut FdTable,
    name: &str,
    listener: posix::Fd,
    open: usize,
    pause: &mut AcceptPause,
    idle: &mut IdleReport,
    mut add: impl FnMut(posix::Fd) -> bool,
) {
    let mut open = open;
    loop {
        match net.accept4(listener, posix::consts::SOCK_NONBLOCK) {
            Ok((fd, _)) => {
                pause.on_accept();
                idle.on_accept();
                open += 1;
                if !add(fd) {
                    return;
                }
            }
            Err(Errno::EAGAIN) => return,
            Err(e) => {
                accept_failed(name, e, open, pause);
                return;
            }
        }
    }
}

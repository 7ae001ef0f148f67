//! The application's sockets: skiff-net's faces bound to the kernel's PV Calls frontend.
//!
//! Every socket is forwarded to dom0 over PV Calls; the frontend connects
//! on the first socket the application creates. Without a usable backend
//! (no `pvcalls = [ ... ]` line in the xl config, or no `pvcalls-back` in
//! dom0) socket creation fails with `ENETDOWN` and the reason is printed
//! once on the console.

mod frontend;
mod usage;

use skiff_kernel::net::KernelPlatform;
use skiff_pvcalls::Frontend;

pub use skiff_net::posix;
pub use skiff_net::{
    AcceptPause, Errno, Error, ErrorKind, IdleReport, NON_BLOCKING, Result, SockAddr, SocketId,
    TcpState, block_on, deadline_after,
};
pub use skiff_pvcalls::Resources;
pub use usage::{Usage, report_if_idle, usage};

/// The kernel's one PV Calls engine, as a [`skiff_net::Stack`]. Zero-sized:
/// every socket object holds a copy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Kernel;

impl skiff_net::Stack for Kernel {
    type P = KernelPlatform;

    fn open(&self) -> core::result::Result<(), Errno> {
        frontend::with(|_| ())
    }

    fn with<R>(&self, f: impl FnOnce(&mut Frontend<KernelPlatform>) -> R) -> R {
        // Sockets exist only after `open` succeeded, and the kernel's
        // frontend never goes back to "not connected" once it is up (a
        // departed backend fails each socket instead).
        match frontend::with(f) {
            Ok(r) => r,
            Err(e) => panic!("socket operation while networking is down ({e:?})"),
        }
    }

    fn now_ns(&self) -> u64 {
        skiff_kernel::time::now_ns()
    }
}

/// A listening TCP socket (`std::net::TcpListener`-shaped).
pub type TcpListener = skiff_net::TcpListener<Kernel>;
/// A TCP connection (`std::net::TcpStream`-shaped, embedded-io `Read`/`Write`).
pub type TcpStream = skiff_net::TcpStream<Kernel>;
/// A smoltcp-style non-blocking socket handle.
pub type TcpSocket = skiff_net::TcpSocket<Kernel>;
/// embedded-nal's `TcpClientStack` and `TcpFullStack`.
pub type NalStack = skiff_net::NalStack<Kernel>;
/// POSIX-like sockets on integer fds with Linux errnos.
pub type FdTable = posix::FdTable<Kernel>;

/// Why networking is down, if it is (after the first socket call failed).
pub fn down_reason() -> Option<alloc::string::String> {
    frontend::down_reason()
}

/// How long [`listen_for_server`] waits for a port dom0 still holds.
pub const BIND_PATIENCE: core::time::Duration = core::time::Duration::from_secs(90);

/// The listening socket of a poll-based server named `name`: a
/// non-blocking TCP socket on `0.0.0.0:port` with a backlog of 1024. It
/// binds with [`FdTable::bind_patiently`](posix::FdTable::bind_patiently)
/// for up to [`BIND_PATIENCE`] (dom0 keeps a port for up to a minute after a
/// restart, see its docs), saying so on the console if it has to wait, and
/// prints `<name>: listening on 0.0.0.0:<port>` once it listens.
pub fn listen_for_server(
    net: &mut FdTable,
    name: &str,
    port: u16,
) -> core::result::Result<posix::Fd, Errno> {
    use posix::consts::{AF_INET, SOCK_NONBLOCK, SOCK_STREAM};
    let listener = net.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)?;
    let addr = SockAddr::new(core::net::Ipv4Addr::UNSPECIFIED, port);
    net.bind_patiently(listener, &addr, BIND_PATIENCE, || {
        skiff_kernel::println!(
            "{name}: port {port} is still in use in dom0; trying for up to {} s",
            BIND_PATIENCE.as_secs()
        );
    })?;
    net.listen(listener, 1024)?;
    skiff_kernel::println!("{name}: listening on 0.0.0.0:{port}");
    Ok(listener)
}

/// For a poll-based server named `name` whose `listener` polled readable,
/// with `open` connections: accepts (non-blocking) every waiting
/// connection and hands its fd to `add`, which returns whether there is
/// room for another. Each accept is counted in `pause` and `idle`. A
/// resource error pauses accepting ([`AcceptPause`]) and is printed once
/// per shortage (`<name>: accept: ENOMEM with N open; pausing accepts`);
/// other errors are printed unless accepting is paused.
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
                if pause.on_error(e, skiff_kernel::time::now_ns()) {
                    skiff_kernel::println!(
                        "{name}: accept: {e:?} with {open} open; pausing accepts"
                    );
                } else if !pause.is_paused() {
                    skiff_kernel::println!("{name}: accept: {e:?}");
                }
                return;
            }
        }
    }
}

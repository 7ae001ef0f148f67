//! Encoding and decoding of command-ring requests and responses (`io/pvcalls.h`).

use core::net::{Ipv4Addr, SocketAddrV4};

use skiff_xen::pvcalls::{self as abi, req, rsp};

/// `AF_INET`.
pub const AF_INET: u32 = 2;
/// `AF_UNIX`.
pub const AF_UNIX: u32 = 1;
/// `AF_INET6`.
pub const AF_INET6: u32 = 10;
/// `SOCK_STREAM`.
pub const SOCK_STREAM: u32 = 1;
/// `SOCK_DGRAM`.
pub const SOCK_DGRAM: u32 = 2;
/// `sizeof(struct sockaddr_in)`.
pub const SOCKADDR_IN_LEN: u32 = 16;

/// One command, as the frontend sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `PVCALLS_SOCKET`.
    Socket {
        /// Socket id.
        id: u64,
        /// Address family.
        domain: u32,
        /// Socket type.
        ty: u32,
        /// Protocol.
        protocol: u32,
    },
    /// `PVCALLS_CONNECT`, passing a new data ring.
    Connect {
        /// Socket id (the backend keys the active socket by it).
        id: u64,
        /// Peer address.
        addr: SocketAddrV4,
        /// Grant of the indexes page.
        ring_ref: u32,
        /// Event channel of the data ring.
        evtchn: u32,
    },
    /// `PVCALLS_RELEASE`.
    Release {
        /// Socket id.
        id: u64,
        /// Hint that the data ring will be reused (Linux ignores it).
        reuse: bool,
    },
    /// `PVCALLS_BIND`.
    Bind {
        /// Socket id (the backend creates the passive socket under it).
        id: u64,
        /// Local address.
        addr: SocketAddrV4,
    },
    /// `PVCALLS_LISTEN`.
    Listen {
        /// Socket id.
        id: u64,
        /// Backlog.
        backlog: u32,
    },
    /// `PVCALLS_ACCEPT`, passing the data ring of the connection to come.
    Accept {
        /// Listening socket id.
        id: u64,
        /// Id of the new active socket.
        id_new: u64,
        /// Grant of the new indexes page.
        ring_ref: u32,
        /// Event channel of the new data ring.
        evtchn: u32,
    },
    /// `PVCALLS_POLL` (passive sockets only).
    Poll {
        /// Listening socket id.
        id: u64,
    },
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn get_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// Writes a Linux `sockaddr_in` (family in host order, port and address
/// in network order) at `off`; returns its length.
fn put_sockaddr(b: &mut [u8], off: usize, addr: SocketAddrV4) -> u32 {
    b[off..off + 2].copy_from_slice(&(AF_INET as u16).to_le_bytes());
    b[off + 2..off + 4].copy_from_slice(&addr.port().to_be_bytes());
    b[off + 4..off + 8].copy_from_slice(&addr.ip().octets());
    SOCKADDR_IN_LEN
}

/// Parses a `sockaddr` of `len` bytes at `off`: `None` unless it is an
/// `AF_INET` address of at least 8 bytes and `len <= 28`.
pub fn get_sockaddr(b: &[u8], off: usize, len: u32) -> Option<SocketAddrV4> {
    if !(8..=abi::ADDR_LEN as u32).contains(&len) {
        return None;
    }
    if u16::from_le_bytes([b[off], b[off + 1]]) != AF_INET as u16 {
        return None;
    }
    let port = u16::from_be_bytes([b[off + 2], b[off + 3]]);
    let ip = Ipv4Addr::new(b[off + 4], b[off + 5], b[off + 6], b[off + 7]);
    Some(SocketAddrV4::new(ip, port))
}

/// The name of command `cmd` (`"CONNECT"`), or `"unknown"`.
pub fn cmd_name(cmd: u32) -> &'static str {
    match cmd {
        abi::PVCALLS_SOCKET => "SOCKET",
        abi::PVCALLS_CONNECT => "CONNECT",
        abi::PVCALLS_RELEASE => "RELEASE",
        abi::PVCALLS_BIND => "BIND",
        abi::PVCALLS_LISTEN => "LISTEN",
        abi::PVCALLS_ACCEPT => "ACCEPT",
        abi::PVCALLS_POLL => "POLL",
        _ => "unknown",
    }
}

impl Request {
    /// The `PVCALLS_*` command number.
    pub const fn cmd(&self) -> u32 {
        match self {
            Request::Socket { .. } => abi::PVCALLS_SOCKET,
            Request::Connect { .. } => abi::PVCALLS_CONNECT,
            Request::Release { .. } => abi::PVCALLS_RELEASE,
            Request::Bind { .. } => abi::PVCALLS_BIND,
            Request::Listen { .. } => abi::PVCALLS_LISTEN,
            Request::Accept { .. } => abi::PVCALLS_ACCEPT,
            Request::Poll { .. } => abi::PVCALLS_POLL,
        }
    }

    /// The socket id the command names (the listener for ACCEPT).
    pub const fn id(&self) -> u64 {
        match *self {
            Request::Socket { id, .. }
            | Request::Connect { id, .. }
            | Request::Release { id, .. }
            | Request::Bind { id, .. }
            | Request::Listen { id, .. }
            | Request::Accept { id, .. }
            | Request::Poll { id } => id,
        }
    }

    /// The 64-byte ring entry for this request with cookie `req_id`.
    pub fn encode(&self, req_id: u32) -> [u8; req::SIZE] {
        let mut b = [0u8; req::SIZE];
        put_u32(&mut b, req::REQ_ID, req_id);
        put_u32(&mut b, req::CMD, self.cmd());
        put_u64(&mut b, req::ID, self.id());
        match *self {
            Request::Socket { domain, ty, protocol, .. } => {
                put_u32(&mut b, req::SOCKET_DOMAIN, domain);
                put_u32(&mut b, req::SOCKET_TYPE, ty);
                put_u32(&mut b, req::SOCKET_PROTOCOL, protocol);
            }
            Request::Connect { addr, ring_ref, evtchn, .. } => {
                let len = put_sockaddr(&mut b, req::CONNECT_ADDR, addr);
                put_u32(&mut b, req::CONNECT_LEN, len);
                put_u32(&mut b, req::CONNECT_FLAGS, 0);
                put_u32(&mut b, req::CONNECT_REF, ring_ref);
                put_u32(&mut b, req::CONNECT_EVTCHN, evtchn);
            }
            Request::Release { reuse, .. } => b[req::RELEASE_REUSE] = reuse as u8,
            Request::Bind { addr, .. } => {
                let len = put_sockaddr(&mut b, req::BIND_ADDR, addr);
                put_u32(&mut b, req::BIND_LEN, len);
            }
            Request::Listen { backlog, .. } => put_u32(&mut b, req::LISTEN_BACKLOG, backlog),
            Request::Accept { id_new, ring_ref, evtchn, .. } => {
                put_u64(&mut b, req::ACCEPT_ID_NEW, id_new);
                put_u32(&mut b, req::ACCEPT_REF, ring_ref);
                put_u32(&mut b, req::ACCEPT_EVTCHN, evtchn);
            }
            Request::Poll { .. } => {}
        }
        b
    }
}

/// A request as a backend decodes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A known command; addresses that are not `AF_INET` are `None`.
    Known {
        /// The cookie.
        req_id: u32,
        /// The command (with `addr` of CONNECT/BIND replaced by a default
        /// when unparsable; see `addr_ok`).
        req: Request,
        /// Whether the CONNECT/BIND address parsed.
        addr_ok: bool,
    },
    /// An unknown command number.
    Unknown {
        /// The cookie.
        req_id: u32,
        /// The command number.
        cmd: u32,
        /// The `id` field.
        id: u64,
    },
}

/// Decodes a request entry (used by backends, including the simulated one).
pub fn decode_request(b: &[u8; req::SIZE]) -> Decoded {
    let req_id = get_u32(b, req::REQ_ID);
    let cmd = get_u32(b, req::CMD);
    let id = get_u64(b, req::ID);
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
    let (req, addr_ok) = match cmd {
        abi::PVCALLS_SOCKET => (
            Request::Socket {
                id,
                domain: get_u32(b, req::SOCKET_DOMAIN),
                ty: get_u32(b, req::SOCKET_TYPE),
                protocol: get_u32(b, req::SOCKET_PROTOCOL),
            },
            true,
        ),
        abi::PVCALLS_CONNECT => {
            let a = get_sockaddr(b, req::CONNECT_ADDR, get_u32(b, req::CONNECT_LEN));
            let req = Request::Connect {
                id,
                addr: a.unwrap_or(any),
                ring_ref: get_u32(b, req::CONNECT_REF),
                evtchn: get_u32(b, req::CONNECT_EVTCHN),
            };
            (req, a.is_some())
        }
        abi::PVCALLS_RELEASE => (Request::Release { id, reuse: b[req::RELEASE_REUSE] != 0 }, true),
        abi::PVCALLS_BIND => {
            let a = get_sockaddr(b, req::BIND_ADDR, get_u32(b, req::BIND_LEN));
            (Request::Bind { id, addr: a.unwrap_or(any) }, a.is_some())
        }
        abi::PVCALLS_LISTEN => {
            (Request::Listen { id, backlog: get_u32(b, req::LISTEN_BACKLOG) }, true)
        }
        abi::PVCALLS_ACCEPT => (
            Request::Accept {
                id,
                id_new: get_u64(b, req::ACCEPT_ID_NEW),
                ring_ref: get_u32(b, req::ACCEPT_REF),
                evtchn: get_u32(b, req::ACCEPT_EVTCHN),
            },
            true,
        ),
        abi::PVCALLS_POLL => (Request::Poll { id }, true),
        _ => return Decoded::Unknown { req_id, cmd, id },
    };
    Decoded::Known { req_id, req, addr_ok }
}

/// A response entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// The request's cookie.
    pub req_id: u32,
    /// The request's command.
    pub cmd: u32,
    /// 0 or a negative Linux errno.
    pub ret: i32,
    /// The socket id (the listener for ACCEPT).
    pub id: u64,
}

impl Response {
    /// Decodes the first 24 bytes of a ring entry.
    pub fn decode(b: &[u8; rsp::SIZE]) -> Self {
        Response {
            req_id: get_u32(b, rsp::REQ_ID),
            cmd: get_u32(b, rsp::CMD),
            ret: get_u32(b, rsp::RET) as i32,
            id: get_u64(b, rsp::ID),
        }
    }

    /// The 24-byte entry.
    pub fn encode(&self) -> [u8; rsp::SIZE] {
        let mut b = [0u8; rsp::SIZE];
        put_u32(&mut b, rsp::REQ_ID, self.req_id);
        put_u32(&mut b, rsp::CMD, self.cmd);
        put_u32(&mut b, rsp::RET, self.ret as u32);
        put_u64(&mut b, rsp::ID, self.id);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_layout_is_byte_exact() {
        let addr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 0x1f90);
        let r = Request::Connect { id: 0x1122, addr, ring_ref: 77, evtchn: 9 };
        let b = r.encode(5);
        assert_eq!(&b[0..8], &[5, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&b[8..16], &0x1122u64.to_le_bytes());
        assert_eq!(&b[16..24], &[2, 0, 0x1f, 0x90, 10, 0, 0, 1]);
        assert_eq!(get_u32(&b, 44), 16);
        assert_eq!(get_u32(&b, 52), 77);
        assert_eq!(get_u32(&b, 56), 9);
        assert_eq!(decode_request(&b), Decoded::Known { req_id: 5, req: r, addr_ok: true });
    }

    #[test]
    fn every_request_round_trips() {
        let a = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80);
        let all = [
            Request::Socket { id: 1, domain: 2, ty: 1, protocol: 0 },
            Request::Release { id: 2, reuse: true },
            Request::Bind { id: 3, addr: a },
            Request::Listen { id: 4, backlog: 16 },
            Request::Accept { id: 5, id_new: 6, ring_ref: 7, evtchn: 8 },
            Request::Poll { id: 9 },
        ];
        for (i, r) in all.iter().enumerate() {
            let d = decode_request(&r.encode(i as u32));
            assert_eq!(d, Decoded::Known { req_id: i as u32, req: *r, addr_ok: true });
        }
        let mut b = [0u8; 64];
        b[4] = 42;
        assert!(matches!(decode_request(&b), Decoded::Unknown { cmd: 42, .. }));
        let rs = Response { req_id: 3, cmd: 5, ret: -111, id: u64::MAX };
        assert_eq!(Response::decode(&rs.encode()), rs);
    }
}

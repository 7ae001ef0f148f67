//! Socket addresses at the edge: Linux `struct sockaddr_in` bytes and typed `core::net` addresses.

use core::fmt;
use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use skiff_pvcalls::Errno;

use crate::posix::consts::AF_INET;

/// An IPv4 socket address, the only family PV Calls carries; built from a
/// typed address or parsed from a Linux `struct sockaddr_in`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockAddr(SocketAddrV4);

impl SockAddr {
    /// Size of a `struct sockaddr_in`.
    pub const LEN: usize = 16;

    /// The address `ip:port`.
    pub const fn new(ip: Ipv4Addr, port: u16) -> Self {
        SockAddr(SocketAddrV4::new(ip, port))
    }

    /// Parses a `struct sockaddr_in` (`sin_family` in host order, then port
    /// and address in network order, then 8 bytes of padding, which are
    /// ignored).
    ///
    /// Errors: `EINVAL` if shorter than the family field or than
    /// `sockaddr_in`; `EAFNOSUPPORT` for any family but `AF_INET`
    /// (including `AF_INET6`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Errno> {
        let Some(fam) = bytes.get(..2) else { return Err(Errno::EINVAL) };
        let family = u16::from_ne_bytes([fam[0], fam[1]]);
        if i32::from(family) != AF_INET {
            return Err(Errno::EAFNOSUPPORT);
        }
        if bytes.len() < Self::LEN {
            return Err(Errno::EINVAL);
        }
        let port = u16::from_be_bytes([bytes[2], bytes[3]]);
        let ip = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
        Ok(SockAddr::new(ip, port))
    }

    /// The `struct sockaddr_in` bytes of this address.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&self.0.port().to_be_bytes());
        b[4..8].copy_from_slice(&self.0.ip().octets());
        b
    }

    /// The typed address.
    pub const fn addr(&self) -> SocketAddrV4 {
        self.0
    }
}

impl From<SocketAddrV4> for SockAddr {
    fn from(a: SocketAddrV4) -> Self {
        SockAddr(a)
    }
}

impl From<SockAddr> for SocketAddr {
    fn from(a: SockAddr) -> Self {
        SocketAddr::V4(a.0)
    }
}

impl TryFrom<SocketAddr> for SockAddr {
    type Error = Errno;

    /// IPv6 addresses fail with `EAFNOSUPPORT`.
    fn try_from(a: SocketAddr) -> Result<Self, Errno> {
        to_v4(a).map(SockAddr)
    }
}

impl fmt::Display for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The IPv4 address inside `addr`; `EAFNOSUPPORT` for IPv6, which PV Calls
/// does not carry.
pub fn to_v4(addr: SocketAddr) -> Result<SocketAddrV4, Errno> {
    match addr {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(_) => Err(Errno::EAFNOSUPPORT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posix::consts::AF_INET6;

    #[test]
    fn sockaddr_in_round_trip() {
        let a = SockAddr::new(Ipv4Addr::new(10, 1, 2, 3), 8080);
        let b = a.to_bytes();
        assert_eq!(&b[2..8], &[0x1f, 0x90, 10, 1, 2, 3]);
        assert_eq!(SockAddr::from_bytes(&b), Ok(a));
        assert_eq!(SockAddr::from_bytes(&b[..15]), Err(Errno::EINVAL));
        assert_eq!(SockAddr::from_bytes(&b[..1]), Err(Errno::EINVAL));
        let mut v6 = [0u8; 28];
        v6[..2].copy_from_slice(&(AF_INET6 as u16).to_ne_bytes());
        assert_eq!(SockAddr::from_bytes(&v6), Err(Errno::EAFNOSUPPORT));
    }
}

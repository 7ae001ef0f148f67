//! `sockaddr_in`, `iovec`, `msghdr`, `pollfd` and the packed x86_64 `epoll_event`.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::layout;

/// `struct sockaddr_in`: family in host order, port and address in network order.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct SockaddrIn {
    /// `AF_INET`.
    pub family: u16,
    /// Port, big-endian bytes.
    pub port: [u8; 2],
    /// IPv4 address, big-endian bytes.
    pub addr: [u8; 4],
    /// Zero.
    pub zero: [u8; 8],
}
layout!(SockaddrIn, 16, port @ 2, addr @ 4);

/// `struct iovec`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct IoVec {
    /// Start of the buffer (user address).
    pub base: u64,
    /// Its length.
    pub len: u64,
}
layout!(IoVec, 16, len @ 8);

/// `struct msghdr` (`user_msghdr`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
#[allow(missing_docs)]
pub struct MsgHdr {
    pub name: u64,
    pub namelen: u32,
    pub _pad0: u32,
    pub iov: u64,
    pub iovlen: u64,
    pub control: u64,
    pub controllen: u64,
    pub flags: i32,
    pub _pad1: u32,
}
layout!(MsgHdr, 56, namelen @ 8, iov @ 16, iovlen @ 24, control @ 32, controllen @ 40, flags @ 48);

/// `struct pollfd`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PollFd {
    /// The fd (negative: ignored).
    pub fd: i32,
    /// Requested events.
    pub events: i16,
    /// Returned events.
    pub revents: i16,
}
layout!(PollFd, 8, events @ 4, revents @ 6);

/// `struct epoll_event`, which x86_64 Linux declares `__attribute__((packed))`: 12 bytes.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C, packed)]
pub struct EpollEvent {
    /// `EPOLLIN`, ... .
    pub events: u32,
    /// The user's data, returned as given.
    pub data: u64,
}
layout!(EpollEvent, 12, data @ 4);

//! Access to the application's memory: the `UserMem` trait and typed helpers (structs, C strings, iovecs, sockaddrs).
//!
//! Every address comes from the application and is untrusted: the
//! implementation checks that `[addr, addr + len)` is mapped for the
//! application (user-accessible, and writable for a write) and fails with
//! `EFAULT` otherwise, without touching anything. Lengths here are bounded
//! by the callers before any buffer is allocated.

use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use skiff_pvcalls::Errno;
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::abi::{AF_INET, IOV_MAX, IoVec, SockaddrIn};

/// The application's memory, as the kernel reaches it.
pub trait UserMem {
    /// Copies `buf.len()` bytes from user address `addr` into `buf`;
    /// `EFAULT` if any byte is not readable by the application.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno>;

    /// Copies `buf` to user address `addr`; `EFAULT` if any byte is not
    /// writable by the application (then nothing need have been written).
    fn write(&mut self, addr: u64, buf: &[u8]) -> Result<(), Errno>;
}

/// Typed reads and writes on any [`UserMem`].
pub trait UserMemExt: UserMem {
    /// Reads a `T` at `addr`.
    fn read_val<T: FromBytes + IntoBytes>(&self, addr: u64) -> Result<T, Errno> {
        let mut v = T::new_zeroed();
        self.read(addr, v.as_mut_bytes())?;
        Ok(v)
    }

    /// Writes `v` at `addr`.
    fn write_val<T: IntoBytes + Immutable>(&mut self, addr: u64, v: &T) -> Result<(), Errno> {
        self.write(addr, v.as_bytes())
    }

    /// Reads `count` consecutive `T`s at `addr` (the caller bounds `count`).
    fn read_array<T: FromBytes + IntoBytes + Clone>(
        &self,
        addr: u64,
        count: usize,
    ) -> Result<Vec<T>, Errno> {
        let mut v = alloc::vec![T::new_zeroed(); count];
        self.read(addr, v.as_mut_slice().as_mut_bytes())?;
        Ok(v)
    }

    /// Reads a NUL-terminated string at `addr` of at most `max` bytes
    /// before the NUL: `ENAMETOOLONG` if there is no NUL within `max + 1`
    /// bytes, `EFAULT` if it runs into unreadable memory. Reads in small
    /// chunks so that a string at the end of a mapping is found.
    fn read_cstr(&self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 64];
        let mut at = addr;
        loop {
            // Never read across a page boundary in one go: the next page may be unmapped.
            let to_page = 4096 - (at % 4096) as usize;
            let n = chunk.len().min(to_page);
            self.read(at, &mut chunk[..n])?;
            if let Some(i) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..i]);
                return if out.len() > max { Err(Errno::ENAMETOOLONG) } else { Ok(out) };
            }
            out.extend_from_slice(&chunk[..n]);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            at = at.checked_add(n as u64).ok_or(Errno::EFAULT)?;
        }
    }

    /// Reads an iovec array of `count` entries: `EINVAL` if `count` is
    /// above `IOV_MAX` or the lengths overflow `isize`, as Linux checks.
    fn read_iovecs(&self, addr: u64, count: u64) -> Result<Vec<IoVec>, Errno> {
        if count > IOV_MAX {
            return Err(Errno::EINVAL);
        }
        let v: Vec<IoVec> = self.read_array(addr, count as usize)?;
        let mut total: u64 = 0;
        for iov in &v {
            total = total.checked_add(iov.len).ok_or(Errno::EINVAL)?;
            if total > isize::MAX as u64 {
                return Err(Errno::EINVAL);
            }
        }
        Ok(v)
    }

    /// Reads a `sockaddr` of `len` bytes and parses it as `sockaddr_in`:
    /// `EINVAL` if `len` is too short for the family or the address,
    /// `EAFNOSUPPORT` for any family but `AF_INET`.
    fn read_sockaddr(&self, addr: u64, len: u32) -> Result<SocketAddrV4, Errno> {
        if !(2..=128).contains(&len) {
            return Err(Errno::EINVAL);
        }
        let mut raw = [0u8; 16];
        let n = (len as usize).min(16);
        self.read(addr, &mut raw[..n])?;
        if u32::from(u16::from_ne_bytes([raw[0], raw[1]])) != AF_INET {
            return Err(Errno::EAFNOSUPPORT);
        }
        if n < 16 {
            return Err(Errno::EINVAL);
        }
        let sa = SockaddrIn::read_from_bytes(&raw).map_err(|_| Errno::EINVAL)?;
        Ok(SocketAddrV4::new(Ipv4Addr::from(sa.addr), u16::from_be_bytes(sa.port)))
    }

    /// Writes `sa` as a `sockaddr_in` to `addr` for a caller whose buffer
    /// length is at `len_ptr` (a `socklen_t`): as Linux does, copies at most
    /// that many bytes and stores the full length (16) back. A null `addr`
    /// writes nothing. `EINVAL` for a negative length.
    fn write_sockaddr(&mut self, addr: u64, len_ptr: u64, sa: SocketAddrV4) -> Result<(), Errno> {
        if addr == 0 {
            return Ok(());
        }
        let have: i32 = self.read_val(len_ptr)?;
        let have = usize::try_from(have).map_err(|_| Errno::EINVAL)?;
        let raw = sockaddr_in(sa);
        let bytes = raw.as_bytes();
        let n = have.min(bytes.len());
        self.write(addr, &bytes[..n])?;
        self.write_val(len_ptr, &(bytes.len() as u32))
    }
}

impl<M: UserMem + ?Sized> UserMemExt for M {}

/// The `sockaddr_in` of an address.
pub fn sockaddr_in(sa: SocketAddrV4) -> SockaddrIn {
    SockaddrIn {
        family: AF_INET as u16,
        port: sa.port().to_be_bytes(),
        addr: sa.ip().octets(),
        zero: [0; 8],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeMem;

    #[test]
    fn cstr_bounds_and_faults() {
        let mut m = FakeMem::new();
        m.map(0x1000, 0x1000);
        m.write(0x1ffa, b"hello\0").unwrap();
        assert_eq!(m.read_cstr(0x1ffa, 16).unwrap(), b"hello");
        assert_eq!(m.read_cstr(0x1ffa, 4), Err(Errno::ENAMETOOLONG));
        // Unterminated at the end of the mapping: EFAULT, not a wild read.
        m.write(0x1ffa, b"abcdef").unwrap();
        assert_eq!(m.read_cstr(0x1ffa, 100), Err(Errno::EFAULT));
        assert_eq!(m.read_cstr(u64::MAX - 3, 100), Err(Errno::EFAULT));
    }

    #[test]
    fn iovecs_are_bounded() {
        let mut m = FakeMem::new();
        m.map(0x1000, 0x1000);
        assert_eq!(m.read_iovecs(0x1000, IOV_MAX + 1), Err(Errno::EINVAL));
        m.write_val(0x1000, &IoVec { base: 0, len: u64::MAX }).unwrap();
        assert_eq!(m.read_iovecs(0x1000, 1), Err(Errno::EINVAL));
        m.write_val(0x1000, &IoVec { base: 0x10, len: 5 }).unwrap();
        assert_eq!(m.read_iovecs(0x1000, 1).unwrap(), [IoVec { base: 0x10, len: 5 }]);
        assert_eq!(m.read_iovecs(0x1ff8, 1), Err(Errno::EFAULT));
    }

    #[test]
    fn sockaddrs() {
        let mut m = FakeMem::new();
        m.map(0x1000, 0x1000);
        let sa = SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), 8080);
        m.write_val(0x1000, &sockaddr_in(sa)).unwrap();
        assert_eq!(m.read_sockaddr(0x1000, 16), Ok(sa));
        assert_eq!(m.read_sockaddr(0x1000, 8), Err(Errno::EINVAL));
        assert_eq!(m.read_sockaddr(0x1000, 1), Err(Errno::EINVAL));
        m.write_val(0x1000, &(10u16)).unwrap();
        assert_eq!(m.read_sockaddr(0x1000, 28), Err(Errno::EAFNOSUPPORT));
        // Truncated output: 4 bytes copied, the full length reported.
        m.write_val(0x1100, &4u32).unwrap();
        m.write(0x1200, &[0xee; 16]).unwrap();
        m.write_sockaddr(0x1200, 0x1100, sa).unwrap();
        assert_eq!(m.read_val::<u32>(0x1100), Ok(16));
        let mut b = [0u8; 6];
        m.read(0x1200, &mut b).unwrap();
        assert_eq!(b, [2, 0, 0x1f, 0x90, 0xee, 0xee]);
        m.write_val(0x1100, &(-1i32)).unwrap();
        assert_eq!(m.write_sockaddr(0x1200, 0x1100, sa), Err(Errno::EINVAL));
    }
}

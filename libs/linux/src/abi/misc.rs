//! `struct new_utsname` (`include/uapi/linux/utsname.h`) and `struct rlimit64`.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::layout;

/// `struct new_utsname`: six NUL-terminated fields of 65 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
#[allow(missing_docs)]
pub struct Utsname {
    pub sysname: [u8; 65],
    pub nodename: [u8; 65],
    pub release: [u8; 65],
    pub version: [u8; 65],
    pub machine: [u8; 65],
    pub domainname: [u8; 65],
}
layout!(Utsname, 390, nodename @ 65, machine @ 260, domainname @ 325);

impl Utsname {
    /// A utsname from the six strings (each cut to 64 bytes).
    pub fn new(fields: [&str; 6]) -> Self {
        let f = |s: &str| {
            let mut b = [0u8; 65];
            let n = s.len().min(64);
            b[..n].copy_from_slice(&s.as_bytes()[..n]);
            b
        };
        Utsname {
            sysname: f(fields[0]),
            nodename: f(fields[1]),
            release: f(fields[2]),
            version: f(fields[3]),
            machine: f(fields[4]),
            domainname: f(fields[5]),
        }
    }
}

/// `struct rlimit64`: soft and hard limit (`RLIM_INFINITY` is `u64::MAX`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Rlimit {
    /// Soft limit.
    pub cur: u64,
    /// Hard limit.
    pub max: u64,
}
layout!(Rlimit, 16, max @ 8);

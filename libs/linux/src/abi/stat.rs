//! `struct stat` (`arch/x86/include/uapi/asm/stat.h`) and `struct statx` (`include/uapi/linux/stat.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::layout;

/// x86_64 `struct stat`, as `fstat` and `newfstatat` fill it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
#[allow(missing_docs)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub _pad0: u32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: u64,
    pub st_mtime: i64,
    pub st_mtime_nsec: u64,
    pub st_ctime: i64,
    pub st_ctime_nsec: u64,
    pub _unused: [i64; 3],
}
layout!(Stat, 144, st_mode @ 24, st_rdev @ 40, st_size @ 48, st_blksize @ 56, st_atime @ 72,
    st_ctime_nsec @ 112);

/// `struct statx_timestamp`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
#[allow(missing_docs)]
pub struct StatxTimestamp {
    pub tv_sec: i64,
    pub tv_nsec: u32,
    pub _reserved: i32,
}
layout!(StatxTimestamp, 16);

/// `struct statx`, as `statx` fills it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
#[allow(missing_docs)]
pub struct Statx {
    pub stx_mask: u32,
    pub stx_blksize: u32,
    pub stx_attributes: u64,
    pub stx_nlink: u32,
    pub stx_uid: u32,
    pub stx_gid: u32,
    pub stx_mode: u16,
    pub _spare0: u16,
    pub stx_ino: u64,
    pub stx_size: u64,
    pub stx_blocks: u64,
    pub stx_attributes_mask: u64,
    pub stx_atime: StatxTimestamp,
    pub stx_btime: StatxTimestamp,
    pub stx_ctime: StatxTimestamp,
    pub stx_mtime: StatxTimestamp,
    pub stx_rdev_major: u32,
    pub stx_rdev_minor: u32,
    pub stx_dev_major: u32,
    pub stx_dev_minor: u32,
    pub _spare: [u64; 14],
}
layout!(Statx, 256, stx_nlink @ 16, stx_mode @ 28, stx_ino @ 32, stx_size @ 40, stx_atime @ 64,
    stx_mtime @ 112, stx_rdev_major @ 128, stx_dev_minor @ 140);

impl Statx {
    /// The `statx` view of a `stat`: every basic field (`STATX_BASIC_STATS`).
    pub fn from_stat(s: &Stat) -> Self {
        let ts = |sec: i64, nsec: u64| StatxTimestamp {
            tv_sec: sec,
            tv_nsec: nsec as u32,
            _reserved: 0,
        };
        Statx {
            stx_mask: super::STATX_BASIC_STATS,
            stx_blksize: s.st_blksize as u32,
            stx_nlink: s.st_nlink as u32,
            stx_uid: s.st_uid,
            stx_gid: s.st_gid,
            stx_mode: s.st_mode as u16,
            stx_ino: s.st_ino,
            stx_size: s.st_size as u64,
            stx_blocks: s.st_blocks as u64,
            stx_atime: ts(s.st_atime, s.st_atime_nsec),
            stx_ctime: ts(s.st_ctime, s.st_ctime_nsec),
            stx_mtime: ts(s.st_mtime, s.st_mtime_nsec),
            stx_rdev_major: (s.st_rdev >> 8) as u32 & 0xfff,
            stx_rdev_minor: (s.st_rdev & 0xff) as u32,
            stx_dev_major: (s.st_dev >> 8) as u32 & 0xfff,
            stx_dev_minor: (s.st_dev & 0xff) as u32,
            ..Statx::default()
        }
    }
}

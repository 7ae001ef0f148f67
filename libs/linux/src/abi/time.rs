//! `struct timespec` and `struct timeval` (`include/uapi/linux/time_types.h`, `time.h`).

use core::time::Duration;

use skiff_pvcalls::Errno;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::layout;

/// `struct timespec`: seconds and nanoseconds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Timespec {
    /// Seconds.
    pub tv_sec: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub tv_nsec: i64,
}
layout!(Timespec, 16, tv_sec @ 0, tv_nsec @ 8);

impl Timespec {
    /// The time `ns` nanoseconds after the epoch of its clock.
    pub const fn from_nanos(ns: u64) -> Self {
        Timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 }
    }

    /// As a duration: `EINVAL` for a negative value or nanoseconds out of
    /// range, as `nanosleep` and friends require.
    pub fn to_duration(self) -> Result<Duration, Errno> {
        let sec = u64::try_from(self.tv_sec).map_err(|_| Errno::EINVAL)?;
        let nsec = u32::try_from(self.tv_nsec).map_err(|_| Errno::EINVAL)?;
        if nsec >= 1_000_000_000 {
            return Err(Errno::EINVAL);
        }
        Ok(Duration::new(sec, nsec))
    }

    /// As nanoseconds, saturating (see [`to_duration`](Self::to_duration)).
    pub fn to_nanos(self) -> Result<u64, Errno> {
        Ok(u64::try_from(self.to_duration()?.as_nanos()).unwrap_or(u64::MAX))
    }
}

/// `struct timeval`: seconds and microseconds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Timeval {
    /// Seconds.
    pub tv_sec: i64,
    /// Microseconds, `0..1_000_000`.
    pub tv_usec: i64,
}
layout!(Timeval, 16, tv_sec @ 0, tv_usec @ 8);

impl Timeval {
    /// The time `ns` nanoseconds after the epoch, truncated to microseconds.
    pub const fn from_nanos(ns: u64) -> Self {
        Timeval {
            tv_sec: (ns / 1_000_000_000) as i64,
            tv_usec: ((ns % 1_000_000_000) / 1000) as i64,
        }
    }

    /// As a duration: `EINVAL` for a
    /// negative value or microseconds out of range (as `SO_RCVTIMEO` wants).
    pub fn to_duration(self) -> Result<Duration, Errno> {
        let sec = u64::try_from(self.tv_sec).map_err(|_| Errno::EINVAL)?;
        let usec = u32::try_from(self.tv_usec).map_err(|_| Errno::EINVAL)?;
        if usec >= 1_000_000 {
            return Err(Errno::EINVAL);
        }
        Ok(Duration::new(sec, usec * 1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let t = Timespec::from_nanos(3_000_000_007);
        assert_eq!(t, Timespec { tv_sec: 3, tv_nsec: 7 });
        assert_eq!(t.to_nanos(), Ok(3_000_000_007));
        assert_eq!(Timespec { tv_sec: -1, tv_nsec: 0 }.to_duration(), Err(Errno::EINVAL));
        assert_eq!(
            Timespec { tv_sec: 0, tv_nsec: 1_000_000_000 }.to_duration(),
            Err(Errno::EINVAL)
        );
        assert_eq!(Timespec { tv_sec: i64::MAX, tv_nsec: 0 }.to_nanos(), Ok(u64::MAX));
        assert_eq!(Timeval::from_nanos(1_500_000_999), Timeval { tv_sec: 1, tv_usec: 500_000 });
        assert_eq!(Timeval { tv_sec: 0, tv_usec: 1_000_000 }.to_duration(), Err(Errno::EINVAL));
        assert_eq!(Timeval { tv_sec: 2, tv_usec: 5 }.to_duration(), Ok(Duration::new(2, 5000)));
    }
}

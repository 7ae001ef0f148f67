//! Xen system time as one instant type: nanoseconds on the domain's monotonic clock
//! (`vcpu_time_info.system_time`, `xen.h`), read through a clock the kernel registers.

use core::time::Duration;

use spin::Once;

/// A point on the monotonic clock: nanoseconds of Xen system time. The one
/// time type of Skiff's APIs, with [`Duration`] for spans.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

static CLOCK: Once<fn() -> u64> = Once::new();

/// Registers the clock [`Instant::now`] reads (the kernel's pvclock). Only
/// the first call counts.
pub fn set_clock(now_ns: fn() -> u64) {
    CLOCK.call_once(|| now_ns);
}

impl Instant {
    /// The current time.
    ///
    /// # Panics
    /// If no clock was registered ([`set_clock`]): the kernel registers its
    /// own at boot, before any application code runs.
    pub fn now() -> Self {
        let clock = CLOCK.get().expect("no clock registered (skiff_xen::time::set_clock)");
        Instant(clock())
    }

    /// The instant `ns` nanoseconds after the clock's origin.
    pub const fn from_nanos(ns: u64) -> Self {
        Instant(ns)
    }

    /// Nanoseconds since the clock's origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time since `earlier` (zero if `earlier` is later).
    pub fn duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Time elapsed since this instant.
    pub fn elapsed(self) -> Duration {
        Instant::now().duration_since(self)
    }

    /// This instant plus `d`, saturating far in the future.
    pub fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
    }

    /// This instant minus `d`, saturating at the origin.
    pub fn saturating_sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
    }
}

impl core::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl core::ops::Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.duration_since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_nanos(1_000);
        assert_eq!((t + Duration::from_nanos(5)).as_nanos(), 1_005);
        assert_eq!(t + Duration::MAX, Instant::from_nanos(u64::MAX));
        assert_eq!(t.saturating_sub(Duration::from_secs(1)), Instant::from_nanos(0));
        assert_eq!(Instant::from_nanos(3) - t, Duration::ZERO);
        assert_eq!(t - Instant::from_nanos(400), Duration::from_nanos(600));
    }
}

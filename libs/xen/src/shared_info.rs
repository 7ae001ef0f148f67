//! The shared info page: `xen/include/public/xen.h` and
//! `arch-x86/xen.h` (x86_64 layout).

/// Byte offsets in `struct shared_info` for vCPU 0 and the event bitmaps.
pub mod offset {
    /// `vcpu_info[0]` starts the page; each `vcpu_info` is 64 bytes.
    pub const VCPU_INFO: usize = 0;
    /// Size of `struct vcpu_info` on x86_64.
    pub const VCPU_INFO_SIZE: usize = 64;
    /// `evtchn_pending[64]` (u64 words), after `vcpu_info[XEN_LEGACY_MAX_VCPUS = 32]`.
    pub const EVTCHN_PENDING: usize = 2048;
    /// `evtchn_mask[64]`.
    pub const EVTCHN_MASK: usize = 2048 + 512;
    /// `wc_version`, `wc_sec`, `wc_nsec` (wall clock at system time 0).
    pub const WC_VERSION: usize = 3072;
    /// `wc_sec`.
    pub const WC_SEC: usize = 3076;
    /// `wc_nsec`.
    pub const WC_NSEC: usize = 3080;
}

/// Byte offsets inside one `struct vcpu_info`.
pub mod vcpu_info {
    /// `uint8_t evtchn_upcall_pending`.
    pub const UPCALL_PENDING: usize = 0;
    /// `uint8_t evtchn_upcall_mask`.
    pub const UPCALL_MASK: usize = 1;
    /// `xen_ulong_t evtchn_pending_sel`.
    pub const PENDING_SEL: usize = 8;
    /// `struct arch_vcpu_info` (16 bytes), then `vcpu_time_info` at 32.
    pub const TIME: usize = 32;
}

/// Byte offsets inside `struct vcpu_time_info` (32 bytes).
pub mod time {
    /// `uint32_t version`: odd while Xen updates the record.
    pub const VERSION: usize = 0;
    /// `uint64_t tsc_timestamp`.
    pub const TSC_TIMESTAMP: usize = 8;
    /// `uint64_t system_time` (ns).
    pub const SYSTEM_TIME: usize = 16;
    /// `uint32_t tsc_to_system_mul`.
    pub const TSC_TO_SYSTEM_MUL: usize = 24;
    /// `int8_t tsc_shift`.
    pub const TSC_SHIFT: usize = 28;
    /// `uint8_t flags`.
    pub const FLAGS: usize = 29;
}

/// A consistent snapshot of `vcpu_time_info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeInfo {
    /// TSC value when `system_time` was taken.
    pub tsc_timestamp: u64,
    /// Nanoseconds since the domain's system time origin.
    pub system_time: u64,
    /// 32.32 fixed-point multiplier after shifting.
    pub tsc_to_system_mul: u32,
    /// Signed power-of-two shift applied to the TSC delta first.
    pub tsc_shift: i8,
}

impl TimeInfo {
    /// Converts a TSC reading into system time in nanoseconds (the pvclock
    /// formula from `xen.h`). The delta is taken modulo 2^64, as Xen and
    /// Linux do: a guest's TSC starts near 0 when the domain is built, so
    /// the first records carry a timestamp from before that, a "negative"
    /// value like 2^64 - 547_000_000. A TSC reading really behind the
    /// timestamp (a delta that is negative as a signed number) counts as no
    /// time elapsed, never as a huge unsigned delta.
    pub fn system_time_at(&self, tsc: u64) -> u64 {
        let mut delta = tsc.wrapping_sub(self.tsc_timestamp);
        if (delta as i64) < 0 {
            return self.system_time;
        }
        if self.tsc_shift >= 0 {
            delta <<= self.tsc_shift as u32;
        } else {
            delta >>= (-(self.tsc_shift as i32)) as u32;
        }
        let scaled = ((delta as u128 * self.tsc_to_system_mul as u128) >> 32) as u64;
        self.system_time.wrapping_add(scaled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvclock_scales_tsc() {
        // 2 GHz TSC: mul = 0.5 * 2^32 with shift 0.
        let t = TimeInfo {
            tsc_timestamp: 1000,
            system_time: 5_000,
            tsc_to_system_mul: 1 << 31,
            tsc_shift: 0,
        };
        assert_eq!(t.system_time_at(1000), 5_000);
        assert_eq!(t.system_time_at(3000), 6_000);
        let t = TimeInfo { tsc_shift: -1, ..t };
        assert_eq!(t.system_time_at(5000), 6_000);
        let t = TimeInfo { tsc_shift: 2, ..t };
        assert_eq!(t.system_time_at(1010), 5_020);
        // A TSC behind the record's timestamp must not wrap around.
        assert_eq!(t.system_time_at(999), 5_000);
        assert_eq!(t.system_time_at(0), 5_000);
    }

    #[test]
    fn pvclock_timestamp_from_before_the_guest_tsc_origin() {
        // Measured under Xen 4.17: a new domain's first record had
        // tsc_timestamp = 2^64 - 547_347_642 while its TSC read 1_199_082_912.
        // Treating that as "TSC behind the record" froze the clock until
        // Xen's next update, about a second later.
        let t = TimeInfo {
            tsc_timestamp: 547_347_642u64.wrapping_neg(),
            system_time: 15_383_162_157,
            tsc_to_system_mul: 1 << 31,
            tsc_shift: 0,
        };
        assert_eq!(t.system_time_at(0), 15_383_162_157 + 547_347_642 / 2);
        assert_eq!(t.system_time_at(1_000), 15_383_162_157 + 547_348_642 / 2);
    }
}

//! The eventfd counter (`eventfd(2)`): reads take the count (or one, as a semaphore), writes add.

use skiff_pvcalls::Errno;

/// The largest value the counter holds (`0xffff_ffff_ffff_fffe`).
pub const MAX: u64 = u64::MAX - 1;

/// One eventfd's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventFd {
    count: u64,
    semaphore: bool,
}

impl EventFd {
    /// A counter starting at `initval`, with `EFD_SEMAPHORE` semantics if `semaphore`.
    pub fn new(initval: u32, semaphore: bool) -> Self {
        EventFd { count: u64::from(initval), semaphore }
    }

    /// The current count.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// `read`: the count (then 0), or 1 (then count − 1) as a semaphore;
    /// `EAGAIN` while the count is 0.
    pub fn read(&mut self) -> Result<u64, Errno> {
        if self.count == 0 {
            return Err(Errno::EAGAIN);
        }
        let v = if self.semaphore { 1 } else { self.count };
        self.count -= v;
        Ok(v)
    }

    /// `write`: adds `v`; `EINVAL` for `u64::MAX`, `EAGAIN` if the sum
    /// would pass [`MAX`] (nothing is added).
    pub fn write(&mut self, v: u64) -> Result<(), Errno> {
        if v == u64::MAX {
            return Err(Errno::EINVAL);
        }
        if MAX - self.count < v {
            return Err(Errno::EAGAIN);
        }
        self.count += v;
        Ok(())
    }

    /// A read would not block.
    pub fn readable(&self) -> bool {
        self.count > 0
    }

    /// A write of 1 would not block.
    pub fn writable(&self) -> bool {
        self.count < MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counter_and_semaphore() {
        let mut e = EventFd::new(0, false);
        assert_eq!(e.read(), Err(Errno::EAGAIN));
        e.write(3).unwrap();
        e.write(4).unwrap();
        assert_eq!(e.read(), Ok(7));
        assert!(!e.readable());
        let mut s = EventFd::new(2, true);
        assert_eq!(s.read(), Ok(1));
        assert_eq!(s.read(), Ok(1));
        assert_eq!(s.read(), Err(Errno::EAGAIN));
        assert_eq!(s.write(u64::MAX), Err(Errno::EINVAL));
        s.write(MAX).unwrap();
        assert!(!s.writable());
        assert_eq!(s.write(1), Err(Errno::EAGAIN));
        assert_eq!(s.count(), MAX);
    }

    proptest! {
        /// Against a model: the sum of successful writes minus successful reads.
        #[test]
        fn model(sem in any::<bool>(), init in any::<u32>(),
                 ops in proptest::collection::vec(prop_oneof![
                     Just(None),
                     any::<u64>().prop_map(Some),
                     (0u64..5).prop_map(Some),
                     Just(Some(MAX - 1)),
                 ], 1..60)) {
            let mut e = EventFd::new(init, sem);
            let mut model = u128::from(init);
            for op in ops {
                match op {
                    None => {
                        let r = e.read();
                        if model == 0 {
                            prop_assert_eq!(r, Err(Errno::EAGAIN));
                        } else {
                            let want = if sem { 1 } else { model };
                            prop_assert_eq!(r, Ok(want as u64));
                            model -= want;
                        }
                    }
                    Some(v) => {
                        let r = e.write(v);
                        if v == u64::MAX {
                            prop_assert_eq!(r, Err(Errno::EINVAL));
                        } else if model + u128::from(v) > u128::from(MAX) {
                            prop_assert_eq!(r, Err(Errno::EAGAIN));
                        } else {
                            prop_assert_eq!(r, Ok(()));
                            model += u128::from(v);
                        }
                    }
                }
                prop_assert_eq!(u128::from(e.count()), model);
                prop_assert_eq!(e.readable(), model > 0);
            }
        }
    }
}

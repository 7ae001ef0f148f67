//! Clocks and sleeps: `clock_gettime`, `clock_getres`, `gettimeofday`, `time`, `nanosleep`, `clock_nanosleep`.
//!
//! The CPU-time clocks read the monotonic clock (one vCPU, no accounting).
//! Sleeps are not interrupted (no asynchronous signals), so `rem` is never written.

use skiff_pvcalls::Errno;

use super::{Cx, Ret, SysResult, val, zero};
use crate::abi::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW,
    CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_THREAD_CPUTIME_ID,
    TIMER_ABSTIME, Timespec, Timeval,
};
use crate::env::Env;
use crate::mem::{UserMem, UserMemExt};
use crate::process::Process;
use crate::sched::BlockOn;

/// Which clock a clock id reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Clock {
    Real,
    Mono,
}

fn clock(id: i32) -> Result<Clock, Errno> {
    match u32::try_from(id).map_err(|_| Errno::EINVAL)? {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => Ok(Clock::Real),
        CLOCK_MONOTONIC
        | CLOCK_MONOTONIC_RAW
        | CLOCK_MONOTONIC_COARSE
        | CLOCK_BOOTTIME
        | CLOCK_PROCESS_CPUTIME_ID
        | CLOCK_THREAD_CPUTIME_ID => Ok(Clock::Mono),
        _ => Err(Errno::EINVAL),
    }
}

fn now(c: Clock, env: &impl Env) -> u64 {
    match c {
        Clock::Real => env.realtime_ns(),
        Clock::Mono => env.monotonic_ns(),
    }
}

impl Process {
    pub(crate) fn sys_clock_gettime(
        &mut self,
        id: i32,
        tp: u64,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let c = clock(id)?;
        mem.write_val(tp, &Timespec::from_nanos(now(c, env)))?;
        zero()
    }

    pub(crate) fn sys_clock_getres(
        &mut self,
        id: i32,
        tp: u64,
        mem: &mut impl UserMem,
    ) -> SysResult {
        clock(id)?;
        if tp != 0 {
            mem.write_val(tp, &Timespec { tv_sec: 0, tv_nsec: 1 })?;
        }
        zero()
    }

    pub(crate) fn sys_gettimeofday(
        &mut self,
        tv: u64,
        tz: u64,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        if tv != 0 {
            mem.write_val(tv, &Timeval::from_nanos(env.realtime_ns()))?;
        }
        if tz != 0 {
            mem.write_val(tz, &[0i32; 2])?;
        }
        zero()
    }

    pub(crate) fn sys_time(
        &mut self,
        tloc: u64,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let secs = env.realtime_ns() / 1_000_000_000;
        if tloc != 0 {
            mem.write_val(tloc, &secs)?;
        }
        val(secs as usize)
    }

    /// Sleeps until `deadline` (monotonic ns), re-run after wake-ups.
    fn sleep_until(&mut self, cx: &Cx, deadline: u64) -> SysResult {
        if cx.now >= deadline {
            return zero();
        }
        Ok(Ret::Block(BlockOn::Sleep, Some(deadline)))
    }

    pub(crate) fn sys_nanosleep(&mut self, cx: &Cx, req: u64, mem: &mut impl UserMem) -> SysResult {
        let deadline = match self.deadline(cx, None) {
            Some(d) if cx.resumed => d,
            _ => {
                let t: Timespec = mem.read_val(req)?;
                cx.now.saturating_add(t.to_nanos()?)
            }
        };
        self.sleep_until(cx, deadline)
    }

    pub(crate) fn sys_clock_nanosleep(
        &mut self,
        cx: &Cx,
        id: i32,
        flags: u32,
        req: u64,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let c = clock(id)?;
        if u32::try_from(id).is_ok_and(|i| i == CLOCK_THREAD_CPUTIME_ID) {
            return Err(Errno::EINVAL);
        }
        let deadline = match self.deadline(cx, None) {
            Some(d) if cx.resumed => d,
            _ => {
                let t = mem.read_val::<Timespec>(req)?.to_nanos()?;
                if flags & TIMER_ABSTIME != 0 {
                    match c {
                        Clock::Mono => t,
                        Clock::Real => cx.now.saturating_add(t.saturating_sub(now(c, env))),
                    }
                } else {
                    cx.now.saturating_add(t)
                }
            }
        };
        self.sleep_until(cx, deadline)
    }
}

//! Identity and resources: `getrandom`, `uname`, `getresuid`/`getresgid`, `prlimit64` (and `getrlimit`/`setrlimit`).
//!
//! `getrandom` reads RDRAND/RDSEED through the kernel. Without them,
//! only `GRND_INSECURE` requests are served (from the kernel's
//! non-cryptographic generator, as Linux serves them before its pool is
//! ready); other requests fail — `EAGAIN` with `GRND_NONBLOCK`, else
//! `EIO` — rather than block forever or hand out weak keys, with a
//! console notice. `/dev/urandom` behaves like a request without flags.

use skiff_pvcalls::Errno;

use super::io::MAX_IO;
use super::{SysResult, val, zero};
use crate::abi::{
    GRND_INSECURE, GRND_NONBLOCK, GRND_RANDOM, RLIM_INFINITY, RLIM_NLIMITS, RLIMIT_NOFILE,
    RLIMIT_STACK, Rlimit, Utsname,
};
use crate::env::{Env, Notice};
use crate::mem::{UserMem, UserMemExt};
use crate::process::Process;
use crate::sched::Tid;

/// The kernel release `uname` reports (a Linux 6.1 ABI).
pub const RELEASE: &str = "6.1.0-skiff";

impl Process {
    pub(crate) fn sys_getrandom(
        &mut self,
        buf: u64,
        len: u64,
        flags: u32,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
            || flags & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE
        {
            return Err(Errno::EINVAL);
        }
        let n = (len as usize).min(MAX_IO);
        let mut bytes = core::mem::take(&mut self.scratch);
        bytes.clear();
        bytes.resize(n, 0);
        let hw = env.random(&mut bytes);
        let r = if hw || flags & GRND_INSECURE != 0 {
            mem.write(buf, &bytes)
        } else {
            self.notice_once(env, Notice::NoHardwareRandom);
            Err(if flags & GRND_NONBLOCK != 0 { Errno::EAGAIN } else { Errno::EIO })
        };
        bytes.fill(0);
        self.scratch = bytes;
        r?;
        val(n)
    }

    pub(crate) fn sys_uname(&mut self, buf: u64, mem: &mut impl UserMem) -> SysResult {
        let u =
            Utsname::new(["Linux", &self.hostname, RELEASE, "#1 SMP Skiff", "x86_64", "(none)"]);
        mem.write_val(buf, &u)?;
        zero()
    }

    /// `prctl`: a thread's name (`PR_SET_NAME`/`PR_GET_NAME`, as std and
    /// musl set them), `PR_SET_PDEATHSIG`, `PR_SET_NO_NEW_PRIVS` and the
    /// dumpable flag accepted; anything else `EINVAL`, as Linux answers an
    /// unknown option.
    pub(crate) fn sys_prctl(
        &mut self,
        tid: Tid,
        option: u32,
        arg: u64,
        mem: &mut impl UserMem,
    ) -> SysResult {
        use crate::abi::{
            PR_GET_DUMPABLE, PR_GET_NAME, PR_GET_NO_NEW_PRIVS, PR_SET_DUMPABLE, PR_SET_NAME,
            PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG,
        };
        match option {
            PR_SET_NAME => {
                let mut name = [0u8; 16];
                let s = mem.read_cstr(arg, 15).or_else(|e| match e {
                    // Longer names are cut to 15 bytes, as Linux does.
                    Errno::ENAMETOOLONG => {
                        let mut b = [0u8; 15];
                        mem.read(arg, &mut b).map(|()| b.to_vec())
                    }
                    e => Err(e),
                })?;
                name[..s.len()].copy_from_slice(&s);
                if let Some(t) = self.threads.get_mut(&tid) {
                    t.name = name;
                }
                zero()
            }
            PR_GET_NAME => {
                let name = self.threads.get(&tid).map_or([0; 16], |t| t.name);
                mem.write(arg, &name)?;
                zero()
            }
            PR_SET_PDEATHSIG | PR_SET_NO_NEW_PRIVS | PR_SET_DUMPABLE => zero(),
            PR_GET_DUMPABLE => val(1),
            PR_GET_NO_NEW_PRIVS => zero(),
            _ => Err(Errno::EINVAL),
        }
    }

    pub(crate) fn sys_getres(
        &mut self,
        a: u64,
        b: u64,
        c: u64,
        mem: &mut impl UserMem,
    ) -> SysResult {
        for p in [a, b, c] {
            mem.write_val(p, &0u32)?;
        }
        zero()
    }

    /// `prlimit64(pid, resource, new, old)`: this process only. The fd
    /// limit is the table's (1024, and may be lowered); the stack limit
    /// is 8 MiB; everything else is unlimited. Raising a limit above its
    /// hard value is `EPERM`; other changes are accepted and ignored.
    pub(crate) fn sys_prlimit64(
        &mut self,
        pid: i32,
        res: u32,
        new: u64,
        old: u64,
        mem: &mut impl UserMem,
    ) -> SysResult {
        self.owns_pid(pid)?;
        if res >= RLIM_NLIMITS {
            return Err(Errno::EINVAL);
        }
        let cur = match res {
            RLIMIT_NOFILE => {
                let l = self.fds.limit() as u64;
                Rlimit { cur: l, max: crate::fdtable::MAX_FDS as u64 }
            }
            RLIMIT_STACK => Rlimit { cur: 8 << 20, max: RLIM_INFINITY },
            _ => Rlimit { cur: RLIM_INFINITY, max: RLIM_INFINITY },
        };
        if new != 0 {
            let n: Rlimit = mem.read_val(new)?;
            if n.cur > n.max {
                return Err(Errno::EINVAL);
            }
            if n.max > cur.max {
                return Err(Errno::EPERM);
            }
            if res == RLIMIT_NOFILE {
                self.fds.set_limit(n.cur as usize);
            }
        }
        if old != 0 {
            mem.write_val(old, &cur)?;
        }
        zero()
    }
}

//! The table of implemented syscalls with what is partial: the dispatcher's contract, printed into the README.

use alloc::string::String;

use crate::sysno::{self, nr};

/// One implemented syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Support {
    /// Its number.
    pub nr: u64,
    /// What differs from Linux (empty: nothing known).
    pub partial: &'static str,
}

const fn s(nr: u64, partial: &'static str) -> Support {
    Support { nr, partial }
}

/// Every syscall the dispatcher serves, ascending by number; all others
/// are `ENOSYS` with a console line. A test checks this against the
/// dispatcher.
pub const SUPPORTED: &[Support] = &[
    s(nr::read, "console reads end of file; at most 64 KiB per call"),
    s(nr::write, "at most 64 KiB per call (a short count beyond)"),
    s(
        nr::open,
        "read-only file set only (/etc/hosts, /etc/resolv.conf, /dev/null, /dev/zero, /dev/urandom, ...); writing: EROFS",
    ),
    s(nr::close, ""),
    s(nr::stat, "read-only file set only"),
    s(nr::fstat, ""),
    s(nr::lstat, "read-only file set only; no symbolic links"),
    s(nr::poll, ""),
    s(nr::lseek, "files of the read-only set only; others ESPIPE"),
    s(
        nr::mmap,
        "anonymous only (files: ENODEV); the kernel picks addresses; MAP_FIXED only inside owned memory",
    ),
    s(nr::mprotect, ""),
    s(nr::munmap, ""),
    s(
        nr::brk,
        "never grows: no area is reserved after the image, so a caller gets the current break back (musl's malloc then uses mmap)",
    ),
    s(nr::rt_sigaction, ""),
    s(nr::rt_sigprocmask, ""),
    s(nr::rt_sigreturn, ""),
    s(
        nr::ioctl,
        "FIONBIO, FIONREAD, FIOCLEX, FIONCLEX; others ENOTTY (the console is not a terminal)",
    ),
    s(nr::pread64, "files of the read-only set only"),
    s(nr::readv, ""),
    s(nr::writev, ""),
    s(nr::access, "read-only file set; W_OK: EROFS"),
    s(nr::pipe, ""),
    s(nr::sched_yield, ""),
    s(nr::mremap, "moves by copying; never grows in place; MREMAP_FIXED/DONTUNMAP: EINVAL"),
    s(nr::madvise, "MADV_DONTNEED zeroes; other advice accepted"),
    s(nr::dup, ""),
    s(nr::dup2, ""),
    s(nr::nanosleep, "never interrupted"),
    s(nr::getpid, "always 1"),
    s(
        nr::socket,
        "AF_INET + SOCK_STREAM only: IPv6 EAFNOSUPPORT, UDP ESOCKTNOSUPPORT (PV Calls v1)",
    ),
    s(nr::connect, "not after bind (EINVAL); while dom0 connects, its other socket commands wait"),
    s(nr::accept, "peer address unknown to PV Calls: reported as 0.0.0.0:0"),
    s(nr::sendto, "destination ignored (stream); MSG_OOB: EOPNOTSUPP"),
    s(nr::recvfrom, "MSG_PEEK, MSG_OOB: EOPNOTSUPP; MSG_WAITALL returns what is there"),
    s(nr::sendmsg, "ancillary data ignored"),
    s(nr::recvmsg, "no ancillary data"),
    s(
        nr::shutdown,
        "SHUT_WR cannot half-close over PV Calls: later sends EPIPE, the peer sees EOF at close",
    ),
    s(nr::bind, "waits for dom0 even when non-blocking"),
    s(nr::listen, "needs a bound socket (no implicit bind)"),
    s(
        nr::getsockname,
        "port 0 stays 0 (dom0's choice is not reported); outgoing connections 0.0.0.0:0",
    ),
    s(nr::getpeername, "accepted connections: 0.0.0.0:0"),
    s(
        nr::socketpair,
        "AF_UNIX + SOCK_STREAM inside the process only (two pipes); datagrams EOPNOTSUPP",
    ),
    s(
        nr::setsockopt,
        "SO_RCVTIMEO/SO_SNDTIMEO honoured; common options accepted and remembered, not applied in dom0",
    ),
    s(
        nr::getsockopt,
        "SO_ERROR, SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN and the remembered options",
    ),
    s(nr::clone, "threads only (musl's pthread flags); fork/vfork/spawn: ENOSYS"),
    s(nr::exit, ""),
    s(nr::kill, "own process only; handled signals go to the calling thread"),
    s(nr::uname, ""),
    s(
        nr::fcntl,
        "F_DUPFD(_CLOEXEC), F_GETFD/SETFD, F_GETFL/SETFL (O_NONBLOCK, O_APPEND), F_GETPIPE_SZ; locks: EINVAL",
    ),
    s(nr::getcwd, "always /"),
    s(nr::readlink, "only /proc/self/exe"),
    s(nr::gettimeofday, ""),
    s(nr::getrlimit, "see prlimit64"),
    s(nr::getuid, "always 0"),
    s(nr::getgid, "always 0"),
    s(nr::geteuid, "always 0"),
    s(nr::getegid, "always 0"),
    s(nr::getppid, "always 0"),
    s(nr::getpgrp, ""),
    s(nr::getresuid, "always 0"),
    s(nr::getresgid, "always 0"),
    s(nr::getsid, ""),
    s(nr::sigaltstack, ""),
    s(
        nr::prctl,
        "PR_SET_NAME/PR_GET_NAME; PDEATHSIG, NO_NEW_PRIVS, DUMPABLE accepted; others EINVAL",
    ),
    s(nr::arch_prctl, "ARCH_SET_FS/ARCH_GET_FS only"),
    s(nr::setrlimit, "see prlimit64"),
    s(nr::gettid, ""),
    s(nr::tkill, "a handled signal to another thread: EPERM"),
    s(nr::time, ""),
    s(nr::futex, "WAIT, WAKE, WAIT_BITSET, WAKE_BITSET, REQUEUE, CMP_REQUEUE; no PI or WAKE_OP"),
    s(nr::sched_setaffinity, "one CPU"),
    s(nr::sched_getaffinity, "one CPU"),
    s(nr::epoll_create, ""),
    s(nr::set_tid_address, ""),
    s(nr::clock_gettime, "CPU-time clocks read the monotonic clock"),
    s(nr::clock_getres, ""),
    s(nr::clock_nanosleep, "never interrupted"),
    s(nr::exit_group, ""),
    s(nr::epoll_wait, ""),
    s(nr::epoll_ctl, "nested epoll: EINVAL"),
    s(nr::tgkill, "a handled signal to another thread: EPERM"),
    s(nr::openat, "read-only file set; relative paths from / only"),
    s(nr::newfstatat, "read-only file set"),
    s(nr::readlinkat, "only /proc/self/exe"),
    s(nr::faccessat, "read-only file set"),
    s(nr::ppoll, "signal mask ignored (no asynchronous signals)"),
    s(nr::set_robust_list, "accepted; robust futexes are not cleaned up"),
    s(nr::epoll_pwait, "signal mask ignored"),
    s(nr::eventfd, ""),
    s(nr::accept4, "peer address unknown to PV Calls: reported as 0.0.0.0:0"),
    s(nr::eventfd2, ""),
    s(nr::epoll_create1, ""),
    s(nr::dup3, ""),
    s(nr::pipe2, "O_DIRECT ignored"),
    s(nr::prlimit64, "own process; RLIMIT_NOFILE is enforced, others reported"),
    s(nr::getcpu, ""),
    s(nr::getrandom, "without RDRAND/RDSEED only GRND_INSECURE is served"),
    s(nr::statx, "read-only file set"),
    s(nr::faccessat2, "read-only file set"),
    s(nr::epoll_pwait2, "signal mask ignored"),
];

/// The Markdown table of [`SUPPORTED`] for the README: number, name, and what is partial.
pub fn syscall_table_markdown() -> String {
    let mut out = String::from("| nr | syscall | partial |\n|---:|---|---|\n");
    for e in SUPPORTED {
        let name = sysno::name(e.nr).unwrap_or("?");
        let note = if e.partial.is_empty() { "" } else { e.partial };
        out.push_str(&alloc::format!("| {} | `{}` | {} |\n", e.nr, name, note));
    }
    out
}

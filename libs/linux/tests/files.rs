//! Files, pipes, eventfds and the fd table through the dispatcher.

mod common;

use common::{H, err};
use skiff_linux::Errno;
use skiff_linux::abi::*;
use skiff_linux::dispatch::Action;
use skiff_linux::process::ProcessConfig;
use skiff_linux::sysno::nr;
use std::net::Ipv4Addr;

fn open(h: &mut H, path: &str, flags: u32) -> i64 {
    let p = h.put(format!("{path}\0").as_bytes());
    h.sys(nr::openat, &[AT_FDCWD as u64, p, u64::from(flags), 0])
}

fn read_all(h: &mut H, fd: i64) -> Vec<u8> {
    let buf = h.buf(4096);
    let mut out = Vec::new();
    loop {
        let n = h.sys(nr::read, &[fd as u64, buf, 100]);
        assert!(n >= 0, "read: {n}");
        if n == 0 {
            return out;
        }
        out.extend(h.bytes(buf, n as usize));
    }
}

#[test]
fn the_read_only_file_set() {
    let mut h = H::with(ProcessConfig {
        hosts: vec![("db".into(), Ipv4Addr::new(10, 0, 0, 5))],
        exe: "/server".into(),
        ..ProcessConfig::default()
    });
    let fd = open(&mut h, "/etc/hosts", O_RDONLY | O_CLOEXEC);
    assert_eq!(fd, 3);
    let hosts = String::from_utf8(read_all(&mut h, fd)).unwrap();
    assert!(hosts.contains("127.0.0.1\tlocalhost"), "{hosts}");
    assert!(hosts.contains("10.0.0.5\tdb\n"), "{hosts}");
    let st = h.buf(144);
    assert_eq!(h.sys(nr::fstat, &[fd as u64, st]), 0);
    let st: Stat = h.get(st);
    assert_eq!(st.st_mode & S_IFMT, S_IFREG);
    assert_eq!(st.st_size as usize, hosts.len());
    assert_eq!(h.sys(nr::lseek, &[fd as u64, 0, SEEK_SET as u64]), 0);
    assert_eq!(read_all(&mut h, fd), hosts.as_bytes());
    assert_eq!(h.sys(nr::lseek, &[fd as u64, -1i64 as u64, SEEK_SET as u64]), err(Errno::EINVAL));
    let buf = h.buf(16);
    assert_eq!(h.sys(nr::pread64, &[fd as u64, buf, 9, 0]), 9);
    assert_eq!(h.bytes(buf, 9), b"# Made by");

    let resolv = open(&mut h, "etc/./resolv.conf", O_RDONLY);
    assert!(String::from_utf8(read_all(&mut h, resolv)).unwrap().contains("nameserver"));
    assert_eq!(open(&mut h, "/etc/passwd", O_RDONLY), err(Errno::ENOENT));
    assert_eq!(open(&mut h, "/etc/hosts", O_WRONLY), err(Errno::EROFS));
    assert_eq!(open(&mut h, "/tmp/new", O_WRONLY | O_CREAT), err(Errno::EROFS));
    assert_eq!(open(&mut h, "/etc/hosts", O_RDONLY | O_DIRECTORY), err(Errno::ENOTDIR));
    let null = open(&mut h, "/dev/null", O_RDWR);
    let data = h.put(b"gone");
    assert_eq!(h.sys(nr::write, &[null as u64, data, 4]), 4);
    assert_eq!(read_all(&mut h, null), b"");
    let rnd = open(&mut h, "/dev/urandom", O_RDONLY);
    assert_eq!(h.sys(nr::read, &[rnd as u64, buf, 16]), 16);
    assert_ne!(h.bytes(buf, 16), [0; 16]);
    h.env.hw_random = false;
    assert_eq!(
        h.sys(nr::read, &[rnd as u64, buf, 16]),
        err(Errno::EIO),
        "no RDRAND: refused, not weak"
    );
    assert_eq!(h.sys(nr::getrandom, &[buf, 16, 0]), err(Errno::EIO));
    assert_eq!(h.sys(nr::getrandom, &[buf, 16, GRND_NONBLOCK as u64]), err(Errno::EAGAIN));
    assert_eq!(h.sys(nr::getrandom, &[buf, 16, GRND_INSECURE as u64]), 16);

    // statx and newfstatat by path, readlink of /proc/self/exe, getcwd.
    let path = h.put(b"/etc/resolv.conf\0");
    let sx = h.buf(256);
    assert_eq!(h.sys(nr::statx, &[AT_FDCWD as u64, path, 0, STATX_BASIC_STATS as u64, sx]), 0);
    let sx: Statx = h.get(sx);
    assert_eq!(u32::from(sx.stx_mode) & S_IFMT, S_IFREG);
    assert!(sx.stx_size > 0);
    let empty = h.put(b"\0");
    let st2 = h.buf(144);
    assert_eq!(h.sys(nr::newfstatat, &[fd as u64, empty, st2, AT_EMPTY_PATH as u64]), 0);
    assert_eq!(h.get::<Stat>(st2).st_size as usize, hosts.len());
    let exe = h.put(b"/proc/self/exe\0");
    assert_eq!(h.sys(nr::readlink, &[exe, buf, 16]), 7);
    assert_eq!(h.bytes(buf, 7), b"/server");
    assert_eq!(h.sys(nr::getcwd, &[buf, 16]), 2);
    let rel = h.put(b"x\0");
    assert_eq!(h.sys(nr::openat, &[fd as u64, rel, 0]), err(Errno::ENOTDIR));
    assert_eq!(h.sys(nr::openat, &[AT_FDCWD as u64, 0xdead_0000, 0]), err(Errno::EFAULT));
}

#[test]
fn pipes_move_bytes_block_and_end() {
    let mut h = H::new();
    let fds = h.buf(8);
    assert_eq!(h.sys(nr::pipe2, &[fds, (O_CLOEXEC | O_NONBLOCK) as u64]), 0);
    let [r, w]: [i32; 2] = h.get(fds);
    assert_eq!((r, w), (3, 4));
    let buf = h.buf(64);
    assert_eq!(h.sys(nr::read, &[r as u64, buf, 64]), err(Errno::EAGAIN));
    let data = h.put(b"hello");
    assert_eq!(h.sys(nr::write, &[w as u64, data, 5]), 5);
    let fion = h.buf(4);
    assert_eq!(h.sys(nr::ioctl, &[r as u64, u64::from(FIONREAD), fion]), 0);
    assert_eq!(h.get::<i32>(fion), 5);
    assert_eq!(h.sys(nr::read, &[r as u64, buf, 64]), 5);
    assert_eq!(h.sys(nr::read, &[w as u64, buf, 64]), err(Errno::EBADF), "the write end");
    // Blocking: a reader waits for the writer.
    assert_eq!(h.sys(nr::fcntl, &[r as u64, u64::from(F_SETFL), 0]), 0);
    assert_eq!(h.sys(nr::fcntl, &[r as u64, u64::from(F_GETFL)]) as u32 & O_NONBLOCK, 0);
    let stack = h.buf(64) + 64;
    let flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
    let Action::Spawn(t) = h.call(nr::clone, &[flags, stack, 0, 0, 0]).0 else { panic!() };
    h.blocks(nr::read, &[r as u64, buf, 64]);
    assert_eq!(h.p.pick(), Some(t.tid));
    assert_eq!(h.call_on(t.tid, nr::write, &[w as u64, data, 5]).1, 5);
    assert_eq!(h.call_on(t.tid, nr::close, &[w as u64]).1, 0);
    assert_eq!(h.call_on(t.tid, nr::exit, &[0]).0, Action::ExitThread);
    assert_eq!(h.p.pick(), Some(h.tid));
    assert_eq!(h.sys(nr::read, &[r as u64, buf, 64]), 5);
    assert_eq!(h.sys(nr::read, &[r as u64, buf, 64]), 0, "no writer left: end of file");
    let pfd = h.put_val(&PollFd { fd: r, events: POLLIN_I16, revents: 0 });
    assert_eq!(h.sys(nr::poll, &[pfd, 1, 0]), 1);
    assert_eq!(h.get::<PollFd>(pfd).revents, EPOLLHUP as i16);
}

const POLLIN_I16: i16 = EPOLLIN as i16;

#[test]
fn socketpair_ends_talk_both_ways_and_see_the_close() {
    let mut h = H::new();
    let sv = h.buf(8);
    let ty = u64::from(SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_eq!(h.sys(nr::socketpair, &[u64::from(AF_INET), ty, 0, sv]), err(Errno::EAFNOSUPPORT));
    let dgram = u64::from(SOCK_DGRAM);
    assert_eq!(h.sys(nr::socketpair, &[u64::from(AF_UNIX), dgram, 0, sv]), err(Errno::EOPNOTSUPP));
    assert_eq!(h.sys(nr::socketpair, &[u64::from(AF_UNIX), ty, 0, 8]), err(Errno::EFAULT));
    assert_eq!(h.sys(nr::socketpair, &[u64::from(AF_UNIX), ty, 0, sv]), 0);
    let [a, b]: [i32; 2] = h.get(sv);
    assert_eq!((a, b), (3, 4), "the failed call left no fd behind");
    let buf = h.buf(64);
    assert_eq!(h.sys(nr::read, &[a as u64, buf, 64]), err(Errno::EAGAIN));
    let ping = h.put(b"ping");
    let pong = h.put(b"pong!");
    assert_eq!(h.sys(nr::write, &[a as u64, ping, 4]), 4);
    assert_eq!(h.sys(nr::sendto, &[b as u64, pong, 5, 0, 0, 0]), 5, "send works too");
    // epoll sees b readable (a's bytes) and a readable (b's).
    let ep = h.sys(nr::epoll_create1, &[0]);
    let ev = h.put_val(&EpollEvent { events: EPOLLIN | EPOLLET, data: 7 });
    assert_eq!(h.sys(nr::epoll_ctl, &[ep as u64, u64::from(EPOLL_CTL_ADD), a as u64, ev]), 0);
    let out = h.buf(24);
    assert_eq!(h.sys(nr::epoll_wait, &[ep as u64, out, 2, 0]), 1);
    assert_eq!(h.sys(nr::recvfrom, &[a as u64, buf, 64, 0, 0, 0]), 5);
    assert_eq!(h.bytes(buf, 5), b"pong!");
    assert_eq!(h.sys(nr::read, &[b as u64, buf, 64]), 4);
    assert_eq!(h.bytes(buf, 4), b"ping");
    let st = h.buf(144);
    assert_eq!(h.sys(nr::fstat, &[a as u64, st]), 0);
    assert_eq!(h.get::<u32>(st + 24) & S_IFMT, S_IFSOCK);
    // The peer's close: end of file for reads, EPIPE for writes.
    assert_eq!(h.sys(nr::close, &[b as u64]), 0);
    assert_eq!(h.sys(nr::read, &[a as u64, buf, 64]), 0);
    let pfd = h.put_val(&PollFd { fd: a, events: POLLIN_I16, revents: 0 });
    assert_eq!(h.sys(nr::poll, &[pfd, 1, 0]), 1);
    assert_ne!(h.get::<PollFd>(pfd).revents & POLLIN_I16, 0);
    assert_eq!(
        h.sys(nr::sendto, &[a as u64, ping, 4, u64::from(MSG_NOSIGNAL), 0, 0]),
        err(Errno::EPIPE)
    );
}

#[test]
fn dup_fcntl_ioctl_and_close_semantics() {
    let mut h = H::new();
    let e = h.sys(nr::eventfd2, &[3, EFD_SEMAPHORE as u64]);
    assert_eq!(e, 3);
    assert_eq!(h.sys(nr::dup, &[e as u64]), 4);
    assert_eq!(h.sys(nr::dup2, &[e as u64, 10]), 10);
    assert_eq!(h.sys(nr::dup2, &[e as u64, e as u64]), e, "dup2 onto itself");
    assert_eq!(h.sys(nr::dup3, &[e as u64, e as u64, 0]), err(Errno::EINVAL), "dup3 onto itself");
    assert_eq!(h.sys(nr::dup3, &[e as u64, 11, 1]), err(Errno::EINVAL), "bad flags");
    assert_eq!(h.sys(nr::dup3, &[e as u64, 11, O_CLOEXEC as u64]), 11);
    assert_eq!(h.sys(nr::fcntl, &[11, u64::from(F_GETFD)]), 1);
    assert_eq!(h.sys(nr::fcntl, &[e as u64, u64::from(F_DUPFD), 7]), 7);
    assert_eq!(h.sys(nr::fcntl, &[e as u64, u64::from(F_DUPFD), 5000]), err(Errno::EINVAL));
    assert_eq!(h.sys(nr::dup2, &[e as u64, 5000]), err(Errno::EBADF));
    assert_eq!(h.sys(nr::close, &[99]), err(Errno::EBADF));
    assert_eq!(h.sys(nr::close, &[u64::from(u32::MAX)]), err(Errno::EBADF));
    // Dup'ed fds share the file: the status flags and the counter.
    let one = h.put_val(&1u64);
    let v = h.buf(8);
    let on = h.put_val(&1i32);
    assert_eq!(h.sys(nr::ioctl, &[4, u64::from(FIONBIO), on]), 0);
    assert_eq!(h.sys(nr::fcntl, &[10, u64::from(F_GETFL)]) as u32 & O_NONBLOCK, O_NONBLOCK);
    for _ in 0..3 {
        assert_eq!(h.sys(nr::read, &[10, v, 8]), 8);
        assert_eq!(h.get::<u64>(v), 1, "semaphore: one at a time");
    }
    assert_eq!(h.sys(nr::read, &[4, v, 8]), err(Errno::EAGAIN));
    assert_eq!(h.sys(nr::write, &[e as u64, one, 4]), err(Errno::EINVAL), "8 bytes or more");
    let max = h.put_val(&u64::MAX);
    assert_eq!(h.sys(nr::write, &[e as u64, max, 8]), err(Errno::EINVAL));
    assert_eq!(h.sys(nr::ioctl, &[0, u64::from(TCGETS), v]), err(Errno::ENOTTY), "not a terminal");
    // The last close of a file drops its epoll registrations.
    let ep = h.sys(nr::epoll_create1, &[0]);
    let ev = h.put_val(&EpollEvent { events: EPOLLIN, data: 5 });
    assert_eq!(h.sys(nr::epoll_ctl, &[ep as u64, 1, 4, ev]), 0);
    assert_eq!(h.sys(nr::epoll_ctl, &[ep as u64, 1, 4, ev]), err(Errno::EEXIST));
    assert_eq!(h.sys(nr::write, &[e as u64, one, 8]), 8);
    let evs = h.buf(24);
    assert_eq!(h.sys(nr::epoll_wait, &[ep as u64, evs, 2, 0]), 1);
    for fd in [3, 10, 11, 7] {
        assert_eq!(h.sys(nr::close, &[fd]), 0);
    }
    assert_eq!(h.sys(nr::epoll_wait, &[ep as u64, evs, 2, 0]), 1, "fd 4 still holds the file");
    assert_eq!(h.sys(nr::close, &[4]), 0);
    assert_eq!(h.sys(nr::epoll_wait, &[ep as u64, evs, 2, 0]), 0, "registration dropped");
    assert_eq!(h.sys(nr::epoll_ctl, &[ep as u64, 1, ep as u64, ev]), err(Errno::EINVAL), "itself");
    let f = open(&mut h, "/etc/hosts", O_RDONLY);
    assert_eq!(
        h.sys(nr::epoll_ctl, &[ep as u64, 1, f as u64, ev]),
        err(Errno::EPERM),
        "regular files"
    );
    assert_eq!(h.sys(nr::epoll_wait, &[ep as u64, evs, 0, 0]), err(Errno::EINVAL));
    assert_eq!(h.sys(nr::epoll_wait, &[f as u64, evs, 1, 0]), err(Errno::EINVAL));
}

#[test]
fn console_and_the_fd_limit() {
    let mut h = H::new();
    let msg = h.put(b"hello, console\n");
    assert_eq!(h.sys(nr::write, &[1, msg, 15]), 15);
    let iov = h.put_val(&[IoVec { base: msg, len: 7 }, IoVec { base: msg + 7, len: 8 }]);
    assert_eq!(h.sys(nr::writev, &[2, iov, 2]), 15);
    assert_eq!(h.env.console, b"hello, console\nhello, console\n");
    let buf = h.buf(8);
    assert_eq!(h.sys(nr::read, &[0, buf, 8]), 0, "stdin is at end of file");
    assert_eq!(h.sys(nr::writev, &[1, iov, IOV_MAX + 1]), err(Errno::EINVAL));
    assert_eq!(h.sys(nr::write, &[1, 0xdead_0000, 4]), err(Errno::EFAULT));
    let lim = h.put_val(&Rlimit { cur: 8, max: 1024 });
    assert_eq!(h.sys(nr::prlimit64, &[0, u64::from(RLIMIT_NOFILE), lim, 0]), 0);
    for want in 3..8 {
        assert_eq!(h.sys(nr::eventfd2, &[0, 0]), want);
    }
    assert_eq!(h.sys(nr::eventfd2, &[0, 0]), err(Errno::EMFILE));
    let big = h.put_val(&Rlimit { cur: 8, max: 1 << 20 });
    assert_eq!(h.sys(nr::prlimit64, &[0, u64::from(RLIMIT_NOFILE), big, 0]), err(Errno::EPERM));
    let old = h.buf(16);
    assert_eq!(h.sys(nr::getrlimit, &[u64::from(RLIMIT_STACK), old]), 0);
    assert_eq!(h.get::<Rlimit>(old).cur, 8 << 20);
    let uts = h.buf(390);
    assert_eq!(h.sys(nr::uname, &[uts]), 0);
    let u: Utsname = h.get(uts);
    assert_eq!(&u.sysname[..6], b"Linux\0");
    assert_eq!(&u.machine[..7], b"x86_64\0");
}

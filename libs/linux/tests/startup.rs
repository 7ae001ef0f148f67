//! The start-up and serving sequences real Rust servers make (the reference's measured axum/tokio/std lists), against the fakes, each result checked.

mod common;

use common::{H, err};
use skiff_linux::Errno;
use skiff_linux::abi::*;
use skiff_linux::dispatch::Action;
use skiff_linux::env::Notice;
use skiff_linux::mem::sockaddr_in;
use skiff_linux::sysno::nr;
use std::net::{Ipv4Addr, SocketAddrV4};

fn events(h: &H, at: u64, n: usize) -> Vec<(u32, u64)> {
    (0..n)
        .map(|i| {
            let e: EpollEvent = h.get(at + 12 * i as u64);
            (e.events, e.data)
        })
        .collect()
}

/// std's runtime start: TLS, tid address, fds 0-2 checked with poll, SIGPIPE
/// ignored, the stack-overflow guard's handlers and alternate stack, brk, HashMap keys.
fn std_start(h: &mut H) {
    let small = h.sys(nr::mmap, &[0, 504, 3, (MAP_PRIVATE | MAP_ANONYMOUS) as u64, u64::MAX, 0]);
    assert!(small > 0 && small % 4096 == 0);
    assert!(h.env.mem.is_mapped(small as u64));
    assert_eq!(h.sys(nr::arch_prctl, &[ARCH_SET_FS as u64, small as u64 + 0x100]), 0);
    assert_eq!(h.env.fs_bases, [small as u64 + 0x100]);
    let out = h.buf(8);
    assert_eq!(h.sys(nr::arch_prctl, &[ARCH_GET_FS as u64, out]), 0);
    assert_eq!(h.get::<u64>(out), small as u64 + 0x100);
    let tidp = h.buf(4);
    assert_eq!(h.sys(nr::set_tid_address, &[tidp]), 1);

    // poll({0,1,2}, events 0, timeout 0): all open, nothing to report.
    let pfds = h.put_val(&[
        PollFd { fd: 0, events: 0, revents: -1 },
        PollFd { fd: 1, events: 0, revents: -1 },
        PollFd { fd: 2, events: 0, revents: -1 },
    ]);
    assert_eq!(h.sys(nr::poll, &[pfds, 3, 0]), 0);
    for i in 0..3 {
        assert_eq!(h.get::<PollFd>(pfds + 8 * i).revents, 0);
    }

    let ign = h.put_val(&KSigaction {
        handler: SIG_IGN,
        flags: SA_RESTORER,
        restorer: 0x40_2000,
        mask: 0,
    });
    assert_eq!(h.sys(nr::rt_sigaction, &[SIGPIPE as u64, ign, 0, 8]), 0);
    let handler = KSigaction {
        handler: 0x40_3000,
        flags: SA_SIGINFO | SA_ONSTACK | SA_RESTORER,
        restorer: 0x40_2000,
        mask: 0,
    };
    let act = h.put_val(&handler);
    let old = h.buf(32);
    for sig in [SIGSEGV, SIGBUS] {
        assert_eq!(h.sys(nr::rt_sigaction, &[sig as u64, act, old, 8]), 0);
        assert_eq!(h.get::<KSigaction>(old), KSigaction::default(), "was SIG_DFL");
    }
    // The alternate stack: 12 KiB with a guard page.
    let alt = h.sys(
        nr::mmap,
        &[0, 12288, 3, (MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK) as u64, u64::MAX, 0],
    ) as u64;
    assert_eq!(h.sys(nr::mprotect, &[alt, 4096, 0]), 0);
    let ss = h.put_val(&StackT { sp: alt + 4096, flags: 0, _pad: 0, size: 8192 });
    let oss = h.buf(24);
    assert_eq!(h.sys(nr::sigaltstack, &[ss, oss]), 0);
    assert_eq!(h.get::<StackT>(oss).flags, SS_DISABLE);

    let brk0 = h.sys(nr::brk, &[0]);
    assert!(brk0 >= 0);
    let keys = h.buf(16);
    assert_eq!(h.sys(nr::getrandom, &[keys, 16, GRND_INSECURE as u64]), 16);
    assert_ne!(h.bytes(keys, 16), vec![0; 16]);
}

#[test]
fn axum_like_server_start_and_one_request() {
    let mut h = H::new();
    std_start(&mut h);

    // tokio/mio: epoll, the eventfd waker, a dup of it.
    let ep = h.sys(nr::epoll_create1, &[EPOLL_CLOEXEC as u64]);
    assert_eq!(ep, 3);
    let efd = h.sys(nr::eventfd2, &[0, (EFD_CLOEXEC | EFD_NONBLOCK) as u64]);
    assert_eq!(efd, 4);
    let ev = h.put_val(&EpollEvent { events: EPOLLIN | EPOLLRDHUP | EPOLLET, data: 0xffff_ffff });
    assert_eq!(h.sys(nr::epoll_ctl, &[ep as u64, EPOLL_CTL_ADD as u64, efd as u64, ev]), 0);
    assert_eq!(h.sys(nr::fcntl, &[ep as u64, F_DUPFD_CLOEXEC as u64, 3]), 5);
    assert_eq!(h.sys(nr::fcntl, &[5, F_GETFD as u64]), FD_CLOEXEC as i64);

    // The listener.
    let s = h
        .sys(nr::socket, &[AF_INET as u64, (SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK) as u64, 0]);
    assert_eq!(s, 6);
    let one = h.put_val(&1i32);
    assert_eq!(
        h.sys(nr::setsockopt, &[s as u64, SOL_SOCKET as u64, SO_REUSEADDR as u64, one, 4]),
        0
    );
    let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080);
    let sa = h.put_val(&sockaddr_in(addr));
    assert_eq!(h.sys(nr::bind, &[s as u64, sa, 16]), 0);
    assert_eq!(h.sys(nr::listen, &[s as u64, 1024]), 0);
    let name = h.buf(16);
    let namelen = h.put_val(&16u32);
    assert_eq!(h.sys(nr::getsockname, &[s as u64, name, namelen]), 0);
    assert_eq!(h.get::<SockaddrIn>(name), sockaddr_in(addr));
    let lev = h.put_val(&EpollEvent { events: EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, data: 1 });
    assert_eq!(h.sys(nr::epoll_ctl, &[ep as u64, EPOLL_CTL_ADD as u64, s as u64, lev]), 0);
    let listener = h.env.net.listener_on(8080).expect("listening in the fake");

    // Nothing yet: epoll_pwait with no timeout blocks.
    let evs = h.buf(12 * 16);
    assert_eq!(h.sys(nr::epoll_pwait, &[ep as u64, evs, 16, 0, 0, 8]), 0);
    h.blocks(nr::epoll_pwait, &[ep as u64, evs, 16, u64::MAX, 0, 8]);
    assert_eq!(h.p.pick(), None, "the only thread is blocked");

    // A client connects: the poll wakes the thread, the re-run reports the listener.
    let conn = h.env.net.incoming(listener);
    assert_eq!(h.p.poll(&mut h.env), 1);
    let tid = h.tid;
    h.resume(tid);
    assert_eq!(h.sys(nr::epoll_pwait, &[ep as u64, evs, 16, u64::MAX, 0, 8]), 1);
    assert_eq!(events(&h, evs, 1), [(EPOLLIN, 1)], "only the bits asked for");

    let peer = h.buf(16);
    let peerlen = h.put_val(&16u32);
    let c = h.sys(nr::accept4, &[s as u64, peer, peerlen, (SOCK_CLOEXEC | SOCK_NONBLOCK) as u64]);
    assert_eq!(c, 7);
    // PV Calls gives no peer address: a valid AF_INET 0.0.0.0:0.
    assert_eq!(h.get::<SockaddrIn>(peer), sockaddr_in(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
    assert_eq!(
        h.sys(nr::accept4, &[s as u64, 0, 0, (SOCK_CLOEXEC | SOCK_NONBLOCK) as u64]),
        err(Errno::EAGAIN)
    );
    let cev = h.put_val(&EpollEvent { events: EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, data: 2 });
    assert_eq!(h.sys(nr::epoll_ctl, &[ep as u64, EPOLL_CTL_ADD as u64, c as u64, cev]), 0);

    // The connection is writable: one event; then nothing while it stays so.
    assert_eq!(h.sys(nr::epoll_pwait, &[ep as u64, evs, 16, 0, 0, 8]), 1);
    assert_eq!(events(&h, evs, 1), [(EPOLLOUT, 2)]);
    assert_eq!(
        h.sys(nr::epoll_pwait, &[ep as u64, evs, 16, 0, 0, 8]),
        0,
        "edge-triggered: no busy loop"
    );
    let rbuf = h.buf(4096);
    assert_eq!(h.sys(nr::recvfrom, &[c as u64, rbuf, 4096, 0, 0, 0]), err(Errno::EAGAIN));

    // The request arrives.
    h.blocks(nr::epoll_pwait, &[ep as u64, evs, 16, u64::MAX, 0, 8]);
    let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    h.env.net.push_rx(conn, req);
    h.resume(tid);
    assert_eq!(h.sys(nr::epoll_pwait, &[ep as u64, evs, 16, u64::MAX, 0, 8]), 1);
    assert_eq!(events(&h, evs, 1), [(EPOLLIN | EPOLLOUT, 2)]);
    assert_eq!(h.sys(nr::recvfrom, &[c as u64, rbuf, 4096, 0, 0, 0]), req.len() as i64);
    assert_eq!(h.bytes(rbuf, req.len()), req);

    // The response: headers and body with writev, more with sendto.
    let head = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n";
    let hp = h.put(head);
    let bp = h.put(b"hello");
    let iov = h.put_val(&[IoVec { base: hp, len: head.len() as u64 }, IoVec { base: bp, len: 5 }]);
    assert_eq!(h.sys(nr::writev, &[c as u64, iov, 2]), (head.len() + 5) as i64);
    assert_eq!(h.sys(nr::sendto, &[c as u64, bp, 5, MSG_NOSIGNAL as u64, 0, 0]), 5);
    let mut want = head.to_vec();
    want.extend_from_slice(b"hellohello");
    assert_eq!(h.env.net.take_tx(conn), want);

    // The peer closes; the server sees EOF, shuts down and closes.
    h.env.net.push_eof(conn);
    assert_eq!(h.sys(nr::epoll_pwait, &[ep as u64, evs, 16, 0, 0, 8]), 1);
    let (bits, data) = events(&h, evs, 1)[0];
    assert_eq!(data, 2);
    assert!(bits & EPOLLIN != 0 && bits & EPOLLRDHUP != 0);
    assert_eq!(h.sys(nr::recvfrom, &[c as u64, rbuf, 4096, 0, 0, 0]), 0);
    assert_eq!(h.sys(nr::shutdown, &[c as u64, SHUT_WR as u64]), 0);
    assert!(h.env.notices.contains(&Notice::NoHalfClose));
    assert_eq!(h.sys(nr::sendto, &[c as u64, bp, 5, MSG_NOSIGNAL as u64, 0, 0]), err(Errno::EPIPE));
    assert_eq!(h.sys(nr::close, &[c as u64]), 0);
    assert!(h.env.net.sock(conn).closed);
    assert_eq!(
        h.sys(nr::epoll_ctl, &[ep as u64, EPOLL_CTL_DEL as u64, c as u64, 0]),
        err(Errno::EBADF)
    );
}

#[test]
fn mio_waker_is_reported_on_every_wake() {
    let mut h = H::new();
    let ep = h.sys(nr::epoll_create1, &[0]);
    let efd = h.sys(nr::eventfd2, &[0, EFD_NONBLOCK as u64]);
    let ev = h.put_val(&EpollEvent { events: EPOLLIN | EPOLLRDHUP | EPOLLET, data: 9 });
    assert_eq!(h.sys(nr::epoll_ctl, &[ep as u64, EPOLL_CTL_ADD as u64, efd as u64, ev]), 0);
    let evs = h.buf(12 * 4);
    let one = h.put_val(&1u64);
    for round in 0..3 {
        // mio never reads its waker eventfd: each write must still be a new edge.
        assert_eq!(h.sys(nr::write, &[efd as u64, one, 8]), 8);
        assert_eq!(h.sys(nr::epoll_wait, &[ep as u64, evs, 4, 0]), 1, "round {round}");
        assert_eq!(h.sys(nr::epoll_wait, &[ep as u64, evs, 4, 0]), 0, "round {round}");
    }
    // A thread blocked in epoll_wait is woken by a write from another thread.
    let stack = h.buf(256) + 256;
    let flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
    let (act, child) = h.call(nr::clone, &[flags, stack, 0, 0, 0]);
    let Action::Spawn(t) = act else { panic!("no thread: {act:?}") };
    assert_eq!(t.tid as i64, child);
    h.blocks(nr::epoll_wait, &[ep as u64, evs, 4, u64::MAX]);
    let main = h.tid;
    assert_eq!(h.p.pick(), Some(t.tid));
    assert_eq!(h.call_on(t.tid, nr::write, &[efd as u64, one, 8]), (Action::Return, 8));
    assert_eq!(h.p.sched.ready().collect::<Vec<_>>(), [main], "the write woke the waiter");
    assert_eq!(h.call_on(t.tid, nr::sched_yield, &[]).0, Action::Yield);
    assert_eq!(h.p.pick(), Some(main));
    assert_eq!(h.sys(nr::epoll_wait, &[ep as u64, evs, 4, u64::MAX]), 1);
}

#[test]
fn blocking_read_waits_for_data_and_times_out_with_rcvtimeo() {
    let mut h = H::new();
    let s = h.sys(nr::socket, &[AF_INET as u64, SOCK_STREAM as u64, 0]);
    let sa = h.put_val(&sockaddr_in(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80)));
    assert_eq!(h.sys(nr::connect, &[s as u64, sa, 16]), 0);
    let handle = h.env.net.all().last().unwrap().0;
    let buf = h.buf(64);
    h.blocks(nr::read, &[s as u64, buf, 64]);
    let tid = h.tid;
    assert_eq!(h.p.poll(&mut h.env), 0, "nothing changed");
    h.env.net.push_rx(handle, b"abc");
    h.resume(tid);
    assert_eq!(h.sys(nr::read, &[s as u64, buf, 64]), 3);
    assert_eq!(h.bytes(buf, 3), b"abc");

    // SO_RCVTIMEO: 2 s, then EAGAIN.
    let tv = h.put_val(&Timeval { tv_sec: 2, tv_usec: 0 });
    assert_eq!(
        h.sys(nr::setsockopt, &[s as u64, SOL_SOCKET as u64, SO_RCVTIMEO as u64, tv, 16]),
        0
    );
    h.blocks(nr::read, &[s as u64, buf, 64]);
    assert_eq!(h.p.next_deadline(), Some(h.env.now + 2_000_000_000));
    h.env.now += 1_000_000_000;
    assert_eq!(h.p.poll(&mut h.env), 0);
    h.env.now += 1_000_000_000;
    h.resume(tid);
    assert_eq!(h.sys(nr::read, &[s as u64, buf, 64]), err(Errno::EAGAIN));
}

#[test]
fn unimplemented_syscalls_are_enosys_and_reported_once() {
    let mut h = H::new();
    assert_eq!(h.sys(nr::fork, &[]), err(Errno::ENOSYS));
    assert_eq!(h.sys(nr::fork, &[]), err(Errno::ENOSYS));
    assert_eq!(h.sys(100_000, &[]), err(Errno::ENOSYS));
    assert_eq!(h.sys(u64::MAX, &[]), err(Errno::ENOSYS));
    assert_eq!(
        h.env.notices,
        [
            Notice::Unimplemented { nr: nr::fork, name: Some("fork") },
            Notice::Unimplemented { nr: 100_000, name: None },
            Notice::Unimplemented { nr: u64::MAX, name: None },
        ]
    );
    assert_eq!(h.env.notices[0].to_string(), "unimplemented syscall 57 (fork): ENOSYS");
}

#[test]
fn the_support_table_is_what_the_dispatcher_serves() {
    for &(n, name) in skiff_linux::sysno::ALL.iter().chain([(500u64, "none")].iter()) {
        let mut h = H::new();
        let (act, _) = h.call(n, &[]);
        let enosys = h
            .env
            .notices
            .contains(&Notice::Unimplemented { nr: n, name: skiff_linux::sysno::name(n) });
        let listed = skiff_linux::dispatch::SUPPORTED.iter().any(|s| s.nr == n);
        assert_eq!(
            listed, !enosys,
            "syscall {n} ({name}): in the table {listed}, ENOSYS {enosys} ({act:?})"
        );
    }
    let md = skiff_linux::dispatch::syscall_table_markdown();
    assert!(md.contains("| 232 | `epoll_wait` |"));
    assert!(skiff_linux::dispatch::SUPPORTED.windows(2).all(|w| w[0].nr < w[1].nr));
}

#[test]
fn exit_group_and_last_thread_exit_end_the_process() {
    let mut h = H::new();
    assert_eq!(h.call(nr::exit_group, &[0x1_03]).0, Action::ExitProcess(3));
    let mut h = H::new();
    assert_eq!(h.call(nr::exit, &[7]).0, Action::ExitProcess(7));
}

/// The README's copy of the syscall table is the one the code generates.
#[test]
fn readme_syscall_table_is_generated() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md at the repository root");
    let begin = "<!-- syscall-table begin -->\n";
    let end = "<!-- syscall-table end -->";
    let from = readme.find(begin).expect("begin marker in README.md") + begin.len();
    let to = readme[from..].find(end).expect("end marker in README.md") + from;
    assert_eq!(
        &readme[from..to],
        skiff_linux::dispatch::syscall_table_markdown(),
        "README.md's syscall table is stale: paste the output of \
         `cargo run -p skiff-linux --example syscall-table` between its markers"
    );
}

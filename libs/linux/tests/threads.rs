//! Threads and futexes through the dispatcher: musl's pthread_create/join, WAIT/WAKE with bitsets and timeouts, requeue, sleeps.

mod common;

use common::{H, err};
use skiff_linux::Errno;
use skiff_linux::abi::*;
use skiff_linux::dispatch::{Action, NewThread};
use skiff_linux::env::Notice;
use skiff_linux::sysno::nr;

const MUSL_FLAGS: u64 = CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID;

fn spawn(h: &mut H, tls: u64, tid_word: u64) -> NewThread {
    let stack = h.buf(1024) + 1024;
    let flags = if tid_word == 0 {
        MUSL_FLAGS & !(CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)
    } else {
        MUSL_FLAGS
    };
    let (act, rax) = h.call(nr::clone, &[flags, stack, tid_word, tid_word, tls]);
    let Action::Spawn(t) = act else { panic!("clone: {act:?} {rax}") };
    assert_eq!(rax, i64::from(t.tid));
    assert_eq!(t.regs.rax, 0, "the child sees 0");
    assert_eq!(t.regs.rsp, stack);
    assert_eq!(t.regs.rip, h.regs.rip, "the child continues after the syscall");
    assert_eq!(t.fs_base, tls);
    t
}

#[test]
fn pthread_create_and_join() {
    let mut h = H::new();
    let main = h.tid;
    let tid_word = h.buf(4);
    let t = spawn(&mut h, 0x7000, tid_word);
    assert_eq!(h.get::<u32>(tid_word), t.tid, "CLONE_PARENT_SETTID");
    assert_eq!(h.p.thread(t.tid).unwrap().clear_child_tid, tid_word);
    // pthread_join: wait while the word holds the tid.
    let (act, _) = h.call(
        nr::futex,
        &[tid_word, (FUTEX_WAIT | FUTEX_PRIVATE_FLAG) as u64, u64::from(t.tid), 0],
    );
    assert_eq!(act, Action::Block);
    assert_eq!(h.p.pick(), Some(t.tid));
    assert_eq!(h.call_on(t.tid, nr::gettid, &[]).1, i64::from(t.tid));
    assert_eq!(h.call_on(t.tid, nr::getpid, &[]).1, 1);
    // The thread exits: the word is cleared and the joiner woken.
    assert_eq!(h.call_on(t.tid, nr::exit, &[0]).0, Action::ExitThread);
    assert_eq!(h.get::<u32>(tid_word), 0);
    assert!(h.p.thread(t.tid).is_none());
    assert_eq!(h.p.pick(), Some(main));
    assert_eq!(
        h.sys(
            nr::futex,
            &[tid_word, (FUTEX_WAIT | FUTEX_PRIVATE_FLAG) as u64, u64::from(t.tid), 0]
        ),
        0,
        "woken"
    );
    // The word no longer holds the tid: EAGAIN at once.
    assert_eq!(
        h.sys(nr::futex, &[tid_word, FUTEX_WAIT as u64, u64::from(t.tid), 0]),
        err(Errno::EAGAIN)
    );
}

#[test]
fn clone_refuses_processes_and_odd_flags() {
    let mut h = H::new();
    let stack = h.buf(64) + 64;
    // posix_spawn's vfork-like clone and plain fork.
    assert_eq!(
        h.sys(nr::clone, &[CLONE_VM | CLONE_VFORK | u64::from(SIGCHLD), stack, 0, 0, 0]),
        err(Errno::ENOSYS)
    );
    assert_eq!(h.sys(nr::clone, &[u64::from(SIGCHLD), 0, 0, 0, 0]), err(Errno::ENOSYS));
    assert_eq!(
        h.sys(nr::clone, &[CLONE_VM | CLONE_THREAD, stack, 0, 0, 0]),
        err(Errno::EINVAL),
        "a thread without CLONE_SIGHAND"
    );
    assert_eq!(h.sys(nr::clone, &[MUSL_FLAGS, 0, 0, 0, 0]), err(Errno::EINVAL), "no stack");
    assert_eq!(
        h.sys(nr::clone, &[MUSL_FLAGS, stack, stack - 8, 0, 0xffff_8000_0000_0000]),
        err(Errno::EPERM),
        "kernel TLS"
    );
    assert!(h.env.notices.iter().any(|n| matches!(n, Notice::CloneRefused { .. })));
    assert_eq!(
        h.sys(nr::clone, &[MUSL_FLAGS, stack, 0xdead_0000, 0, 0]),
        err(Errno::EFAULT),
        "bad parent tid pointer"
    );
    assert_eq!(h.p.thread_ids().count(), 1, "nothing was created");
}

#[test]
fn futex_bitsets_and_counts() {
    let mut h = H::new();
    let word = h.put_val(&5u32);
    let ts: Vec<_> = (0..3).map(|i| spawn(&mut h, 0x7000 + i, 0)).collect();
    // Each child in turn waits with its own bitset: 1, 2, 4.
    h.p.sched.yield_now(h.tid);
    for (i, t) in ts.iter().enumerate() {
        assert_eq!(h.p.pick(), Some(t.tid));
        let bit = 1u64 << i;
        let (act, _) = h.call_on(t.tid, nr::futex, &[word, FUTEX_WAIT_BITSET as u64, 5, 0, 0, bit]);
        assert_eq!(act, Action::Block);
    }
    assert_eq!(h.p.pick(), Some(h.tid));
    assert_eq!(
        h.sys(nr::futex, &[word, FUTEX_WAIT_BITSET as u64, 5, 0, 0, 0]),
        err(Errno::EINVAL),
        "empty bitset"
    );
    assert_eq!(
        h.sys(nr::futex, &[word, FUTEX_WAKE_BITSET as u64, 10, 0, 0, 0b100]),
        1,
        "only the third matches"
    );
    assert_eq!(h.sys(nr::futex, &[word, FUTEX_WAKE as u64, 1, 0, 0, 0]), 1, "one of the other two");
    assert_eq!(h.sys(nr::futex, &[word, FUTEX_WAKE as u64, i32::MAX as u64, 0, 0, 0]), 1);
    assert_eq!(h.sys(nr::futex, &[word, FUTEX_WAKE as u64, 1, 0, 0, 0]), 0, "nobody left");
    let ready: Vec<u32> = h.p.sched.ready().collect();
    assert_eq!(ready, [ts[2].tid, ts[0].tid, ts[1].tid]);
    for t in &ts {
        assert_eq!(
            h.call_on(t.tid, nr::futex, &[word, FUTEX_WAIT_BITSET as u64, 5, 0, 0, 1]).1,
            0,
            "re-run after a wake returns 0"
        );
    }
    assert_eq!(
        h.sys(nr::futex, &[word + 1, FUTEX_WAKE as u64, 1]),
        err(Errno::EINVAL),
        "unaligned"
    );
    assert_eq!(h.sys(nr::futex, &[word, 6, 0]), err(Errno::ENOSYS), "PI futexes");
}

#[test]
fn futex_timeouts_relative_and_absolute() {
    let mut h = H::new();
    let tid = h.tid;
    let word = h.put_val(&0u32);
    let rel = h.put_val(&Timespec { tv_sec: 0, tv_nsec: 5_000_000 });
    h.blocks(nr::futex, &[word, FUTEX_WAIT as u64, 0, rel]);
    let start = h.env.now;
    assert_eq!(h.p.next_deadline(), Some(start + 5_000_000));
    h.env.now += 4_999_999;
    assert_eq!(h.p.poll(&mut h.env), 0);
    h.env.now += 1;
    h.resume(tid);
    assert_eq!(h.sys(nr::futex, &[word, FUTEX_WAIT as u64, 0, rel]), err(Errno::ETIMEDOUT));
    // WAIT_BITSET takes an absolute monotonic time.
    let abs = h.put_val(&Timespec::from_nanos(h.env.now + 1_000));
    h.blocks(
        nr::futex,
        &[word, FUTEX_WAIT_BITSET as u64, 0, abs, 0, u64::from(FUTEX_BITSET_MATCH_ANY)],
    );
    assert_eq!(h.p.next_deadline(), Some(h.env.now + 1_000));
    // ...or realtime with FUTEX_CLOCK_REALTIME; in the past: at once.
    let past = h.put_val(&Timespec::from_nanos(h.env.realtime_ns_for_test() - 1));
    let tid2 = spawn(&mut h, 0, 0).tid;
    h.p.sched.yield_now(tid);
    let _ = h.p.pick();
    assert_eq!(
        h.call_on(
            tid2,
            nr::futex,
            &[word, (FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME) as u64, 0, past, 0, 1]
        )
        .1,
        err(Errno::ETIMEDOUT)
    );
    assert_eq!(
        h.call_on(tid2, nr::futex, &[word, (FUTEX_WAKE | FUTEX_CLOCK_REALTIME) as u64, 1]).1,
        err(Errno::ENOSYS)
    );
}

trait Realtime {
    fn realtime_ns_for_test(&self) -> u64;
}
impl Realtime for skiff_linux::fake::FakeEnv {
    fn realtime_ns_for_test(&self) -> u64 {
        self.epoch + self.now
    }
}

#[test]
fn requeue_moves_waiters() {
    let mut h = H::new();
    let a = h.put_val(&1u32);
    let b = h.put_val(&0u32);
    let ts: Vec<_> = (0..3).map(|i| spawn(&mut h, i, 0)).collect();
    h.p.sched.yield_now(h.tid);
    for t in &ts {
        assert_eq!(h.p.pick(), Some(t.tid));
        assert_eq!(h.call_on(t.tid, nr::futex, &[a, FUTEX_WAIT as u64, 1, 0]).0, Action::Block);
    }
    assert_eq!(h.p.pick(), Some(h.tid));
    assert_eq!(
        h.sys(nr::futex, &[a, FUTEX_CMP_REQUEUE as u64, 1, 1, b, 2]),
        err(Errno::EAGAIN),
        "value changed"
    );
    assert_eq!(
        h.sys(nr::futex, &[a, FUTEX_CMP_REQUEUE as u64, 1, 1, b, 1]),
        2,
        "one woken, one moved"
    );
    assert_eq!(h.p.sched.futex_waiters(a), 1);
    assert_eq!(h.p.sched.futex_waiters(b), 1);
    assert_eq!(h.sys(nr::futex, &[b, FUTEX_WAKE as u64, 5]), 1);
    assert_eq!(
        h.sys(nr::futex, &[a, FUTEX_REQUEUE as u64, 0, 5, b]),
        1,
        "none woken, the last waiter moved"
    );
}

#[test]
fn sleeps_block_until_their_deadline() {
    let mut h = H::new();
    let tid = h.tid;
    let req = h.put_val(&Timespec { tv_sec: 1, tv_nsec: 0 });
    h.blocks(nr::nanosleep, &[req, 0]);
    let t0 = h.env.now;
    h.env.now += 999_999_999;
    assert_eq!(h.p.poll(&mut h.env), 0);
    // A spurious re-run before the deadline blocks again (the deadline is kept).
    h.env.now += 1;
    h.resume(tid);
    assert_eq!(h.sys(nr::nanosleep, &[req, 0]), 0);
    assert_eq!(h.env.now, t0 + 1_000_000_000);
    let abs = h.put_val(&Timespec::from_nanos(h.env.now + 10));
    h.blocks(nr::clock_nanosleep, &[CLOCK_MONOTONIC as u64, TIMER_ABSTIME as u64, abs, 0]);
    h.env.now += 10;
    h.resume(tid);
    assert_eq!(
        h.sys(nr::clock_nanosleep, &[CLOCK_MONOTONIC as u64, TIMER_ABSTIME as u64, abs, 0]),
        0
    );
    let bad = h.put_val(&Timespec { tv_sec: 0, tv_nsec: 2_000_000_000 });
    assert_eq!(h.sys(nr::nanosleep, &[bad, 0]), err(Errno::EINVAL));
    assert_eq!(h.sys(nr::clock_nanosleep, &[99, 0, req, 0]), err(Errno::EINVAL));
}

#[test]
fn yield_and_affinity_and_tls() {
    let mut h = H::new();
    assert_eq!(h.call(nr::sched_yield, &[]), (Action::Yield, 0));
    assert_eq!(h.p.pick(), Some(h.tid));
    let mask = h.buf(128);
    assert_eq!(h.sys(nr::sched_getaffinity, &[0, 128, mask]), 8);
    assert_eq!(h.get::<u64>(mask), 1, "one CPU: tokio starts one worker");
    assert_eq!(h.sys(nr::sched_getaffinity, &[0, 4, mask]), err(Errno::EINVAL));
    assert_eq!(h.sys(nr::sched_getaffinity, &[999, 128, mask]), err(Errno::ESRCH));
    assert_eq!(
        h.sys(nr::arch_prctl, &[ARCH_SET_FS as u64, 0xffff_8000_0000_0000]),
        err(Errno::EPERM)
    );
    assert_eq!(h.sys(nr::arch_prctl, &[ARCH_SET_GS as u64, 0x1000]), err(Errno::EINVAL));
    assert_eq!(h.sys(nr::set_robust_list, &[0x1000, 24]), 0);
    assert_eq!(h.sys(nr::set_robust_list, &[0x1000, 12]), err(Errno::EINVAL));
}

#[test]
fn thread_names_with_prctl() {
    use skiff_linux::abi::{PR_GET_NAME, PR_SET_NAME};
    let mut h = H::new();
    let long = h.put(b"a-name-longer-than-fifteen\0");
    assert_eq!(h.sys(nr::prctl, &[u64::from(PR_SET_NAME), long]), 0);
    let out = h.buf(16);
    assert_eq!(h.sys(nr::prctl, &[u64::from(PR_GET_NAME), out]), 0);
    assert_eq!(h.bytes(out, 16), b"a-name-longer-t\0", "cut to 15 bytes and NUL-terminated");
    let short = h.put(b"worker\0");
    assert_eq!(h.sys(nr::prctl, &[u64::from(PR_SET_NAME), short]), 0);
    assert_eq!(h.sys(nr::prctl, &[u64::from(PR_GET_NAME), out]), 0);
    assert_eq!(&h.bytes(out, 7), b"worker\0");
    assert_eq!(h.sys(nr::prctl, &[u64::from(PR_SET_NAME), 8]), err(Errno::EFAULT));
    assert_eq!(h.sys(nr::prctl, &[0xdead, 0]), err(Errno::EINVAL), "unknown option");
}

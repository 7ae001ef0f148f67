//! Anonymous memory through the dispatcher: mmap flags, MAP_FIXED inside owned memory, munmap splits, mprotect, madvise, mremap moves, brk.

mod common;

use common::{H, SCRATCH, STACK_TOP, err};
use skiff_linux::Errno;
use skiff_linux::abi::*;
use skiff_linux::mem::UserMem;
use skiff_linux::process::ProcessConfig;
use skiff_linux::sysno::nr;
use skiff_linux::vm::Prot;

const ANON: u64 = (MAP_PRIVATE | MAP_ANONYMOUS) as u64;
const RW: u64 = 3;

#[test]
fn mmap_checks_and_file_mappings() {
    let mut h = H::new();
    assert_eq!(h.sys(nr::mmap, &[0, 0, RW, ANON, u64::MAX, 0]), err(Errno::EINVAL), "length 0");
    assert_eq!(h.sys(nr::mmap, &[0, 4096, 8, ANON, u64::MAX, 0]), err(Errno::EINVAL), "bad prot");
    assert_eq!(
        h.sys(nr::mmap, &[0, 4096, RW, MAP_ANONYMOUS as u64, u64::MAX, 0]),
        err(Errno::EINVAL),
        "no type"
    );
    assert_eq!(h.sys(nr::mmap, &[0, 4096, RW, MAP_PRIVATE as u64, 9, 0]), err(Errno::EBADF));
    let fd = h.put(b"/etc/hosts\0");
    let f = h.sys(nr::openat, &[AT_FDCWD as u64, fd, 0]);
    assert_eq!(
        h.sys(nr::mmap, &[0, 4096, 1, MAP_PRIVATE as u64, f as u64, 0]),
        err(Errno::ENODEV),
        "file mappings"
    );
    assert_eq!(h.sys(nr::mmap, &[0, u64::MAX - 100, RW, ANON, u64::MAX, 0]), err(Errno::ENOMEM));
    assert_eq!(
        h.sys(nr::mmap, &[0, 128 << 20, RW, ANON, u64::MAX, 0]),
        err(Errno::ENOMEM),
        "more than the fake has"
    );
    let unknown = (MAP_SHARED_VALIDATE | 0x800_0000) as u64;
    assert_eq!(
        h.sys(nr::mmap, &[0, 4096, RW, unknown | MAP_ANONYMOUS as u64, u64::MAX, 0]),
        err(Errno::EOPNOTSUPP)
    );
    let a = h.sys(nr::mmap, &[0x1234_5000, 8192, RW, ANON, u64::MAX, 0]) as u64;
    assert_ne!(a, 0x1234_5000, "a hint is only a hint: the kernel chooses");
    assert!(h.p.regions().any(|(s, e, p)| s == a && e == a + 8192 && p == Prot::RW));
}

#[test]
fn map_fixed_only_inside_owned_memory() {
    let mut h = H::new();
    let a = h.sys(nr::mmap, &[0, 16384, RW, ANON, u64::MAX, 0]) as u64;
    h.mem.write(a + 4096, b"data").unwrap();
    let fixed = ANON | MAP_FIXED as u64;
    assert_eq!(h.sys(nr::mmap, &[a + 4096, 4096, 1, fixed, u64::MAX, 0]), (a + 4096) as i64);
    assert_eq!(h.bytes(a + 4096, 4), [0; 4], "MAP_FIXED gives fresh zeroed pages");
    assert!(h.p.regions().any(|(s, e, p)| s == a + 4096 && e == a + 8192 && p == Prot::READ));
    assert_eq!(
        h.sys(nr::mmap, &[a + 12288, 8192, RW, fixed, u64::MAX, 0]),
        err(Errno::ENOMEM),
        "runs past owned memory"
    );
    assert_eq!(
        h.sys(nr::mmap, &[a + 1, 4096, RW, fixed, u64::MAX, 0]),
        err(Errno::EINVAL),
        "unaligned"
    );
    let noreplace = ANON | MAP_FIXED_NOREPLACE as u64;
    assert_eq!(h.sys(nr::mmap, &[a, 4096, RW, noreplace, u64::MAX, 0]), err(Errno::EEXIST));
}

#[test]
fn munmap_mprotect_madvise_split_ranges() {
    let mut h = H::new();
    let a = h.sys(nr::mmap, &[0, 5 * 4096, RW, ANON, u64::MAX, 0]) as u64;
    assert_eq!(h.sys(nr::munmap, &[a + 4096, 4096]), 0);
    assert!(!h.env.mem.is_mapped(a + 4096));
    assert!(h.env.mem.is_mapped(a) && h.env.mem.is_mapped(a + 8192));
    assert_eq!(h.sys(nr::munmap, &[a + 4096, 4096]), 0, "unmapping nothing is fine");
    assert_eq!(h.sys(nr::munmap, &[a + 1, 4096]), err(Errno::EINVAL));
    assert_eq!(h.sys(nr::mprotect, &[a, 8192, 1]), err(Errno::ENOMEM), "a hole in the range");
    assert_eq!(h.sys(nr::mprotect, &[a + 8192, 4096, 1]), 0);
    assert_eq!(h.p.regions().find(|r| r.0 == a + 8192).map(|r| r.2), Some(Prot::READ));
    h.mem.write(a + 12288, b"keep").unwrap();
    assert_eq!(h.sys(nr::madvise, &[a + 12288, 4096, MADV_DONTNEED as u64]), 0);
    assert_eq!(h.bytes(a + 12288, 4), [0; 4], "MADV_DONTNEED reads back zeros");
    assert_eq!(h.sys(nr::madvise, &[a, 4096, MADV_HUGEPAGE as u64]), 0);
    assert_eq!(h.sys(nr::madvise, &[a, 4096, 999]), err(Errno::EINVAL));
    assert_eq!(
        h.sys(nr::madvise, &[a, 8192, MADV_WILLNEED as u64]),
        err(Errno::ENOMEM),
        "covers the hole"
    );
}

#[test]
fn mremap_moves_by_copying_and_probes_like_musl() {
    let mut h = H::new();
    let a = h.sys(nr::mmap, &[0, 8192, RW, ANON, u64::MAX, 0]) as u64;
    h.mem.write(a, b"first").unwrap();
    h.mem.write(a + 4096, b"second").unwrap();
    assert_eq!(h.sys(nr::mremap, &[a, 8192, 16384, 0]), err(Errno::ENOMEM), "no growing in place");
    let b = h.sys(nr::mremap, &[a, 8192, 16384, MREMAP_MAYMOVE as u64]) as u64;
    assert_ne!(b, a);
    assert_eq!(h.bytes(b, 5), b"first");
    assert_eq!(h.bytes(b + 4096, 6), b"second");
    assert_eq!(h.bytes(b + 8192, 4), [0; 4]);
    assert!(!h.env.mem.is_mapped(a), "the old range is given back");
    assert_eq!(h.sys(nr::mremap, &[b, 16384, 4096, 0]), b as i64, "shrinking stays");
    assert!(!h.env.mem.is_mapped(b + 4096));
    assert_eq!(
        h.sys(nr::mremap, &[b, 4096, 8192, (MREMAP_MAYMOVE | MREMAP_FIXED) as u64, 0]),
        err(Errno::EINVAL)
    );
    // musl's pthread_getattr_np on the main thread: ENOMEM while inside the stack, EFAULT below it.
    let page = 4096;
    let inside = STACK_TOP - 2 * page;
    assert_eq!(h.sys(nr::mremap, &[inside, page, 2 * page, 0]), err(Errno::ENOMEM));
    let below = STACK_TOP - 0x1_0000 - page;
    assert_eq!(h.sys(nr::mremap, &[below, page, 2 * page, 0]), err(Errno::EFAULT));
}

#[test]
fn brk_grows_within_its_area() {
    let start = 0x4000_0000;
    let mut h =
        H::with(ProcessConfig { brk: start..start + 0x10_0000, ..ProcessConfig::default() });
    assert_eq!(h.sys(nr::brk, &[0]), start as i64);
    assert_eq!(h.sys(nr::brk, &[start + 0x1800]), (start + 0x1800) as i64);
    assert!(h.env.mem.is_mapped(start + 0x1000));
    h.mem.write(start + 0x10, b"heap").unwrap();
    assert_eq!(
        h.sys(nr::brk, &[start + 0x20_0000]),
        (start + 0x1800) as i64,
        "past the area: unchanged"
    );
    assert_eq!(h.sys(nr::brk, &[start]), start as i64, "shrinks");
    assert_eq!(h.sys(nr::brk, &[start + 0x1000]), (start + 0x1000) as i64);
    assert_eq!(h.bytes(start + 0x10, 4), [0; 4], "regrown memory is zeroed");
    // Without an area brk never moves, and musl's malloc falls back to mmap.
    let mut h = H::new();
    let b = h.sys(nr::brk, &[0]);
    assert_eq!(h.sys(nr::brk, &[b as u64 + 4096]), b);
    let _ = SCRATCH;
}

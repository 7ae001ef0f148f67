//! The loader's checks on hand-made ELF files, the load plan, and the initial stack read back word by word.

use skiff_linux::loader::{
    ElfError, LoadOptions, StackError, StackParams, auxv, build_stack, fixed_span, plan,
};
use skiff_linux::vm::Prot;
use zerocopy::IntoBytes;

/// A program header: (type, flags, offset, vaddr, filesz, memsz).
type Ph = (u32, u32, u64, u64, u64, u64);

const LOAD: u32 = 1;
const R: u32 = 4;
const W: u32 = 2;
const X: u32 = 1;

/// An ELF64 file with these headers; the program headers at 64, the file `len` bytes long.
fn elf(e_type: u16, machine: u16, entry: u64, phs: &[Ph], len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len.max(64 + 56 * phs.len())];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2;
    f[5] = 1;
    f[6] = 1;
    f[16..18].copy_from_slice(&e_type.to_le_bytes());
    f[18..20].copy_from_slice(&machine.to_le_bytes());
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[24..32].copy_from_slice(&entry.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[52..54].copy_from_slice(&64u16.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&(phs.len() as u16).to_le_bytes());
    for (i, &(t, fl, off, va, fs, ms)) in phs.iter().enumerate() {
        let at = 64 + 56 * i;
        let words: [u64; 6] = [off, va, va, fs, ms, 0x1000];
        f[at..at + 4].copy_from_slice(&t.to_le_bytes());
        f[at + 4..at + 8].copy_from_slice(&fl.to_le_bytes());
        f[at + 8..at + 56].copy_from_slice(words.as_bytes());
    }
    f
}

/// Off limits in these tests: the kernel (1 MiB to 8 MiB) and a page of shared rings.
const KERNEL: [std::ops::Range<u64>; 2] = [0x10_0000..0x80_0000, 0xf000_0000..0xf000_1000];

fn opts() -> LoadOptions<'static> {
    LoadOptions { base: 0x4000_0000, reserved: &KERNEL, available: 64 << 20 }
}

/// A typical static executable at 0x400000... but the kernel is reserved at 1-8 MiB, so 0x1000_0000.
fn static_exec() -> Vec<u8> {
    elf(
        2,
        62,
        0x1000_1000,
        &[
            (LOAD, R, 0, 0x1000_0000, 0x200, 0x200),
            (LOAD, R | X, 0x1000, 0x1000_1000, 0x800, 0x800),
            (LOAD, R | W, 0x2000, 0x1000_2000, 0x100, 0x5000),
            (0x6474_e551, R | W, 0, 0, 0, 0),
            (7, R, 0x2000, 0x1000_2000, 0x10, 0x40),
        ],
        0x2100,
    )
}

#[test]
fn static_executable_at_its_link_address() {
    let p = plan(&static_exec(), &opts()).unwrap();
    assert!(!p.pie);
    assert_eq!(p.base, 0);
    assert_eq!(p.entry, 0x1000_1000);
    assert_eq!(p.phdr, 0x1000_0040, "found in the first segment");
    assert_eq!(p.phnum, 5);
    assert_eq!(p.segments.len(), 3);
    assert_eq!(p.segments[2].mem_size, 0x5000);
    assert_eq!(p.segments[2].file_range(), 0x2000..0x2100);
    assert_eq!(
        p.pages,
        vec![
            (0x1000_0000..0x1000_1000, Prot::READ),
            (0x1000_1000..0x1000_2000, Prot::READ | Prot::EXEC),
            (0x1000_2000..0x1000_7000, Prot::RW),
        ]
    );
    assert!(!p.exec_stack);
    assert_eq!(p.tls.map(|t| t.mem_size), Some(0x40));
    assert_eq!(p.image, 0x1000_0000..0x1000_7000);
}

#[test]
fn fixed_span_is_what_the_plan_maps_and_only_for_fixed_executables() {
    let exec = static_exec();
    assert_eq!(fixed_span(&exec), Some(plan(&exec, &opts()).unwrap().image));
    let mut pie = exec.clone();
    pie[16] = 3;
    assert_eq!(fixed_span(&pie), None, "position-independent: placed anywhere");
    assert_eq!(fixed_span(b"\x7fELF"), None);
    assert_eq!(fixed_span(&exec[..100]), None, "program headers cut off");
    let wrap = elf(2, 62, 0, &[(LOAD, R, 0, u64::MAX - 10, 0, 100)], 0x100);
    assert_eq!(fixed_span(&wrap), None, "a span that wraps is no span");
}

#[test]
fn static_pie_at_the_chosen_base_with_shared_page() {
    let f = elf(
        3,
        62,
        0x1100,
        &[
            (6, R, 64, 64, 56 * 3, 56 * 3),
            (LOAD, R | X, 0, 0, 0x1800, 0x1800),
            (LOAD, R | W, 0x1800, 0x1800, 0x100, 0x1000),
        ],
        0x1900,
    );
    let p = plan(&f, &opts()).unwrap();
    assert!(p.pie);
    assert_eq!(p.base, 0x4000_0000);
    assert_eq!(p.entry, 0x4000_1100);
    assert_eq!(p.phdr, 0x4000_0040, "from PT_PHDR");
    assert!(p.exec_stack, "no PT_GNU_STACK: executable, as Linux");
    assert_eq!(
        p.pages,
        vec![
            (0x4000_0000..0x4000_1000, Prot::READ | Prot::EXEC),
            (0x4000_1000..0x4000_2000, Prot::READ | Prot::WRITE | Prot::EXEC),
            (0x4000_2000..0x4000_3000, Prot::RW),
        ],
        "the page both segments touch gets both protections"
    );
    let unaligned = LoadOptions { base: 0x4000_0010, ..opts() };
    assert_eq!(plan(&f, &unaligned), Err(ElfError::BadAddress(0x4000_0010)));
}

#[test]
fn each_refusal_has_its_error() {
    let o = opts();
    assert_eq!(plan(b"#!/bin/sh\necho hi\n", &o), Err(ElfError::NotElf));
    assert_eq!(plan(b"\x7fELF", &o), Err(ElfError::NotElf));
    let mut f = static_exec();
    f[4] = 1;
    assert_eq!(plan(&f, &o), Err(ElfError::Not64Bit));
    let mut f = static_exec();
    f[5] = 2;
    assert_eq!(plan(&f, &o), Err(ElfError::NotLittleEndian));
    let f = elf(2, 183, 0x1000_1000, &[(LOAD, R | X, 0, 0x1000_0000, 0x100, 0x100)], 0x100);
    assert_eq!(plan(&f, &o), Err(ElfError::NotX86_64(183)));
    let f = elf(1, 62, 0, &[(LOAD, R, 0, 0x1000_0000, 0x100, 0x100)], 0x100);
    assert_eq!(plan(&f, &o), Err(ElfError::NotExecutable(1)));
    let mut f =
        elf(3, 62, 0x1000, &[(3, R, 0x100, 0, 28, 28), (LOAD, R | X, 0, 0, 0x200, 0x200)], 0x200);
    f[0x100..0x11c].copy_from_slice(b"/lib/ld-musl-x86_64.so.1\0\0\0\0");
    let e = plan(&f, &o).unwrap_err();
    assert_eq!(e, ElfError::Dynamic(b"/lib/ld-musl-x86_64.so.1".to_vec()));
    assert!(e.to_string().contains("dynamically linked"));
    let f = elf(2, 62, 0x1000_0000, &[(4, R, 0, 0, 0, 0)], 0x100);
    assert_eq!(plan(&f, &o), Err(ElfError::NoLoadableSegment));
    let f = elf(
        2,
        62,
        0x1000_0000,
        &[(LOAD, R, 0, 0x1000_0000, 0x200, 0x2000), (LOAD, R | W, 0, 0x1000_1000, 0x10, 0x10)],
        0x200,
    );
    assert_eq!(
        plan(&f, &o),
        Err(ElfError::Overlap(0x1000_0000..0x1000_2000, 0x1000_1000..0x1000_1010))
    );
    let f = elf(2, 62, 0x40_1000, &[(LOAD, R | X, 0, 0x40_0000, 0x2000, 0x2000)], 0x2000);
    assert_eq!(
        plan(&f, &o),
        Err(ElfError::Reserved(0x10_0000..0x80_0000)),
        "0x400000 is where the kernel is"
    );
    let f = elf(2, 62, 0x1000_0000, &[(LOAD, R | W, 0, 0x1000_0000, 0x100, 65 << 20)], 0x100);
    assert_eq!(plan(&f, &o), Err(ElfError::TooLarge { need: (65 << 20), available: 64 << 20 }));
    let f = elf(2, 62, 0x1000_0000, &[(LOAD, R, 0, 0x1000_0000, 0x1000, 0x1000)], 0x100);
    assert_eq!(plan(&f, &o), Err(ElfError::Truncated));
    let mut f = static_exec();
    f.truncate(100);
    assert_eq!(plan(&f, &o), Err(ElfError::Truncated));
    let f = elf(2, 62, 0x2000_0000, &[(LOAD, R | X, 0, 0x1000_0000, 0x100, 0x100)], 0x100);
    assert_eq!(plan(&f, &o), Err(ElfError::EntryOutside(0x2000_0000)));
    let f = elf(2, 62, 0x1000_0000, &[(LOAD, R | X, 0x1000, 0x1000_0000, 0x100, 0x100)], 0x1100);
    assert_eq!(plan(&f, &o), Err(ElfError::PhdrNotLoaded));
    let f =
        elf(2, 62, 0x7fff_ffff_f000, &[(LOAD, R | X, 0, 0x7fff_ffff_f000, 0x100, 0x2000)], 0x100);
    assert_eq!(plan(&f, &o), Err(ElfError::BadAddress(0x7fff_ffff_f000)));
    let f = elf(2, 62, 0x1000_0000, &[(LOAD, R | X, 0, 0x1000_0000, 0x200, 0x100)], 0x200);
    assert!(matches!(plan(&f, &o), Err(ElfError::Malformed(_))));
    assert!(
        ElfError::TooLarge { need: 1 << 20, available: 1 << 19 }.to_string().contains("memory=")
    );
}

proptest::proptest! {
    /// Whatever the bytes, the checks answer without panicking.
    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), keep_header in proptest::prelude::any::<bool>()) {
        if keep_header && bytes.len() >= 64 {
            let good = static_exec();
            bytes[..20].copy_from_slice(&good[..20]);
        }
        let planned = plan(&bytes, &opts());
        // What the kernel keeps free before the heap exists is what the plan maps.
        if let (Some(span), Ok(p)) = (fixed_span(&bytes), &planned) {
            proptest::prop_assert_eq!(span, p.image.clone());
        }
    }
}

fn word(bytes: &[u8], sp: u64, addr: u64) -> u64 {
    let o = (addr - sp) as usize;
    u64::from_ne_bytes(bytes[o..o + 8].try_into().unwrap())
}

fn cstr(bytes: &[u8], sp: u64, addr: u64) -> String {
    let o = (addr - sp) as usize;
    let end = bytes[o..].iter().position(|&b| b == 0).unwrap();
    String::from_utf8(bytes[o..o + end].to_vec()).unwrap()
}

#[test]
fn initial_stack_reads_back_as_linux_lays_it_out() {
    let p = plan(&static_exec(), &opts()).unwrap();
    let top = 0x7ff0_0000;
    let params = StackParams {
        top,
        size: 1 << 20,
        argv: &["/app", "--port", "8080"],
        envp: &["RUST_LOG=info", "A=b c"],
        execfn: "/app",
        random: [7; 16],
        hwcap: 0x178b_fbff,
        hwcap2: 2,
        minsigstksz: 3632,
        clktck: 100,
    };
    let s = build_stack(&params, &p).unwrap();
    assert_eq!(s.sp % 16, 0, "rsp is 16-byte aligned at entry");
    assert_eq!(s.sp + s.bytes.len() as u64, top);
    let (b, sp) = (&s.bytes[..], s.sp);
    assert_eq!(word(b, sp, sp), 3, "argc");
    let argv: Vec<String> = (0..3).map(|i| cstr(b, sp, word(b, sp, sp + 8 + 8 * i))).collect();
    assert_eq!(argv, ["/app", "--port", "8080"]);
    assert_eq!(word(b, sp, sp + 32), 0);
    let envp: Vec<String> = (0..2).map(|i| cstr(b, sp, word(b, sp, sp + 40 + 8 * i))).collect();
    assert_eq!(envp, ["RUST_LOG=info", "A=b c"]);
    assert_eq!(word(b, sp, sp + 56), 0);
    let mut aux = std::collections::BTreeMap::new();
    let mut at = sp + 64;
    loop {
        let (k, v) = (word(b, sp, at), word(b, sp, at + 8));
        at += 16;
        if k == auxv::AT_NULL {
            break;
        }
        aux.insert(k, v);
    }
    assert_eq!(aux[&auxv::AT_PHDR], p.phdr);
    assert_eq!(aux[&auxv::AT_PHENT], 56);
    assert_eq!(aux[&auxv::AT_PHNUM], 5);
    assert_eq!(aux[&auxv::AT_PAGESZ], 4096);
    assert_eq!(aux[&auxv::AT_ENTRY], p.entry);
    assert_eq!(aux[&auxv::AT_BASE], 0);
    assert_eq!(aux[&auxv::AT_SECURE], 0);
    assert_eq!(aux[&auxv::AT_UID], 0);
    assert_eq!(aux[&auxv::AT_CLKTCK], 100);
    assert_eq!(aux[&auxv::AT_HWCAP], 0x178b_fbff);
    assert_eq!(aux[&auxv::AT_MINSIGSTKSZ], 3632);
    let r = aux[&auxv::AT_RANDOM];
    assert_eq!(&b[(r - sp) as usize..(r - sp) as usize + 16], &[7; 16]);
    assert_eq!(cstr(b, sp, aux[&auxv::AT_EXECFN]), "/app");
    assert_eq!(cstr(b, sp, aux[&auxv::AT_PLATFORM]), "x86_64");
    assert!(at <= r, "the tables are below the strings");
}

#[test]
fn stack_refusals() {
    let p = plan(&static_exec(), &opts()).unwrap();
    let big = "x".repeat(300 * 1024);
    let base = StackParams {
        top: 0x7ff0_0000,
        size: 1 << 20,
        argv: &["/app"],
        envp: &[],
        execfn: "/app",
        random: [0; 16],
        hwcap: 0,
        hwcap2: 0,
        minsigstksz: 2048,
        clktck: 100,
    };
    let argv = [big.as_str()];
    assert!(matches!(
        build_stack(&StackParams { argv: &argv, ..base.clone() }, &p),
        Err(StackError::TooBig(_))
    ));
    assert_eq!(
        build_stack(&StackParams { envp: &["A=\0"], ..base.clone() }, &p),
        Err(StackError::Nul)
    );
    assert_eq!(
        build_stack(&StackParams { top: 0x7ff0_0008, ..base.clone() }, &p),
        Err(StackError::BadTop)
    );
    assert!(build_stack(&StackParams { argv: &[], ..base }, &p).is_ok(), "argc 0 is allowed");
}

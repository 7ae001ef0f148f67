//! ELF64 checks and the load plan (`elf(5)`; Linux `fs/binfmt_elf.c`): static x86_64 executables and static-pie.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::abi::{PAGE_SIZE, USER_END, layout};
use crate::vm::Prot;

/// `Elf64_Ehdr`.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
#[allow(missing_docs)]
pub struct Ehdr {
    pub ident: [u8; 16],
    pub e_type: u16,
    pub machine: u16,
    pub version: u32,
    pub entry: u64,
    pub phoff: u64,
    pub shoff: u64,
    pub flags: u32,
    pub ehsize: u16,
    pub phentsize: u16,
    pub phnum: u16,
    pub shentsize: u16,
    pub shnum: u16,
    pub shstrndx: u16,
}
layout!(Ehdr, 64, e_type @ 16, machine @ 18, entry @ 24, phoff @ 32, phentsize @ 54, phnum @ 56);

/// `Elf64_Phdr`.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
#[allow(missing_docs)]
pub struct Phdr {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}
layout!(Phdr, 56, offset @ 8, vaddr @ 16, filesz @ 32, memsz @ 40, align @ 48);

const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;
const PT_TLS: u32 = 7;
const PT_GNU_STACK: u32 = 0x6474_e551;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
/// Most program headers accepted (Linux: 64 KiB of them).
const MAX_PHNUM: u16 = 4096;

/// Why a binary cannot be loaded. Each has its own message (see `Display`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Too short or no `\x7fELF` magic.
    NotElf,
    /// A 32-bit ELF.
    Not64Bit,
    /// A big-endian ELF.
    NotLittleEndian,
    /// Built for another machine (`e_machine`).
    NotX86_64(u16),
    /// Neither an executable nor a position-independent executable (`e_type`).
    NotExecutable(u16),
    /// Dynamically linked: has an interpreter (`PT_INTERP`), with its path.
    Dynamic(Vec<u8>),
    /// `PT_DYNAMIC` without being position-independent, or program headers that make no sense.
    Malformed(&'static str),
    /// A header or segment lies beyond the end of the file.
    Truncated,
    /// No `PT_LOAD` segment.
    NoLoadableSegment,
    /// Two segments overlap.
    Overlap(Range<u64>, Range<u64>),
    /// A segment overlaps a range the caller reserved (the kernel).
    Reserved(Range<u64>),
    /// Outside user addresses, or the base for a position-independent binary is not page aligned.
    BadAddress(u64),
    /// The image needs more memory than is available.
    TooLarge {
        /// Bytes the image spans.
        need: u64,
        /// Bytes available.
        available: u64,
    },
    /// The entry point is in no loaded segment.
    EntryOutside(u64),
    /// The program headers are not in a loaded segment (no `AT_PHDR`).
    PhdrNotLoaded,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::NotElf => f.write_str("not an ELF file"),
            ElfError::Not64Bit => f.write_str("a 32-bit ELF: only x86_64 (ELF64) binaries run"),
            ElfError::NotLittleEndian => f.write_str("a big-endian ELF: only x86_64 binaries run"),
            ElfError::NotX86_64(m) => write!(f, "built for machine {m}, not x86_64 (62)"),
            ElfError::NotExecutable(t) => {
                write!(f, "ELF type {t} is not an executable (static or static-pie)")
            }
            ElfError::Dynamic(interp) => write!(
                f,
                "dynamically linked (interpreter {}): build it static, e.g. --target x86_64-unknown-linux-musl",
                core::str::from_utf8(interp).unwrap_or("?")
            ),
            ElfError::Malformed(what) => write!(f, "malformed ELF: {what}"),
            ElfError::Truncated => {
                f.write_str("truncated ELF: a header or segment is past the end of the file")
            }
            ElfError::NoLoadableSegment => f.write_str("no loadable segment"),
            ElfError::Overlap(a, b) => write!(
                f,
                "segments overlap: {:#x}..{:#x} and {:#x}..{:#x}",
                a.start, a.end, b.start, b.end
            ),
            ElfError::Reserved(r) => write!(
                f,
                "a segment overlaps the kernel ({:#x}..{:#x}): link it elsewhere or build static-pie",
                r.start, r.end
            ),
            ElfError::BadAddress(a) => write!(f, "address {a:#x} is not usable for the program"),
            ElfError::TooLarge { need, available } => write!(
                f,
                "the program needs {} KiB, {} KiB are available: raise memory= in the xl config",
                need / 1024,
                available / 1024
            ),
            ElfError::EntryOutside(e) => write!(f, "entry point {e:#x} is in no loaded segment"),
            ElfError::PhdrNotLoaded => f.write_str("program headers are not in a loaded segment"),
        }
    }
}

/// Where to load and what is off limits.
#[derive(Clone, Debug)]
pub struct LoadOptions<'a> {
    /// Load base for a position-independent (static-pie) binary, page aligned.
    pub base: u64,
    /// Ranges no segment may touch (the kernel image, its heap, shared pages).
    pub reserved: &'a [Range<u64>],
    /// Bytes of memory available for the image.
    pub available: u64,
}

/// One `PT_LOAD` segment, at its final address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First byte's address.
    pub vaddr: u64,
    /// Offset of its bytes in the file.
    pub offset: u64,
    /// Bytes to copy from the file.
    pub file_size: u64,
    /// Bytes in memory (the rest is zeroed).
    pub mem_size: u64,
    /// Protection.
    pub prot: Prot,
}

impl Segment {
    /// The page-aligned range the segment occupies.
    pub fn pages(&self) -> Range<u64> {
        let start = self.vaddr & !(PAGE_SIZE - 1);
        let end = (self.vaddr + self.mem_size).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        start..end
    }

    /// The file bytes to copy to `vaddr`.
    pub fn file_range(&self) -> Range<usize> {
        self.offset as usize..(self.offset + self.file_size) as usize
    }
}

/// The thread-local storage template (`PT_TLS`; musl sets TLS up itself from it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tls {
    /// Address of the initialisation image.
    pub vaddr: u64,
    /// Bytes of the image.
    pub file_size: u64,
    /// Bytes of a thread's block.
    pub mem_size: u64,
    /// Alignment.
    pub align: u64,
}

/// Where everything goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    /// 0 for a fixed-address executable, else the base the binary was relocated to.
    pub base: u64,
    /// Whether the binary is position-independent (static-pie).
    pub pie: bool,
    /// The loadable segments, ascending.
    pub segments: Vec<Segment>,
    /// Page ranges to map, ascending, with the protections (a page two
    /// segments share gets both).
    pub pages: Vec<(Range<u64>, Prot)>,
    /// Entry point.
    pub entry: u64,
    /// Address of the program headers (`AT_PHDR`).
    pub phdr: u64,
    /// Size of one program header (`AT_PHENT`).
    pub phent: u64,
    /// Number of program headers (`AT_PHNUM`).
    pub phnum: u64,
    /// The TLS template, if any.
    pub tls: Option<Tls>,
    /// `PT_GNU_STACK` asks for an executable stack (true without one, as Linux).
    pub exec_stack: bool,
    /// The image's page-aligned span.
    pub image: Range<u64>,
}

fn prot_of(flags: u32) -> Prot {
    let mut p = Prot::empty();
    if flags & PF_R != 0 {
        p |= Prot::READ;
    }
    if flags & PF_W != 0 {
        p |= Prot::WRITE;
    }
    if flags & PF_X != 0 {
        p |= Prot::EXEC;
    }
    p
}

fn overlaps(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.end && b.start < a.end
}

/// Checks `elf` and plans its loading.
pub fn plan(elf: &[u8], opts: &LoadOptions<'_>) -> Result<LoadPlan, ElfError> {
    let head = elf.get(..64).ok_or(ElfError::NotElf)?;
    if head[..4] != *b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    let eh = Ehdr::read_from_bytes(head).map_err(|_| ElfError::NotElf)?;
    if eh.ident[4] != 2 {
        return Err(ElfError::Not64Bit);
    }
    if eh.ident[5] != 1 {
        return Err(ElfError::NotLittleEndian);
    }
    if eh.machine != EM_X86_64 {
        return Err(ElfError::NotX86_64(eh.machine));
    }
    let pie = match eh.e_type {
        ET_EXEC => false,
        ET_DYN => true,
        t => return Err(ElfError::NotExecutable(t)),
    };
    if eh.phentsize as usize != size_of::<Phdr>() {
        return Err(ElfError::Malformed("program header size is not 56"));
    }
    if eh.phnum == 0 || eh.phnum > MAX_PHNUM {
        return Err(ElfError::Malformed("no or too many program headers"));
    }
    let ph_len = eh.phnum as usize * size_of::<Phdr>();
    let ph_start = usize::try_from(eh.phoff).map_err(|_| ElfError::Truncated)?;
    let ph_bytes = ph_start
        .checked_add(ph_len)
        .and_then(|end| elf.get(ph_start..end))
        .ok_or(ElfError::Truncated)?;
    let phdrs: Vec<Phdr> = ph_bytes
        .chunks_exact(size_of::<Phdr>())
        .filter_map(|c| Phdr::read_from_bytes(c).ok())
        .collect();

    let base = if pie { opts.base } else { 0 };
    if base % PAGE_SIZE != 0 {
        return Err(ElfError::BadAddress(base));
    }
    let mut segments = Vec::new();
    let mut tls = None;
    let mut exec_stack = true;
    let mut phdr_addr = None;
    for ph in &phdrs {
        match ph.p_type {
            PT_INTERP => {
                let s = ph.offset as usize;
                let path = s
                    .checked_add(ph.filesz as usize)
                    .and_then(|e| elf.get(s..e))
                    .map(|p| p.split(|&b| b == 0).next().unwrap_or(&[]).to_vec())
                    .unwrap_or_default();
                return Err(ElfError::Dynamic(path));
            }
            PT_DYNAMIC if !pie => {
                return Err(ElfError::Malformed(
                    "a fixed-address executable with dynamic relocations",
                ));
            }
            PT_LOAD => {
                if ph.filesz > ph.memsz {
                    return Err(ElfError::Malformed(
                        "a segment's file size exceeds its memory size",
                    ));
                }
                let file_end = ph.offset.checked_add(ph.filesz).ok_or(ElfError::Truncated)?;
                if file_end > elf.len() as u64 {
                    return Err(ElfError::Truncated);
                }
                let vaddr = base.checked_add(ph.vaddr).ok_or(ElfError::BadAddress(ph.vaddr))?;
                let end = vaddr.checked_add(ph.memsz).ok_or(ElfError::BadAddress(vaddr))?;
                if end > USER_END || vaddr < PAGE_SIZE {
                    return Err(ElfError::BadAddress(vaddr));
                }
                if ph.memsz == 0 {
                    continue;
                }
                segments.push(Segment {
                    vaddr,
                    offset: ph.offset,
                    file_size: ph.filesz,
                    mem_size: ph.memsz,
                    prot: prot_of(ph.flags),
                });
            }
            PT_TLS => {
                tls = Some(Tls {
                    vaddr: base.wrapping_add(ph.vaddr),
                    file_size: ph.filesz,
                    mem_size: ph.memsz,
                    align: ph.align,
                })
            }
            PT_GNU_STACK => exec_stack = ph.flags & PF_X != 0,
            PT_PHDR => phdr_addr = Some(base.wrapping_add(ph.vaddr)),
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadableSegment);
    }
    segments.sort_by_key(|s| s.vaddr);
    for w in segments.windows(2) {
        let (a, b) =
            (w[0].vaddr..w[0].vaddr + w[0].mem_size, w[1].vaddr..w[1].vaddr + w[1].mem_size);
        if overlaps(&a, &b) {
            return Err(ElfError::Overlap(a, b));
        }
    }
    // Pages, merging the protections of a page two segments share. The
    // segments are sorted and disjoint, so neighbours share at most the
    // one page where the first ends and the next begins.
    let mut pages: Vec<(Range<u64>, Prot)> = Vec::new();
    for s in &segments {
        let mut r = s.pages();
        if let Some((last, p)) = pages.last_mut()
            && last.end > r.start
        {
            let shared = r.start..r.start + PAGE_SIZE;
            let merged = *p | s.prot;
            last.end = shared.start;
            if last.start == last.end {
                pages.pop();
            }
            pages.push((shared.clone(), merged));
            r.start = shared.end;
        }
        if r.start < r.end {
            pages.push((r, s.prot));
        }
    }
    for (r, _) in &pages {
        for res in opts.reserved {
            if overlaps(r, res) {
                return Err(ElfError::Reserved(res.clone()));
            }
        }
    }
    let image = pages[0].0.start..pages[pages.len() - 1].0.end;
    let need: u64 = pages.iter().map(|(r, _)| r.end - r.start).sum();
    if need > opts.available {
        return Err(ElfError::TooLarge { need, available: opts.available });
    }
    let entry = base.checked_add(eh.entry).ok_or(ElfError::EntryOutside(eh.entry))?;
    if !segments.iter().any(|s| (s.vaddr..s.vaddr + s.mem_size).contains(&entry)) {
        return Err(ElfError::EntryOutside(entry));
    }
    let phdr = match phdr_addr {
        Some(a) => a,
        None => segments
            .iter()
            .find(|s| s.offset <= eh.phoff && eh.phoff + ph_len as u64 <= s.offset + s.file_size)
            .map(|s| s.vaddr + (eh.phoff - s.offset))
            .ok_or(ElfError::PhdrNotLoaded)?,
    };
    Ok(LoadPlan {
        base,
        pie,
        segments,
        pages,
        entry,
        phdr,
        phent: size_of::<Phdr>() as u64,
        phnum: u64::from(eh.phnum),
        tls,
        exec_stack,
        image,
    })
}

/// The page-aligned span a fixed-address (`ET_EXEC`) x86_64 ELF's loadable
/// segments occupy; `None` for anything else (position-independent,
/// malformed, not an ELF). Allocates nothing, so the kernel can ask before
/// its heap exists, to keep that memory free; [`plan`] does every check.
pub fn fixed_span(elf: &[u8]) -> Option<Range<u64>> {
    let eh = Ehdr::read_from_bytes(elf.get(..64)?).ok()?;
    if eh.ident[..4] != *b"\x7fELF" || eh.ident[4] != 2 || eh.machine != EM_X86_64 {
        return None;
    }
    if eh.e_type != ET_EXEC || eh.phentsize as usize != size_of::<Phdr>() || eh.phnum > MAX_PHNUM {
        return None;
    }
    let start = usize::try_from(eh.phoff).ok()?;
    let end = start.checked_add(eh.phnum as usize * size_of::<Phdr>())?;
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for c in elf.get(start..end)?.chunks_exact(size_of::<Phdr>()) {
        let ph = Phdr::read_from_bytes(c).ok()?;
        if ph.p_type == PT_LOAD && ph.memsz > 0 {
            lo = lo.min(ph.vaddr & !(PAGE_SIZE - 1));
            hi = hi.max(ph.vaddr.checked_add(ph.memsz)?.checked_next_multiple_of(PAGE_SIZE)?);
        }
    }
    (lo < hi).then_some(lo..hi)
}

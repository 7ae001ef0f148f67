//! Where RAM goes at boot: the heap and page pool, the boot module (xl's `ramdisk=`), and the fixed
//! range a non-PIE program must be loaded at, decided before anything is allocated.
//!
//! The image sits low in the RAM entry that holds it; Xen puts the module
//! right after it. A fixed-address program (linked at 4 MiB by default)
//! then often overlaps its own module: the module moves to the top of RAM
//! and the pool starts below it (the pool owns those pages, in use, until
//! the module is released). The heap and pool begin above everything that
//! must survive; the gaps left below them go to the pool as free runs.
#![forbid(unsafe_code)]

use core::ops::Range;

const PAGE: u64 = 4096;

/// What boot has to place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inputs {
    /// The RAM entry holding the image, capped at the identity map's end.
    pub ram: Range<u64>,
    /// The kernel image (page aligned).
    pub image: Range<u64>,
    /// Boot module 0, if any.
    pub module: Option<Range<u64>>,
    /// The page-aligned span module 0 must be loaded at, if it is a
    /// fixed-address program.
    pub fixed: Option<Range<u64>>,
}

/// Why the fixed span cannot be kept free (the loader then refuses the program).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FixedRefused {
    /// It overlaps the kernel image or lies outside the RAM above it.
    OutsideFreeRam,
    /// It overlaps the module and there is no room at the top of RAM to move the module to.
    NoRoomToMoveModule,
}

/// The decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Heap and page pool share `[heap.start, heap.end)`.
    pub heap: Range<u64>,
    /// The pool's pages at and above this start in use (the moved module);
    /// equal to `heap.end` when nothing is.
    pub pool_in_use_from: u64,
    /// Where module 0 is to be moved (`None`: it stays).
    pub module_dest: Option<u64>,
    /// The fixed span, kept out of the heap and pool.
    pub fixed: Result<Option<Range<u64>>, FixedRefused>,
    /// Free RAM below `heap.start` that nothing needs: give it to the pool.
    pub gaps: [Option<Range<u64>>; 3],
}

fn overlaps(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.end && b.start < a.end
}

fn down(x: u64) -> u64 {
    x & !(PAGE - 1)
}

fn up(x: u64) -> u64 {
    x.div_ceil(PAGE) * PAGE
}

/// Plans the layout; `None` when no RAM is left for the heap.
pub fn plan(i: &Inputs) -> Option<Layout> {
    let ram = up(i.ram.start)..down(i.ram.end);
    let image_end = up(i.image.end);
    // Only a module inside the RAM above the image is kept: one anywhere
    // else is not ours to protect (boot reports it unusable).
    let module = i
        .module
        .clone()
        .map(|m| down(m.start)..up(m.end))
        .filter(|m| m.start >= image_end && m.end <= ram.end && m.start < m.end);
    let free_ram = image_end..ram.end;
    let mut fixed = match &i.fixed {
        Some(f) if f.start >= free_ram.start && f.end <= free_ram.end && f.start < f.end => {
            Ok(Some(f.clone()))
        }
        Some(_) => Err(FixedRefused::OutsideFreeRam),
        None => Ok(None),
    };
    let mut module_dest = None;
    let mut pool_in_use_from = ram.end;
    if let (Ok(Some(f)), Some(m)) = (&fixed, &module)
        && overlaps(f, m)
    {
        let len = m.end - m.start;
        match ram.end.checked_sub(len).filter(|&d| d >= f.end && d >= image_end) {
            Some(dest) => {
                module_dest = Some(dest);
                pool_in_use_from = dest;
            }
            None => fixed = Err(FixedRefused::NoRoomToMoveModule),
        }
    }
    let kept_module = if module_dest.is_some() { None } else { module.clone() };
    let kept_fixed = fixed.clone().ok().flatten();
    let mut start = image_end;
    for r in [&kept_module, &kept_fixed].into_iter().flatten() {
        start = start.max(r.end);
    }
    if start >= pool_in_use_from {
        return None;
    }
    // The gaps: [image_end, start) minus the kept module and fixed span.
    let mut gaps: [Option<Range<u64>>; 3] = [None, None, None];
    let mut holes: [Option<Range<u64>>; 2] = [kept_module, kept_fixed];
    holes.sort_unstable_by_key(|h| h.as_ref().map_or(u64::MAX, |r| r.start));
    let mut at = image_end;
    let mut n = 0;
    for h in holes.iter().flatten() {
        if h.start > at {
            gaps[n] = Some(at..h.start);
            n += 1;
        }
        at = at.max(h.end);
    }
    if start > at {
        gaps[n] = Some(at..start);
    }
    Some(Layout { heap: start..ram.end, pool_in_use_from, module_dest, fixed, gaps })
}

//! Boot's RAM layout: the heap, the boot module and a fixed-address program's span never overlap, and nothing is lost.

use skiff_kernel_hosttest::layout::{FixedRefused, Inputs, Layout, plan};

const MIB: u64 = 1 << 20;

fn inputs(module: Option<(u64, u64)>, fixed: Option<(u64, u64)>) -> Inputs {
    Inputs {
        ram: 0..64 * MIB,
        image: MIB..2 * MIB + 0x3000,
        module: module.map(|(a, b)| a..b),
        fixed: fixed.map(|(a, b)| a..b),
    }
}

#[test]
fn no_module_the_heap_follows_the_image() {
    let l = plan(&inputs(None, None)).unwrap();
    assert_eq!(l.heap, 2 * MIB + 0x3000..64 * MIB);
    assert_eq!(l.pool_in_use_from, 64 * MIB);
    assert_eq!(l.module_dest, None);
    assert_eq!(l.gaps, [None, None, None]);
}

#[test]
fn a_pie_module_stays_and_the_heap_starts_after_it() {
    let l = plan(&inputs(Some((2 * MIB + 0x3000, 7 * MIB + 5)), None)).unwrap();
    assert_eq!(l.heap.start, 7 * MIB + 0x1000, "page aligned above the module");
    assert_eq!(l.module_dest, None);
    assert_eq!(l.fixed, Ok(None));
}

#[test]
fn a_fixed_program_over_its_own_module_moves_the_module_to_the_top() {
    let module = (2 * MIB + 0x3000, 7 * MIB);
    let l = plan(&inputs(Some(module), Some((4 * MIB, 9 * MIB)))).unwrap();
    let len = module.1 - module.0;
    assert_eq!(l.module_dest, Some(64 * MIB - len));
    assert_eq!(l.pool_in_use_from, 64 * MIB - len);
    assert_eq!(l.fixed, Ok(Some(4 * MIB..9 * MIB)));
    assert_eq!(l.heap, 9 * MIB..64 * MIB);
    assert_eq!(l.gaps, [Some(2 * MIB + 0x3000..4 * MIB), None, None]);
}

#[test]
fn a_fixed_program_clear_of_its_module_keeps_both_and_the_gaps_go_to_the_pool() {
    let l = plan(&inputs(Some((2 * MIB + 0x3000, 3 * MIB)), Some((4 * MIB, 5 * MIB)))).unwrap();
    assert_eq!(l.module_dest, None);
    assert_eq!(l.heap.start, 5 * MIB);
    assert_eq!(l.gaps, [Some(3 * MIB..4 * MIB), None, None]);
}

#[test]
fn refusals() {
    let over_kernel = plan(&inputs(None, Some((MIB, 3 * MIB)))).unwrap();
    assert_eq!(over_kernel.fixed, Err(FixedRefused::OutsideFreeRam));
    assert_eq!(over_kernel.heap.start, 2 * MIB + 0x3000, "nothing kept for it");
    let beyond_ram = plan(&inputs(None, Some((60 * MIB, 70 * MIB)))).unwrap();
    assert_eq!(beyond_ram.fixed, Err(FixedRefused::OutsideFreeRam));
    // A module so large it cannot go above the span.
    let l = plan(&inputs(Some((2 * MIB + 0x3000, 40 * MIB)), Some((4 * MIB, 30 * MIB)))).unwrap();
    assert_eq!(l.fixed, Err(FixedRefused::NoRoomToMoveModule));
    assert_eq!(l.heap.start, 40 * MIB);
}

proptest::proptest! {
    /// Whatever the inputs: the heap, the kept fixed span, the module (where
    /// it ends up), the image and the gaps are disjoint, inside RAM, and the
    /// gaps with the kept pieces cover everything from the image to the heap.
    #[test]
    fn pieces_are_disjoint_and_nothing_is_lost(
        image_end in 1u64..8 * MIB,
        m in proptest::option::of((0u64..64 * MIB, 0u64..64 * MIB)),
        f in proptest::option::of((0u64..64 * MIB, 0u64..64 * MIB)),
    ) {
        let fixed = f.map(|(a, b)| (a & !4095)..(b & !4095));
        let i = Inputs { ram: 0..64 * MIB, image: MIB..MIB.max(image_end), module: m.map(|(a, b)| a..b), fixed };
        let Some(l) = plan(&i) else { return Ok(()) };
        let Layout { heap, module_dest, fixed, gaps, pool_in_use_from } = l;
        proptest::prop_assert!(heap.start < pool_in_use_from && pool_in_use_from <= heap.end && heap.end <= 64 * MIB);
        let mut pieces: Vec<std::ops::Range<u64>> = vec![i.image.clone(), heap.clone()];
        if let Ok(Some(f)) = &fixed { pieces.push(f.clone()); }
        pieces.extend(gaps.iter().flatten().cloned());
        if let (Some(d), Some(m)) = (module_dest, &i.module) {
            proptest::prop_assert_eq!(d + ((m.end + 4095) & !4095) - (m.start & !4095), 64 * MIB);
        }
        pieces.sort_by_key(|r| r.start);
        for w in pieces.windows(2) {
            proptest::prop_assert!(w[0].end <= w[1].start, "{:?} overlaps {:?}", w[0], w[1]);
        }
    }
}

//! The kernel's set of application-owned ranges against a model (a set of pages).

use std::collections::BTreeSet;

use skiff_kernel_hosttest::owned::Owned;

fn pages(r: &std::ops::Range<u64>) -> impl Iterator<Item = u64> {
    r.clone()
}

#[test]
fn merge_split_and_refusals() {
    let mut o = Owned::new();
    assert!(o.insert(10..20));
    assert!(o.insert(20..30), "adjacent: merged");
    assert!(o.contains(&(10..30)));
    assert!(!o.insert(25..35), "overlap refused");
    assert!(o.remove(&(15..16)));
    assert!(!o.contains(&(10..30)));
    assert!(o.contains(&(16..30)) && o.contains(&(10..15)));
    assert!(!o.remove(&(14..17)), "not wholly owned");
    assert_eq!(o.bytes(), 19);
}

proptest::proptest! {
    #[test]
    fn agrees_with_a_set_of_units(ops in proptest::collection::vec((proptest::bool::ANY, 0u64..64, 0u64..16), 0..64)) {
        let mut o = Owned::new();
        let mut model: BTreeSet<u64> = BTreeSet::new();
        for (add, start, len) in ops {
            let r = start..start + len;
            let units: Vec<u64> = pages(&r).collect();
            if add {
                let free = units.iter().all(|u| !model.contains(u));
                proptest::prop_assert_eq!(o.insert(r.clone()), free);
                if free { model.extend(units); }
            } else {
                let owned = units.iter().all(|u| model.contains(u));
                proptest::prop_assert_eq!(o.remove(&r), owned);
                if owned { for u in units { model.remove(&u); } }
            }
            proptest::prop_assert_eq!(o.bytes(), model.len() as u64);
            for probe in 0u64..80 {
                let r = probe..probe + 3;
                proptest::prop_assert_eq!(o.contains(&r), pages(&r).all(|u| model.contains(&u)));
                proptest::prop_assert_eq!(o.intersects(&r), pages(&r).any(|u| model.contains(&u)));
            }
        }
    }
}

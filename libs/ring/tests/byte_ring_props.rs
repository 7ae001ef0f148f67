//! Property tests of byte rings against a queue model, and against hostile indexes.

use std::collections::VecDeque;
use std::ops::Range;

use proptest::prelude::*;
use skiff_ring::{ByteRing, HostMem, RingError, SharedMem};

/// Shared memory that fails the test on any access outside the allowed ranges.
struct Guarded {
    mem: HostMem,
    allowed: Vec<Range<usize>>,
}

impl Guarded {
    fn check(&self, off: usize, len: usize) {
        assert!(
            self.allowed.iter().any(|r| r.start <= off && off + len <= r.end),
            "access {off}..{} outside {:?}",
            off + len,
            self.allowed
        );
    }
}

impl SharedMem for Guarded {
    fn size(&self) -> usize {
        self.mem.size()
    }
    fn load_u32(&self, off: usize) -> u32 {
        self.check(off, 4);
        self.mem.load_u32(off)
    }
    fn store_u32(&self, off: usize, val: u32) {
        self.check(off, 4);
        self.mem.store_u32(off, val)
    }
    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        self.check(off, dst.len());
        self.mem.read_bytes(off, dst)
    }
    fn write_bytes(&self, off: usize, src: &[u8]) {
        self.check(off, src.len());
        self.mem.write_bytes(off, src)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Write(Vec<u8>),
    Read(usize),
    Peek(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Op::Write),
        (0usize..300).prop_map(Op::Read),
        (0usize..50).prop_map(Op::Peek),
    ]
}

/// A ring of `size` bytes at offset 100 with indexes at 4000/4008, guarded.
fn setup(size_log2: u32) -> (ByteRing, Guarded) {
    let size = 1u32 << size_log2;
    let ring = ByteRing::new(100, size, 4000, 4008);
    let mem = Guarded {
        mem: HostMem::pages(1),
        allowed: vec![100..100 + size as usize, 4000..4004, 4008..4012],
    };
    (ring, mem)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 256 }))]

    #[test]
    fn behaves_like_a_bounded_queue(
        size_log2 in 0u32..10,
        start in any::<u32>(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let (ring, mem) = setup(size_log2);
        mem.mem.store_u32(4000, start);
        mem.mem.store_u32(4008, start);
        let (p, c) = (ring.producer(), ring.consumer());
        let cap = ring.size() as usize;
        let mut model: VecDeque<u8> = VecDeque::new();
        for op in ops {
            match op {
                Op::Write(data) => {
                    let n = p.write(&mem, &data).unwrap();
                    prop_assert_eq!(n, data.len().min(cap - model.len()));
                    model.extend(&data[..n]);
                }
                Op::Read(len) => {
                    let mut buf = vec![0u8; len];
                    let n = c.read(&mem, &mut buf).unwrap();
                    prop_assert_eq!(n, len.min(model.len()));
                    let expect: Vec<u8> = model.drain(..n).collect();
                    prop_assert_eq!(&buf[..n], &expect[..]);
                }
                Op::Peek(len) => {
                    let mut buf = vec![0u8; len];
                    let n = c.peek(&mem, &mut buf).unwrap();
                    prop_assert_eq!(n, len.min(model.len()));
                    let expect: Vec<u8> = model.iter().take(n).copied().collect();
                    prop_assert_eq!(&buf[..n], &expect[..]);
                }
            }
            prop_assert_eq!(c.available(&mem).unwrap() as usize, model.len());
            prop_assert_eq!(p.space(&mem).unwrap() as usize, cap - model.len());
        }
    }

    #[test]
    fn hostile_indexes_never_panic_or_stray(
        size_log2 in 0u32..12,
        prod in any::<u32>(),
        cons in any::<u32>(),
        near in any::<bool>(),
        len in 0usize..5000,
    ) {
        let (ring, mem) = setup(size_log2.min(11));
        let size = ring.size();
        // Half the cases put prod within a few sizes of cons to hit the edges.
        let prod = if near { cons.wrapping_add(prod % (3 * size + 1)) } else { prod };
        mem.mem.store_u32(4000, prod);
        mem.mem.store_u32(4008, cons);
        let valid = prod.wrapping_sub(cons) <= size;
        let corrupt = Err(RingError::Corrupt { prod, cons });

        let mut buf = vec![0u8; len];
        let r = ring.consumer().read(&mem, &mut buf);
        if valid {
            prop_assert_eq!(r, Ok(len.min(prod.wrapping_sub(cons) as usize)));
        } else {
            prop_assert_eq!(r, corrupt);
            prop_assert_eq!(mem.mem.load_u32(4008), cons, "cons untouched");
        }

        mem.mem.store_u32(4008, cons);
        let w = ring.producer().write(&mem, &buf);
        if valid {
            prop_assert_eq!(w, Ok(len.min((size - prod.wrapping_sub(cons)) as usize)));
        } else {
            prop_assert_eq!(w, corrupt);
            prop_assert_eq!(mem.mem.load_u32(4000), prod, "prod untouched");
        }
    }
}

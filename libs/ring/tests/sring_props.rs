//! Property tests of ring.h front/back rings against a model, and against hostile indexes.

use std::collections::VecDeque;

use proptest::prelude::*;
use skiff_ring::sring::hdr;
use skiff_ring::{BackRing, FrontRing, HostMem, RingError, RingLayout, SharedMem};

#[derive(Clone, Copy, Debug)]
enum Op {
    Push(u8),
    Publish,
    TakeRequest,
    Respond,
    PublishResponses,
    TakeResponse,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u8>().prop_map(Op::Push),
        Just(Op::Publish),
        Just(Op::TakeRequest),
        Just(Op::Respond),
        Just(Op::PublishResponses),
        Just(Op::TakeResponse),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 256 }))]

    #[test]
    fn matches_model(
        entry in prop::sample::select(vec![8usize, 24, 64, 112]),
        start in any::<u32>(),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let layout = RingLayout::new(4096, entry);
        let size = layout.size() as usize;
        let mem = HostMem::pages(1);
        FrontRing::init(layout, &mem);
        mem.store_u32(hdr::REQ_PROD, start);
        mem.store_u32(hdr::RSP_PROD, start);
        let mut front = FrontRing::attach(layout, start);
        let mut back = BackRing::attach(layout, start);

        // Requests pushed but not published, published but not taken, taken
        // but not answered, answered but not published, published responses.
        let (mut pushed, mut published, mut taken, mut answered, mut responses) =
            (VecDeque::new(), VecDeque::new(), VecDeque::new(), VecDeque::new(), VecDeque::new());
        for op in ops {
            match op {
                Op::Push(v) => {
                    let outstanding = pushed.len() + published.len() + taken.len()
                        + answered.len() + responses.len();
                    let r = front.push_request(&mem, &[v; 8]);
                    if outstanding < size {
                        prop_assert!(r.is_ok());
                        pushed.push_back(v);
                    } else {
                        prop_assert_eq!(r, Err(RingError::Full));
                    }
                }
                Op::Publish => {
                    front.push_requests_and_check_notify(&mem);
                    published.extend(pushed.drain(..));
                }
                Op::TakeRequest => {
                    let mut e = [0u8; 8];
                    let got = back.take_request(&mem, &mut e).unwrap();
                    prop_assert_eq!(got, !published.is_empty());
                    if got {
                        let v = published.pop_front().unwrap();
                        prop_assert_eq!(e, [v; 8]);
                        taken.push_back(v);
                    }
                }
                Op::Respond => {
                    let r = back.push_response(&mem, &[0u8; 8].map(|_| taken.front().map_or(0, |v| v ^ 0xff)));
                    if let Some(v) = taken.pop_front() {
                        prop_assert!(r.is_ok());
                        answered.push_back(v);
                    } else {
                        prop_assert_eq!(r, Err(RingError::Full));
                    }
                }
                Op::PublishResponses => {
                    back.push_responses_and_check_notify(&mem);
                    responses.extend(answered.drain(..));
                }
                Op::TakeResponse => {
                    let mut e = [0u8; 8];
                    let got = front.take_response(&mem, &mut e).unwrap();
                    prop_assert_eq!(got, !responses.is_empty());
                    if got {
                        let v = responses.pop_front().unwrap();
                        prop_assert_eq!(e, [v ^ 0xff; 8]);
                    }
                }
            }
            let outstanding = pushed.len() + published.len() + taken.len()
                + answered.len() + responses.len();
            prop_assert_eq!(front.free_requests() as usize, size - outstanding);
            prop_assert_eq!(back.unconsumed_requests(&mem).unwrap() as usize, published.len());
            prop_assert_eq!(front.unconsumed_responses(&mem).unwrap() as usize, responses.len());
        }
    }

    #[test]
    fn hostile_header_never_panics(
        header in prop::collection::vec(any::<u32>(), 4),
        outstanding in 0u32..=32,
        start in any::<u32>(),
    ) {
        let layout = RingLayout::new(4096, 64);
        let mem = HostMem::pages(1);
        for (i, v) in header.iter().enumerate() {
            mem.store_u32(i * 4, *v);
        }
        let mut front = FrontRing::attach(layout, start);
        for _ in 0..outstanding {
            front.push_request(&mem, &[1; 64]).unwrap();
        }
        let rsp_prod = header[2];
        let avail = rsp_prod.wrapping_sub(start);
        let mut e = [0u8; 64];
        let r = front.take_response(&mem, &mut e);
        if avail <= outstanding {
            prop_assert_eq!(r, Ok(avail > 0));
        } else {
            prop_assert_eq!(r, Err(RingError::Corrupt { prod: rsp_prod, cons: start }));
        }
        let _ = front.final_check_for_responses(&mem);
        prop_assert!(front.free_requests() <= 32);

        let mut back = BackRing::attach(layout, start);
        for _ in 0..64 {
            match back.take_request(&mem, &mut e) {
                Ok(true) => {}
                Ok(false) | Err(_) => break,
            }
        }
        prop_assert!(back.req_cons().wrapping_sub(start) <= 32);
        let _ = back.final_check_for_requests(&mem);
        let _ = back.push_responses_and_check_notify(&mem);
    }
}

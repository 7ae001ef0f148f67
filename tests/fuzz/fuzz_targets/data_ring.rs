//! Fuzz target: see `skiff_fuzz::data_ring`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skiff_fuzz::data_ring::run(data));

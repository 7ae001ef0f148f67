//! Fuzz target: see `skiff_fuzz::posix`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skiff_fuzz::posix::run(data));

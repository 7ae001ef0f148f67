//! Fuzz target: see `skiff_fuzz::xenstore`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skiff_fuzz::xenstore::run(data));

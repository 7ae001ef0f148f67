//! Fuzz target: see `skiff_fuzz::handshake`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skiff_fuzz::handshake::run(data));

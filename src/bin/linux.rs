//! `linux`: the image that runs an unmodified static x86_64 Linux binary, given as xl's
//! `ramdisk=` or embedded with `make image BIN=path` (see the README).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

skiff::main!(skiff::linux::main);

//! Links the example unikernels as PVH images with `linker.ld`; nothing else.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=linker.ld");
    if target_os == "none" {
        println!("cargo:rustc-link-arg-examples=-T{dir}/linker.ld");
        println!("cargo:rustc-link-arg-examples=--no-pie");
        println!("cargo:rustc-link-arg-examples=-zmax-page-size=4096");
    }
}

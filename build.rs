//! Links the images (examples and the `linux` binary) as PVH images with `linker.ld`.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=linker.ld");
    if target_os == "none" {
        for kind in ["examples", "bins"] {
            println!("cargo:rustc-link-arg-{kind}=-T{dir}/linker.ld");
            println!("cargo:rustc-link-arg-{kind}=--no-pie");
            println!("cargo:rustc-link-arg-{kind}=-zmax-page-size=4096");
        }
    }
}

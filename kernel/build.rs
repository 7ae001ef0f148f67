//! Embeds a program into the image when `SKIFF_EMBED` names one (`make image BIN=path`): the
//! kernel then carries it in its `.skiff.module` section and boots it as module 0.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(skiff_embed)");
    println!("cargo:rerun-if-env-changed=SKIFF_EMBED");
    let Some(path) = std::env::var_os("SKIFF_EMBED") else { return };
    let path = std::path::PathBuf::from(path);
    assert!(
        path.is_absolute(),
        "SKIFF_EMBED={}: give an absolute path (make image BIN=... does)",
        path.display()
    );
    let meta =
        std::fs::metadata(&path).unwrap_or_else(|e| panic!("SKIFF_EMBED={}: {e}", path.display()));
    assert!(
        meta.is_file() && meta.len() > 0,
        "SKIFF_EMBED={} is not a non-empty file",
        path.display()
    );
    let s = path.to_str().expect("SKIFF_EMBED is valid UTF-8");
    assert!(
        !s.contains(['"', '\n', '\\']),
        "SKIFF_EMBED={s}: the path may not hold quotes, backslashes or newlines"
    );
    println!("cargo:rerun-if-changed={s}");
    println!("cargo:rustc-cfg=skiff_embed");
    println!("cargo:rustc-env=SKIFF_EMBED_PATH={s}");
}

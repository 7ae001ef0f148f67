//! `xen_version` sub-commands: `xen/include/public/version.h`.

/// `XENVER_version`: returns `major << 16 | minor`.
pub const XENVER_VERSION: usize = 0;
/// `XENVER_extraversion`: fills a 16-byte `xen_extraversion_t`.
pub const XENVER_EXTRAVERSION: usize = 1;
/// Size of `xen_extraversion_t`.
pub const EXTRAVERSION_LEN: usize = 16;

/// `XENVER_version` (no argument).
#[derive(Clone, Copy, Debug, Default)]
pub struct Version;

/// The argument of `XENVER_extraversion`: `xen_extraversion_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Extraversion(pub [u8; EXTRAVERSION_LEN]);

//! The x86_64 Linux ABI as applications see it: structs with checked layouts, and flag values.
//!
//! Every struct is `#[repr(C)]` (or packed where Linux packs it), has no
//! hidden padding (explicit `_pad` fields instead) and derives
//! `zerocopy`'s `FromBytes`/`IntoBytes`, so it is read from and written to
//! application memory as bytes without unsafe code. Sizes and offsets are
//! asserted at compile time against the values of the Linux uapi headers.

mod consts;
mod misc;
mod net;
mod signal;
mod stat;
mod time;

pub use consts::*;
pub use misc::{Rlimit, Utsname};
pub use net::{EpollEvent, IoVec, MsgHdr, PollFd, SockaddrIn};
pub use signal::{KSigaction, MContext, SigInfo, StackT, UContext};
pub use stat::{Stat, Statx, StatxTimestamp};
pub use time::{Timespec, Timeval};

/// Asserts a struct's size and field offsets at compile time.
macro_rules! layout {
    ($t:ty, $size:expr $(, $field:ident @ $off:expr)* $(,)?) => {
        const _: () = assert!(core::mem::size_of::<$t>() == $size);
        $(const _: () = assert!(core::mem::offset_of!($t, $field) == $off);)*
    };
}
pub(crate) use layout;

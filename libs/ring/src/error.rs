//! Errors reported by ring operations.

use core::fmt;

/// What went wrong on a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RingError {
    /// The indexes in shared memory are impossible (for example
    /// `prod - cons > size`): the peer is buggy or hostile. Nothing was read
    /// or written; the ring should be considered dead.
    Corrupt {
        /// Producer index as read.
        prod: u32,
        /// Consumer index as read (or the private consumer index).
        cons: u32,
    },
    /// No free slot: the request/response ring is full.
    Full,
    /// An entry given to the ring is longer than the ring's entry size.
    EntryTooLarge,
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::Corrupt { prod, cons } => {
                write!(f, "corrupt ring indexes (prod {prod:#x}, cons {cons:#x})")
            }
            RingError::Full => f.write_str("ring full"),
            RingError::EntryTooLarge => f.write_str("entry larger than the ring's entry size"),
        }
    }
}

impl core::error::Error for RingError {}

//! Choosing among the handles a run has made so far, or something bogus.

/// An index into the handles made so far (modulo their number), or a
/// raw value that may name nothing.
#[derive(Clone, Copy, Debug, arbitrary::Arbitrary)]
pub enum Pick {
    /// The `n % len`-th handle made so far.
    Made(u8),
    /// This raw value.
    Raw(i32),
}

impl Pick {
    /// The handle: one made so far, else the raw value mapped by `raw`.
    pub fn from<T: Copy>(self, made: &[T], raw: impl FnOnce(i32) -> T) -> T {
        match self {
            Pick::Made(n) if !made.is_empty() => made[usize::from(n) % made.len()],
            Pick::Made(n) => raw(i32::from(n)),
            Pick::Raw(v) => raw(v),
        }
    }
}

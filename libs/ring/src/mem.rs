//! The shared-memory access trait every ring is generic over.

/// Byte-offset access to one region of memory shared with another domain
/// (granted pages, the console or xenstore page).
///
/// The peer may write to this memory at any time, so implementations must
/// perform every access exactly once and never hand out references into it.
/// Offsets and lengths passed in are always computed by the ring code from its
/// own constants (never taken from the peer); an implementation may panic if
/// they are out of range, since that is a bug in the caller.
///
/// Ordering: `load_u32` has acquire semantics and `store_u32` release
/// semantics; ring code adds the full fences the Xen protocols call `mb()`
/// with [`core::sync::atomic::fence`].
pub trait SharedMem {
    /// Size of the region in bytes.
    fn size(&self) -> usize;
    /// Loads the little-endian `u32` at `off` (4-byte aligned), acquire.
    fn load_u32(&self, off: usize) -> u32;
    /// Stores `val` at `off` (4-byte aligned), release.
    fn store_u32(&self, off: usize, val: u32);
    /// Copies `dst.len()` bytes starting at `off` out of the region.
    fn read_bytes(&self, off: usize, dst: &mut [u8]);
    /// Copies `src` into the region starting at `off`.
    fn write_bytes(&self, off: usize, src: &[u8]);
}

impl<M: SharedMem + ?Sized> SharedMem for &M {
    fn size(&self) -> usize {
        (**self).size()
    }
    fn load_u32(&self, off: usize) -> u32 {
        (**self).load_u32(off)
    }
    fn store_u32(&self, off: usize, val: u32) {
        (**self).store_u32(off, val)
    }
    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        (**self).read_bytes(off, dst)
    }
    fn write_bytes(&self, off: usize, src: &[u8]) {
        (**self).write_bytes(off, src)
    }
}

//! Console ring layout: `xen/include/public/io/console.h`.

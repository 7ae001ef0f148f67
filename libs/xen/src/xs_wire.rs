//! Xenstore wire protocol: `xen/include/public/io/xs_wire.h`.

#!/usr/bin/env bash
# Builds Linux's PV Calls backend (drivers/xen/pvcalls-back.c) for a dom0 kernel, with the fixes Skiff
# relies on, and installs it: as a DKMS module where DKMS is installed, else into
# /lib/modules/<kernel>/updates. Says what it did.
#
# Usage (as root, in dom0):
#   dom0/install-pvcalls-back.sh [options]
# Options:
#   --kernel KVER       kernel to build for (default: the running one, uname -r)
#   --source FILE       use this pvcalls-back.c instead of the distribution's kernel source
#   --source-deb FILE   take pvcalls-back.c from this linux-source-X.Y .deb (Debian)
#   --build-only OUT    build only and copy the module to OUT (nothing installed, no root needed
#                       unless build dependencies must be installed)
#   --unpatched         build the source as it is, without the fixes below
#   --print-source      print the (patched) source instead of building it, to review what is built
#   --no-dkms           install into /lib/modules/KVER/updates even if DKMS is installed
#   --no-load           do not (re)load the module after installing it
#
# Without --source/--source-deb the source comes from Debian's linux-source-X.Y package at the version
# of the kernel's image package (apt-get download; nothing else is installed from it). Missing build
# dependencies (make, gcc, the kernel's headers) are installed with apt-get when apt is there.
#
# The fixes (each one is checked to apply exactly once; a source they do not fit stops the script):
#   masked-channel   a frontend event that finds `out` empty leaves the `write` flag set, so the
#                    lateeoi event channel is never EOI'd and the connection stalls ("xen/pvcalls-back:
#                    fix permanently masked event channel", posted to xen-devel in January 2023).
#   lost-eof         when one recvmsg takes the last data together with the FIN, the socket is never
#                    read again and the guest never sees the end of the stream: read on while
#                    RCV_SHUTDOWN is set.
#   send-error-loop  after a send fails (the peer reset the connection) with bytes left in `out`,
#                    the I/O worker re-arms itself forever: it spins, notifying the guest on every
#                    turn. `prod != cons + ret` holds for any negative ret.
#   release-loop     the worker clears `release` when it sees it, so an instance queued again while
#                    it ran starts over and spins; RELEASE then waits in flush_work forever, the
#                    command ring stops (the guest's networking is dead) and, once the guest goes,
#                    xenwatch hangs in the same place, so no PV Calls device can be set up again.
#   eagain-spin      a send that finds the socket's send buffer full retries at once, in a loop,
#                    until the peer reads: one busy kworker per slow client. Wait for the socket's
#                    write-space callback instead.
#   accept-race      an accepted socket inherits the listener's data-ready callback until the
#                    backend sets its own, and tcp calls it without the callback lock: data that
#                    arrives between the two stores runs the listener's callback on the new socket's
#                    sock_mapping, which spins on a "lock" that is not one, holding the socket's bh
#                    lock; the I/O worker then spins in lock_sock (soft lockups, RCU stall, dom0
#                    wedged for good). The listener's callback ignores sockets that are not
#                    listening, and a new socket reads what arrived before its callbacks were set.
#   silent-reset     a reset (or any state change) only notifies the guest: nothing reads the socket,
#                    so with nothing queued the guest never learns of the end, and a send waiting for
#                    space (the write-space callback never comes) waits forever. Run the I/O worker to
#                    read the end and retry the send, which then reports the error.
#   read-on          a read that leaves data queued (or, with lost-eof, takes the last data before
#                    the FIN) marks a read pending but does not run the worker again: the rest waits
#                    for the guest's next event, so a guest must answer every event to get it. Run
#                    the worker again (it stops when `in` is full, to go on at the guest's event
#                    for a read from a full ring), and say so in xenstore
#                    (feature-unprompted-read = 1): Skiff then sends no answers, which Linux counts
#                    as spurious events and holds the channel back for (lateeoi back-off).
#   big-rings        xenbus_map_ring_valloc maps at most 16 pages, so a socket's ring is at most order 4
#                    (32 KiB each way in flight). Offer the protocol's limit, order 9 (1 MiB each way),
#                    and map a ring above order 4 in segments of 16 pages; the I/O worker reads and
#                    writes the ring halves through one kvec per segment.
#   map-fail         when mapping a new socket's rings or binding its event channel fails (a guest's
#                    bad grant reference, or a ring order above max-page-order), the error path
#                    list_del's a list head that was never added (zeroed: a BUG in dom0 with
#                    CONFIG_DEBUG_LIST, a NULL dereference without) and then tears down what was
#                    never set up. Undo only what was done.
#   wq-leak          every connection allocates a workqueue for its I/O worker that is never
#                    destroyed: dom0 loses memory with each connection a guest closes.
#   warn-reset       WARN_ON(ret > wanted) compares an int with an unsigned int and fires (with a
#                    stack trace in dom0's log) for every peer reset (-ECONNRESET).
# See docs/pvcalls-back.md for how each was found.
set -euo pipefail

prog=$(basename "$0")
say() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print } /^set /{ exit }' "$0"; exit 2; }

kver=$(uname -r) source_file="" source_deb="" build_only="" patched=1 use_dkms=1 load=1 print=0
while [ $# -gt 0 ]; do
    case $1 in
        --kernel) [ $# -ge 2 ] || usage; kver=$2; shift 2 ;;
        --source) [ $# -ge 2 ] || usage; source_file=$2; shift 2 ;;
        --source-deb) [ $# -ge 2 ] || usage; source_deb=$2; shift 2 ;;
        --build-only) [ $# -ge 2 ] || usage; build_only=$2; shift 2 ;;
        --unpatched) patched=0; shift ;;
        --print-source) print=1 build_only=-; shift ;;
        --no-dkms) use_dkms=0; shift ;;
        --no-load) load=0; shift ;;
        -h | --help) usage ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ -z "$source_file" ] || [ -s "$source_file" ] || die "no source file $source_file"
[ -z "$source_deb" ] || [ -s "$source_deb" ] || die "no .deb $source_deb"
if [ -z "$build_only" ] && [ "$(id -u)" -ne 0 ]; then
    die "installing a kernel module needs root (or use --build-only OUT)"
fi
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

# The kernel's config, from its headers or /boot.
kconfig() {
    local f
    for f in "/lib/modules/$kver/build/.config" "/boot/config-$kver"; do
        [ -r "$f" ] && { cat "$f"; return 0; }
    done
    return 1
}
if kconfig 2>/dev/null | grep -q '^CONFIG_XEN_PVCALLS_BACKEND=y'; then
    die "kernel $kver has pvcalls-back built in; a module cannot replace it (rebuild the kernel with the fixes instead)"
fi

have() { command -v "$1" >/dev/null 2>&1; }
installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'; }

work=$(mktemp -d "${TMPDIR:-/tmp}/pvcalls-back.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/pvcalls-back.c

# extract_from_deb DEB: pvcalls-back.c out of a linux-source-X.Y package.
extract_from_deb() {
    local deb=$1 tarball
    tarball=$(dpkg-deb --fsys-tarfile "$deb" | tar -t 2>/dev/null | grep -m1 '^\./usr/src/linux-source-.*\.tar\.xz$') \
        || die "$deb holds no linux-source tarball"
    # --occurrence stops at the first match, so the upstream pipe may end with SIGPIPE.
    (set +o pipefail
     dpkg-deb --fsys-tarfile "$deb" 2>/dev/null | tar -x -O "$tarball" 2>/dev/null \
         | tar -xJ -O --occurrence=1 --wildcards '*/drivers/xen/pvcalls-back.c' >"$src" 2>/dev/null) || true
    [ -s "$src" ] || die "no drivers/xen/pvcalls-back.c in $deb"
}

if [ -n "$source_file" ]; then
    cp "$source_file" "$src"
    say "source: $source_file"
elif [ -n "$source_deb" ]; then
    extract_from_deb "$source_deb"
    say "source: drivers/xen/pvcalls-back.c from $(basename "$source_deb")"
else
    have apt-get || die "no apt-get: give the kernel's pvcalls-back.c with --source FILE"
    version=""
    for p in "linux-image-$kver" "linux-image-$kver-unsigned"; do
        version=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
        [ -z "$version" ] || break
        version=$(apt-cache show --no-all-versions "$p" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
        [ -z "$version" ] || break
    done
    [ -n "$version" ] || die "cannot tell the version of kernel $kver's package; give --source FILE"
    series=$(sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p' <<<"$kver")
    say "downloading linux-source-$series $version (for drivers/xen/pvcalls-back.c only)"
    (cd "$work" && apt-get download -qq "linux-source-$series=$version" >/dev/null 2>&1) \
        || die "apt-get download linux-source-$series=$version failed"
    extract_from_deb "$(compgen -G "$work/linux-source-${series}_*.deb" | head -n 1)"
    rm -f "$work"/linux-source-*.deb
fi

# fix NAME COUNT PERL: applies the substitution PERL to the source, which must change it and leave
# the marker "skiff: NAME" COUNT times; otherwise the source is not the one the fix was written for.
fix() {
    local name=$1 count=$2 expr=$3 n
    perl -0pi -e "$expr" "$src"
    n=$(grep -c "skiff: $name" "$src" || true)
    [ "$n" = "$count" ] || die "fix $name does not fit this pvcalls-back.c (marker found $n times, not $count)"
    say "fix applied: $name"
}

if [ "$patched" = 1 ]; then
    fix masked-channel 1 's/\tif \(size == 0\)\n\t\treturn false;/\tif (size == 0) {\n\t\tatomic_set(&map->write, 0); \/* skiff: masked-channel *\/\n\t\treturn false;\n\t}/'
    fix lost-eof 2 's/\tif \(skb_queue_empty\(&map->sock->sk->sk_receive_queue\)\) \{\n\t\tatomic_set\(&map->read, 0\);/\tif (skb_queue_empty(&map->sock->sk->sk_receive_queue) &&\n\t    !(READ_ONCE(map->sock->sk->sk_shutdown) & RCV_SHUTDOWN)) { \/* skiff: lost-eof *\/\n\t\tatomic_set(&map->read, 0);/; s/\tif \(ret > 0 && !skb_queue_empty\(&map->sock->sk->sk_receive_queue\)\)\n\t\tatomic_inc/\tif (ret > 0 && (!skb_queue_empty(&map->sock->sk->sk_receive_queue) ||\n\t\t\t (READ_ONCE(map->sock->sk->sk_shutdown) & RCV_SHUTDOWN))) \/* skiff: lost-eof *\/\n\t\tatomic_inc/'
    fix send-error-loop 1 's/\tif \(prod != cons \+ ret\) \{\n\t\tatomic_inc\(&map->write\);\n\t\tatomic_inc\(&map->io\);/\tif (ret >= 0 && prod != cons + ret) { \/* skiff: send-error-loop *\/\n\t\tatomic_inc(&map->write);\n\t\tatomic_inc(&map->io);/'
    fix release-loop 1 's/\t\tif \(atomic_read\(&map->release\) > 0\) \{\n\t\t\tatomic_set\(&map->release, 0\);\n\t\t\treturn;\n\t\t\}/\t\tif (atomic_read(&map->release) > 0)\n\t\t\treturn; \/* skiff: release-loop: released for good *\//'
    fix eagain-spin 5 's/(\tvoid \(\*saved_data_ready\)\(struct sock \*sk\);\n\tstruct pvcalls_ioworker ioworker;)/$1\n\tvoid (*saved_write_space)(struct sock *sk); \/* skiff: eagain-spin *\//;
        s/\tif \(ret == -EAGAIN\) \{\n\t\tatomic_inc\(&map->write\);\n\t\tatomic_inc\(&map->io\);\n\t\treturn true;/\tif (ret == -EAGAIN) {\n\t\t\/* skiff: eagain-spin: pvcalls_sk_write_space queues the worker again *\/\n\t\tatomic_inc(&map->write);\n\t\treturn true;/;
        s/(static struct sock_mapping \*pvcalls_new_active_socket\()/\/* skiff: eagain-spin: a send that found the socket full can go on *\/\nstatic void pvcalls_sk_write_space(struct sock *sock)\n{\n\tstruct sock_mapping *map = sock->sk_user_data;\n\n\tif (map == NULL)\n\t\treturn;\n\tif (map->saved_write_space)\n\t\tmap->saved_write_space(sock);\n\tif (sk_stream_is_writeable(sock)) {\n\t\tatomic_inc(&map->io);\n\t\tqueue_work(map->ioworker.wq, &map->ioworker.register_work);\n\t}\n}\n\n$1/;
        s/(\tmap->sock->sk->sk_state_change = pvcalls_sk_state_change;\n)/$1\tmap->saved_write_space = map->sock->sk->sk_write_space; \/* skiff: eagain-spin *\/\n\tmap->sock->sk->sk_write_space = pvcalls_sk_write_space;\n/;
        s/(\t\tmap->sock->sk->sk_data_ready = map->saved_data_ready;\n)/$1\t\tif (map->saved_write_space) \/* skiff: eagain-spin *\/\n\t\t\tmap->sock->sk->sk_write_space = map->saved_write_space;\n/'
    fix wq-leak 1 's/(\tflush_work\(&map->ioworker.register_work\);\n)/$1\tif (map->ioworker.wq) \/* skiff: wq-leak *\/\n\t\tdestroy_workqueue(map->ioworker.wq);\n/'
    fix accept-race 2 's/\tif \(mappass == NULL\)\n\t\treturn;\n/\t\/* skiff: accept-race: an accepted socket inherits this callback until its own are set; its\n\t * sk_user_data may already be its sock_mapping, not a sockpass_mapping *\/\n\tif (mappass == NULL || sock->sk_state != TCP_LISTEN)\n\t\treturn;\n/;
        s/(\twrite_unlock_bh\(&map->sock->sk->sk_callback_lock\);\n)(\n\treturn map;)/$1\t\/* skiff: accept-race: read what arrived before the callbacks were set *\/\n\tpvcalls_sk_data_ready(map->sock->sk);\n$2/'
    fix silent-reset 1 's/(static void pvcalls_sk_state_change\(struct sock \*sock\)\n\{\n\tstruct sock_mapping \*map = sock->sk_user_data;\n\n\tif \(map == NULL\)\n\t\treturn;\n\n\tatomic_inc\(&map->read\);\n)/$1\t\/* skiff: silent-reset: let the worker read the end and retry a send that waits for space *\/\n\tatomic_inc(&map->write);\n\tatomic_inc(&map->io);\n\tqueue_work(map->ioworker.wq, &map->ioworker.register_work);\n/'
    fix read-on 2 's/(RCV_SHUTDOWN\)\)\)) (\/\* skiff: lost-eof \*\/)\n\t\tatomic_inc\(&map->read\);\n/$1 { $2\n\t\tatomic_inc(&map->read);\n\t\tatomic_inc(&map->io); \/* skiff: read-on: read again, not at the guest'"'"'s next event *\/\n\t}\n/;
        s/(\terr = xenbus_printf\(xbt, dev->nodename, "function-calls",\n\t\t\t    XENBUS_FUNCTIONS_CALLS\);\n\tif \(err\) \{\n[^}]*\}\n)/$1\n\t\/* skiff: read-on: say so; the frontend need not answer events to have its socket read *\/\n\terr = xenbus_printf(xbt, dev->nodename, "feature-unprompted-read", "1");\n\tif (err)\n\t\tgoto abort;\n/'
    # big-rings: the C the substitutions below add (perl reads it from the environment).
    SKIFF_BIG_RINGS_DEFS=$(cat <<'EOF'
/* skiff: big-rings: the protocol's limit. xenbus_map_ring_valloc maps at most
 * XENBUS_MAX_RING_GRANTS pages at a time, so a ring of a larger order is mapped in segments of
 * that many pages, each half (in, then out) on its own; map->segs says where each segment is.
 * A ring of a smaller order is one mapping (map->bytes), each half one segment of it. */
#define MAX_RING_ORDER 9
#define SKIFF_SEG_PAGES XENBUS_MAX_RING_GRANTS
#define SKIFF_SEG_SIZE ((RING_IDX)(SKIFF_SEG_PAGES * XEN_PAGE_SIZE))
#define SKIFF_MAX_SEGS ((1U << (MAX_RING_ORDER - 1)) / SKIFF_SEG_PAGES)
EOF
)
    SKIFF_BIG_RINGS_HELPERS=$(cat <<'EOF'
/* skiff: big-rings: the kvecs for len bytes (at most array_size) of a ring half from index idx:
 * one per segment touched, the first one twice when the span wraps around into it, so at most
 * SKIFF_MAX_SEGS + 1 */
static unsigned int skiff_ring_kvecs(void **segs, RING_IDX idx, RING_IDX len,
				     RING_IDX array_size, struct kvec *vec)
{
	unsigned int n = 0;

	while (len > 0) {
		RING_IDX off = pvcalls_mask(idx, array_size);
		RING_IDX in_seg = off % SKIFF_SEG_SIZE;
		RING_IDX chunk = min_t(RING_IDX, len,
				       min_t(RING_IDX, array_size - off, SKIFF_SEG_SIZE - in_seg));

		vec[n].iov_base = segs[off / SKIFF_SEG_SIZE] + in_seg;
		vec[n].iov_len = chunk;
		n++;
		idx += chunk;
		len -= chunk;
	}
	return n;
}

/* skiff: big-rings: unmaps what pvcalls_new_active_socket mapped of a data ring */
static void skiff_unmap_data(struct xenbus_device *dev, struct sock_mapping *map)
{
	unsigned int h, s;

	if (map->bytes) {
		xenbus_unmap_ring_vfree(dev, map->bytes);
		return;
	}
	for (h = 0; h < 2; h++)
		for (s = 0; s < SKIFF_MAX_SEGS; s++)
			if (map->segs[h][s])
				xenbus_unmap_ring_vfree(dev, map->segs[h][s]);
}
EOF
)
    SKIFF_BIG_RINGS_MAP=$(cat <<'EOF'
	/* skiff: big-rings: in segments above XENBUS_MAX_RING_GRANT_ORDER */
	if (map->ring_order <= XENBUS_MAX_RING_GRANT_ORDER) {
		ret = xenbus_map_ring_valloc(fedata->dev, map->ring->ref,
					     (1 << map->ring_order), &page);
		if (ret < 0)
			goto out;
		map->bytes = page;
		map->segs[0][0] = page;
		map->segs[1][0] = page + XEN_FLEX_RING_SIZE(map->ring_order);
	} else {
		unsigned int half = 1U << (map->ring_order - 1), h, s;

		for (h = 0; h < 2; h++) {
			for (s = 0; s < half / SKIFF_SEG_PAGES; s++) {
				ret = xenbus_map_ring_valloc(fedata->dev,
						map->ring->ref + h * half + s * SKIFF_SEG_PAGES,
						SKIFF_SEG_PAGES, &page);
				if (ret < 0)
					goto out;
				map->segs[h][s] = page;
			}
		}
	}
EOF
)
    export SKIFF_BIG_RINGS_DEFS SKIFF_BIG_RINGS_HELPERS SKIFF_BIG_RINGS_MAP
    fix big-rings 14 's/#define MAX_RING_ORDER XENBUS_MAX_RING_GRANT_ORDER\n/$ENV{SKIFF_BIG_RINGS_DEFS}\n/;
        s/(\n\tvoid \*bytes;\n)/$1\tvoid *segs[2][SKIFF_MAX_SEGS]; \/* skiff: big-rings: in, then out *\/\n/;
        # before the helpers are added: skiff_unmap_data has the same call
        s/\txenbus_unmap_ring_vfree\(dev, map->bytes\);\n/\tskiff_unmap_data(dev, map); \/* skiff: big-rings *\/\n/;
        s/(static bool pvcalls_conn_back_read\(void \*opaque\)\n)/$ENV{SKIFF_BIG_RINGS_HELPERS}\n\n$1/;
        s/\tstruct kvec vec\[2\];\n/\tstruct kvec vec[SKIFF_MAX_SEGS + 1]; \/* skiff: big-rings *\/\n/g;
        s/\tstruct pvcalls_data \*data = &map->data;\n/\t\/* skiff: big-rings: the data is in map->segs *\/\n/g;
        s/(wanted, array_size), masked_prod, masked_cons;\n/$1; \/* skiff: big-rings *\/\n/;
        s/\tmasked_prod = pvcalls_mask\(prod, array_size\);\n\tmasked_cons = pvcalls_mask\(cons, array_size\);\n\n\tmemset\(&msg, 0, sizeof\(msg\)\);\n\tif \(masked_prod < masked_cons\) \{\n.*?ITER_DEST, vec, 2, wanted\);\n\t\}\n/\n\tmemset(&msg, 0, sizeof(msg));\n\t\/* skiff: big-rings *\/\n\tiov_iter_kvec(&msg.msg_iter, ITER_DEST, vec,\n\t\t      skiff_ring_kvecs(map->segs[0], prod, wanted, array_size, vec), wanted);\n/s;
        s/\tif \(pvcalls_mask\(prod, array_size\) > pvcalls_mask\(cons, array_size\)\) \{\n.*?ITER_SOURCE, vec, 2, size\);\n\t\}\n/\t\/* skiff: big-rings *\/\n\tiov_iter_kvec(&msg.msg_iter, ITER_SOURCE, vec,\n\t\t      skiff_ring_kvecs(map->segs[1], cons, size, array_size, vec), size);\n/s;
        s/\tret = xenbus_map_ring_valloc\(fedata->dev, map->ring->ref,\n\t\t\t\t     \(1 << map->ring_order\), &page\);\n\tif \(ret < 0\)\n\t\tgoto out;\n\tmap->bytes = page;\n/$ENV{SKIFF_BIG_RINGS_MAP}\n/;
        s/\tmap->data.in = map->bytes;\n\tmap->data.out = map->bytes \+ XEN_FLEX_RING_SIZE\(map->ring_order\);\n/\t\/* skiff: big-rings: map->segs, set above, stand for map->data *\/\n/'
    fix map-fail 1 's/out:\n\tdown\(&fedata->socket_lock\);\n\tlist_del\(&map->list\);\n\tpvcalls_back_release_active\(fedata->dev, fedata, map\);\n\tup\(&fedata->socket_lock\);\n\treturn NULL;\n\}\n/out:\n\t\/* skiff: map-fail: the map is in no list and the socket has none of its callbacks yet:\n\t * undo only what was done (release_active would list_del a zeroed list head) *\/\n\tif (map->irq > 0)\n\t\tunbind_from_irqhandler(map->irq, map);\n\tskiff_unmap_data(fedata->dev, map);\n\tif (map->ring)\n\t\txenbus_unmap_ring_vfree(fedata->dev, (void *)map->ring);\n\tsock_release(map->sock);\n\tkfree(map);\n\treturn NULL;\n}\n/'
    fix warn-reset 1 's/\tWARN_ON\(ret > wanted\);/\tWARN_ON(ret > 0 && (unsigned int)ret > wanted); \/* skiff: warn-reset *\//'
else
    say "building the source as it is (--unpatched)"
fi

if [ "$print" = 1 ]; then
    cat "$src"
    exit 0
fi

# Build dependencies: make, a C compiler and the kernel's headers.
need=()
have make || need+=(make)
have gcc || need+=(gcc)
[ -e "/lib/modules/$kver/build/Makefile" ] || need+=("linux-headers-$kver")
if [ "${#need[@]}" -gt 0 ]; then
    have apt-get || die "missing ${need[*]}; install them (the headers must match kernel $kver)"
    say "installing build dependencies: ${need[*]}"
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; } \
        || die "apt-get install ${need[*]} failed"
fi
[ -e "/lib/modules/$kver/build/Makefile" ] || die "no headers for kernel $kver in /lib/modules/$kver/build"

# The version DKMS registers: the source's own hash, so a changed source or fix is a new version.
modver=$(sha256sum "$src" | cut -c1-12)
build() {
    local dir=$1
    echo 'obj-m += pvcalls-back.o' >"$dir/Kbuild"
    (set +o pipefail
     make -s -C "/lib/modules/$kver/build" M="$dir" CONFIG_XEN_PVCALLS_BACKEND=m modules 2>&1 \
         | grep -v 'Skipping BTF generation' >&2) || true
    [ -s "$dir/pvcalls-back.ko" ] || die "building pvcalls-back.ko for $kver failed"
}

if [ -n "$build_only" ]; then
    mkdir -p "$work/build"
    cp "$src" "$work/build/pvcalls-back.c"
    build "$work/build"
    cp "$work/build/pvcalls-back.ko" "$build_only"
    say "built $build_only for kernel $kver (source hash $modver); nothing installed"
    exit 0
fi

if [ "$use_dkms" = 1 ] && have dkms; then
    name=pvcalls-back-skiff
    dir=/usr/src/$name-$modver
    for old in $(dkms status -m "$name" 2>/dev/null | sed -n "s/^$name[,\/] *\([0-9a-f]*\).*/\1/p" | sort -u); do
        [ "$old" = "$modver" ] && continue
        say "removing the earlier DKMS version $name/$old"
        dkms remove -m "$name" -v "$old" --all >/dev/null 2>&1 || true
        rm -rf "/usr/src/$name-$old"
    done
    mkdir -p "$dir"
    cp "$src" "$dir/pvcalls-back.c"
    echo 'obj-m += pvcalls-back.o' >"$dir/Kbuild"
    cat >"$dir/dkms.conf" <<EOF
PACKAGE_NAME="$name"
PACKAGE_VERSION="$modver"
BUILT_MODULE_NAME[0]="pvcalls-back"
DEST_MODULE_LOCATION[0]="/updates/dkms"
MAKE[0]="make -C \${kernel_source_dir} M=\${dkms_tree}/\${PACKAGE_NAME}/\${PACKAGE_VERSION}/build CONFIG_XEN_PVCALLS_BACKEND=m modules"
CLEAN="true"
AUTOINSTALL="yes"
EOF
    dkms status -m "$name" -v "$modver" 2>/dev/null | grep -q . || dkms add -m "$name" -v "$modver" >/dev/null
    dkms build -m "$name" -v "$modver" -k "$kver" >/dev/null || die "dkms build failed (see /var/lib/dkms/$name/$modver/build/make.log)"
    dkms install --force -m "$name" -v "$modver" -k "$kver" >/dev/null || die "dkms install failed"
    say "installed as DKMS module $name/$modver for kernel $kver (rebuilt for new kernels; source in $dir)"
else
    mkdir -p "$work/build"
    cp "$src" "$work/build/pvcalls-back.c"
    build "$work/build"
    dest=/lib/modules/$kver/updates/pvcalls-back.ko
    install -D -m 0644 "$work/build/pvcalls-back.ko" "$dest"
    depmod -a "$kver"
    say "installed $dest (source hash $modver); rerun this script after a kernel update"
fi

if [ "$load" = 1 ] && [ "$kver" = "$(uname -r)" ] && have modprobe; then
    if lsmod 2>/dev/null | grep -q '^pvcalls_back '; then
        if modprobe -r pvcalls_back 2>/dev/null; then
            say "unloaded the old pvcalls-back"
        else
            say "the old pvcalls-back is in use (a guest is connected); the new one loads at the next boot"
            exit 0
        fi
    fi
    modprobe pvcalls-back || die "modprobe pvcalls-back failed"
    say "loaded pvcalls-back; guests with pvcalls = [ \"backend=0\" ] in their xl config can connect"
else
    say "not loaded now (kernel $kver is not the running one, or --no-load): modprobe pvcalls-back"
fi

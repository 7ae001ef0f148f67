#!/usr/bin/env bash
# Builds and caches the Xen-in-QEMU rig: xen.bin, dom0 vmlinuz, pvcalls-back.ko and the dom0 root cpio.
#
# Usage: tests/rig/prepare.sh        (idempotent; prints the ready cache folder on its last line)
# Cache: ${SKIFF_CACHE:-<repo>/.cache}/rig/<ABI>-<script hash>/, with "current" pointing at it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache_root=${SKIFF_CACHE:-$repo/.cache}
cache=$cache_root/rig
suite=bookworm
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

t_start=$SECONDS
say() { printf 'prepare: [%3ds] %s\n' "$((SECONDS - t_start))" "$*"; }
die() { printf 'prepare: error: %s\n' "$*" >&2; exit 1; }

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "must run as root (or have sudo) to apt-get install and debootstrap"
    sudo=(sudo)
fi

apt_updated=0
apt_update() {
    if [ "$apt_updated" -eq 0 ]; then
        say "apt-get update"
        "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
        apt_updated=1
    fi
}

installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'; }

# ensure_pkgs PKG...: apt-get install the ones that are missing on the host.
ensure_pkgs() {
    local missing=() p
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    [ "${#missing[@]}" -eq 0 ] && return 0
    say "apt-get install ${missing[*]}"
    if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        apt_update
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
            || die "apt-get install ${missing[*]} failed"
    fi
}

# The kernel ABI (e.g. 6.1.0-56) that linux-image-amd64 currently depends on.
detect_abi() {
    apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*\)-amd64$/\1/p' | head -n 1
}

# The Debian mirror apt already uses (first non-security "deb" source for $suite).
detect_mirror() {
    local f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        uri=$(awk -v s="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
              if ($(i + 1) == s && $i !~ /security/) { print $i; exit } }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        uri=$(awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
              { u = ""; ok = 0; deb = 0
                for (i = 1; i <= NF; i++) {
                  if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
                  if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); u = a[2] }
                  if ($i ~ /^Suites:/ && (" " $i " ") ~ (" " s " ")) ok = 1 }
                if (deb && ok && u != "" && u !~ /security/) { print u; exit } }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    echo http://deb.debian.org/debian
}

pkg_version() { apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1; }

# fetch_deb PKG [VERSION]: downloads PKG's .deb (default: candidate) into $cache/debs once; prints its path.
fetch_deb() {
    local pkg=$1 ver=${2:-} f tmp
    [ -n "$ver" ] || ver=$(pkg_version "$pkg")
    [ -n "$ver" ] || die "apt knows no package $pkg"
    f=$(compgen -G "$cache/debs/${pkg}_${ver//:/%3a}_*.deb" | head -n 1 || true)
    if [ -z "$f" ]; then
        say "download $pkg $ver" >&2
        tmp=$(mktemp -d "$cache/debs/.dl.XXXXXX")
        (cd "$tmp" || exit 1; apt-get download -qq "$pkg=$ver" 2>&1 | grep -v 'unsandboxed' >&2) || true
        f=$(compgen -G "$tmp/${pkg}_*.deb" | head -n 1 || true)
        [ -n "$f" ] || { rm -rf "$tmp"; die "apt-get download $pkg=$ver failed"; }
        find "$cache/debs" -maxdepth 1 -name "${pkg}_*.deb" -delete
        mv "$f" "$cache/debs/"
        rm -rf "$tmp"
        f=$cache/debs/$(basename "$f")
    fi
    echo "$f"
}

# Tools needed on the host just to run the rig.
ensure_pkgs qemu-system-x86 cpio gzip coreutils

abi=$(detect_abi)
key() {
    local k
    k="$1-$(sha256sum <"$here/prepare.sh" | cut -c1-12)"
    if [ "${RIG_PVCALLS_UNPATCHED:-0}" = 1 ]; then k+=-unpatched; fi
    echo "$k"
}
if [ -n "$abi" ] && [ -s "$cache/$(key "$abi")/ready" ]; then
    out=$cache/$(key "$abi")
    ln -sfn "$(basename "$out")" "$cache/current"
    say "cached: $out"
    echo "$out"
    exit 0
fi

# Something has to be built: use fresh package lists so the ABI and versions exist on the mirror.
apt_update
abi=$(detect_abi)
[ -n "$abi" ] || die "cannot find the kernel ABI: 'apt-cache depends linux-image-amd64' names no linux-image-*-amd64"
kver=$abi-amd64
out=$cache/$(key "$abi")
mkdir -p "$cache/debs" "$cache/src" "$out"
if [ -s "$out/ready" ]; then
    ln -sfn "$(basename "$out")" "$cache/current"
    say "cached: $out"
    echo "$out"
    exit 0
fi
say "building rig for kernel $kver into $out"
ensure_pkgs debootstrap xz-utils tar gcc make binutils "linux-headers-$kver"
work=$cache/work
rm -rf "$work"
mkdir -p "$work"

# Dom0 kernel and the modules the rig uses (Xen drivers, a NIC for --forward).
deb=$(fetch_deb "linux-image-$kver-unsigned")
m=./lib/modules/$kver
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards "./boot/vmlinuz-$kver" "./boot/config-$kver" \
    "$m/modules.builtin" "$m/modules.builtin.modinfo" "$m/modules.order" "$m/kernel/drivers/xen/*" \
    "$m/kernel/drivers/net/ethernet/intel/e1000/*"
cp "$work/boot/vmlinuz-$kver" "$out/vmlinuz"
say "dom0 kernel $kver ready"

# pvcalls-back.ko: Debian builds its kernel without CONFIG_XEN_PVCALLS_BACKEND, so build it out of tree.
if [ ! -s "$out/pvcalls-back.ko" ]; then
    sver=$(pkg_version "linux-image-$kver-unsigned")
    src=$cache/src/pvcalls-back-$sver.c
    if [ ! -s "$src" ]; then
        deb=$(fetch_deb linux-source-6.1 "$sver")
        say "extract drivers/xen/pvcalls-back.c from linux-source-6.1 $sver"
        # --occurrence stops at the first match, so the upstream pipe may end with SIGPIPE.
        (set +o pipefail
         dpkg-deb --fsys-tarfile "$deb" 2>/dev/null | tar -x -O ./usr/src/linux-source-6.1.tar.xz 2>/dev/null \
             | tar -xJ -C "$work" --occurrence=1 linux-source-6.1/drivers/xen/pvcalls-back.c) || true
        [ -s "$work/linux-source-6.1/drivers/xen/pvcalls-back.c" ] || die "pvcalls-back.c not found in $deb"
        cp "$work/linux-source-6.1/drivers/xen/pvcalls-back.c" "$src.tmp" && mv "$src.tmp" "$src"
        rm -f "$deb"   # 140 MB, only needed for this one file
    fi
    mkdir -p "$work/pvcalls"
    cp "$src" "$work/pvcalls/pvcalls-back.c"
    # The masked-event-channel fix (posted to xen-devel by V. Babchuk, 2023-01-19, "xen/pvcalls-back:
    # fix permanently masked event channel"), absent from this source: a frontend event that finds
    # `out` empty leaves map->write set, so the lateeoi channel is never EOI'd and stays masked; the
    # stream then stalls. Clear the flag when there is nothing to write. RIG_PVCALLS_UNPATCHED=1
    # builds the module as Debian ships the source.
    if [ "${RIG_PVCALLS_UNPATCHED:-0}" != 1 ]; then
        [ "$(grep -c 'if (size == 0)' "$work/pvcalls/pvcalls-back.c")" = 1 ] \
            || die "pvcalls-back.c: cannot place the masked-event-channel fix (source changed?)"
        perl -0pi -e 's/\tif \(size == 0\)\n\t\treturn false;/\tif (size == 0) {\n\t\tatomic_set(&map->write, 0); \/* skiff rig: masked-evtchn fix *\/\n\t\treturn false;\n\t}/' \
            "$work/pvcalls/pvcalls-back.c"
        grep -q 'skiff rig: masked-evtchn fix' "$work/pvcalls/pvcalls-back.c" \
            || die "pvcalls-back.c: applying the masked-event-channel fix failed"
        say "pvcalls-back.c: masked-event-channel fix applied"
        # The lost-EOF fix (the rig's own): pvcalls_conn_back_read returns early when the socket's
        # receive queue is empty, before calling recvmsg. When one recvmsg reads the last data and
        # the FIN behind it, the queue is empty afterwards and no callback comes again, so the
        # backend never learns of the EOF and never reports it in in_error; a peer that sends a
        # large stream then shuts down its write side waits forever. Read on when RCV_SHUTDOWN is
        # set: the next read returns 0 and reports ENOTCONN.
        [ "$(grep -c 'skb_queue_empty(&map->sock->sk->sk_receive_queue)' "$work/pvcalls/pvcalls-back.c")" = 2 ] \
            || die "pvcalls-back.c: cannot place the lost-EOF fix (source changed?)"
        perl -0pi -e 's/\tif \(skb_queue_empty\(&map->sock->sk->sk_receive_queue\)\) \{\n\t\tatomic_set\(&map->read, 0\);/\tif (skb_queue_empty(&map->sock->sk->sk_receive_queue) \&\&\n\t    !(READ_ONCE(map->sock->sk->sk_shutdown) \& RCV_SHUTDOWN)) { \/* skiff rig: lost-EOF fix *\/\n\t\tatomic_set(&map->read, 0);/; s/\tif \(ret > 0 && !skb_queue_empty\(&map->sock->sk->sk_receive_queue\)\)\n\t\tatomic_inc/\tif (ret > 0 \&\& (!skb_queue_empty(&map->sock->sk->sk_receive_queue) ||\n\t\t\t (READ_ONCE(map->sock->sk->sk_shutdown) \& RCV_SHUTDOWN)))\n\t\tatomic_inc/' \
            "$work/pvcalls/pvcalls-back.c"
        [ "$(grep -c 'RCV_SHUTDOWN' "$work/pvcalls/pvcalls-back.c")" = 2 ] \
            || die "pvcalls-back.c: applying the lost-EOF fix failed"
        say "pvcalls-back.c: lost-EOF fix applied"
    fi
    echo 'obj-m += pvcalls-back.o' >"$work/pvcalls/Kbuild"
    say "build pvcalls-back.ko"
    (set +o pipefail
     make -s -C "/usr/src/linux-headers-$kver" M="$work/pvcalls" CONFIG_XEN_PVCALLS_BACKEND=m modules 2>&1 \
         | grep -v 'Skipping BTF generation' >&2) || true
    [ -s "$work/pvcalls/pvcalls-back.ko" ] || die "building pvcalls-back.ko failed"
    cp "$work/pvcalls/pvcalls-back.ko" "$out/pvcalls-back.ko"
    say "pvcalls-back.ko ready"
fi

# Dom0 root: minbase bookworm with the Xen tools, packed as a gzip'd newc cpio.
if [ ! -s "$out/base.cpio.gz" ]; then
    mirror=$(detect_mirror)
    root=$work/root
    mkdir -p "$cache/debootstrap-debs"
    say "debootstrap $suite from $mirror"
    debootstrap --variant=minbase --cache-dir="$cache/debootstrap-debs" \
        --include=xen-utils-4.17,xenstore-utils,iproute2,kmod,python3,procps \
        "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log: $work/debootstrap.log)"; }
    say "debootstrap done ($(du -sh "$root" | cut -f1))"
    # shellcheck disable=SC2016 # dpkg-query's own ${Version}
    chroot "$root" dpkg-query -W -f='${Version}' xen-utils-4.17 >"$out/xen-tools-version"
    mkdir -p "$root/lib/modules"
    cp -a "$work/lib/modules/$kver" "$root/lib/modules/"
    mkdir -p "$root/lib/modules/$kver/extra"
    cp "$out/pvcalls-back.ko" "$root/lib/modules/$kver/extra/"
    chroot "$root" depmod -a "$kver"
    chroot "$root" modinfo -k "$kver" -F vermagic pvcalls-back | grep -q "^$kver " \
        || die "pvcalls-back.ko does not match kernel $kver"
    rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,bug,bash-completion,zoneinfo} \
        "$root"/usr/lib/udev/hwdb.* "$root"/etc/udev/hwdb.* \
        "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*
    echo dom0 >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\tdom0\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
    say "pack dom0 root ($(du -sh "$root" | cut -f1))"
    (cd "$root" && find . -mindepth 1 -print0 | sort -z | cpio --null -o -H newc -R 0:0 --quiet) \
        | gzip -6 >"$out/base.cpio.gz.tmp"
    mv "$out/base.cpio.gz.tmp" "$out/base.cpio.gz"
    say "base.cpio.gz ready ($(du -h "$out/base.cpio.gz" | cut -f1))"
fi

# Xen hypervisor, at the version of the dom0 root's Xen tools: an ELF32 multiboot image for QEMU's -kernel.
if [ ! -s "$out/xen.bin" ]; then
    deb=$(fetch_deb xen-hypervisor-4.17-amd64 "$(cat "$out/xen-tools-version")")
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards './boot/xen-4.17*.gz'
    xz=$(compgen -G "$work/boot/xen-4.17*.gz" | head -n 1) || die "no boot/xen-4.17*.gz in $deb"
    zcat "$xz" >"$out/xen.bin.tmp" && mv "$out/xen.bin.tmp" "$out/xen.bin"
    say "xen.bin ready ($(du -h "$out/xen.bin" | cut -f1))"
fi

{
    echo "abi=$abi"
    echo "xen=$(cat "$out/xen-tools-version")"
    echo "linux=$(pkg_version "linux-image-$kver-unsigned")"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$out/ready"
ln -sfn "$(basename "$out")" "$cache/current"
# Drop older builds and scratch space.
for d in "$cache"/*/; do
    d=${d%/}
    case $(basename "$d") in current | debs | src | debootstrap-debs | "$(basename "$out")") ;; *) rm -rf "$d" ;; esac
done
say "ready: $out"
echo "$out"

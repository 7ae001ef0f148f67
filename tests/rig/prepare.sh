#!/usr/bin/env bash
# Builds and caches the Xen-in-QEMU rig: xen.bin, dom0 vmlinuz, pvcalls-back.ko and the dom0 root cpio.
#
# Usage: tests/rig/prepare.sh        (idempotent; prints the ready cache folder on its last line)
# Cache: ${SKIFF_CACHE:-<repo>/.cache}/rig/<ABI>-<script hash>/, with "current" pointing at it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# What users run in their own dom0 to get a fixed pvcalls-back; the rig runs it in its dom0 root.
dom0_script=$repo/dom0/install-pvcalls-back.sh
cache_root=${SKIFF_CACHE:-$repo/.cache}
cache=$cache_root/rig
suite=bookworm
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

t_start=$SECONDS
say() { printf 'prepare: [%3ds] %s\n' "$((SECONDS - t_start))" "$*" >&2; }
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

# debian_sources: "URI SUITE" for every "deb" source of apt's configuration whose suite is $suite,
# $suite-updates or $suite-security, one-line (sources.list) and deb822 (.sources) files alike.
debian_sources() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk -v s="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
            if ($(i + 1) == s || $(i + 1) == s "-updates" || $(i + 1) == s "-security") print $i, $(i + 1) }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
            { deb = 0; n = 0; delete uris; delete suites
              for (i = 1; i <= NF; i++) {
                if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
                if ($i ~ /^URIs:/) { k = split($i, a, /[ \t]+/); for (j = 2; j <= k; j++) uris[++n] = a[j] }
                if ($i ~ /^Suites:/) { m = split($i, b, /[ \t]+/); for (j = 2; j <= m; j++) suites[j] = b[j] } }
              if (!deb) next
              for (u = 1; u <= n; u++) for (j in suites)
                if (suites[j] == s || suites[j] == s "-updates" || suites[j] == s "-security") print uris[u], suites[j] }' "$f"
    done
}

# The Debian mirror apt already uses (the first source for $suite itself).
detect_mirror() {
    debian_sources | awk -v s="$suite" '$2 == s { print $1; found = 1; exit } END { exit !found }'
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
    k="$1-$(cat "$here/prepare.sh" "$dom0_script" | sha256sum | cut -c1-12)"
    if [ "${RIG_PVCALLS_UNPATCHED:-0}" = 1 ]; then k+=-unpatched; fi
    echo "$k"
}
if [ -n "$abi" ] && [ -s "$cache/$(key "$abi")/ready" ]; then
    out=$cache/$(key "$abi")
    ln -sfn "$(basename "$out")" "$cache/current"
    [ "${PREPARE_QUIET:-0}" = 1 ] || say "cached: $out"
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
    [ "${PREPARE_QUIET:-0}" = 1 ] || say "cached: $out"
    echo "$out"
    exit 0
fi
say "building rig for kernel $kver into $out"
ensure_pkgs debootstrap xz-utils tar
work=$cache/work
rm -rf "$work"
mkdir -p "$work"

# Dom0 kernel and the modules the rig uses (Xen drivers, a NIC for --forward, and for make bench's
# Linux guest netback, netfront and a bridge: tests/bench/linuxguest.sh).
deb=$(fetch_deb "linux-image-$kver-unsigned")
m=./lib/modules/$kver
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards "./boot/vmlinuz-$kver" "./boot/config-$kver" \
    "$m/modules.builtin" "$m/modules.builtin.modinfo" "$m/modules.order" "$m/kernel/drivers/xen/*" \
    "$m/kernel/drivers/net/ethernet/intel/e1000/*" "$m/kernel/drivers/net/xen-netback/*" \
    "$m/kernel/drivers/net/xen-netfront.ko" "$m/kernel/net/bridge/*" "$m/kernel/net/802/*" "$m/kernel/net/llc/*"
cp "$work/boot/vmlinuz-$kver" "$out/vmlinuz"
say "dom0 kernel $kver ready"

# Dom0 root: minbase bookworm with the Xen tools, packed as a gzip'd newc cpio. pvcalls-back is built
# and installed in it by dom0/install-pvcalls-back.sh, as a user would in their dom0 (Debian builds its
# kernel without CONFIG_XEN_PVCALLS_BACKEND): with DKMS, which is removed again afterwards together with
# the compiler and headers, to keep the root small.
if [ ! -s "$out/base.cpio.gz" ]; then
    mirror=$(detect_mirror) \
        || die "no Debian $suite mirror in apt's sources (/etc/apt/sources.list{,.d}); add one, e.g. a 'deb <mirror> $suite main' line"
    root=$work/root
    mkdir -p "$cache/debootstrap-debs" "$cache/dom0-apt"
    say "debootstrap $suite from $mirror"
    debootstrap --variant=minbase --cache-dir="$cache/debootstrap-debs" \
        --include=xen-utils-4.17,xenstore-utils,iproute2,kmod,python3,procps,busybox-static,cpio \
        "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log: $work/debootstrap.log)"; }
    say "debootstrap done ($(du -sh "$root" | cut -f1))"
    # shellcheck disable=SC2016 # dpkg-query's own ${Version}
    chroot "$root" dpkg-query -W -f='${Version}' xen-utils-4.17 >"$out/xen-tools-version"
    mkdir -p "$root/lib/modules"
    cp -a "$work/lib/modules/$kver" "$root/lib/modules/"

    sver=$(pkg_version "linux-image-$kver-unsigned")
    srcdeb=$(fetch_deb linux-source-6.1 "$sver")
    mkdir -p "$root/tmp/skiff-dom0"
    cp "$dom0_script" "$root/tmp/skiff-dom0/"
    ln "$srcdeb" "$root/tmp/skiff-dom0/linux-source.deb" 2>/dev/null || cp "$srcdeb" "$root/tmp/skiff-dom0/linux-source.deb"
    in_root() { chroot "$root" env PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
    mounts=()
    for m in proc sys dev; do mount --bind "/$m" "$root/$m" && mounts+=("$root/$m"); done
    mount --bind "$cache/dom0-apt" "$root/var/cache/apt/archives" && mounts+=("$root/var/cache/apt/archives")
    unmount_root() { local m; for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done; mounts=(); }
    trap unmount_root EXIT
    echo 'APT::Sandbox::User "root";' >"$root/etc/apt/apt.conf.d/99skiff-rig"
    # The same Debian sources as this machine's apt (security updates carry the current kernel ABI).
    debian_sources | awk '{ print "deb", $1, $2, "main" }' >"$root/etc/apt/sources.list"
    say "dom0 root: apt-get install dkms (the script installs the compiler and headers it needs)"
    in_root apt-get update -qq >"$work/dom0-apt.log" 2>&1 \
        && in_root apt-get install -y -qq --no-install-recommends dkms >>"$work/dom0-apt.log" 2>&1 \
        || { tail -n 20 "$work/dom0-apt.log" >&2; die "apt-get install dkms in the dom0 root failed"; }
    flags=(--kernel "$kver" --source-deb /tmp/skiff-dom0/linux-source.deb --no-load)
    [ "${RIG_PVCALLS_UNPATCHED:-0}" != 1 ] || flags+=(--unpatched)
    say "dom0 root: dom0/install-pvcalls-back.sh ${flags[*]}"
    in_root bash /tmp/skiff-dom0/install-pvcalls-back.sh "${flags[@]}" 2>&1 | sed 's/^/    /' >&2 \
        || die "dom0/install-pvcalls-back.sh failed in the dom0 root"
    in_root dkms status -m pvcalls-back-skiff -k "$kver" | grep -q installed \
        || die "pvcalls-back-skiff is not installed in DKMS in the dom0 root"
    ko=$(in_root modinfo -k "$kver" -F filename pvcalls-back) || die "modinfo finds no pvcalls-back for $kver"
    cp "$root$ko" "$out/pvcalls-back.ko"
    say "dom0 root: remove the build tools again"
    in_root apt-get purge -y -qq --autoremove dkms gcc make "linux-headers-$kver" >>"$work/dom0-apt.log" 2>&1 \
        || { tail -n 20 "$work/dom0-apt.log" >&2; die "apt-get purge in the dom0 root failed"; }
    # Purging DKMS may take its modules along: the module stays in place either way.
    if [ ! -s "$root$ko" ]; then
        install -D -m 0644 "$out/pvcalls-back.ko" "$root/lib/modules/$kver/updates/pvcalls-back.ko"
    fi
    rm -f "$root/etc/apt/apt.conf.d/99skiff-rig"
    rm -rf "$root/tmp/skiff-dom0" "$root/var/lib/dkms" "$root"/usr/src/pvcalls-back-skiff-*
    unmount_root
    trap - EXIT
    chroot "$root" depmod -a "$kver"
    chroot "$root" modinfo -k "$kver" -F vermagic pvcalls-back | grep -q "^$kver " \
        || die "pvcalls-back.ko does not match kernel $kver"
    rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,bug,bash-completion,zoneinfo} \
        "$root"/usr/lib/udev/hwdb.* "$root"/etc/udev/hwdb.* \
        "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*
    # The dom0 kernel again, as the kernel of make bench's Linux guest (its initramfs is built in dom0
    # from busybox-static, xen-netfront.ko and the programs: tests/bench/linuxguest.sh).
    install -D -m 0644 "$out/vmlinuz" "$root/boot/vmlinuz"
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

#!/usr/bin/env bash
# Builds the Linux programs of tests/apps (static x86_64 ELF executables Skiff runs unmodified)
# into target/apps/<name>, plus the loader's bad inputs, and prints their sizes:
#   Rust (cargo --locked --release, x86_64-unknown-linux-musl, the toolchain rust-toolchain.toml pins):
#     std-echo std-client tokio-echo axum-server axum-readme threads nosys faults syscall-loop bulk
#   C (musl-gcc -static): c-poll-server
#   bad inputs: not-elf (text), dynamic-hello (the host compiler's dynamic executable, PT_INTERP),
#     wrong-machine (a copy of std-echo whose ELF header says AArch64)
# Installs what is missing: the musl target with rustup, musl-tools (musl-gcc) and gcc with apt-get.
# Checks that every program is a static x86_64 executable (ELF64, EXEC or static PIE, no PT_INTERP,
# no DT_NEEDED) and that each bad input is bad in its one way. Quick when nothing changed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
apps=tests/apps
musl=x86_64-unknown-linux-musl
build=target/apps-build
out=target/apps
rust_programs=(std-echo std-client tokio-echo axum-server axum-readme threads nosys faults syscall-loop bulk)

say() { echo "apps: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# apt_install PACKAGE...: installs Debian packages, refreshing the lists once if needed.
apt_install() {
    command -v apt-get >/dev/null || die "$* needed and there is no apt-get: install $* (or your system's equivalent) and run this again"
    [ "$(id -u)" = 0 ] || die "$* needed: run 'apt-get install $*' as root, then this again"
    say "installing $* with apt-get"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; then
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || die "apt-get could not install $*"
    fi
}

# The pinned toolchain (tests/toolchain.sh installs it if missing), then its musl target.
tests/toolchain.sh
channel=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
[ -n "$channel" ] || die "no channel in rust-toolchain.toml"
if ! rustup target list --installed --toolchain "$channel" | grep -qx "$musl"; then
    say "adding target $musl to Rust $channel"
    rustup target add --toolchain "$channel" "$musl" >&2
fi
command -v musl-gcc >/dev/null || apt_install musl-tools
command -v gcc >/dev/null || apt_install gcc
command -v readelf >/dev/null || apt_install binutils

mkdir -p "$out" "$build/c"

cargo "+$channel" build --locked --release --quiet --target "$musl" \
    --manifest-path "$apps/Cargo.toml" --target-dir "$build"

# newer OUT SRC...: OUT is missing or older than one of SRC (or than this script).
newer() {
    local o=$1 s
    shift
    [ -e "$o" ] || return 0
    for s in "$@" "${BASH_SOURCE[0]}"; do [ "$s" -nt "$o" ] && return 0; done
    return 1
}

if newer "$build/c/c-poll-server" "$apps/c/poll-server.c"; then
    musl-gcc -static -O2 -Wall -Wextra -o "$build/c/c-poll-server" "$apps/c/poll-server.c"
fi
if newer "$build/c/dynamic-hello" "$apps/c/dynamic-hello.c"; then
    gcc -O2 -o "$build/c/dynamic-hello" "$apps/c/dynamic-hello.c"
fi
if newer "$build/c/not-elf"; then
    printf 'This file is not an ELF executable: Skiff must refuse to run it.\n' >"$build/c/not-elf"
fi
if newer "$build/c/wrong-machine" "$build/$musl/release/std-echo"; then
    cp "$build/$musl/release/std-echo" "$build/c/wrong-machine.tmp"
    # e_machine, the 16-bit field at offset 18 of the ELF header: 183 (0xb7) is EM_AARCH64.
    printf '\xb7\x00' | dd of="$build/c/wrong-machine.tmp" bs=1 seek=18 conv=notrunc status=none
    mv "$build/c/wrong-machine.tmp" "$build/c/wrong-machine"
fi

# header FILE FIELD: one field of readelf's file header ("Class", "Type", "Machine").
header() {
    local h
    h=$(LC_ALL=C readelf -h "$1" 2>/dev/null) || return 0
    sed -n "s/^ *$2: *//p" <<<"$h"
}
# has_interp FILE: FILE has a PT_INTERP program header.
has_interp() {
    local l
    l=$(LC_ALL=C readelf -lW "$1" 2>/dev/null) || return 1
    grep -q '^ *INTERP ' <<<"$l"
}

# check_static FILE: a static x86_64 executable, or a message saying what it is not.
check_static() {
    local f=$1 type
    [ "$(header "$f" Class)" = ELF64 ] || {
        echo "not an ELF64 file"
        return
    }
    [ "$(header "$f" Machine)" = "Advanced Micro Devices X86-64" ] || {
        echo "machine is $(header "$f" Machine), not x86_64"
        return
    }
    type=$(header "$f" Type)
    case $type in
        EXEC*) ;;
        DYN*) grep -q '(NEEDED)' <<<"$(LC_ALL=C readelf -dW "$f")" && {
            echo "needs shared libraries"
            return
        } ;;
        *) echo "type $type is not an executable" && return ;;
    esac
    has_interp "$f" && echo "names an interpreter (PT_INTERP)"
    true
}

# ship NAME FILE: copies FILE to target/apps/NAME when it differs.
ship() {
    cmp -s "$2" "$out/$1" || cp "$2" "$out/$1"
}

failed=0
printf '%-15s %9s  %s\n' program bytes kind
for name in "${rust_programs[@]}" c-poll-server; do
    src=$build/$musl/release/$name
    [ "$name" = c-poll-server ] && src=$build/c/$name
    problem=$(check_static "$src")
    if [ -n "$problem" ]; then
        say "$name: $problem"
        failed=1
        continue
    fi
    ship "$name" "$src"
    case $(header "$src" Type) in
        EXEC*) kind="static, non-PIE (EXEC)" ;;
        *) kind="static PIE (DYN, no PT_INTERP)" ;;
    esac
    printf '%-15s %9d  %s\n' "$name" "$(stat -c %s "$out/$name")" "$kind"
done

# The bad inputs must each be bad in the way their name says.
if [ -n "$(header "$build/c/not-elf" Class)" ]; then
    say "not-elf: readelf reads an ELF header"
    failed=1
fi
has_interp "$build/c/dynamic-hello" || {
    say "dynamic-hello: no PT_INTERP"
    failed=1
}
[ "$(header "$build/c/wrong-machine" Machine)" = AArch64 ] || {
    say "wrong-machine: machine is $(header "$build/c/wrong-machine" Machine)"
    failed=1
}
for name in not-elf dynamic-hello wrong-machine; do
    ship "$name" "$build/c/$name"
done
printf '%-15s %9d  %s\n' not-elf "$(stat -c %s "$out/not-elf")" "bad input: text, not an ELF" \
    dynamic-hello "$(stat -c %s "$out/dynamic-hello")" "bad input: dynamically linked (PT_INTERP)" \
    wrong-machine "$(stat -c %s "$out/wrong-machine")" "bad input: ELF for AArch64"
[ "$failed" = 0 ] || die "some programs are not what Skiff runs (above)"
say "programs in $out/"

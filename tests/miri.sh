#!/usr/bin/env bash
# make miri: the pure crates' unit tests under Miri (undefined behaviour, data races, leaks) on the
# nightly pinned in tests/nightly.sh, installing the miri and rust-src components if missing.
# Isolation is off because proptest looks for its failure files; PROPTEST_CASES (default 4) keeps
# property tests short, as Miri runs them about a thousand times slower than native code.
# Usage: tests/miri.sh [CRATE...]   (default: every crate under libs/; then, with no CRATE given,
# kernel/hosttest's rawmem and layout tests: the kernel's shared-memory copies against a peer thread)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=tests/nightly.sh
. tests/nightly.sh
command -v rustup >/dev/null || { echo "miri.sh: rustup is required" >&2; exit 1; }
ensure_nightly
installed=$(rustup component list --toolchain "$NIGHTLY" --installed)
for c in miri rust-src; do
    grep -q "^$c" <<<"$installed" || rustup component add --toolchain "$NIGHTLY" "$c"
done
crates=("$@")
[ ${#crates[@]} -gt 0 ] || crates=(skiff-xen skiff-cmdline skiff-ring skiff-xenstore skiff-pvcalls skiff-net skiff-linux)
args=()
for c in "${crates[@]}"; do args+=(-p "$c"); done
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}" PROPTEST_CASES="${PROPTEST_CASES:-4}"
start=$(date +%s)
cargo "+$NIGHTLY" miri test --locked --lib "${args[@]}"
if [ $# -eq 0 ]; then
    cargo "+$NIGHTLY" miri test --locked -p skiff-kernel-hosttest --test rawmem --test layout
    crates+=("skiff-kernel-hosttest (rawmem, layout)")
fi
echo "miri: ${crates[*]}: unit tests passed under Miri in $(($(date +%s) - start)) s"

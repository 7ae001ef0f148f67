#!/usr/bin/env bash
# Installs what rust-toolchain.toml names (the pinned toolchain, its targets and components) with
# rustup, if any of it is missing; quiet when everything is there. make build, check and test-host
# run it first, so a machine with rustup but without the kernel target builds anyway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
file=rust-toolchain.toml
command -v rustup >/dev/null || { echo "toolchain: rustup is required (https://rustup.rs)" >&2; exit 1; }

# list KEY: the quoted strings of `KEY = [...]` in the toolchain file.
list() { sed -n "s/^$1 *= *\[\(.*\)\]/\1/p" "$file" | tr -d '" ' | tr ',' ' '; }
channel=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$file")
profile=$(sed -n 's/^profile *= *"\(.*\)"/\1/p' "$file")
[ -n "$channel" ] || { echo "toolchain: no channel in $file" >&2; exit 1; }

if ! rustup toolchain list | grep -q "^$channel"; then
    echo "toolchain: installing Rust $channel ($file)" >&2
    rustup toolchain install "$channel" --profile "${profile:-minimal}" >&2
fi
missing_targets=()
installed_targets=$(rustup target list --installed --toolchain "$channel")
for t in $(list targets); do
    grep -qx "$t" <<<"$installed_targets" || missing_targets+=("$t")
done
if [ "${#missing_targets[@]}" -gt 0 ]; then
    echo "toolchain: adding target ${missing_targets[*]} to $channel ($file)" >&2
    rustup target add --toolchain "$channel" "${missing_targets[@]}" >&2
fi
missing_components=()
installed_components=$(rustup component list --installed --toolchain "$channel")
for c in $(list components); do
    grep -q "^$c" <<<"$installed_components" || missing_components+=("$c")
done
if [ "${#missing_components[@]}" -gt 0 ]; then
    echo "toolchain: adding ${missing_components[*]} to $channel ($file)" >&2
    rustup component add --toolchain "$channel" "${missing_components[@]}" >&2
fi

#!/usr/bin/env bash
# The one pinned nightly toolchain (cargo-fuzz needs nightly for its sanitizers and coverage).
# Source it for $NIGHTLY and ensure_nightly; run it to install that toolchain if it is missing
# (rustup, minimal profile: rustc, cargo and the standard library are all the fuzz targets use).
NIGHTLY=nightly-2026-10-01

ensure_nightly() {
    if ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1; then
        rustup toolchain install "$NIGHTLY" --profile minimal
    fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    command -v rustup >/dev/null || { echo "nightly.sh: rustup is required" >&2; exit 1; }
    ensure_nightly
    rustup run "$NIGHTLY" rustc --version
fi

#!/usr/bin/env bash
# Runs the in-process sync tests (heap memory, threads) under Miri. Needs a
# nightly toolchain with the miri component; skips with a note if absent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "== miri: skipped (no nightly toolchain with miri; rustup +nightly component add miri)"
  exit 0
fi
echo "== miri"
cargo +nightly miri test -p shmkit --lib sync

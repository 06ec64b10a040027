#!/usr/bin/env bash
# The library's in-process tests under Miri, on heap memory: atomic copies,
# layout encoding and decoding, names, the sync primitives, and the queues'
# and broadcast's index protocols on heap-backed rings.
#
# -Zmiri-disable-weak-memory-emulation: the atomic copies access the same
# bytes with atomics of different widths at different times (as peers in
# different processes may), which Miri's store-buffer emulation cannot model
# (it stops with an internal error, not a finding). Sequentially consistent
# checking still catches data races, out-of-bounds, misaligned and
# uninitialised accesses.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  # The machine has a nightly toolchain; Miri is a component of it.
  rustup component add --toolchain nightly miri rust-src || true
fi
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "== miri: skipped (no nightly toolchain with the miri component could be installed)"
  exit 0
fi
echo "== miri: shmkit lib tests"
MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-disable-weak-memory-emulation" \
  cargo +nightly miri test -p shmkit --lib

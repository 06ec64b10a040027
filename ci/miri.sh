#!/usr/bin/env bash
# The library's in-process tests (atomic copies, layout encoding and
# decoding, names) under Miri, on heap memory.
#
# -Zmiri-disable-weak-memory-emulation: the copy tests deliberately access
# the same bytes with atomics of different widths (as peers in different
# processes may), which Miri's weak-memory emulation cannot model (it stops
# with an internal error). Sequentially consistent checking still catches
# out-of-bounds, misaligned and uninitialised accesses.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal --component miri rust-src
fi
echo "== miri: shmkit lib tests"
MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-disable-weak-memory-emulation" \
  cargo +nightly miri test -p shmkit --lib

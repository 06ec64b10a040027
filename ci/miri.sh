#!/usr/bin/env bash
# The queues' index protocols under Miri, on heap-backed rings (the unit
# tests of queue::spsc, queue::mpmc and broadcast), where a nightly toolchain
# with Miri is installed; skipped with a note otherwise (CI machines cannot
# download toolchains).
#
# -Zmiri-disable-weak-memory-emulation: Miri's store-buffer emulation
# crashes (an internal error, not a finding) on the atomic copies, which
# store a range with different widths at different times.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "== miri: skipped (no nightly toolchain with the miri component)"
  exit 0
fi
echo "== miri: queue and broadcast unit tests on heap memory"
MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-weak-memory-emulation}" \
  cargo +nightly miri test -p shmkit --lib -- queue broadcast

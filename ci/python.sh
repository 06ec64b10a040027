#!/usr/bin/env bash
# CI step for the Python package (crates/shmkit-py): fmt and clippy of the
# crate, then a fresh venv with maturin, pytest and numpy, `pip install` of
# the package as a user would, and the pytest suite on a private /dev/shm
# that must be left empty (ci/clean-shm.sh). pytest's exit code 5 (no tests
# collected) is a failure.
#
#   bash ci/python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
crate=crates/shmkit-py
start=$(date +%s)

if ! command -v python3 >/dev/null; then
  echo "== python: SKIPPED, no python3 on this machine" >&2
  exit 0
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "== python: SKIPPED, python3 is $(python3 -V 2>&1); the package needs 3.11 or later" >&2
  exit 0
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "== python: installing python3-venv"
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi

echo "== python: cargo fmt --check and clippy of $crate"
cargo fmt --manifest-path "$crate/Cargo.toml" -- --check
target=${CARGO_TARGET_DIR:-$PWD/target}/py
CARGO_TARGET_DIR=$target cargo clippy --manifest-path "$crate/Cargo.toml" --all-targets -- -D warnings

venv=${SHMKIT_PY_VENV:-$target/venv}
echo "== python: a fresh venv at $venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q maturin pytest numpy

echo "== python: pip install ./$crate"
CARGO_TARGET_DIR=$target "$venv/bin/pip" install -q "./$crate"

echo "== python: the Rust programs the tests talk to (rust_peer, the shmkit CLI)"
CARGO_TARGET_DIR=$target cargo build -q --manifest-path "$crate/Cargo.toml" --example rust_peer
export SHMKIT_RUST_PEER=$target/debug/examples/rust_peer
cargo build -q -p shmkit-cli
export SHMKIT_CLI=${CARGO_TARGET_DIR:-$PWD/target}/debug/shmkit

echo "== python: pytest"
# From the repository root: the installed package is what is imported.
status=0
bash ci/clean-shm.sh "$venv/bin/python" -m pytest -q -p no:cacheprovider "$crate/tests" || status=$?
if [ "$status" -eq 5 ]; then
  echo "== python: pytest collected no tests: that is a failure" >&2
  exit 1
fi
[ "$status" -eq 0 ] || exit "$status"

# A Windows wheel, cross-built (no Windows Python here to smoke-test it
# with: see docs/python.md).
if rustup target list --installed 2>/dev/null | grep -qx x86_64-pc-windows-gnu \
  && command -v x86_64-w64-mingw32-gcc >/dev/null; then
  echo "== python: maturin build --target x86_64-pc-windows-gnu"
  (cd "$crate" && CARGO_TARGET_DIR=$target "$venv/bin/maturin" build -q --release \
    --target x86_64-pc-windows-gnu -i python3.11 -o "$target/wheels")
  ls "$target"/wheels/*win_amd64.whl
else
  echo "== python: Windows wheel SKIPPED: needs the x86_64-pc-windows-gnu rustup target and" \
    "gcc-mingw-w64-x86-64 (ci/windows.sh installs both)"
fi
echo "== python: passed in $(( $(date +%s) - start )) s"

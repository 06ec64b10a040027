#!/usr/bin/env bash
# The Windows backend, cross-built on Linux and run under Wine: clippy for
# x86_64-pc-windows-gnu, then the unit, integration and doc tests under Wine
# (runner: ci/wine-runner.sh, set in .cargo/config.toml). Runs locally too;
# installs what is missing (root, Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-pc-windows-gnu

echo "== windows: toolchain"
if ! command -v x86_64-w64-mingw32-gcc >/dev/null || ! [ -x /usr/lib/wine/wine64 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # What was verified to work here (wine64 with its recommends).
  apt-get install -y -qq gcc-mingw-w64-x86-64 wine64 wine >/dev/null
fi
rustup target add "$target"

# Rust's std imports ProcessPrng from bcryptprimitives.dll, which Debian 12's
# Wine 8 lacks; the runner puts this stand-in on Wine's DLL search path.
mkdir -p target/wine-shim
x86_64-w64-mingw32-gcc -shared -O2 -o target/wine-shim/bcryptprimitives.dll \
  ci/wine/bcryptprimitives.c ci/wine/bcryptprimitives.def -ladvapi32

echo "== windows: clippy --target $target"
cargo clippy --workspace --all-targets --target "$target" -- -D warnings

echo "== windows: tests under Wine"
export WINEPREFIX="$PWD/target/wine-prefix"
status=0
timeout 900 cargo test --workspace --target "$target" || status=$?
# Stop this prefix's wineserver (it would linger a few seconds otherwise).
/usr/lib/wine/wineserver -k 2>/dev/null || true
exit "$status"

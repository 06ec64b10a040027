#!/usr/bin/env bash
# Cargo's runner for x86_64-pc-windows-gnu (see .cargo/config.toml): runs a
# Windows executable under Wine 64-bit, quietly, in a prefix under target/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export WINEDEBUG="${WINEDEBUG:--all}"
export WINEPREFIX="${WINEPREFIX:-$root/target/wine-prefix}"
# No Mono/Gecko install prompts when the prefix is first made.
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
wine=/usr/lib/wine/wine64
[ -x "$wine" ] || wine="$(command -v wine64 || command -v wine)"
# Rust's std needs bcryptprimitives.dll, which Wine 8 lacks: ci/windows.sh
# builds a stand-in into target/wine-shim, found through the DLL search path.
export WINEPATH="Z:${root//\//\\}\\target\\wine-shim${WINEPATH:+;$WINEPATH}"
exec "$wine" "$@"

#!/usr/bin/env bash
# Model-checks the sync primitives' protocols (lock word, seqlock, event word)
# with loom. A separate target dir keeps the cfg(loom) build from evicting the
# normal one.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== loom"
RUSTFLAGS="--cfg loom" cargo test -p shmkit --lib --release --target-dir target/loom sync::loom

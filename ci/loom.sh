#!/usr/bin/env bash
# Loom models of every lock-free protocol: the sync primitives' words (lock
# word, seqlock, event word) and the queues' indices (SPSC records across the
# wrap, MPMC slot claims, broadcast seqlock slots), and the waiter protocol
# of the wake words that blocking endpoints and the WaitSet (and so the async
# reactor) arm before they sleep: every interleaving within
# a preemption bound. Release mode keeps it to about a minute; a separate
# target dir keeps the cfg(loom) build from evicting the normal one.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== loom models"
RUSTFLAGS="--cfg loom" cargo test -p shmkit --lib --release --target-dir target/loom loom_tests

#!/usr/bin/env bash
# Loom models of the queues' index protocols (SPSC records across the wrap,
# MPMC slot claims, broadcast seqlock slots): every interleaving, within a
# preemption bound. Release mode keeps it to about half a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== loom models"
RUSTFLAGS="--cfg loom" cargo test -p shmkit --lib --release --target-dir target/loom loom_tests

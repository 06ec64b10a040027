#!/usr/bin/env bash
# The library's API docs build without a rustdoc warning: broken or
# redundant intra-doc links, unescaped backticks (a `|` inside a code span
# in a table splits the row), bare URLs, invalid HTML or code blocks. The
# doctests themselves run with the test suite (`cargo test --workspace`).
# Runs locally too; needs only cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== rustdoc: cargo doc -p shmkit -p shmkit-derive --no-deps, every rustdoc lint an error"
RUSTDOCFLAGS="-D warnings -W rustdoc::all" \
  cargo doc -p shmkit -p shmkit-derive --no-deps

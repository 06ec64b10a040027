#!/usr/bin/env bash
# Keeps the OS branches that this machine cannot run compiling: clippy on
# macOS (both architectures) and FreeBSD, all targets, warnings denied.
set -euo pipefail
for target in aarch64-apple-darwin x86_64-apple-darwin x86_64-unknown-freebsd; do
  echo "== clippy --target $target"
  cargo clippy --workspace --all-targets --target "$target" -- -D warnings
done

#!/usr/bin/env bash
# Installs what the checks need on a fresh machine: the toolchain components
# and the cross-check targets. Safe to run again.
set -euo pipefail
rustup component add rustfmt clippy
rustup target add aarch64-apple-darwin x86_64-apple-darwin x86_64-unknown-freebsd

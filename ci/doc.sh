#!/usr/bin/env bash
# Documentation checks: rustdoc builds without a warning of any rustdoc lint,
# and no text in the project reads as a development diary.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== rustdoc: shmkit and shmkit-derive, every rustdoc lint an error"
RUSTDOCFLAGS="-D warnings -W rustdoc::all" \
  cargo doc -p shmkit -p shmkit-derive --no-deps --target-dir target/doc-check

echo "== no development diary in the README, docs or sources"
if grep -rniE 'session [0-9]|this VM' README.md CONTRIBUTING.md docs crates \
  --include='*.md' --include='*.rs' --include='*.py' --include='*.pyi' --include='*.toml'; then
  echo "doc: the lines above name development sessions or the machine; state the design instead" >&2
  exit 1
fi

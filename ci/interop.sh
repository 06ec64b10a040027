#!/usr/bin/env bash
# 32-bit and 64-bit processes sharing memory. Checks and tests shmkit as an
# i686-unknown-linux-gnu (32-bit) library, then runs tests/interop.rs both
# ways: the 64-bit test binary as the parent of the 32-bit one, then the
# 32-bit one as the parent of the 64-bit one (SHMKIT_PEER_EXE names the
# peer). Runs locally too; installs what is missing (root, Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
target=i686-unknown-linux-gnu

echo "== interop: toolchain"
rustup target add "$target"
# Linking 32-bit binaries needs gcc's 32-bit support and libc (gcc-multilib).
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
if ! echo 'int main(void) { return 0; }' | gcc -m32 -x c - -o "$probe/a.out" 2>/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq gcc-multilib >/dev/null
fi

echo "== interop: clippy --target $target"
cargo clippy -p shmkit --all-targets --target "$target" -- -D warnings

echo "== interop: shmkit's tests in a 32-bit process"
cargo test -p shmkit --target "$target"

# The path of the interop test binary that cargo builds with "$@".
interop_exe() {
  cargo test -p shmkit --test interop --no-run --message-format=json "$@" |
    sed -n 's/.*"target":{[^}]*"name":"interop".*"executable":"\([^"]*\)".*/\1/p' | tail -n 1
}
exe64=$(interop_exe)
exe32=$(interop_exe --target "$target")
if [ ! -x "$exe64" ] || [ ! -x "$exe32" ]; then
  echo "interop: test binaries not found (64-bit: '$exe64', 32-bit: '$exe32')" >&2
  exit 1
fi

# The tests that need a peer are #[ignore]d for plain `cargo test`; here
# every test of the file must run and pass, or the 32-bit run did not happen.
expected=$(grep -c '^#\[test\]' crates/shmkit/tests/interop.rs)
log=$(mktemp)
trap 'rm -rf "$probe" "$log"' EXIT
run_interop() {
  cargo test -p shmkit --test interop "$@" -- --include-ignored 2>&1 | tee "$log"
  if ! grep -q "^test result: ok\. $expected passed; 0 failed; 0 ignored" "$log"; then
    echo "interop: expected all $expected tests of tests/interop.rs to run and pass" >&2
    exit 1
  fi
}

echo "== interop: 64-bit parent, 32-bit peer"
SHMKIT_PEER_EXE="$exe32" run_interop
echo "== interop: 32-bit parent, 64-bit peer"
SHMKIT_PEER_EXE="$exe64" run_interop --target "$target"

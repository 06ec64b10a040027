#!/usr/bin/env bash
# The library's tests under a sanitizer: the unit tests and every
# integration test binary (segment, shared, sync, queue, broadcast,
# hostile), cross-process ones included. A child process re-executes the
# same sanitized test binary, so every process of a test is checked.
#
#   bash ci/sanitize.sh                                # AddressSanitizer (CI)
#   bash ci/sanitize.sh --test queue                   # one test binary
#   SHMKIT_SANITIZER=thread bash ci/sanitize.sh --lib  # ThreadSanitizer
#
# AddressSanitizer is the CI job: about 3 minutes from cold on 2 cores,
# 1.5 warm. ThreadSanitizer is for local runs: it slows the million-message
# tests to minutes, a timing-bound test (`seqlock_4k_payload_is_never_torn_
# and_survives_writer_kill`, 20,000 reads in 30 s) then fails for lack of
# speed, and it cannot see the other process of a cross-process test at all;
# the in-process protocols it would check are model-checked by loom and run
# under Miri (ci/loom.sh, ci/miri.sh).
#
# `--cfg rustix_use_libc`: rustix otherwise makes raw system calls, which the
# sanitizers' interceptors never see; ThreadSanitizer then misses the munmap
# of one test's segment and reports a race with the next mapping at the same
# address, and AddressSanitizer cannot check the buffers of read/write-like
# calls.
set -euo pipefail
cd "$(dirname "$0")/.."

san="${SHMKIT_SANITIZER:-address}"
target=x86_64-unknown-linux-gnu

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "sanitize: needs a nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
# -Zbuild-std rebuilds the standard library with the sanitizer, from rust-src.
rustup component add rust-src --toolchain nightly || true
if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    echo "sanitize: needs rust-src for nightly (rustup component add rust-src --toolchain nightly)" >&2
    exit 1
fi

select=("$@")
if [ ${#select[@]} -eq 0 ]; then
    select=(--tests)
fi

echo "== sanitize ($san): shmkit ${select[*]}"
start=$(date +%s)
# --target keeps RUSTFLAGS off the proc-macro (shmkit-derive), built for the
# host; its own target dir keeps the normal build warm.
RUSTFLAGS="-Zsanitizer=$san --cfg rustix_use_libc" \
    cargo +nightly test -p shmkit "${select[@]}" -Zbuild-std --target "$target" \
    --target-dir "target/sanitize/$san"
echo "== sanitize ($san): passed in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# Fuzzes every target in fuzz/ for a fixed time from the committed seed
# corpus (fuzz/corpus/<target>) and seeds the library writes now
# (fuzz/corpus-fresh, ignored); fails on the first crash, hang or leak.
#
#   SHMKIT_FUZZ_SECONDS=60 bash ci/fuzz.sh            # all targets, 60 s each
#   SHMKIT_FUZZ_SECONDS=60 bash ci/fuzz.sh spsc_consumer
#
# Needs a nightly toolchain (libFuzzer's sanitizer flags); installs
# cargo-fuzz if it is missing. New corpus entries go to a scratch directory
# (fuzz/corpus-run, ignored), so the committed corpus stays small; a crash
# leaves its input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${SHMKIT_FUZZ_SECONDS:-30}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(header_layout field_decoder spsc_consumer mpmc_consumer broadcast_subscriber guard_registry)
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: needs a nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# Seeds written by this very library as well as the committed ones: a
# format change that the committed seeds predate would otherwise leave every
# seed refused by the first header check, and the run would start blind.
echo "== fuzz: seeds at the current formats (fuzz/corpus-fresh)"
rm -rf fuzz/corpus-fresh
cargo run -q -p shmkit --features fuzzing --example fuzz_seeds -- fuzz/corpus-fresh

cd fuzz
echo "== fuzz: building the targets (nightly, release with debug assertions)"
cargo +nightly fuzz build

summary=()
for t in "${targets[@]}"; do
    echo "== fuzz: $t for ${secs}s"
    scratch="corpus-run/$t"
    rm -rf "$scratch"
    mkdir -p "$scratch" "artifacts/$t" "corpus/$t" "corpus-fresh/$t"
    log="$(mktemp)"
    # -max_len: queue images are a few KiB; -timeout: a slow input is a hang.
    if ! cargo +nightly fuzz run "$t" "$scratch" "corpus/$t" "corpus-fresh/$t" -- \
        -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz: $t failed; the input is in fuzz/artifacts/$t/" >&2
        exit 1
    fi
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    rm -f "$log"
    summary+=("$t: $runs executions in ${secs}s")
done

echo "== fuzz: all targets ran clean"
printf '  %s\n' "${summary[@]}"

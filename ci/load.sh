#!/usr/bin/env bash
# The kill table of tests/faults.rs (every failpoint of every SPSC, MPMC,
# broadcast, mutex, seqlock and event case, with a real kill -9) under load:
# one busy process per CPU runs for the whole step, so that the survivors
# are preempted and slowed as on a loaded machine, where races between a
# dead peer's leftovers and live peers show. SHMKIT_LOAD_RUNS sets how many
# times the table runs (default 20). Runs locally too.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${SHMKIT_LOAD_RUNS:-20}
test=kill_at_every_failpoint_and_survivors_recover_as_documented

exe=$(cargo test -p shmkit --test faults --no-run --message-format=json |
  sed -n 's/.*"target":{[^}]*"name":"faults".*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
if [ ! -x "$exe" ]; then
  echo "load: the faults test binary was not found ('$exe')" >&2
  exit 1
fi

cpus=$(nproc)
busy=()
stop_busy() {
  if [ ${#busy[@]} -gt 0 ]; then
    kill "${busy[@]}" 2>/dev/null || true
    wait "${busy[@]}" 2>/dev/null || true
  fi
}
trap stop_busy EXIT
for _ in $(seq "$cpus"); do
  yes >/dev/null &
  busy+=($!)
done

echo "== load: the kill table $runs times, $cpus busy processes"
log=$(mktemp)
for i in $(seq "$runs"); do
  start=$SECONDS
  # Bounded: a hang is a failure, not a stuck CI.
  if ! timeout 600 "$exe" --exact "$test" --test-threads=1 >"$log" 2>&1; then
    cat "$log"
    echo "load: run $i of $runs failed" >&2
    exit 1
  fi
  if ! grep -q "test result: ok. 1 passed" "$log"; then
    cat "$log"
    echo "load: run $i of $runs did not run the kill table" >&2
    exit 1
  fi
  echo "load: run $i of $runs passed in $((SECONDS - start)) s"
done
rm -f "$log"
echo "== load: $runs of $runs passed"

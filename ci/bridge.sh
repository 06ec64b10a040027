#!/usr/bin/env bash
# The Zenoh bridge across three "hosts": network namespaces A, B and C,
# A joined to B and to C by veth pairs, each host with its own tmpfs on
# /dev/shm (its own mount namespace), so that nothing can pass through
# shared memory. Traffic only between the addresses assigned here, scouting
# off. Needs root (ip netns, mount); skips with the reason where namespaces
# cannot be made.
#
# Builds bridge/ (its own workspace) into bridge/target, or $BRIDGE_TARGET_DIR.
# BENCH=1 adds the benchmark (BENCH_N, BENCH_NK, BENCH_NS, BENCH_WINDOW).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
start=$SECONDS

say() { echo "ci/bridge.sh: $*"; }
fail() { say "FAILED: $*"; exit 1; }

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v unshare >/dev/null \
    || ! command -v nsenter >/dev/null; then
    say "skipped: needs root with ip, unshare and nsenter to make network and mount namespaces"
    exit 0
fi
probe_ns="shmkbprobe$$"
if ! ip netns add "$probe_ns" 2>/dev/null; then
    say "skipped: cannot create network namespaces here (ip netns add failed)"
    exit 0
fi
ip netns del "$probe_ns"

command -v cargo >/dev/null || fail "cargo not found"
export CARGO_TARGET_DIR="${BRIDGE_TARGET_DIR:-$ROOT/bridge/target}"
b0=$SECONDS
(cd bridge && cargo build --release --locked --bins --examples)
(cd bridge && cargo test --release --locked --lib --bins)
say "build and unit tests: $((SECONDS - b0)) s"
# BRIDGE_BIN: another build of the bridge to run instead (to compare two
# versions in the benchmark, each in its own run of this script).
BR="${BRIDGE_BIN:-$CARGO_TARGET_DIR/release/shmkit-bridge}"
PROBE="$CARGO_TARGET_DIR/release/examples/probe"

N="shmkb$$"
WORK=$(mktemp -d /tmp/shmkit-bridge-ci.XXXXXX)
PIDS=()
declare -A HOLD
cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for h in "${HOLD[@]}"; do kill -9 "$h" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for x in a b c; do ip netns del "$N$x" 2>/dev/null || true; done
    if [ $rc != 0 ]; then
        for f in "$WORK"/*.log; do echo "---- $f"; tail -n 20 "$f"; done
    fi
    [ -n "${KEEP:-}" ] && say "logs kept in $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

for x in a b c; do ip netns add "$N$x"; ip -n "$N$x" link set lo up; done
ip link add "${N}ab" type veth peer name "${N}ba"
ip link add "${N}ac" type veth peer name "${N}ca"
ip link set "${N}ab" netns "${N}a"; ip link set "${N}ba" netns "${N}b"
ip link set "${N}ac" netns "${N}a"; ip link set "${N}ca" netns "${N}c"
ip -n "${N}a" addr add 10.77.1.1/24 dev "${N}ab"; ip -n "${N}b" addr add 10.77.1.2/24 dev "${N}ba"
ip -n "${N}a" addr add 10.77.2.1/24 dev "${N}ac"; ip -n "${N}c" addr add 10.77.2.2/24 dev "${N}ca"
for l in a:ab a:ac b:ba c:ca; do ip -n "$N${l%%:*}" link set "$N${l##*:}" up; done

# One mount namespace per host, with its own /dev/shm, held by a sleeper;
# every process of the host joins it (and the host's network namespace).
for x in a b c; do
    ip netns exec "$N$x" unshare -m --propagation private \
        sh -c 'mount -t tmpfs -o size=512m tmpfs /dev/shm && exec sleep 100000' &
    HOLD[$x]=$!
done
sleep 0.5
for x in a b c; do
    nsenter -t "${HOLD[$x]}" -m -- sh -c 'mount | grep -q " /dev/shm type tmpfs"' \
        || fail "host $x has no private /dev/shm"
done
host() { local x=$1; shift; nsenter -t "${HOLD[$x]}" -m -n -- "$@"; }
# bg NAME HOST CMD...: runs in the background, output in $WORK/NAME.log.
# (nsenter execs the command, so $! is its pid: a kill -9 reaches it.)
bg() {
    local n=$1 x=$2; shift 2
    nsenter -t "${HOLD[$x]}" -m -n -- "$@" >"$WORK/$n.log" 2>&1 &
    PIDS+=($!); eval "PID_$n=$!"
}
# wait_for FILE PATTERN SECONDS
wait_for() {
    local end=$((SECONDS + $3))
    while ! grep -q -- "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $end ] || fail "no '$2' in $(basename "$1") within $3 s"
        sleep 0.05
    done
}
# field LOG KEY: the value of KEY= on the last line of LOG that has it.
field() { grep -o "$2=[^ ]*" "$1" | tail -n 1 | cut -d= -f2; }

LEASE=2000
TOPICS="t1 t2 t3 t4 t5"
bg bridge_a a "$BR" --listen tcp/10.77.1.1:7447 --listen tcp/10.77.2.1:7447 \
    --export $TOPICS nosuch --lease-ms $LEASE --status-ms 200 --json
bg bridge_b b "$BR" --connect tcp/10.77.1.1:7447 --import $TOPICS nosuch \
    --lease-ms $LEASE --status-ms 200 --json
bg bridge_c c "$BR" --connect tcp/10.77.2.1:7447 --import t1 --lease-ms $LEASE --status-ms 200

# 1. 100,000 checksummed messages of mixed sizes (8 B to 8 KiB) reach B and C
#    in order, none lost, none repeated, none damaged.
t=$SECONDS
bg pub1 a "$PROBE" pub t1 100000 8192 8192 "$WORK/go1" 500
bg sub1b b "$PROBE" sub t1 20
bg sub1c c "$PROBE" sub t1 20
wait_for "$WORK/sub1b.log" ready 60
wait_for "$WORK/sub1c.log" ready 60
touch "$WORK/go1"
wait_for "$WORK/pub1.log" "sent 100000" 120
for s in sub1b sub1c; do
    wait_for "$WORK/$s.log" "end=" 120
    line=$(tail -n 1 "$WORK/$s.log")
    [ "$line" = "received=100000 missed=0 end=Closed bad=0" ] || fail "$s: $line"
done
say "100,000 messages to B and C, in order, none lost: ok ($((SECONDS - t)) s)"

# 1b. The same through an exporter that polls (--poll-us) before it parks.
t=$SECONDS
bg bridge_p a "$BR" --listen tcp/10.77.1.1:7449 --export p1 --poll-us 500 --lease-ms $LEASE \
    --status-ms 200
bg bridge_q b "$BR" --connect tcp/10.77.1.1:7449 --import p1 --lease-ms $LEASE --status-ms 200
bg pubp a "$PROBE" pub p1 20000 8192 8192 "$WORK/gop" 500
bg subp b "$PROBE" sub p1 20
wait_for "$WORK/subp.log" ready 60
touch "$WORK/gop"
wait_for "$WORK/pubp.log" "sent 20000" 120
wait_for "$WORK/subp.log" "end=" 120
line=$(tail -n 1 "$WORK/subp.log")
[ "$line" = "received=20000 missed=0 end=Closed bad=0" ] || fail "subp: $line"
say "20,000 messages through a polling exporter, in order, none lost: ok ($((SECONDS - t)) s)"

# 2. A slow subscriber on B: Lagged, and received + missed == sent.
t=$SECONDS
bg pub2 a "$PROBE" pub t2 20000 64 256 "$WORK/go2" 500
bg sub2 b "$PROBE" sub t2 20 200
wait_for "$WORK/sub2.log" ready 60
touch "$WORK/go2"
wait_for "$WORK/sub2.log" "end=" 120
got=$(field "$WORK/sub2.log" received); missed=$(field "$WORK/sub2.log" missed)
[ "$(field "$WORK/sub2.log" bad)" = 0 ] || fail "sub2: $(tail -n 1 "$WORK/sub2.log")"
[ "$(field "$WORK/sub2.log" end)" = Closed ] || fail "sub2: $(tail -n 1 "$WORK/sub2.log")"
[ "$missed" -gt 0 ] || fail "the slow subscriber missed nothing: $(tail -n 1 "$WORK/sub2.log")"
[ $((got + missed)) = 20000 ] || fail "slow: received $got + missed $missed != 20000"
say "slow subscriber: received $got + missed $missed = 20000: ok ($((SECONDS - t)) s)"

# 3. kill -9 of the publisher on A: PeerDied on B within the lease.
bg pub3 a "$PROBE" pub t3 1000 64 256 "$WORK/go3" 600000
bg sub3 b "$PROBE" sub t3 30
wait_for "$WORK/sub3.log" ready 60
touch "$WORK/go3"
wait_for "$WORK/pub3.log" "sent 1000" 60
sleep 0.3
k0=$(date +%s%N)
kill -9 "$PID_pub3"
set +e; wait "$PID_pub3"; st=$?; set -e
[ $st = 137 ] || fail "the publisher ended with status $st, not by SIGKILL (137)"
wait_for "$WORK/sub3.log" "end=" 10
k_ms=$((($(date +%s%N) - k0) / 1000000))
line=$(tail -n 1 "$WORK/sub3.log")
got=$(field "$WORK/sub3.log" received); missed=$(field "$WORK/sub3.log" missed)
[ "$(field "$WORK/sub3.log" end)" = PeerDied ] && [ "$(field "$WORK/sub3.log" bad)" = 0 ] \
    && [ $((got + missed)) = 1000 ] || fail "sub3: $line"
[ $k_ms -le $LEASE ] || fail "PeerDied after $k_ms ms, lease $LEASE ms"
say "kill -9 of the publisher on A: PeerDied on B after $k_ms ms (lease $LEASE ms): ok"

# 4. The link A-B goes down: detected within the lease (plus its check
#    period); when it is back, traffic resumes. C, on the other link, goes on.
bg pub4 a "$PROBE" pub t4 12000 1024 256 "$WORK/go4" 500 1000
bg sub4 b "$PROBE" sub t4 30 0 resume
wait_for "$WORK/sub4.log" ready 60
touch "$WORK/go4"
sleep 2
d0=$(date +%s%N)
ip -n "${N}a" link set "${N}ab" down
wait_for "$WORK/sub4.log" "died" $((LEASE / 1000 + 10))
d_ms=$((($(date +%s%N) - d0) / 1000000))
before=$(grep -o 'died received=[0-9]*' "$WORK/sub4.log" | cut -d= -f2)
ip -n "${N}a" link set "${N}ab" up
u0=$SECONDS
wait_for "$WORK/sub4.log" resumed 30
wait_for "$WORK/sub4.log" "end=" 60
after=$(field "$WORK/sub4.log" received)
[ "$(field "$WORK/sub4.log" bad)" = 0 ] || fail "sub4: $(tail -n 1 "$WORK/sub4.log")"
[ "$after" -gt "$before" ] || fail "no traffic after the link came back: $(tail -n 3 "$WORK/sub4.log")"
[ $d_ms -le $((LEASE + 1500)) ] || fail "link loss noticed after $d_ms ms, lease $LEASE ms"
say "link down noticed after $d_ms ms (lease $LEASE ms), $before received before; resumed: $after received after: ok"

# 5. Bad input, each refused or dropped and counted, none fatal.
#  a. an exported name that does not exist; an import nobody exports.
jq_ok() { grep "\"name\":\"$2\"" "$1" | tail -n 1 | grep -q -- "$3"; }
wait_for "$WORK/bridge_a.log" '"name":"nosuch","state":"refused"' 10
jq_ok "$WORK/bridge_a.log" nosuch 'no segment named' || fail "no refusal of nosuch on A"
wait_for "$WORK/bridge_b.log" '"name":"nosuch","state":"waiting for the exporter"' 10
#  b. a geometry mismatch with an existing local topic on B.
bg hold5b b "$PROBE" hold t5 16 64 60
wait_for "$WORK/hold5b.log" holding 10
bg hold5a a "$PROBE" hold t5 1024 256 60
wait_for "$WORK/bridge_b.log" '"name":"t5","state":"refused".*geometry mismatch' 20
#  c. a foreign zenoh peer on the keys: holes, garbage, an oversized and a
#     stale message. The subscriber sees good messages once, in order, and
#     received + missed is every number the peer used (holes and the
#     oversized one count as missed; garbage and the stale one as nothing).
bg fake a "$PROBE" fake tcp/10.77.1.1:7448 fk f1 2000
bg bridge_f b "$BR" --connect tcp/10.77.1.1:7448 --prefix fk --import f1 --status-ms 200 --json
bg subf b "$PROBE" sub f1 20
wait_for "$WORK/fake.log" "holes=" 60
wait_for "$WORK/subf.log" "end=" 30
holes=$(field "$WORK/fake.log" holes); sent=$(field "$WORK/fake.log" sent)
line=$(tail -n 1 "$WORK/subf.log")
got=$(field "$WORK/subf.log" received); missed=$(field "$WORK/subf.log" missed)
# The subscriber may also be lapped locally (the fake peer does not pace
# itself): then it misses more than the holes, and the sum still holds.
[ "$(field "$WORK/subf.log" end)" = Closed ] && [ "$(field "$WORK/subf.log" bad)" = 0 ] \
    && [ "$missed" -ge "$holes" ] && [ $((got + missed)) = $((sent + holes)) ] \
    || fail "foreign peer: $line (sent $sent, holes $holes)"
sleep 0.5
f=$(grep '"name":"f1"' "$WORK/bridge_f.log" | tail -n 1)
echo "$f" | grep -q '"oversized":1,"garbage":3,"stale":1' || fail "bridge status: $f"
say "bad input: unknown names, geometry mismatch, garbage, oversized, stale: ok"

# Benchmark (BENCH=1; not part of CI): round trips A -> B -> A across the
# veth, raw zenoh pub/sub against the bridge, and the local round trip on A
# with and without the bridge exporting it. Figures for docs/bridge.md.
if [ -n "${BENCH:-}" ]; then
    n64=${BENCH_N:-3000}; n64k=${BENCH_NK:-500}
    nstream=${BENCH_NS:-5000}; win=${BENCH_WINDOW:-64}
    # POLL: the --poll-us of the polling rows, and the raw zenoh rows'
    # equivalent (each of ping and pong polls that long before it blocks).
    poll=${BENCH_POLL:-1000}
    out="$WORK/bench.txt"
    # The bridge, parking at once (the default) and polling: topics
    # bping/bpong through one pair of bridges, qping/qpong through another.
    # They run through all rounds, idle while the raw zenoh rows run.
    bg bba a "$BR" --listen tcp/10.77.1.1:7461 --export bping --import bpong --status-ms 100000
    bg bbb b "$BR" --connect tcp/10.77.1.1:7461 --import bping --export bpong --status-ms 100000
    bg bqa a "$BR" --listen tcp/10.77.1.1:7463 --export qping --import qpong --status-ms 100000 \
        --poll-us "$poll"
    bg bqb b "$BR" --connect tcp/10.77.1.1:7463 --import qping --export qpong --status-ms 100000 \
        --poll-us "$poll"
    # Rounds alternate raw zenoh and the bridge, so that a ratio compares
    # rows measured seconds apart and the spread between rounds shows the
    # noise.
    for round in 1 2 3; do
        r="round=$round"
        for size_n in "64 $n64 0" "64 $n64 $poll" "65536 $n64k 0"; do
            set -- $size_n
            bg rpong b "$PROBE" rawpong tcp/10.77.1.2:7460 "$3"
            sleep 0.5
            host a "$PROBE" rawping tcp/10.77.1.2:7460 "$1" "$2" "$3" \
                | sed "s/^/$r poll=$3 /" | tee -a "$out"
            kill "$PID_rpong" 2>/dev/null || true
        done
        # Throughput: a stream of 64 KiB messages, a window of them in
        # flight, each acknowledged (the bridge rows run the same protocol).
        bg rsink b "$PROBE" rawsink tcp/10.77.1.2:7460
        sleep 0.5
        host a "$PROBE" rawstream tcp/10.77.1.2:7460 65536 "$nstream" "$win" \
            | sed "s/^/$r poll=0 /" | tee -a "$out"
        kill "$PID_rsink" 2>/dev/null || true
        for row in "b 64 $n64 0" "q 64 $n64 $poll" "b 65536 $n64k 0"; do
            set -- $row
            bg bpong b "$PROBE" bcpong "$1ping" "$1pong"
            host a "$PROBE" bcping "$1ping" "$1pong" "$2" "$3" bridge \
                | sed "s/^/$r poll=$4 /" | tee -a "$out"
            kill -INT "$PID_bpong" 2>/dev/null || true; sleep 3
        done
        for row in "b 0" "q $poll"; do
            set -- $row
            bg bsink b "$PROBE" bcsink "$1ping" "$1pong"
            host a "$PROBE" bcstream "$1ping" "$1pong" 65536 "$nstream" "$win" bridge \
                | sed "s/^/$r poll=$2 /" | tee -a "$out"
            kill -INT "$PID_bsink" 2>/dev/null || true; sleep 3
        done
    done
    kill -INT "$PID_bba" "$PID_bbb" "$PID_bqa" "$PID_bqb" 2>/dev/null || true
    # The local round trip on A, alone and while a bridge exports its ping
    # topic (parking, or polling), with both ends spinning and with both
    # blocking (the default, spin then block, falls into either), in
    # alternating rounds so that the spread between rounds shows the noise.
    for round in 1 2 3; do
        for wait in spin block; do
            for mode in alone exported exported-poll; do
                case $mode in
                    exported) bg bbl a "$BR" --listen tcp/10.77.1.1:7462 --export lping \
                        --status-ms 100000 ;;
                    exported-poll) bg bbl a "$BR" --listen tcp/10.77.1.1:7462 --export lping \
                        --status-ms 100000 --poll-us "$poll" ;;
                esac
                bg lpong a "$PROBE" bcpong lping lpong "$wait"
                subs=2; [ $mode = alone ] && subs=1
                host a "$PROBE" bcping lping lpong 64 "$n64" "local-$mode" "$wait" "$subs" \
                    | sed "s/^/round=$round wait=$wait /" | tee -a "$out"
                kill -INT "$PID_lpong" 2>/dev/null || true
                if [ $mode != alone ]; then
                    kill -INT "$PID_bbl" 2>/dev/null || true
                    wait "$PID_bbl" 2>/dev/null || true
                fi
                sleep 1
            done
        done
    done
    # Per round, the ratios the targets speak of (round trips: p50 over p50;
    # streams: bridge rate over raw rate).
    awk -v poll="$poll" '
        {
            r = $1; sub(/^round=/, "", r); rounds[r] = 1
            size = ""; p50 = ""; mbps = ""
            for (i = 2; i <= NF; i++) {
                if ($i ~ /^size=/) size = substr($i, 6)
                if ($i ~ /^p50_us=/) p50 = substr($i, 8)
                if ($i ~ /^stream_MBps=/) mbps = substr($i, 13)
            }
            k = r " " $2 " " $3 " " size " " (mbps != "" ? "stream" : "rt")
            v[k] = (mbps != "" ? mbps : p50)
        }
        function q(a, b) { return (v[a] != "" && v[b] > 0) ? sprintf("%.2f", v[a] / v[b]) : "-" }
        END {
            for (r = 1; r in rounds; r++) {
                p = "poll=" poll
                printf "ratio round=%d rt64_default=%s rt64_poll=%s rt64_poll_vs_raw_poll=%s", r,
                    q(r " poll=0 bridge 64 rt", r " poll=0 raw 64 rt"),
                    q(r " " p " bridge 64 rt", r " poll=0 raw 64 rt"),
                    q(r " " p " bridge 64 rt", r " " p " raw 64 rt")
                printf " rt64k_default=%s stream_default=%s stream_poll=%s", \
                    q(r " poll=0 bridge 65536 rt", r " poll=0 raw 65536 rt"),
                    q(r " poll=0 bridge 65536 stream", r " poll=0 raw 65536 stream"),
                    q(r " " p " bridge 65536 stream", r " poll=0 raw 65536 stream")
                for (w = 0; w < 2; w++) {
                    ww = (w == 0) ? "wait=spin" : "wait=block"
                    printf " local_%s_exported=%s local_%s_exported_poll=%s", substr(ww, 6),
                        q(r " " ww " local-exported 64 rt", r " " ww " local-alone 64 rt"),
                        substr(ww, 6),
                        q(r " " ww " local-exported-poll 64 rt", r " " ww " local-alone 64 rt")
                }
                printf "\n"
            }
        }' "$out" >"$out.ratios"
    tee -a "$out" <"$out.ratios"
    cp "$out" "${BENCH_OUT:-/tmp/shmkit-bridge-bench.txt}"
    sleep 1
fi

# 6. Ctrl-C: every bridge stops cleanly (status 0, last line "stopped").
for b in bridge_a bridge_b bridge_c bridge_f bridge_p bridge_q; do
    p=$(eval echo "\$PID_$b")
    kill -INT "$p"
    set +e; timeout 15 tail --pid="$p" -f /dev/null; set -e
    kill -0 "$p" 2>/dev/null && fail "$b did not stop within 15 s of SIGINT"
    set +e; wait "$p"; st=$?; set -e
    [ $st = 0 ] || fail "$b exited with $st after SIGINT"
    tail -n 1 "$WORK/$b.log" | grep -q stopped || fail "$b: no stopped line"
done
say "Ctrl-C stops every bridge cleanly: ok"
say "passed in $((SECONDS - start)) s"

"""Throughput and latency of shmkit's SPSC queue against Python's own ways
of moving bytes between processes, in one run.

    python -m shmkit.bench [--seconds S] [--repeat K] [--rounds N] [--rust-peer PATH]

Rows: shmkit SPSC (``recv()``, a new bytes object per message, and
``recv_into()`` of one reused bytearray), ``multiprocessing.Queue``,
``multiprocessing.Pipe``, a ring on ``multiprocessing.shared_memory`` with
busy polling, iceoryx2's Python bindings when they are installed (they are
not measured otherwise: the output says so), and the native Rust SPSC queue
(``rust_peer bench`` from crates/shmkit-py/examples) for scale. Every row has
the same layout: a producer process sending for ``--seconds`` and the
consumer in a second process counting (here, or the ``rust_peer`` parent for
the native row); the ping-pong rows time ``--rounds`` 64 B round trips with
an echo process.

Each row is measured ``--repeat`` times, every row of every table taking
turns (round 1 of every row, then round 2 of every row, ...), and the best
round of each row is reported: on a shared machine other work only ever
slows a round down, so the best of K short rounds is the steadiest figure,
and taking turns spreads a busy spell over all rows instead of a few.
Ratios are between figures of this run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

# numpy (the typed rows) starts OpenBLAS's thread pool on import, one
# thread per extra CPU, whose threads busy-wait for a while after they
# start (`blas_thread_server` shows in `perf` profiles of these rows): in a
# producer process spawned for a 0.3 s round they compete with the queue's
# two processes for the CPUs. Nothing here calls BLAS. Set before numpy is
# imported; the spawned processes inherit it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import shmkit  # noqa: E402

SIZES = (64, 65536)
_STOP = 0xFFFFFFFF


def _uniq(tag: str) -> str:
    return f"bn{os.getpid()}{tag}{time.monotonic_ns() % 100000}"


# --- shmkit ------------------------------------------------------------------


def _shmkit_producer(name: str, size: int, seconds: float) -> None:
    tx = shmkit.Producer.open(name)
    msg = bytes(size)
    end = time.monotonic() + seconds
    send = tx.send
    while time.monotonic() < end:
        for _ in range(256):
            send(msg)
    tx.close()


def shmkit_throughput(size: int, seconds: float) -> float:
    name = _uniq("s")
    rx = shmkit.Consumer.create(name, max(size * 64, 1 << 20))
    p = mp.get_context("spawn").Process(target=_shmkit_producer, args=(name, size, seconds))
    p.start()
    recv = rx.recv
    recv(timeout=60)
    n = 0
    t0 = time.perf_counter()
    try:
        while True:
            recv()
            n += 1
    except shmkit.Closed:
        pass
    dt = time.perf_counter() - t0
    p.join()
    rx.close()
    return n / dt


def shmkit_throughput_into(size: int, seconds: float) -> float:
    name = _uniq("t")
    rx = shmkit.Consumer.create(name, max(size * 64, 1 << 20))
    p = mp.get_context("spawn").Process(target=_shmkit_producer, args=(name, size, seconds))
    p.start()
    buf = bytearray(size)
    recv_into = rx.recv_into
    recv_into(buf, timeout=60)
    n = 0
    t0 = time.perf_counter()
    try:
        while True:
            recv_into(buf)
            n += 1
    except shmkit.Closed:
        pass
    dt = time.perf_counter() - t0
    p.join()
    rx.close()
    return n / dt


def _batch(size: int) -> int:
    """Messages per batch call: 256 at 64 B (as the per-call producers send
    256 between clock reads), fewer of larger ones (1 MiB a call)."""
    return max(1, min(256, (1 << 20) // size))


def _shmkit_batch_producer(name: str, size: int, seconds: float) -> None:
    tx = shmkit.Producer.open(name)
    batch = [bytes(size)] * _batch(size)
    end = time.monotonic() + seconds
    send_many = tx.send_many
    while time.monotonic() < end:
        send_many(batch)
    tx.close()


def shmkit_throughput_batched(size: int, seconds: float) -> float:
    name = _uniq("u")
    rx = shmkit.Consumer.create(name, max(size * 64, 1 << 20))
    p = mp.get_context("spawn").Process(target=_shmkit_batch_producer, args=(name, size, seconds))
    p.start()
    # The first message starts the clock and is not counted.
    n = len(rx.recv_many(1, timeout=60)) - 1
    count = _batch(size)
    recv_many = rx.recv_many
    t0 = time.perf_counter()
    try:
        while True:
            n += len(recv_many(count))
    except shmkit.Closed:
        pass
    dt = time.perf_counter() - t0
    p.join()
    rx.close()
    return n / dt


def _record(size: int):
    import numpy as np

    # One record of `size` bytes: a sequence number and a payload.
    return np.dtype([("seq", "<u8"), ("data", "u1", (size - 8,))])


def _typed_producer(name: str, size: int, seconds: float) -> None:
    import numpy as np

    tx = shmkit.Sender.open(name, _record(size), type_name="BenchRecord")
    batch = np.zeros(_batch(size), _record(size))
    end = time.monotonic() + seconds
    send = tx.send
    while time.monotonic() < end:
        send(batch)
    tx.close()


def shmkit_typed_batched(size: int, seconds: float) -> float:
    import numpy as np

    name = _uniq("v")
    rec = _record(size)
    rx = shmkit.Receiver.create(name, rec, max(64, (1 << 20) // size), type_name="BenchRecord")
    p = mp.get_context("spawn").Process(target=_typed_producer, args=(name, size, seconds))
    p.start()
    out = np.empty(_batch(size), rec)
    recv_into = rx.recv_into
    n = recv_into(out[:1], timeout=60) - 1
    t0 = time.perf_counter()
    try:
        while True:
            n += recv_into(out)
    except shmkit.Closed:
        pass
    dt = time.perf_counter() - t0
    p.join()
    rx.close()
    return n / dt


def _shmkit_echo(ping: str, pong: str, rounds: int) -> None:
    rx = shmkit.Consumer.open(ping)
    tx = shmkit.Producer.open(pong)
    send, recv = tx.send, rx.recv
    for _ in range(rounds + 1):
        send(recv())


def shmkit_pingpong(rounds: int) -> float:
    ping, pong = _uniq("a"), _uniq("b")
    tx = shmkit.Producer.create(ping, 1 << 16)
    rx = shmkit.Consumer.create(pong, 1 << 16)
    p = mp.get_context("spawn").Process(target=_shmkit_echo, args=(ping, pong, rounds))
    p.start()
    msg = bytes(64)
    tx.send(msg)
    rx.recv(timeout=60)
    send, recv = tx.send, rx.recv
    t0 = time.perf_counter()
    for _ in range(rounds):
        send(msg)
        recv()
    dt = time.perf_counter() - t0
    p.join()
    tx.close()
    rx.close()
    return dt / rounds


# --- multiprocessing.Queue and Pipe -------------------------------------------


def _queue_producer(q, size: int, seconds: float) -> None:
    msg = bytes(size)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(64):
            q.put(msg)
    q.put(None)


def mp_queue_throughput(size: int, seconds: float) -> float:
    ctx = mp.get_context("spawn")
    q = ctx.Queue(maxsize=1024)
    p = ctx.Process(target=_queue_producer, args=(q, size, seconds))
    p.start()
    q.get()
    n = 0
    t0 = time.perf_counter()
    while q.get() is not None:
        n += 1
    dt = time.perf_counter() - t0
    p.join()
    return n / dt


def _pipe_producer(conn, size: int, seconds: float) -> None:
    msg = bytes(size)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(64):
            conn.send_bytes(msg)
    conn.send_bytes(b"")


def mp_pipe_throughput(size: int, seconds: float) -> float:
    ctx = mp.get_context("spawn")
    a, b = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_pipe_producer, args=(b, size, seconds))
    p.start()
    a.recv_bytes()
    n = 0
    t0 = time.perf_counter()
    while a.recv_bytes():
        n += 1
    dt = time.perf_counter() - t0
    p.join()
    return n / dt


def _pipe_echo(conn, rounds: int) -> None:
    send, recv = conn.send_bytes, conn.recv_bytes
    for _ in range(rounds + 1):
        send(recv())


def mp_pipe_pingpong(rounds: int) -> float:
    ctx = mp.get_context("spawn")
    a, b = ctx.Pipe()
    p = ctx.Process(target=_pipe_echo, args=(b, rounds))
    p.start()
    msg = bytes(64)
    a.send_bytes(msg)
    a.recv_bytes()
    send, recv = a.send_bytes, a.recv_bytes
    t0 = time.perf_counter()
    for _ in range(rounds):
        send(msg)
        recv()
    dt = time.perf_counter() - t0
    p.join()
    return dt / rounds


# --- multiprocessing.shared_memory with busy polling ---------------------------
# A single-producer ring: head and tail counters (8 bytes each) at offsets 0
# and 8, then SLOTS slots of a 4-byte length and the payload. Plain Python
# stores: correct on x86-64 with one writer per counter, and the usual way
# people hand-roll this.

_SLOTS = 64


def _shm_producer(name: str, size: int, seconds: float) -> None:
    from multiprocessing import shared_memory

    # A spawned child shares its parent's resource tracker, which removes
    # the name only once both are gone: the parent unlinks it first.
    sm = shared_memory.SharedMemory(name=name)
    buf = sm.buf
    slot = 4 + size
    msg = bytes(size)
    head = 0
    end = time.monotonic() + seconds
    unpack, pack = struct.unpack_from, struct.pack_into
    while True:
        done = time.monotonic() >= end
        while head - unpack("<Q", buf, 8)[0] >= _SLOTS:
            pass
        at = 16 + (head % _SLOTS) * slot
        if done:
            pack("<I", buf, at, _STOP)
        else:
            pack("<I", buf, at, size)
            buf[at + 4 : at + 4 + size] = msg
        head += 1
        pack("<Q", buf, 0, head)
        if done:
            break
    del buf
    sm.close()


def shm_busy_poll_throughput(size: int, seconds: float) -> float:
    from multiprocessing import shared_memory

    name = _uniq("m")
    slot = 4 + size
    sm = shared_memory.SharedMemory(name=name, create=True, size=16 + _SLOTS * slot)
    buf = sm.buf
    p = mp.get_context("spawn").Process(target=_shm_producer, args=(name, size, seconds))
    p.start()
    unpack, pack = struct.unpack_from, struct.pack_into
    tail = 0
    n = 0
    t0 = None
    while True:
        while unpack("<Q", buf, 0)[0] == tail:
            pass
        at = 16 + (tail % _SLOTS) * slot
        length = unpack("<I", buf, at)[0]
        if length == _STOP:
            break
        bytes(buf[at + 4 : at + 4 + length])
        tail += 1
        pack("<Q", buf, 8, tail)
        if t0 is None:
            t0 = time.perf_counter()
        else:
            n += 1
    dt = time.perf_counter() - (t0 or time.perf_counter())
    p.join()
    del buf
    sm.close()
    sm.unlink()
    return n / dt if dt > 0 else 0.0


# --- the native Rust row ---------------------------------------------------------


def find_rust_peer(given: str | None) -> str | None:
    for cand in (given, os.environ.get("SHMKIT_RUST_PEER")):
        if cand and Path(cand).is_file():
            return cand
    here = Path(__file__).resolve()
    for up in here.parents:
        for target in (os.environ.get("CARGO_TARGET_DIR"), str(up / "target")):
            if target:
                exe = Path(target) / "release" / "examples" / "rust_peer"
                if exe.is_file():
                    return str(exe)
    return shutil.which("rust_peer")


def rust_row(exe: str, *args: str) -> dict:
    out = subprocess.run([exe, *args], check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- iceoryx2 ----------------------------------------------------------------------


# iceoryx2's Python bindings (PyPI `iceoryx2`): publish-subscribe with
# backpressure (no sample dropped, so every one is counted), payloads as
# ctypes Structures, as its examples do. The receiver copies each payload
# out into bytes, as shmkit's recv() does. Its subscriber has no blocking
# receive without a separate event service, so the receiving side polls
# `receive()`, which favours it on latency.


def iceoryx2_missing() -> str | None:
    """None if iceoryx2's Python bindings can be imported, else why not."""
    try:
        import iceoryx2  # noqa: F401
    except ImportError as e:
        return f"not installed ({e.name or 'iceoryx2'}: pip install iceoryx2), no row"
    return None


def _iox_payload(size: int):
    import ctypes

    # The same class name in both processes: iceoryx2 compares it.
    return type(f"ShmkitBench{size}", (ctypes.Structure,), {
        "_fields_": [("stop", ctypes.c_uint8), ("data", ctypes.c_uint8 * (size - 1))],
    })


def _iox_node():
    import iceoryx2 as iox2

    # Quiet: its default level warns of a missing config file on each node.
    iox2.set_log_level(iox2.LogLevel.Error)
    return iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)


def _iox_service(node, name: str, payload, create: bool):
    import iceoryx2 as iox2

    b = (node.service_builder(iox2.ServiceName.new(name))
         .publish_subscribe(payload)
         .enable_safe_overflow(False)
         .subscriber_max_buffer_size(256))
    return b.create() if create else b.open()


def _iox_publisher(service):
    import iceoryx2 as iox2

    return (service.publisher_builder()
            .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
            .create())


def _iox_producer(name: str, size: int, seconds: float) -> None:
    import iceoryx2 as iox2

    payload = _iox_payload(size)
    node = _iox_node()
    pub = _iox_publisher(_iox_service(node, name, payload, False))
    msg = payload()
    send = pub.send_copy
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(256):
            send(msg)
    msg.stop = 1
    send(msg)


def _iox_receive_until(sub, deadline: float, peer=None):
    polls = 0
    while time.monotonic() < deadline:
        s = sub.receive()
        if s is not None:
            return s
        polls += 1
        if peer is not None and polls % 4096 == 0 and not peer.is_alive():
            raise RuntimeError(f"iceoryx2: the peer process ended (exit code {peer.exitcode})")
    raise TimeoutError("iceoryx2: no sample within the deadline")


def iceoryx2_throughput(size: int, seconds: float) -> float:
    from ctypes import string_at

    import iceoryx2 as iox2

    name = f"shmkit-bench/{_uniq('i')}"
    payload = _iox_payload(size)
    node = _iox_node()
    service = _iox_service(node, name, payload, True)
    sub = service.subscriber_builder().create()
    p = mp.get_context("spawn").Process(target=_iox_producer, args=(name, size, seconds))
    p.start()
    _iox_receive_until(sub, time.monotonic() + 60, p).delete()
    n = 0
    receive = sub.receive
    deadline = time.monotonic() + seconds + 60
    t0 = time.perf_counter()
    while True:
        s = receive()
        if s is None:
            if time.monotonic() > deadline:
                raise TimeoutError("iceoryx2: the producer stopped without its last sample")
            continue
        # Copied out, as shmkit's recv() copies a message into bytes.
        data = string_at(s.payload_ptr, size)
        s.delete()
        if data[0]:
            break
        n += 1
    dt = time.perf_counter() - t0
    p.join()
    return n / dt


def _iox_echo(ping: str, pong: str) -> None:
    import iceoryx2 as iox2

    payload = _iox_payload(64)
    node = _iox_node()
    sub = _iox_service(node, ping, payload, False).subscriber_builder().create()
    pub = _iox_publisher(_iox_service(node, pong, payload, False))
    msg = payload()
    deadline = time.monotonic() + 300
    while True:
        s = _iox_receive_until(sub, deadline)
        stop = s.payload().contents.stop
        s.delete()
        if stop:
            return
        pub.send_copy(msg)


def iceoryx2_pingpong(rounds: int) -> float:
    import iceoryx2 as iox2

    ping, pong = f"shmkit-bench/{_uniq('ia')}", f"shmkit-bench/{_uniq('ib')}"
    payload = _iox_payload(64)
    node = _iox_node()
    ping_s = _iox_service(node, ping, payload, True)
    pong_s = _iox_service(node, pong, payload, True)
    sub = pong_s.subscriber_builder().create()
    pub = _iox_publisher(ping_s)
    p = mp.get_context("spawn").Process(target=_iox_echo, args=(ping, pong))
    p.start()
    msg = payload()
    # The echo's subscriber may not be connected yet: resend until it answers.
    deadline = time.monotonic() + 60
    first = None
    while first is None:
        if time.monotonic() > deadline:
            raise TimeoutError("iceoryx2: the echo process never answered")
        pub.update_connections()
        pub.send_copy(msg)
        t = time.monotonic() + 0.05
        while first is None and time.monotonic() < t:
            first = sub.receive()
    first.delete()
    # Answers to any further warm-up sends arrive within this pause, and go.
    time.sleep(0.1)
    while (extra := sub.receive()) is not None:
        extra.delete()
    send, receive = pub.send_copy, sub.receive
    deadline = time.monotonic() + 120
    t0 = time.perf_counter()
    for _ in range(rounds):
        send(msg)
        s = receive()
        while s is None:
            if time.monotonic() > deadline:
                raise TimeoutError("iceoryx2: a round trip took too long")
            s = receive()
        s.delete()
    dt = time.perf_counter() - t0
    msg.stop = 1
    pub.send_copy(msg)
    p.join(timeout=60)
    return dt / rounds


# ------------------------------------------------------------------------------------


def _rate(v: float, size: int) -> str:
    mbps = v * size / 1e6
    return f"{v / 1e6:8.3f} M msg/s  {mbps:9.1f} MB/s"


def _best(rows: dict, repeat: int) -> dict:
    """Runs every row `repeat` times, the rows taking turns, and keeps each
    row's best round. A row is (section, name) -> (function, better), where
    `better` picks the best of its figures: max for rates, min for times."""
    got: dict = {k: [] for k in rows}
    keys = list(rows)
    for r in range(repeat):
        # Rotate the order each round, so no row always runs first or last.
        at = (r * len(keys)) // repeat
        for k in keys[at:] + keys[:at]:
            got[k].append(rows[k][0]())
    return {k: rows[k][1](v) for k, v in got.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shmkit.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.3,
                    help="per throughput round (default 0.3)")
    ap.add_argument("--repeat", type=int, default=7,
                    help="rounds per row, the best kept (default 7)")
    ap.add_argument("--rounds", type=int, default=5000,
                    help="ping-pong round trips per round (default 5000)")
    ap.add_argument("--rust-peer", help="path of the rust_peer example binary")
    args = ap.parse_args(argv)
    if args.repeat < 1 or args.seconds <= 0 or args.rounds < 1:
        ap.error("--repeat and --rounds must be at least 1, --seconds more than 0")

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; best of {args.repeat} "
          f"rounds per row, every row taking turns; {args.seconds} s per throughput round, "
          f"{args.rounds} ping-pong round trips per round")
    rust = find_rust_peer(args.rust_peer)
    iox_missing = iceoryx2_missing()
    secs, rounds = args.seconds, args.rounds

    # Default arguments bind each row's size now, not at the loop's end.
    rows: dict = {}
    for size in SIZES:
        sec = str(size)
        rows[sec, "shmkit SPSC"] = (lambda n=size: shmkit_throughput(n, secs), max)
        rows[sec, "shmkit SPSC recv_into"] = (lambda n=size: shmkit_throughput_into(n, secs), max)
        rows[sec, "shmkit SPSC batched"] = (lambda n=size: shmkit_throughput_batched(n, secs), max)
        rows[sec, "shmkit typed batched"] = (lambda n=size: shmkit_typed_batched(n, secs), max)
        rows[sec, "mp.Queue"] = (lambda n=size: mp_queue_throughput(n, secs), max)
        rows[sec, "mp.Pipe"] = (lambda n=size: mp_pipe_throughput(n, secs), max)
        rows[sec, "SharedMemory busy-poll"] = (lambda n=size: shm_busy_poll_throughput(n, secs), max)
        if iox_missing is None:
            rows[sec, "iceoryx2 pub/sub (Python)"] = (lambda n=size: iceoryx2_throughput(n, secs), max)
        if rust:
            def native(n: int = size) -> float:
                r = rust_row(rust, "bench", _uniq("r"), str(n), str(secs))
                return r["messages"] / r["seconds"]
            rows[sec, "native Rust SPSC"] = (native, max)
    rows["pingpong", "shmkit SPSC"] = (lambda: shmkit_pingpong(rounds), min)
    rows["pingpong", "mp.Pipe"] = (lambda: mp_pipe_pingpong(rounds), min)
    if iox_missing is None:
        rows["pingpong", "iceoryx2 pub/sub (Python)"] = (lambda: iceoryx2_pingpong(rounds), min)
    if rust:
        def native_pp() -> float:
            r = rust_row(rust, "pingpong", _uniq("p"), str(rounds))
            return r["seconds"] / r["rounds"]
        rows["pingpong", "native Rust SPSC"] = (native_pp, min)

    best = _best(rows, args.repeat)
    results: dict[str, dict[str, float]] = {}
    for (sec, name), v in best.items():
        results.setdefault(sec, {})[name] = v

    for size in SIZES:
        res = results[str(size)]
        base = res["shmkit SPSC"]
        print(f"\n{size} B messages, throughput (ratio = shmkit / row)")
        for k, v in res.items():
            if k == "shmkit SPSC":
                ratio = ""
            elif k == "shmkit SPSC recv_into":
                ratio = f"  recv_into is {v / base:6.2f}x recv"
            elif k in ("shmkit SPSC batched", "shmkit typed batched"):
                ratio = f"  batched is {v / base:6.2f}x recv"
            elif k.startswith("native"):
                ratio = (f"  native is {v / res['shmkit SPSC recv_into']:6.2f}x recv_into, "
                         f"{v / res['shmkit typed batched']:4.2f}x typed batched")
            else:
                ratio = f"  shmkit is {base / v:6.2f}x"
            print(f"  {k:28} {_rate(v, size)}{ratio}")

    pp = results["pingpong"]
    print("\n64 B ping-pong, round trip (ratio = row / shmkit)")
    for k, v in pp.items():
        if k == "shmkit SPSC":
            ratio = ""
        elif k.startswith("native"):
            ratio = f"  native takes {v / pp['shmkit SPSC']:6.2f}x shmkit's time from Python"
        else:
            ratio = f"  shmkit is {v / pp['shmkit SPSC']:6.2f}x faster"
        print(f"  {k:28} {v * 1e6:9.2f} us{ratio}")

    if iox_missing is not None:
        print(f"\niceoryx2 row: skipped, {iox_missing}")
    if not rust:
        print("native Rust row: skipped, no rust_peer binary (cargo build --release "
              "--example rust_peer in crates/shmkit-py, or --rust-peer PATH)")
    r64 = results["64"]
    print("\ntargets (ratios of this run):")
    checks = [
        ("64 B, shmkit >= 40x mp.Queue", r64["shmkit SPSC"] / r64["mp.Queue"], 40, True),
        ("64 B, shmkit >= 15x mp.Pipe", r64["shmkit SPSC"] / r64["mp.Pipe"], 15, True),
        ("64 KiB, shmkit >= 8x mp.Pipe",
         results["65536"]["shmkit SPSC"] / results["65536"]["mp.Pipe"], 8, True),
        ("ping-pong, >= 50x faster than mp.Pipe", pp["mp.Pipe"] / pp["shmkit SPSC"], 50, True),
    ]
    if rust:
        checks.append(("64 B, Python's cost over native <= 3x (recv_into rows)",
                       r64["native Rust SPSC"] / r64["shmkit SPSC recv_into"], 3, False))
        checks.append(("64 B, Python's cost over native <= 3x (typed batched)",
                       r64["native Rust SPSC"] / r64["shmkit typed batched"], 3, False))
    for label, v, bound, at_least in checks:
        ok = v >= bound if at_least else v <= bound
        print(f"  {label:56} {v:7.2f}x  {'holds' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Batched sends and receives: Producer.send_many / Consumer.recv_many (SPSC
and MPMC) and the typed channel's one-call array send and recv_into, across
real processes: order and content at mixed sizes (batches that wrap the ring
and batches larger than it), the timeout's `sent`, a dead peer mid-batch,
Ctrl-C, and bad input refused before anything is sent."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time

import numpy as np
import pytest

import shmkit
from shmkit import errors, mpmc

# Message i of a stream: its size cycles through these (0 to 3000 bytes, in
# a 4096-byte ring), its bytes say which message it is.
MESSAGES = """
SIZES = (0, 1, 7, 8, 63, 64, 65, 200, 1000, 3000, 24)
def message(i):
    n = SIZES[i % len(SIZES)]
    return (f"<{i}>".encode() * (n // 3 + 1))[:n]
"""
exec(MESSAGES)
# Batch sizes: one message, a few, a batch whose bytes wrap the 4096-byte
# ring several times, one of more messages than the ring holds, ...
BATCHES = (1, 5, 40, 300, 2, 11, 150)
TOTAL = sum(BATCHES)


def digest(msgs) -> str:
    h = hashlib.sha256()
    for m in msgs:
        h.update(len(m).to_bytes(4, "little"))
        h.update(m)
    return h.hexdigest()


def test_send_many_to_recv_many_across_processes(name, child):
    with shmkit.Consumer.create(name, 4096) as rx:
        assert rx.capacity == 4096
        c = child(
            MESSAGES + """
import sys, shmkit
tx = shmkit.Producer.open(sys.argv[1])
print("ready", flush=True)
i = 0
for n in map(int, sys.argv[2].split(",")):
    batch = [message(k) for k in range(i, i + n)]
    # A generator for one batch: any iterable is taken.
    sent = tx.send_many(iter(batch) if n == 11 else batch, timeout=30)
    assert sent == n, (sent, n)
    i += n
print("sent", i, flush=True)
""",
            name,
            ",".join(map(str, BATCHES)),
        )
        assert c.line() == "ready"
        got: list[bytes] = []
        counts = (1, 3, 64, 1000)
        while len(got) < TOTAL:
            k = counts[len(got) % len(counts)]
            batch = rx.recv_many(k, timeout=30)
            assert 1 <= len(batch) <= k
            assert all(type(m) is bytes for m in batch)
            got.extend(batch)
        assert got == [message(i) for i in range(TOTAL)]
        rc, out, err = c.wait()
        assert rc == 0, err
        assert out.split()[-2:] == ["sent", str(TOTAL)]
        # Everything was received and the producer closed: Closed, as recv.
        with pytest.raises(EOFError) as e:
            rx.recv_many(10, timeout=5)
        assert isinstance(e.value, errors.Closed)


def test_recv_many_in_a_child_of_send_many(name, child):
    with shmkit.Producer.create(name, 4096) as tx:
        c = child(
            """
import sys, hashlib, shmkit
rx = shmkit.Consumer.open(sys.argv[1])
print("ready", flush=True)
h = hashlib.sha256()
n = 0
while n < int(sys.argv[2]):
    for m in rx.recv_many(50, timeout=30):
        h.update(len(m).to_bytes(4, "little"))
        h.update(m)
        n += 1
print(n, h.hexdigest(), flush=True)
""",
            name,
            str(TOTAL),
        )
        assert c.line() == "ready"
        i = 0
        for n in BATCHES:
            assert tx.send_many([message(k) for k in range(i, i + n)], timeout=30) == n
            i += n
        rc, out, err = c.wait()
        assert rc == 0, err
        assert out.split() == [str(TOTAL), digest(message(k) for k in range(TOTAL))]


def test_send_many_timeout_carries_sent(name):
    rx = shmkit.Consumer.create(name, 256)
    tx = shmkit.Producer.open(name)
    batch = [bytes([i]) * 24 for i in range(50)]  # 32 ring bytes each
    t = time.monotonic()
    with pytest.raises(TimeoutError) as e:
        tx.send_many(batch, timeout=0.2)
    # The timeout bounds the whole call, not each message.
    assert time.monotonic() - t < 5
    assert isinstance(e.value, errors.Timeout)
    sent = e.value.sent
    assert 0 < sent < len(batch)
    assert f"{sent} of the batch's 50 messages were sent" in " ".join(e.value.__notes__)
    # Exactly the first `sent` went out, in order, and nothing else.
    got = rx.recv_many(100, timeout=5)
    assert got == batch[:sent]
    assert rx.try_recv() is None
    # The rest can be sent again from where it stopped.
    assert tx.send_many(batch[sent : sent + 3]) == 3
    assert rx.recv_many(100) == batch[sent : sent + 3]
    # recv_many waits as recv does, and times out as recv does.
    with pytest.raises(TimeoutError) as e:
        rx.recv_many(10, timeout=0.05)
    assert isinstance(e.value, errors.Timeout)
    tx.close()
    rx.close()


def test_recv_many_takes_what_is_there_up_to_max_count(name):
    with shmkit.Consumer.create(name, 4096) as rx, shmkit.Producer.open(name) as tx:
        msgs = [f"m{i}".encode() for i in range(10)]
        assert tx.send_many(msgs) == 10
        assert tx.send_many([]) == 0
        assert rx.recv_many(4) == msgs[:4]
        t = time.monotonic()
        # Six are there: it returns them without waiting for more.
        assert rx.recv_many(100, timeout=10) == msgs[4:]
        assert time.monotonic() - t < 5
        tx.send(b"one")
        assert rx.recv_many(1) == [b"one"]


def test_a_batch_longer_than_one_check_interval(name):
    # 40000 messages that all fit: the batch stops every 16384 to check for
    # signals and its deadline, and goes on.
    with shmkit.Consumer.create(name, 1 << 20) as rx, shmkit.Producer.open(name) as tx:
        msgs = [i.to_bytes(4, "little") for i in range(40000)]
        assert tx.send_many(msgs, timeout=60) == 40000
        got: list[bytes] = []
        while len(got) < 40000:
            got.extend(rx.recv_many(100_000, timeout=5))
        assert got == msgs


def test_dead_consumer_during_send_many_raises_as_send(name, child):
    with shmkit.Producer.create(name, 256) as tx:
        c = child(
            """
import sys, time, shmkit
rx = shmkit.Consumer.open(sys.argv[1])
print("ready", flush=True)
time.sleep(60)
""",
            name,
        )
        assert c.line() == "ready"
        killer = threading.Timer(0.3, os.kill, (c.proc.pid, signal.SIGKILL))
        killer.start()
        try:
            with pytest.raises(BrokenPipeError) as e:
                tx.send_many([b"x" * 24] * 100, timeout=20)
        finally:
            killer.join()
        assert c.proc.wait(10) == -signal.SIGKILL
        assert isinstance(e.value, errors.PeerDied)
        assert 0 < e.value.sent < 100  # the ones that fit before the ring filled
        # The same exception as a single send gets.
        with pytest.raises(BrokenPipeError) as e1:
            tx.send(b"x" * 24, timeout=5)
        assert type(e1.value) is type(e.value)


def test_ctrl_c_interrupts_a_blocked_send_many(name, child):
    with shmkit.Consumer.create(name, 256) as rx:
        c = child(
            """
import sys, shmkit
tx = shmkit.Producer.open(sys.argv[1])
try:
    print("ready", flush=True)
    tx.send_many([b"fill" * 8] * 100)  # the ring takes 7; nobody reads
except KeyboardInterrupt as e:
    print(e.sent, flush=True)
    sys.exit(3)
""",
            name,
        )
        assert c.line() == "ready"
        time.sleep(0.3)
        t = time.monotonic()
        c.proc.send_signal(signal.SIGINT)
        rc, out, err = c.wait(timeout=10)
        assert rc == 3, (out, err)
        assert time.monotonic() - t < 5
        sent = int(out.split()[-1])
        assert 0 < sent < 100
        assert rx.recv_many(200, timeout=5) == [b"fill" * 8] * sent


def test_bad_batch_input_sends_nothing(name):
    with shmkit.Consumer.create(name, 4096) as rx, shmkit.Producer.open(name) as tx:
        with pytest.raises(TypeError, match="message 2 of the batch: .*str.*nothing was sent") as e:
            tx.send_many([b"a", b"b", "c", b"d"])
        assert e.value.sent == 0
        with pytest.raises(ValueError) as e:
            tx.send_many([b"a", b"x" * 100_000])
        assert isinstance(e.value, errors.MessageTooLarge)
        assert e.value.sent == 0
        assert "it is message 1 of the batch; nothing was sent" in e.value.__notes__
        with pytest.raises(TypeError, match="not one bytes-like object"):
            tx.send_many(b"abc")
        with pytest.raises(TypeError, match="iterable"):
            tx.send_many(42)
        with pytest.raises(ValueError, match="timeout"):
            tx.send_many([b"a"], timeout=-1)

        def failing():
            yield b"a"
            yield b"b"
            raise RuntimeError("the iterable's own error")

        with pytest.raises(RuntimeError, match="own error") as e:
            tx.send_many(failing())
        assert e.value.sent == 0
        assert rx.try_recv() is None  # nothing of any refused batch went out
        for bad in (0, -3):
            with pytest.raises(ValueError, match="max_count must be at least 1"):
                rx.recv_many(bad)
        tx.close()
        with pytest.raises(ValueError, match="closed"):
            tx.send_many([b"after close"])


MPMC_BATCH_PRODUCER = """
import sys
from shmkit import mpmc
p = mpmc.Producer.open(sys.argv[1])
print("ready", flush=True)
tag, n = sys.argv[2], int(sys.argv[3])
for start in range(0, n, 37):
    msgs = [f"{tag}-{i}".encode() for i in range(start, min(n, start + 37))]
    assert p.send_many(msgs, timeout=30) == len(msgs)
"""


def test_mpmc_send_many_recv_many(name, child):
    with mpmc.Consumer.create(name, 64, 64) as rx:
        kids = [child(MPMC_BATCH_PRODUCER, name, tag, "500") for tag in ("a", "b")]
        for k in kids:
            assert k.line() == "ready"
        got: list[bytes] = []
        while len(got) < 1000:
            batch = rx.recv_many(100, timeout=30)
            assert 1 <= len(batch) <= 100
            got.extend(batch)
        for k in kids:
            rc, _, err = k.wait()
            assert rc == 0, err
        for t in "ab":
            mine = [g for g in got if g.startswith(t.encode())]
            assert mine == [f"{t}-{i}".encode() for i in range(500)]
        with mpmc.Producer.open(name) as tx:
            with pytest.raises(TypeError, match="message 1 of the batch"):
                tx.send_many([b"ok", 3])
            assert rx.try_recv() is None
        with pytest.raises(ValueError, match="max_count"):
            rx.recv_many(0)


# --- typed channels ------------------------------------------------------------

REC = np.dtype([("seq", "<u8"), ("val", "<f8"), ("tag", "u1", (48,))])  # 64 bytes

TYPED_SENDER = """
import sys
import numpy as np
import shmkit
tx = shmkit.Sender.open(sys.argv[1])
print("ready", flush=True)
i = 0
for n in map(int, sys.argv[2].split(",")):
    a = np.zeros(n, tx.dtype)
    a["seq"] = np.arange(i, i + n)
    a["val"] = a["seq"] * 0.5
    a["tag"] = (a["seq"] % 251)[:, None]
    # Every other batch a strided view: copied out as it is.
    tx.send(a if n % 2 else np.repeat(a, 2)[::2], timeout=30)
    i += n
tx.close()
"""


def test_typed_batches_across_processes(name, child):
    # Room for 16 records: batches of 40 and 100 wrap it and outgrow it.
    with shmkit.Receiver.create(name, REC, 16, type_name="Rec") as rx:
        batches = (1, 10, 40, 3, 100, 16)
        total = sum(batches)
        c = child(TYPED_SENDER, name, ",".join(map(str, batches)))
        assert c.line() == "ready"
        got = np.zeros(total, REC)
        n = 0
        sizes = (1, 7, 64)
        while n < total:
            k = sizes[n % len(sizes)]
            out = np.zeros(k, REC) if n % 2 else np.zeros(2 * k, REC)[::2]  # strided too
            m = rx.recv_into(out, timeout=30)
            assert 1 <= m <= k
            got[n : n + m] = out[:m]
            n += m
        rc, _, err = c.wait()
        assert rc == 0, err
        assert list(got["seq"]) == list(range(total))
        assert np.array_equal(got["val"], np.arange(total) * 0.5)
        assert np.array_equal(got["tag"], np.repeat((np.arange(total) % 251)[:, None], 48, 1))
        with pytest.raises(EOFError):
            rx.recv_into(np.zeros(4, REC), timeout=5)


def test_typed_batch_timeout_and_bad_input(name):
    rx = shmkit.Receiver.create(name, REC, 4, type_name="Rec")
    tx = shmkit.Sender.open(name)
    cap = rx._inner.capacity // 72  # 64-byte records take 72 ring bytes
    a = np.zeros(50, REC)
    a["seq"] = np.arange(50)
    with pytest.raises(TimeoutError) as e:
        tx.send(a, timeout=0.1)
    sent = e.value.sent
    assert 0 < sent <= cap
    out = np.zeros(64, REC)
    assert rx.recv_into(out, timeout=5) == sent
    assert list(out["seq"][:sent]) == list(range(sent))
    # Refused up front, nothing sent: another dtype, another shape.
    with pytest.raises(TypeError, match="convert it first"):
        tx.send(np.zeros(3, np.dtype([("seq", "<u8"), ("val", "<f8")])))
    with pytest.raises(ValueError, match="1-D"):
        tx.send(np.zeros((2, 2), REC))
    with pytest.raises(shmkit.Timeout):
        rx.recv_into(out, timeout=0.05)
    # recv_into's array: this dtype, 1-D, writable, not empty.
    with pytest.raises(TypeError, match="1-D numpy array"):
        rx.recv_into(np.zeros(4, "<f8"))
    with pytest.raises(TypeError, match="1-D numpy array"):
        rx.recv_into(np.zeros((2, 2), REC))
    ro = np.zeros(4, REC)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        rx.recv_into(ro)
    with pytest.raises(ValueError, match="room"):
        rx.recv_into(np.zeros(0, REC))
    tx.close()
    rx.close()


def test_typed_batch_stops_at_a_wrong_size_message(name):
    with shmkit.Receiver.create(name, "<u4", 16) as rx, shmkit.Producer.open(name) as raw:
        for m in (np.uint32(1).tobytes(), np.uint32(2).tobytes(), b"abc", np.uint32(3).tobytes()):
            raw.send(m)
        out = np.zeros(8, "<u4")
        # The batch ends before the odd message, which stays ...
        assert rx.recv_into(out, timeout=5) == 2 and list(out[:2]) == [1, 2]
        # ... for the next call to report and skip ...
        with pytest.raises(errors.WrongSizeMessage):
            rx.recv_into(out, timeout=5)
        # ... and the one after it goes on.
        assert rx.recv_into(out, timeout=5) == 1 and out[0] == 3

"""Queues between real processes: SPSC, MPMC, broadcast, with Python and
Rust peers; timeouts, dead peers, Ctrl-C and bad input."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

import shmkit
from shmkit import errors, mpmc

PRODUCER = """
import sys, shmkit
p = shmkit.Producer.open(sys.argv[1])
print("ready", flush=True)
for i in range(int(sys.argv[2])):
    p.send(f"msg-{i}".encode(), timeout=20)
"""


def test_spsc_between_processes(name, child):
    with shmkit.Consumer.create(name, 4096) as rx:
        c = child(PRODUCER, name, "2000")
        assert c.line() == "ready"
        got = [rx.recv(timeout=20) for _ in range(2000)]
        assert got == [f"msg-{i}".encode() for i in range(2000)]
        rc, _, err = c.wait()
        assert rc == 0, err
        # The producer closed its end: iteration ends, recv says Closed.
        assert list(rx) == []
        with pytest.raises(EOFError) as e:
            rx.recv(timeout=5)
        assert isinstance(e.value, errors.Closed)


def test_spsc_in_process_api(name):
    rx = shmkit.Consumer.create(name, 256)
    tx = shmkit.Producer.open(name)
    assert rx.wait == "spin_then_block" and tx.wait == "spin_then_block"
    assert rx.peer == "alive" and tx.peer == "alive"
    assert rx.try_recv() is None
    tx.send(bytearray(b"one"))
    tx.send(memoryview(b"two"))
    tx.send(np.arange(4, dtype=np.uint8))
    assert rx.recv() == b"one"
    buf = bytearray(16)
    assert rx.recv_into(buf) == 3 and buf[:3] == b"two"
    arr = np.zeros(8, dtype=np.uint8)
    assert rx.recv_into(arr) == 4 and list(arr[:4]) == [0, 1, 2, 3]
    # Fill it: try_send says False instead of waiting.
    sent = 0
    while tx.try_send(b"x" * 32):
        sent += 1
    assert sent > 0
    with pytest.raises(TimeoutError) as e:
        tx.send(b"y" * 32, timeout=0.1)
    assert isinstance(e.value, errors.Timeout)
    assert all(rx.recv() == b"x" * 32 for _ in range(sent))
    with pytest.raises(ValueError) as e:
        tx.send(b"z" * 100_000)
    assert isinstance(e.value, errors.MessageTooLarge)
    # A message larger than the buffer stays in the queue.
    tx.send(b"0123456789")
    small = bytearray(4)
    with pytest.raises(ValueError, match="nothing was received"):
        rx.recv_into(small)
    assert rx.recv() == b"0123456789"
    with pytest.raises(TypeError, match="writable"):
        rx.recv_into(b"immutable")
    tx.close()
    assert tx.closed
    with pytest.raises(ValueError, match="closed"):
        tx.send(b"after close")
    rx.close()


def test_spsc_second_consumer_is_refused(name):
    with shmkit.Consumer.create(name, 256):
        with pytest.raises(errors.RoleTaken, match="already attached"):
            shmkit.Consumer.open(name)


def test_bad_queue_arguments(name):
    with pytest.raises(ValueError, match="wait strategy"):
        shmkit.Consumer.create(name, 256, wait="yield")
    with pytest.raises(ValueError, match="timeout"):
        with shmkit.Consumer.create(name, 256) as rx:
            rx.recv(timeout=-1)
    with pytest.raises(errors.InvalidName):
        shmkit.Producer.create("bad name", 256)
    with pytest.raises(FileNotFoundError):
        shmkit.Producer.open(name, open_timeout=0.1)


def test_wait_strategies(name):
    for wait in ("spin", "block", "spin_then_block"):
        with shmkit.Consumer.create(name, 256, wait=wait) as rx, shmkit.Producer.open(
            name, wait=wait
        ) as tx:
            assert rx.wait == wait
            tx.send(b"w")
            assert rx.recv(timeout=5) == b"w"
            t = time.monotonic()
            with pytest.raises(TimeoutError):
                rx.recv(timeout=0.05)
            assert time.monotonic() - t >= 0.05


def test_producer_killed_gives_peer_died(name, child):
    with shmkit.Consumer.create(name, 4096) as rx:
        c = child(
            """
            import sys, time, shmkit
            p = shmkit.Producer.open(sys.argv[1])
            p.send(b"last words")
            print("ready", flush=True)
            time.sleep(60)
            """,
            name,
        )
        assert c.line() == "ready"
        os.kill(c.proc.pid, signal.SIGKILL)
        assert c.proc.wait(10) == -signal.SIGKILL
        assert rx.recv(timeout=5) == b"last words"
        with pytest.raises(BrokenPipeError) as e:
            rx.recv(timeout=10)
        assert isinstance(e.value, errors.PeerDied)
        assert "producer" in str(e.value)


def test_ctrl_c_interrupts_blocking_recv(name, child):
    with shmkit.Producer.create(name, 4096) as tx:
        c = child(
            """
            import sys, time, shmkit
            rx = shmkit.Consumer.open(sys.argv[1])
            try:
                print("ready", flush=True)
                rx.recv()  # no timeout: only a signal ends this
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(3)
            print("returned", flush=True)
            """,
            name,
        )
        assert c.line() == "ready"
        # Let it get into the blocking wait, then interrupt it.
        time.sleep(0.3)
        t = time.monotonic()
        c.proc.send_signal(signal.SIGINT)
        rc, out, err = c.wait(timeout=10)
        elapsed = time.monotonic() - t
        assert rc == 3, (out, err)
        assert out.strip() == "interrupted"
        # Generous bound on a loaded machine; it would hang without the fix.
        assert elapsed < 5
        assert tx.peer in ("closed", "died")


def test_ctrl_c_interrupts_blocking_send(name, child):
    with shmkit.Consumer.create(name, 256) as rx:
        c = child(
            """
            import sys, shmkit
            tx = shmkit.Producer.open(sys.argv[1])
            while tx.try_send(b"fill" * 8):
                pass
            try:
                print("ready", flush=True)
                tx.send(b"fill" * 8)  # full, and nobody reads
            except KeyboardInterrupt:
                sys.exit(3)
            """,
            name,
        )
        assert c.line() == "ready"
        time.sleep(0.3)
        c.proc.send_signal(signal.SIGINT)
        rc, out, err = c.wait(timeout=10)
        assert rc == 3, (out, err)
        assert rx.recv(timeout=5) == b"fill" * 8


MPMC_PRODUCER = """
import sys, shmkit
from shmkit import mpmc
p = mpmc.Producer.open(sys.argv[1])
print("ready", flush=True)
for i in range(int(sys.argv[3])):
    p.send(f"{sys.argv[2]}-{i}".encode(), timeout=20)
"""


def test_mpmc_two_producer_processes(name, child):
    with mpmc.Consumer.create(name, 64, 64) as rx:
        assert rx.max_message_len >= 64
        kids = [child(MPMC_PRODUCER, name, tag, "500") for tag in ("a", "b")]
        for k in kids:
            assert k.line() == "ready"
        got = [rx.recv(timeout=20) for _ in range(1000)]
        for k in kids:
            rc, _, err = k.wait()
            assert rc == 0, err
        assert sorted(got) == sorted(f"{t}-{i}".encode() for t in "ab" for i in range(500))
        # Each producer's messages in its own order.
        for t in "ab":
            mine = [g for g in got if g.startswith(t.encode())]
            assert mine == [f"{t}-{i}".encode() for i in range(500)]
        assert rx.try_recv() is None
        buf = bytearray(64)
        with mpmc.Producer.open(name) as tx:
            tx.send(b"into")
            assert rx.recv_into(buf, timeout=5) == 4 and buf[:4] == b"into"


def test_broadcast_lagged_carries_missed(name):
    with shmkit.Publisher.create(name, 8, 32) as pub:
        sub = shmkit.Subscriber.open(name)
        assert pub.subscribers == 1
        for i in range(20):
            pub.send(f"m{i}".encode())
        with pytest.raises(errors.Lagged) as e:
            sub.recv(timeout=5)
        assert e.value.missed > 0
        assert "missed" in str(e.value)
        # Its cursor moved on: the rest arrive in order.
        rest = []
        while (m := sub.try_recv()) is not None:
            rest.append(m)
        assert rest and rest[-1] == b"m19"
        assert len(rest) + e.value.missed == 20
        with pytest.raises(ValueError) as e2:
            pub.send(b"x" * 1000)
        assert isinstance(e2.value, errors.MessageTooLarge)
        sub.close()


def test_python_subscriber_of_rust_publisher(name, peer):
    p = peer("publish", name, "50")
    assert p.line() == "ready"
    sub = shmkit.Subscriber.open(name)
    got = [sub.recv(timeout=20) for _ in range(50)]
    assert got == [f"msg-{i}".encode() for i in range(50)]
    sub.close()
    rc, _, err = p.wait()
    assert rc == 0, err


def test_rust_subscriber_of_python_publisher(name, peer):
    with shmkit.Publisher.create(name, 64, 256) as pub:
        p = peer("subscribe", name, "30")
        assert p.line() == "ready"
        assert pub.wait_for_subscribers(1, timeout=20) >= 1
        for i in range(30):
            pub.send(f"msg-{i}".encode())
        rc, out, err = p.wait()
        assert rc == 0, err
        assert out.split() == [f"msg-{i}" for i in range(30)]


def test_rust_producer_python_consumer(name, peer):
    with shmkit.Consumer.create(name, 4096) as rx:
        p = peer("spsc-send", name, "1000")
        assert p.line() == "ready"
        assert [rx.recv(timeout=20) for _ in range(1000)] == [
            f"msg-{i}".encode() for i in range(1000)
        ]
        rc, _, err = p.wait()
        assert rc == 0, err


def test_python_producer_rust_consumer(name, peer):
    with shmkit.Producer.create(name, 4096) as tx:
        p = peer("spsc-recv", name, "1000")
        assert p.line() == "ready"
        for i in range(1000):
            tx.send(f"msg-{i}".encode(), timeout=20)
        rc, out, err = p.wait()
        assert rc == 0, err
        assert out.split() == [f"msg-{i}" for i in range(1000)]

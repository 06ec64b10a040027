"""Typed channels of a numpy dtype, with Rust's Sender<T>/Receiver<T> as the
peer (examples/rust_peer.rs, whose `Tick` the dtype below describes)."""

from __future__ import annotations

import numpy as np
import pytest

import shmkit
from shmkit import errors

TICK = np.dtype([
    ("seq", "<u8"), ("price", "<f8"), ("qty", "<u4"), ("side", "u1"),
    ("_pad", "u1", (3,)), ("levels", "<f4", (4,)),
])


def nth(i: int) -> tuple:
    f = float(i)
    return (i, i * 0.5, i * 3, i % 2, (0, 0, 0), (f, f + 0.25, f + 0.5, f + 0.75))


def same(record: np.void, i: int) -> bool:
    return record.tobytes() == np.array(nth(i), TICK).tobytes()


def test_python_sender_rust_receiver(name, peer):
    with shmkit.Sender.create(name, TICK, 64, type_name="Tick") as tx:
        p = peer("chan-recv", name, "300")
        assert p.line() == "ready"
        # One value at a time, then an array of records in one call.
        for i in range(100):
            tx.send(nth(i), timeout=20)
        tx.send(np.array([nth(i) for i in range(100, 300)], TICK), timeout=20)
        rc, out, err = p.wait()
        assert rc == 0, err
        lines = out.splitlines()
        assert len(lines) == 300
        assert lines[7].split()[:4] == ["7", "3.5", "21", "1"]


def test_rust_sender_python_receiver_reads_the_stored_layout(name, peer):
    p = peer("chan-send", name, "200")
    assert p.line() == "ready"
    # No dtype given: it comes from the layout the Rust creator stored.
    rx = shmkit.Receiver.open(name)
    assert rx.dtype == TICK
    assert rx.layout.startswith("Tick { seq: u64, price: f64")
    first = rx.recv(timeout=20)
    assert isinstance(first, np.void)
    assert same(first, 0)
    out = np.zeros(50, TICK)
    got = 1
    while got < 200:
        n = rx.recv_into(out, timeout=20)
        assert 1 <= n <= 50
        for k in range(n):
            assert same(out[k], got + k)
        got += n
    assert rx.try_recv() is None
    rx.close()
    p.proc.stdin.write("done\n")
    p.proc.stdin.flush()
    rc, _, err = p.wait()
    assert rc == 0, err


def test_rust_refuses_a_python_channel_of_another_layout(name, peer):
    # Same fields but `qty` as u16: Rust's Receiver::<Tick>::open refuses it.
    other = np.dtype([
        ("seq", "<u8"), ("price", "<f8"), ("qty", "<u2"), ("side", "u1"),
        ("_pad", "u1", (5,)), ("levels", "<f4", (4,)),
    ])
    with shmkit.Sender.create(name, other, 8, type_name="Tick"):
        p = peer("chan-recv", name, "1")
        rc, out, err = p.wait()
        assert rc != 0
        assert "layout" in err and "qty" in err, err
    with shmkit.Sender.create(name, TICK, 8, type_name="Tick"):
        p = peer("chan-open-other", name)
        rc, out, err = p.wait()
        assert rc == 0, err
        assert out.startswith("refused LayoutMismatch"), out


def test_python_refuses_a_rust_channel_of_another_dtype(name, peer):
    p = peer("chan-send", name, "0")
    assert p.line() == "ready"
    wrong = np.dtype([("seq", "<u8"), ("price", "<f4")])
    with pytest.raises(shmkit.LayoutMismatch) as e:
        shmkit.Receiver.open(name, wrong, type_name="Tick")
    assert e.value.name == name
    # The matching dtype is accepted.
    shmkit.Receiver.open(name, TICK, type_name="Tick").close()
    p.proc.stdin.write("done\n")
    p.proc.stdin.flush()
    rc, _, err = p.wait()
    assert rc == 0, err


def test_channel_in_process_api(name):
    rx = shmkit.Receiver.create(name, "<f8", 4)
    tx = shmkit.Sender.open(name)
    assert tx.dtype == np.dtype("<f8") and not tx.created and rx.created
    assert tx.peer == "alive"
    sent = 0
    while tx.try_send(float(sent)):
        sent += 1
    assert sent >= 4
    with pytest.raises(ValueError, match="one value"):
        tx.try_send([1.0, 2.0])
    assert [float(rx.recv()) for _ in range(sent)] == [float(i) for i in range(sent)]
    with pytest.raises(shmkit.Timeout):
        rx.recv(timeout=0.05)
    tx.send(np.arange(3, dtype="<f8"))
    tx.close()
    assert [float(v) for v in rx] == [0.0, 1.0, 2.0]
    rx.close()


def test_bytes_in_a_channel_are_reported_and_skipped(name):
    rx = shmkit.Receiver.create(name, "<u4", 8)
    raw = shmkit.Producer.open(name)
    raw.send(b"abc")
    raw.send(np.uint32(5).tobytes())
    with pytest.raises(errors.WrongSizeMessage):
        rx.recv(timeout=5)
    assert int(rx.recv(timeout=5)) == 5
    raw.close()
    rx.close()


def test_bad_channel_input(name):
    with pytest.raises(TypeError, match="objects"):
        shmkit.Sender.create(name, np.dtype([("a", "O")]), 4, type_name="A")
    with pytest.raises(TypeError, match="bool"):
        shmkit.Sender.create(name, np.dtype("?"), 4)
    with pytest.raises(TypeError, match="type_name"):
        shmkit.Sender.create(name, np.dtype([("a", "<u4")]), 4)
    with pytest.raises(FileNotFoundError):
        shmkit.Receiver.open(name, open_timeout=0.1)
    with shmkit.Producer.create(name, 1024):
        with pytest.raises(errors.NotAChannel):
            shmkit.Receiver.open(name)
    with shmkit.Receiver.create(name, np.dtype([("a", "<u4"), ("b", "<f8")]), 4, type_name="AB") as rx:
        tx = shmkit.Sender.open(name)
        with pytest.raises(TypeError, match="convert"):
            tx.send(np.zeros(1, np.dtype([("x", "<u4"), ("y", "<f8")])))
        with pytest.raises(TypeError, match="not a value"):
            tx.send("hello")
        with pytest.raises(TypeError, match="1-D numpy array"):
            rx.recv_into(bytearray(16))
        tx.close()

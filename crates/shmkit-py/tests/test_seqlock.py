"""SeqLock of a numpy dtype, with a Rust writer (examples/rust_peer.rs,
whose `Quad` the dtype below describes) as a separate process."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest

import shmkit
from shmkit import errors

QUAD = np.dtype([("a", "<u8"), ("b", "<u8"), ("c", "<u8"), ("d", "<u8")])


def test_rust_writer_python_reader_never_sees_a_torn_value(name, peer):
    s = shmkit.create_seqlock(name, QUAD, type_name="Quad")
    assert s.read().tolist() == (0, 0, 0, 0)
    # Rust's Shared::<SeqLock<Quad>>::open accepts the Python-made layout.
    p = peer("seqlock-write", name)
    assert p.line() == "ready"
    reads = 0
    last = 0
    changed = 0
    # Read while the writer writes, until the values have moved under the
    # reads many times (or 20 s pass, on a machine too loaded to race).
    deadline = time.monotonic() + 20
    while (changed < 1000 or reads < 10000) and time.monotonic() < deadline:
        a, b, c, d = s.read().tolist()
        assert a == b == c == d, f"torn read: {(a, b, c, d)}"
        assert a >= last, f"went back from {last} to {a}"
        changed += a != last
        last = a
        reads += 1
    p.proc.stdin.write("stop\n")
    p.proc.stdin.flush()
    rc, out, err = p.wait()
    assert rc == 0, err
    word, n = out.split()
    assert word == "done" and int(n) >= last
    assert s.read().tolist() == (int(n),) * 4
    assert changed >= 1000, f"the reads raced only {changed} writes in 20 s"


def test_a_writer_killed_mid_write_is_reported_and_taken_over(name, peer):
    s = shmkit.create_seqlock(name, QUAD, type_name="Quad")
    p = peer("seqlock-die", name)
    assert p.line() == "half"
    assert s.writer_status == "alive"
    with pytest.raises(errors.WriterBusy):
        s.writer()
    p.proc.send_signal(signal.SIGKILL)
    assert p.proc.wait(timeout=10) == -signal.SIGKILL
    # The last complete value, never the half-written one.
    assert s.read().tolist() == (1, 1, 1, 1)
    deadline = time.monotonic() + 5
    while s.writer_status != "died" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert s.writer_status == "died"
    with pytest.raises(errors.WriterDied):
        s.read_checked()
    with s.writer() as w:
        assert s.read_checked().tolist() == (1, 1, 1, 1)
        w.write((3, 3, 3, 3))
    assert s.read_checked().tolist() == (3, 3, 3, 3)
    assert s.writer_status == "none"


def test_rust_refuses_a_seqlock_of_another_layout(name, peer):
    other = np.dtype([("a", "<u8"), ("b", "<u8"), ("c", "<u8"), ("d", "<u4"), ("e", "<u4")])
    keep = shmkit.create_seqlock(name, other, type_name="Quad")
    p = peer("seqlock-write", name)
    rc, _, err = p.wait()
    assert rc != 0
    assert "LayoutMismatch" in err and "slots[].d" in err, err
    del keep


def test_seqlock_field_of_a_typed_segment(name):
    quote = np.dtype([("price", "<f8"), ("qty", "<u4"), ("_pad", "<u4")])
    desc = shmkit.typed.seqlock_of(quote, "Quote")
    book = np.dtype({
        "names": ["id", "quote"],
        "formats": ["<u8", np.dtype((np.uint8, (desc[2],)))],
        "offsets": [0, 8],
        "itemsize": 8 + desc[2],
    })
    # A struct with a SeqLock<Quote> field, described as Rust would.
    layout = ("struct", "Book", book.itemsize, 8, [
        ("id", 0, ("prim", "u64")),
        ("quote", 8, desc),
    ])
    seg = shmkit.TypedSegment.create(name, layout, bytes(book.itemsize))
    d = shmkit.typed.Field(seg)
    d.id = 7
    q = d.quote
    assert isinstance(q, shmkit.SeqLock) and q.dtype == quote
    with q.writer() as w:
        w.write((101.5, 3, 0))
        with pytest.raises(TypeError, match="convert"):
            w.write(np.zeros((), np.dtype([("x", "<f8"), ("y", "<u8")])))
        with pytest.raises(ValueError, match="one value"):
            w.write(np.zeros(2, quote))
    assert q.read().tolist() == (101.5, 3, 0)
    assert d.to_python() == {"id": 7, "quote": (101.5, 3, 0)}
    with pytest.raises(ValueError, match="closed"):
        w.write((1.0, 1, 0))
    # Read-only: reads work, taking the writer does not.
    ro = shmkit.open_typed(name, read_only=True)
    assert ro.quote.read().tolist() == (101.5, 3, 0)
    with pytest.raises(errors.ReadOnly):
        ro.quote.writer()
    with pytest.raises(TypeError, match="not a SeqLock"):
        seg._seqlock_read("id")


def test_bad_seqlock_specs(name):
    with pytest.raises(TypeError, match="multiple of 4"):
        shmkit.create_seqlock(name, np.dtype("u1"))
    with pytest.raises(TypeError, match="objects"):
        shmkit.create_seqlock(name, np.dtype([("a", "O")]), type_name="A")

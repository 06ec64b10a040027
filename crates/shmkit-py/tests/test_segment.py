"""Segments: lifecycle, options, the zero-copy view and its export guard,
and sharing with multiprocessing.shared_memory."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import signal

import numpy as np
import pytest

import shmkit
from shmkit import errors


def test_create_open_read_write(name):
    with shmkit.Segment.create(name, 100) as seg:
        assert seg.name == name and seg.size == 100 and len(seg) == 100
        assert seg.created
        seg.write(b"hello", 3)
        other = shmkit.Segment.open(name)
        assert not other.created
        assert other.read(3, 5) == b"hello"
        assert other.read(0, 3) == b"\0\0\0"
        assert len(other.read()) == 100
        other.write(bytearray(b"XY"), 0)
        assert seg.read(0, 2) == b"XY"
        other.close()
        assert other.closed
        with pytest.raises(ValueError, match="closed"):
            other.read()
    assert not shmkit.Segment.exists(name)


def test_open_or_create_and_persist(name):
    a = shmkit.Segment.open_or_create(name, 64, persist=True)
    assert a.created
    b = shmkit.Segment.open_or_create(name, 64)
    assert not b.created
    with pytest.raises(errors.TooSmall):
        shmkit.Segment.open_or_create(name, 1 << 20)
    a.close()
    b.close()
    # persist: the name outlives its creator until removed.
    assert shmkit.Segment.exists(name)
    shmkit.Segment.remove(name)
    assert not shmkit.Segment.exists(name)
    with pytest.raises(FileNotFoundError):
        shmkit.Segment.remove(name)


def test_create_twice_is_file_exists(name):
    with shmkit.Segment.create(name, 10):
        with pytest.raises(FileExistsError) as e:
            shmkit.Segment.create(name, 10)
        assert isinstance(e.value, shmkit.ShmkitError)
        assert e.value.name == name
        assert "already exists" in str(e.value)


def test_read_only(name):
    with shmkit.Segment.create(name, 16) as seg:
        seg.write(b"abc")
        ro = shmkit.Segment.open(name, read_only=True)
        assert ro.read_only and ro.read(0, 3) == b"abc"
        with pytest.raises(PermissionError) as e:
            ro.write(b"x")
        assert isinstance(e.value, errors.ReadOnly)
        view = ro.buf_unsynchronized
        assert view.readonly
        with pytest.raises(TypeError):
            view[0] = 1
        view.release()
        ro.close()


def test_out_of_bounds(name):
    with shmkit.Segment.create(name, 8) as seg:
        with pytest.raises(IndexError, match="out of bounds"):
            seg.write(b"abc", 7)
        with pytest.raises(errors.OutOfBounds):
            seg.read(4, 5)


def test_view_is_zero_copy_and_guards_close(name):
    seg = shmkit.Segment.create(name, 4096)
    arr = np.frombuffer(seg.buf_unsynchronized, dtype=np.float64)
    arr[10] = 2.5
    assert seg.read(80, 8) == np.float64(2.5).tobytes()
    assert seg.exports == 1
    with pytest.raises(BufferError, match="exported"):
        seg.close()
    assert not seg.closed
    # The live array keeps the segment alive even when the last name for it
    # goes away; the bytes stay readable through the array.
    del seg
    gc.collect()
    assert arr[10] == 2.5
    assert shmkit.Segment.exists(name)
    base = arr.base
    del arr
    base.release()
    del base
    gc.collect()
    # The creator is gone with its last reference: so is the name.
    assert not shmkit.Segment.exists(name)


def test_close_after_views_released(name):
    seg = shmkit.Segment.create(name, 64)
    v = seg.buf_unsynchronized
    v2 = seg.buf_unsynchronized
    assert seg.exports == 2
    v.release()
    with pytest.raises(BufferError):
        seg.close()
    v2.release()
    seg.close()
    assert seg.closed
    with pytest.raises(ValueError, match="closed"):
        seg.buf_unsynchronized


@pytest.mark.parametrize(
    "bad",
    ["", "a" * 31, "/leading-slash", ".hidden", "has space", "sl/ash", "ünï"],
)
def test_bad_names(bad):
    with pytest.raises(ValueError) as e:
        shmkit.Segment.create(bad, 10)
    assert isinstance(e.value, errors.InvalidName)
    assert "1 to 30 characters" in str(e.value)


def test_bad_sizes_modes_timeouts(name):
    with pytest.raises(errors.InvalidSize, match="at least one byte"):
        shmkit.Segment.create(name, 0)
    with pytest.raises(OverflowError):
        shmkit.Segment.create(name, -1)
    with pytest.raises(errors.InvalidSize, match="larger than"):
        shmkit.Segment.create(name, (1 << 64) - 1)
    with pytest.raises(OSError, match="not enough shared memory") as e:
        shmkit.Segment.create(name, 1 << 62)
    assert isinstance(e.value, errors.NoSpace)
    with pytest.raises(errors.InvalidMode, match="permission bits"):
        shmkit.Segment.create(name, 8, mode=0o1777)
    with pytest.raises(ValueError, match="seconds"):
        shmkit.Segment.open(name, timeout=-1)
    with pytest.raises(ValueError, match="trust_owner"):
        shmkit.Segment.open(name, trust_owner="root")
    with pytest.raises(TypeError):
        shmkit.Segment.create(name, 8).write(12345)
    assert not shmkit.Segment.exists(name)


def _attach_and_exit(name: str) -> None:
    seg = shmkit.Segment.open(name)
    assert seg.read(0, 2) == b"ok"


def test_opener_never_removes_cpython_82300(name):
    """python/cpython#82300: a process that merely attached to a live segment
    and exited removed its name (the resource tracker). shmkit has no tracker:
    the segment survives its openers."""
    with shmkit.Segment.create(name, 32) as seg:
        seg.write(b"ok")
        ctx = mp.get_context("spawn")
        for _ in range(2):
            p = ctx.Process(target=_attach_and_exit, args=(name,))
            p.start()
            p.join(30)
            assert p.exitcode == 0
        assert shmkit.Segment.exists(name)
        assert shmkit.Segment.open(name).read(0, 2) == b"ok"


def test_opener_killed_does_not_remove(name, child):
    with shmkit.Segment.create(name, 32) as seg:
        c = child(
            """
            import sys, time, shmkit
            s = shmkit.Segment.open(sys.argv[1])
            print("ready", flush=True)
            time.sleep(60)
            """,
            name,
        )
        assert c.line() == "ready"
        os.kill(c.proc.pid, signal.SIGKILL)
        assert c.proc.wait(10) == -signal.SIGKILL
        assert shmkit.Segment.exists(name)
        seg.write(b"still here")


def test_with_multiprocessing_shared_memory_both_ways(name):
    from multiprocessing import resource_tracker, shared_memory

    # Python's SharedMemory creates, shmkit opens by the same name.
    sm = shared_memory.SharedMemory(name=name, create=True, size=64)
    try:
        sm.buf[:5] = b"hello"
        seg = shmkit.Segment.open(name)
        assert seg.read(0, 5) == b"hello"
        seg.write(b"HI", 0)
        assert bytes(sm.buf[:5]) == b"HIllo"
        seg.close()
    finally:
        sm.close()
        sm.unlink()

    # shmkit creates, SharedMemory attaches.
    with shmkit.Segment.create(name, 64) as seg:
        seg.write(b"from shmkit")
        sm = shared_memory.SharedMemory(name=name)
        # On 3.11 attaching registers the name with the resource tracker,
        # which would remove it at exit (cpython#82300): undo that here.
        if hasattr(sm, "_name"):
            try:
                resource_tracker.unregister(sm._name, "shared_memory")
            except Exception:
                pass
        assert bytes(sm.buf[:11]) == b"from shmkit"
        sm.buf[0:4] = b"FROM"
        assert seg.read(0, 4) == b"FROM"
        sm.close()

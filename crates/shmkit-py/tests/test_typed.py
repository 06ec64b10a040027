"""Typed segments made by Rust's Shared<T>, opened from Python with no
declaration: the textbook's MySharedData written by `shmkit demo write`."""

from __future__ import annotations

import subprocess

import pytest

import shmkit
from shmkit import errors


def test_textbook_rust_writes_python_reads_and_answers(name, shmkit_cli):
    rust = subprocess.Popen(
        [shmkit_cli, "demo", "write", name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = rust.stdout.readline()
        assert "Written to shared memory" in first, rust.stderr.read()
        d = shmkit.open_typed(name)
        assert "MySharedData" in shmkit.typed_layout(d)
        assert d.value == 123
        assert chr(d.letter) == "X"
        assert d.numbers[10] == pytest.approx(1.45)
        assert len(d.numbers) == 50
        assert d.numbers[-1] == 0.0
        assert sorted(dir(d)) == ["_pad", "letter", "numbers", "value"]
        # Answer as the textbook's second program does.
        d.value = 456
        d.letter = ord("Y")
        d.numbers[10] = 2.5
        out, err = rust.communicate("\n", timeout=20)
        assert rust.returncode == 0, err
        assert "456" in out and "Y" in out and "2.5" in out, out
        # Bad input: a clear exception, nothing written.
        with pytest.raises(AttributeError, match="no field `nope`.*value, letter"):
            d.nope
        with pytest.raises(IndexError, match="out of range"):
            d.numbers[50]
        with pytest.raises(ValueError, match="not a valid i32"):
            d.value = 1 << 40
        with pytest.raises(TypeError, match="give an int"):
            d.value = 1.5
        with pytest.raises(TypeError, match="give an int"):
            d.letter = True
        with pytest.raises(TypeError, match="not a number"):
            d.numbers = 3
        assert d.value == 456
        assert d.to_python()["numbers"][10] == 2.5
    finally:
        if rust.poll() is None:
            rust.kill()
            rust.wait()


def test_open_typed_of_raw_segment_is_not_typed(name):
    with shmkit.Segment.create(name, 256):
        with pytest.raises(errors.NotTyped, match="not a typed shmkit segment"):
            shmkit.open_typed(name)
    with pytest.raises(FileNotFoundError):
        shmkit.open_typed(name)


def test_open_typed_of_corrupted_header(name, shmkit_cli):
    rust = subprocess.Popen(
        [shmkit_cli, "demo", "write", name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "Written" in rust.stdout.readline()
        raw = shmkit.Segment.open(name)
        layout_len = int.from_bytes(raw.read(20, 4), "little")
        raw.write(b"\xff" * 8, 64 + layout_len // 2)  # scribble over the layout
        with pytest.raises(errors.ShmkitError) as e:
            shmkit.open_typed(name)
        assert isinstance(e.value, (errors.Corrupted, errors.NotTyped)), e.value
        raw.close()
        rust.communicate("\n", timeout=20)
    finally:
        if rust.poll() is None:
            rust.kill()
            rust.wait()


def _my_shared_data_dtype():
    import numpy as np

    return np.dtype(
        [("value", "<i4"), ("letter", "<u2"), ("_pad", "u1", (2,)), ("numbers", "<f4", (50,))]
    )


def test_textbook_python_creates_rust_reads_and_answers(name, shmkit_cli):
    d = shmkit.create_typed(name, _my_shared_data_dtype(), type_name="MySharedData")
    d.value = 123
    d.letter = ord("X")
    d.numbers[10] = 1.45
    out = subprocess.run(
        [shmkit_cli, "demo", "read", "--answer", name],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "123" in out.stdout and "X" in out.stdout and "1.45" in out.stdout, out.stdout
    assert d.value == 456 and chr(d.letter) == "Y" and d.numbers[10] == 2.5


def test_textbook_from_ctypes_structure(name, shmkit_cli):
    import ctypes

    class MySharedData(ctypes.Structure):
        _fields_ = [
            ("value", ctypes.c_int32),
            ("letter", ctypes.c_uint16),
            ("_pad", ctypes.c_uint8 * 2),
            ("numbers", ctypes.c_float * 50),
        ]

    init = MySharedData(value=7)
    d = shmkit.create_typed(name, MySharedData, value=init)
    assert d.value == 7
    out = subprocess.run(
        [shmkit_cli, "demo", "read", "--answer", name], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert d.value == 456


def test_rust_refuses_a_mismatched_layout(name, shmkit_cli):
    import numpy as np

    wrong = np.dtype(
        [("value", "<i8"), ("letter", "<u2"), ("_pad", "u1", (6,)), ("numbers", "<f4", (50,))]
    )
    d = shmkit.create_typed(name, wrong, type_name="MySharedData")
    out = subprocess.run(
        [shmkit_cli, "demo", "read", name], capture_output=True, text=True, timeout=30
    )
    assert out.returncode != 0
    assert "different layout" in out.stderr and "value" in out.stderr, out.stderr
    assert d.value == 0


def test_bad_typed_specs(name):
    import ctypes

    import numpy as np

    with pytest.raises(TypeError, match="Python objects"):
        shmkit.create_typed(name, np.dtype([("o", object)]), type_name="T")
    with pytest.raises(TypeError, match="cannot be stored"):
        shmkit.create_typed(name, np.dtype([("b", "?")]), type_name="T")
    with pytest.raises(TypeError, match="needs a name"):
        shmkit.create_typed(name, np.dtype([("x", "<f8")]))

    class WithPointer(ctypes.Structure):
        _fields_ = [("p", ctypes.c_void_p)]

    with pytest.raises(TypeError, match="cannot be stored"):
        shmkit.create_typed(name, WithPointer)
    # A field placed past the struct's end: the library refuses the layout.
    outside = ("struct", "T", 8, 8, [("x", 8, ("prim", "f64"))])
    with pytest.raises(ValueError, match="invalid layout") as e:
        shmkit.TypedSegment.create(name, outside, bytes(8))
    assert isinstance(e.value, errors.InvalidLayout)
    with pytest.raises(ValueError):
        shmkit.create_typed(name, np.dtype([("x", "<f8")]), type_name="T", value=b"short")
    assert not shmkit.Segment.exists(name)

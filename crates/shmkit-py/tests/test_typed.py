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

"""The benchmark's iceoryx2 row: skipped with a reason when iceoryx2 is not
installed, measured (briefly, here) when it is."""

from __future__ import annotations

import sys

import pytest

from shmkit import bench


def test_iceoryx2_row_says_why_it_is_skipped(monkeypatch):
    monkeypatch.setitem(sys.modules, "iceoryx2", None)  # import now fails
    why = bench.iceoryx2_missing()
    assert why is not None and "pip install iceoryx2" in why


def test_iceoryx2_row_measures_when_installed():
    why = bench.iceoryx2_missing()
    if why is not None:
        pytest.skip(f"SKIPPED: iceoryx2 row not measurable here: {why}")
    assert bench.iceoryx2_throughput(64, 0.2) > 0
    assert 0 < bench.iceoryx2_pingpong(200) < 1.0

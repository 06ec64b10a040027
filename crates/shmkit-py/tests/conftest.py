"""Fixtures shared by the shmkit tests: unique names, helper processes,
the Rust peer binary, and a check that /dev/shm is left clean."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CRATE = Path(__file__).resolve().parent.parent
PREFIX = f"pt{os.getpid()}-"
_counter = itertools.count()
SHM = Path("/dev/shm")


def _ours() -> set[str]:
    if not SHM.is_dir():
        return set()
    return {p.name for p in SHM.iterdir() if PREFIX in p.name}


@pytest.fixture(scope="session", autouse=True)
def shm_left_clean():
    """Every test must leave nothing of its own in /dev/shm."""
    before = _ours()
    yield
    left = _ours() - before
    assert not left, f"tests left these in /dev/shm: {sorted(left)}"


@pytest.fixture
def name() -> str:
    """A segment name no other test or run uses (it carries the pid)."""
    return f"{PREFIX}{next(_counter)}"


class Child:
    """A Python child process running `code`, with line-based stdout."""

    def __init__(self, code: str, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def line(self) -> str:
        out = self.proc.stdout.readline()
        if not out:
            err = self.proc.stderr.read()
            raise AssertionError(f"child ended without a line; stderr:\n{err}")
        return out.rstrip("\n")

    def wait(self, timeout: float = 20) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def child():
    """Starts Python children; kills any still running after the test."""
    made: list[Child] = []

    def start(code: str, *args: str) -> Child:
        c = Child(code, *args)
        made.append(c)
        return c

    yield start
    for c in made:
        c.kill()


@pytest.fixture(scope="session")
def rust_peer() -> str:
    """The path of the Rust peer binary (examples/rust_peer.rs), built once.

    SHMKIT_RUST_PEER names a prebuilt one; otherwise cargo builds it. Without
    cargo the tests that need it skip, saying why.
    """
    given = os.environ.get("SHMKIT_RUST_PEER")
    if given:
        return given
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.skip("SKIPPED: no cargo to build the Rust peer (set SHMKIT_RUST_PEER)")
    target = os.environ.get("CARGO_TARGET_DIR", str(CRATE / "target"))
    subprocess.run(
        [cargo, "build", "--release", "--example", "rust_peer"],
        cwd=CRATE,
        check=True,
    )
    return str(Path(target) / "release" / "examples" / "rust_peer")


class Peer:
    """A Rust peer process, with line-based stdout."""

    def __init__(self, exe: str, *args: str):
        self.proc = subprocess.Popen(
            [exe, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def line(self) -> str:
        out = self.proc.stdout.readline()
        if not out:
            raise AssertionError(f"peer ended early; stderr:\n{self.proc.stderr.read()}")
        return out.rstrip("\n")

    def wait(self, timeout: float = 20) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


@pytest.fixture
def peer(rust_peer):
    made: list[Peer] = []

    def start(*args: str) -> Peer:
        p = Peer(rust_peer, *args)
        made.append(p)
        return p

    yield start
    for p in made:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def shmkit_cli() -> str:
    """The path of the Rust `shmkit` CLI (SHMKIT_CLI, or built with cargo)."""
    given = os.environ.get("SHMKIT_CLI")
    if given:
        return given
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.skip("SKIPPED: no cargo to build the shmkit CLI (set SHMKIT_CLI)")
    root = CRATE.parent.parent
    subprocess.run([cargo, "build", "-q", "-p", "shmkit-cli"], cwd=root, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", str(root / "target"))
    return str(Path(target) / "debug" / "shmkit")

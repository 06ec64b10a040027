"""Mutex and Event between real processes, including an owner killed with
kill -9 while holding the Mutex."""

from __future__ import annotations

import os
import signal
import threading

import pytest

import shmkit
from shmkit import errors

HOLD = """
import sys, time, shmkit
m = shmkit.Mutex.open(sys.argv[1])
m.acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_owner_killed_gives_owner_died(name, child):
    m = shmkit.Mutex.create(name)
    c = child(HOLD, name)
    assert c.line() == "locked"
    assert m.acquire(timeout=0.1) is False
    os.kill(c.proc.pid, signal.SIGKILL)
    assert c.proc.wait(10) == -signal.SIGKILL
    with pytest.raises(shmkit.OwnerDied) as e:
        m.acquire(timeout=10)
    assert "died holding it" in str(e.value)
    # The exception leaves this thread holding the lock, marked inconsistent.
    assert m.locked and m.inconsistent
    m.mark_consistent()
    assert not m.inconsistent
    m.release()
    with m:
        assert m.locked and not m.inconsistent
    assert not m.locked
    m.close()


def test_owner_died_unrepaired_is_reported_again(name, child):
    m = shmkit.Mutex.create(name)
    c = child(HOLD, name)
    assert c.line() == "locked"
    c.proc.kill()
    assert c.proc.wait(10) == -signal.SIGKILL
    with pytest.raises(errors.OwnerDied):
        with m:
            pass
    m.release()  # released without mark_consistent: still marked
    with pytest.raises(errors.OwnerDied):
        m.acquire(timeout=5)
    m.mark_consistent()
    m.release()
    assert m.acquire(timeout=5) is True
    m.release()


def test_mutex_excludes_another_process(name, child):
    m = shmkit.Mutex.create(name)
    with m:
        c = child(
            """
            import sys, shmkit
            m = shmkit.Mutex.open(sys.argv[1])
            print("try", m.acquire(timeout=0.2), flush=True)
            print("wait", m.acquire(timeout=20), flush=True)
            m.release()
            """,
            name,
        )
        assert c.line() == "try False"
    assert c.line() == "wait True"
    rc, _, err = c.wait()
    assert rc == 0, err


def test_mutex_misuse(name):
    m = shmkit.Mutex.create(name)
    with pytest.raises(RuntimeError, match="does not hold"):
        m.release()
    with pytest.raises(RuntimeError, match="needs the lock"):
        m.mark_consistent()
    m.acquire()
    with pytest.raises(errors.LockBusy):
        m.acquire()
    m.release()
    with pytest.raises(FileExistsError):
        shmkit.Mutex.create(name)
    with pytest.raises(FileNotFoundError):
        shmkit.Mutex.open(name + "x")
    m.close()
    with pytest.raises(ValueError, match="closed"):
        m.acquire()


def test_event_between_processes(name, child):
    ev = shmkit.Event.create(name)
    done = shmkit.Event.create(name + "d")
    c = child(
        """
        import sys, shmkit
        ev = shmkit.Event.open(sys.argv[1])
        done = shmkit.Event.open(sys.argv[1] + "d")
        print("ready", flush=True)
        print("woke", ev.wait(timeout=20), flush=True)
        done.set()
        """,
        name,
    )
    assert c.line() == "ready"
    ev.set()
    assert c.line() == "woke True"
    assert done.wait(timeout=20)
    rc, _, err = c.wait()
    assert rc == 0, err
    assert ev.wait(timeout=0.05) is False


def test_event_manual_reset(name):
    ev = shmkit.Event.create(name, manual_reset=True)
    assert ev.manual_reset and not ev.is_set()
    ev.set()
    assert ev.wait(timeout=1) and ev.wait(timeout=1) and ev.is_set()
    ev.reset()
    assert not ev.is_set()
    waiters = [threading.Thread(target=ev.wait, args=(10,)) for _ in range(3)]
    for t in waiters:
        t.start()
    ev.notify_all()
    for t in waiters:
        t.join(10)
        assert not t.is_alive()

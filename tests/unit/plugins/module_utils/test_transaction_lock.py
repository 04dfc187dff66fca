# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host lock of config_files: a waiter gives up naming the holder; a dead holder never blocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.matrixops.delegation.plugins.module_utils._txlock import HostLock, LockError, valid_lock_name

HOLD = """
import fcntl, os, sys, time
handle = open(sys.argv[1], "a+")
fcntl.flock(handle, fcntl.LOCK_EX)
handle.truncate(0)
handle.write(f"pid={os.getpid()}\\nstarted=2026-12-03T10:00:00Z\\nlock=test\\n")
handle.flush()
print("held", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "test.lock")], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait()


def test_a_waiter_gives_up_after_the_timeout_naming_the_holder(tmp_path, holder):
    started = time.monotonic()
    with pytest.raises(LockError) as failure:
        HostLock("test", 0.5, directory=str(tmp_path)).acquire()
    assert 0.5 <= time.monotonic() - started < 5
    message = str(failure.value)
    assert f"PID {holder.pid}, started 2026-12-03T10:00:00Z" in message
    assert "lock 'test'" in message and "lock_timeout" in message and str(tmp_path / "test.lock") in message


def test_a_killed_holder_does_not_block(tmp_path, holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock = HostLock("test", 5, directory=str(tmp_path))
    with lock:
        assert lock.waited < 1
        assert f"pid={os.getpid()}\n" in (tmp_path / "test.lock").read_text()


def test_the_second_waits_until_the_first_releases(tmp_path):
    first = HostLock("test", 1, directory=str(tmp_path))
    first.acquire()
    clock = iter(range(100))
    second = HostLock(
        "test", 10, directory=str(tmp_path), clock=lambda: float(next(clock)), sleep=lambda s: first.release()
    )
    assert second.acquire() == 2.0  # one failed attempt, then free
    second.release()


def test_lock_names_are_file_names():
    assert valid_lock_name("nginx") and valid_lock_name("files-0123abcd")
    assert not valid_lock_name("../etc/passwd") and not valid_lock_name("") and not valid_lock_name("a b")
    with pytest.raises(LockError, match="not a valid lock name"):
        HostLock("../x", 1)

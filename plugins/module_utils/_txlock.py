# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One ``config_files`` run at a time per host and lock name: ``flock`` on a file under /run/lock.

The kernel releases a ``flock`` when its holder dies, so a lock left by a killed run never blocks.
The holder writes its PID, start time and the lock name into the file; a waiter that gives up
names them.

Private module: not part of the collection's public API.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from typing import IO, Callable

__all__ = ["HostLock", "LockError", "lock_directory", "valid_lock_name"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class LockError(Exception):
    """The lock could not be taken (timeout, or its directory unusable)."""


def valid_lock_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


def lock_directory() -> str:
    """``/run/lock/matrixops-delegation`` (``/tmp/...`` only when /run/lock is missing)."""
    base = "/run/lock" if os.path.isdir("/run/lock") else "/tmp"
    return os.path.join(base, "matrixops-delegation")


def _holder(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            fields = dict(line.split("=", 1) for line in handle.read().splitlines() if "=" in line)
    except OSError:
        return "an unknown process"
    pid = fields.get("pid", "?")
    command = ""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()[:160]
    except (OSError, ValueError):
        pass
    described = f"PID {pid}, started {fields.get('started', '?')}"
    return f"{described}: {command}" if command else described


class HostLock:
    """``with HostLock('nginx', 600) as lock:`` waits up to 600 s; ``lock.waited`` is the wait in seconds."""

    def __init__(
        self,
        name: str,
        timeout: float,
        directory: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not valid_lock_name(name):
            raise LockError(f"lock: {name!r} is not a valid lock name (letters, digits, '.', '_', '-'; at most 100)")
        self.name = name
        self.timeout = timeout
        self.path = os.path.join(directory or lock_directory(), f"{name}.lock")
        self.clock = clock
        self.sleep = sleep
        self.waited = 0.0
        self._handle: IO[str] | None = None

    def acquire(self) -> float:
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        except OSError as exc:
            raise LockError(f"lock {self.name}: cannot open {self.path}: {exc.strerror}") from exc
        started = self.clock()
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if self.clock() - started >= self.timeout:
                    holder = _holder(self.path)
                    handle.close()
                    raise LockError(
                        f"another run holds the lock {self.name!r} ({self.path}; {holder}); gave up after "
                        f"waiting {self.timeout:g} s (lock_timeout). Let it finish, or stop that process"
                    ) from None
                self.sleep(0.1)
        self.waited = round(self.clock() - started, 3)
        handle.seek(0)
        handle.truncate()
        started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        handle.write(f"pid={os.getpid()}\nstarted={started_at}\nlock={self.name}\n")
        handle.flush()
        self._handle = handle
        return self.waited

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing releases the flock
            self._handle = None

    def __enter__(self) -> HostLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

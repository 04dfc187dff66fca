"""The lab's daemons as processes: start one, tell whether it still runs, stop it, report on it.

Shared by ``knot.py``, ``nginx.py`` and ``synapse.py`` (``import proc``: a script run as
``python tests/lab/x.py`` has tests/lab first on ``sys.path``, and the tests put it there).

A :class:`Daemon` is one instance's working directory: its pid file, its log and a state file
(JSON: what it was started with).  The pid in the pid file counts only while that process is
alive (a zombie is not) and its command line is the instance's (:meth:`Daemon.is_ours`), so a
stale pid file whose number was reused names nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "Daemon",
    "bind_error",
    "cli_failure",
    "cmdline",
    "find_executable",
    "pid_alive",
    "print_info",
    "read_json",
    "reap",
    "spawn",
    "tail",
    "terminate",
]


def find_executable(name: str) -> str | None:
    """Path of the executable ``name``: on PATH, else in /usr/sbin or /usr/local/sbin (Debian puts
    daemons there, and root's PATH may lack them)."""
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/local/sbin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs.  A zombie (exited, not reaped yet) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - the lab runs as root
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # gone in between
        return False


def reap(pid: int) -> None:
    """Collect ``pid`` if it is an exited child of ours, so that it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def cmdline(pid: int) -> list[bytes]:
    """The arguments of ``pid`` as /proc shows them (empty when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def terminate(pid: int, *, timeout: float, also: Iterable[int] = (), grace: float = 5.0) -> bool:
    """SIGTERM to ``pid``, then wait until it and the processes ``also`` (its workers) are gone.

    Whatever is left after ``timeout`` seconds gets SIGKILL and ``grace`` seconds more.  Reaps
    ``pid`` when it is our child.  True when every process is gone.
    """
    procs = {pid, *also}
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    killed = False
    while True:
        reap(pid)
        left = [x for x in procs if pid_alive(x)]
        if not left:
            return True
        if time.monotonic() > deadline:
            if killed:
                return False
            for x in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(x, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + grace
        time.sleep(0.05)


def bind_error(
    address: str, port: int, kind: socket.SocketKind = socket.SOCK_STREAM, *, reuse_address: bool = False
) -> str | None:
    """Why a socket of ``kind`` cannot bind ``address``/``port`` (``strerror``), or None when it can.

    ``reuse_address`` sets SO_REUSEADDR first, as servers such as Twisted do, so that
    connections in TIME_WAIT do not count as a listener.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, kind) as probe:
        if reuse_address:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} missing)"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} empty)"


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when it is missing or not JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def spawn(
    argv: Sequence[str], log: Path, *, detach: bool, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdin from /dev/null and stdout and stderr appended to ``log`` (emptied first).

    ``detach``: in a session of its own, so that it outlives this process and its Ctrl-C.
    Appending lets a daemon write its own log to the same file.
    """
    log.write_bytes(b"")
    with open(log, "ab") as output:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
            close_fds=True,
        )


class Daemon:
    """One daemon instance's working directory: its pid file, log and state file.

    The names are relative to ``workdir``.  Subclasses say in :meth:`is_ours` how the
    instance's command line looks.
    """

    def __init__(self, workdir: Path | str, *, pidfile: str, log: str, state: str) -> None:
        self.workdir = Path(workdir).resolve()
        self.pidfile = self.workdir / pidfile
        self.log_path = self.workdir / log
        self.state_path = self.workdir / state

    def is_ours(self, argv: list[bytes]) -> bool:
        """Whether a process with these arguments (:func:`cmdline`) is this instance."""
        raise NotImplementedError

    def running_pid(self) -> int | None:
        """PID of this instance (from its pid file) while it runs, else None."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        reap(pid)
        return pid if pid_alive(pid) and self.is_ours(cmdline(pid)) else None

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log_path, lines)

    def read_state(self) -> dict:
        """What the state file says (empty when there is none)."""
        state = read_json(self.state_path)
        return state if isinstance(state, dict) else {}

    def write_state(self, state: Mapping[str, Any]) -> None:
        self.state_path.write_text(json.dumps(state, indent=2) + "\n")

    def forget(self) -> None:
        """Remove the pid file and the state file (after a stop)."""
        self.pidfile.unlink(missing_ok=True)
        self.state_path.unlink(missing_ok=True)


# -- command line ----------------------------------------------------------------------------------
def cli_failure(what: str, exc: Exception) -> int:
    """Report a failed command (``"<what> failed: <exc>"`` on stderr); its exit status, 1."""
    print(f"{what} failed: {exc}", file=sys.stderr)
    return 1


def print_info(info: Mapping[str, Any], headline: str, *, as_json: bool, human: Callable[[Any, str], None]) -> None:
    """Print a status: as JSON, or for people through ``human(info, headline)``."""
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        human(info, headline)

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small servers on 127.0.0.1 for tests: a bound socket, a daemon thread, a serving loop."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any


def bound_socket(kind: int, *, timeout: float) -> socket.socket:
    """An IPv4 socket on 127.0.0.1 and a free port (a TCP one listening)."""
    sock = socket.socket(socket.AF_INET, kind)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(timeout)
    if kind == socket.SOCK_STREAM:
        sock.listen(8)
    return sock


def daemon(target: Callable[..., Any], *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def serve_until(stop: threading.Event, receive: Callable[[], Any], handle: Callable[[Any], Any]) -> None:
    """``handle(receive())`` until ``stop`` is set; a time-out checks ``stop`` again, a closed socket ends it."""
    while not stop.is_set():
        try:
            received = receive()
        except TimeoutError:
            continue
        except OSError:
            return
        handle(received)

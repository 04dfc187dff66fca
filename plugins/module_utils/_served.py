# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a host really serves after an activation: ``probe`` one URL by address with SNI and Host,
``verify`` a ``check_served`` entry until a deadline, and ``port_holder`` names the process that
listens on an address and port (``/proc/net/tcp{,6}`` and ``/proc/<pid>/fd``).

The certificate is not verified: the probe proves which configuration answers, not trust.

Private module: not part of the collection's public API.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
import sys
import time
from dataclasses import dataclass
from typing import Callable

__all__ = ["Response", "listening_inodes", "port_holder", "probe", "verify"]

_LISTEN = "0A"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def probe(
    address: str, port: int, server_name: str, path: str = "/", tls: bool = True, timeout: float = 5.0
) -> Response:
    """GET ``path`` from ``address:port`` with SNI and ``Host`` = ``server_name``."""
    connection = http.client.HTTPConnection(server_name, port, timeout=timeout)
    raw = socket.create_connection((address, port), timeout=timeout)
    try:
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            raw = context.wrap_socket(raw, server_hostname=server_name)
        connection.sock = raw
        connection.request("GET", path, headers={"Host": server_name, "Connection": "close"})
        response = connection.getresponse()
        body = response.read(1 << 20)
        return Response(response.status, {key.lower(): value for key, value in response.getheaders()}, body)
    finally:
        connection.close()
        raw.close()


def _expectation(check: dict) -> str:
    parts = [f"status {check.get('status') or 200}"]
    if check.get("body") is not None:
        parts.append(f"body {check['body']!r}")
    if check.get("body_contains"):
        parts.append(f"a body containing {check['body_contains']!r}")
    return " and ".join(parts)


def _mismatch(check: dict, response: Response) -> str:
    body = response.body.decode("utf-8", "replace")
    if response.status != (check.get("status") or 200):
        return f"status {response.status} (body {body[:200]!r})"
    if check.get("body") is not None and body != check["body"]:
        return f"body {body[:300]!r}"
    if check.get("body_contains") and check["body_contains"] not in body:
        return f"body {body[:300]!r}"
    return ""


def verify(
    check: dict,
    timeout: float,
    fetch: Callable[..., Response] = probe,
    holder: Callable[[str, int], str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """'' when ``check`` (address, port, server_name, path, tls, status, body, body_contains) holds
    within ``timeout`` seconds, else what was expected, what was seen and what holds the port."""
    return _verify_until(check, timeout, clock() + timeout, fetch, holder, clock, sleep)


def verify_all(
    checks: list[dict],
    timeout: float,
    fetch: Callable[..., Response] = probe,
    holder: Callable[[str, int], str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """What is wrong with each of ``checks`` (none: []), all within one ``timeout``: every check is
    tried until it holds or the shared deadline passes, then at least once, so a failing first
    check neither hides the others nor multiplies the wait."""
    deadline = clock() + timeout
    problems = (_verify_until(check, timeout, deadline, fetch, holder, clock, sleep) for check in checks)
    return [problem for problem in problems if problem]


def _verify_until(
    check: dict,
    timeout: float,
    deadline: float,
    fetch: Callable[..., Response],
    holder: Callable[[str, int], str] | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> str:
    tls = check.get("tls", True) is not False
    port = int(check.get("port") or (443 if tls else 80))
    address, name, path = check["address"], check["server_name"], check.get("path") or "/"
    seen = ""
    while True:
        remaining = max(deadline - clock(), 0.5)
        try:
            seen = _mismatch(check, fetch(address, port, name, path, tls, min(remaining, 5.0)))
        except (OSError, http.client.HTTPException) as exc:
            seen = f"no answer ({exc.__class__.__name__}: {exc})"
        if not seen or clock() >= deadline:
            break
        sleep(0.2)
    if not seen:
        return ""
    url = f"{'https' if tls else 'http'}://{_host(address)}:{port}{path}"
    return (
        f"check_served: {url} with {'SNI and ' if tls else ''}Host {name} should answer {_expectation(check)}, "
        f"but gave {seen} for {timeout:g} s (check_timeout); {(holder or port_holder)(address, port)}"
    )


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _decode(hex_address: str) -> tuple[str, int]:
    """``0100007F:01BB`` (/proc/net/tcp, host byte order per 32-bit word) -> ('127.0.0.1', 443)."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address), int(port, 16)


def listening_inodes(table: str, address: str, port: int) -> list[int]:
    """Socket inodes of a ``/proc/net/tcp`` or ``tcp6`` text listening where ``address:port`` connects."""
    wanted = ipaddress.ip_address(address)
    found = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _LISTEN:
            continue
        local, local_port = _decode(fields[1])
        if local_port != port:
            continue
        bound = ipaddress.ip_address(local)
        if bound == wanted or bound.is_unspecified:
            found.append(int(fields[9]))
    return found


def _read(path: str, binary: bool = False) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return ""
    return data.replace(b"\0", b" ").decode("utf-8", "replace").strip() if binary else data.decode("utf-8", "replace")


def _owners(inodes: list[int], proc: str) -> list[int]:
    targets = {f"socket:[{inode}]" for inode in inodes}
    owners = []
    for pid in sorted(int(name) for name in os.listdir(proc) if name.isdigit()):
        fd_dir = os.path.join(proc, str(pid), "fd")
        try:
            descriptors = os.listdir(fd_dir)
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(os.path.join(fd_dir, descriptor)) in targets:
                    owners.append(pid)
                    break
            except OSError:
                continue
    return owners


def port_holder(address: str, port: int, proc: str = "/proc") -> str:
    """``127.0.0.2:443 is held by nginx (PID 12: nginx: master process ...)``, or that nothing listens."""
    where = f"{_host(address)}:{port}"
    inodes = []
    for table in ("tcp", "tcp6"):
        inodes += listening_inodes(_read(os.path.join(proc, "net", table)), address, port)
    if not inodes:
        return f"nothing listens on {where}"
    owners = _owners(inodes, proc)
    if not owners:
        return f"{where} is held by a process this user cannot see (socket inode {inodes[0]})"
    first = owners[0]
    name = _read(os.path.join(proc, str(first), "comm")).strip() or "?"
    command = _read(os.path.join(proc, str(first), "cmdline"), binary=True)[:160]
    more = f" and {len(owners) - 1} more process(es)" if len(owners) > 1 else ""
    return f"{where} is held by {name} (PID {first}: {command}){more}"

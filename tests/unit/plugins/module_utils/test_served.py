# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""check_served: which process holds a port (from a fixture /proc), the retried verification and
its message."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ansible_collections.matrixops.delegation.plugins.module_utils._served import (
    Response,
    listening_inodes,
    port_holder,
    verify,
    verify_all,
)

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def _v4(address: str, port: int) -> str:
    raw = bytes(int(part) for part in address.split("."))
    if sys.byteorder == "little":
        raw = raw[::-1]
    return f"{raw.hex().upper()}:{port:04X}"


def _v6(address: str, port: int) -> str:
    import ipaddress

    raw = ipaddress.ip_address(address).packed
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return f"{raw.hex().upper()}:{port:04X}"


def _line(index: int, local: str, state: str, inode: int) -> str:
    return (
        f"   {index}: {local} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000     0        0 {inode} 1\n"
    )


TCP = HEADER + "".join(
    [
        _line(0, _v4("127.0.0.2", 443), "0A", 1001),  # nginx on 127.0.0.2:443
        _line(1, _v4("0.0.0.0", 8008), "0A", 1002),  # synapse on every address
        _line(2, _v4("127.0.0.1", 443), "01", 1003),  # an established connection: not a listener
    ]
)
TCP6 = HEADER + _line(0, _v6("::", 8448), "0A", 2001) + _line(1, _v6("::1", 443), "0A", 2002)


def test_listeners_match_the_exact_address_or_a_wildcard():
    assert listening_inodes(TCP, "127.0.0.2", 443) == [1001]
    assert listening_inodes(TCP, "127.0.0.3", 443) == []
    assert listening_inodes(TCP, "127.0.0.9", 8008) == [1002]
    assert listening_inodes(TCP, "127.0.0.1", 443) == [], "only LISTEN sockets count"
    assert listening_inodes(TCP6, "127.0.0.2", 8448) == [2001], "[::] accepts IPv4 too"
    assert listening_inodes(TCP6, "::1", 443) == [2002]


@pytest.fixture
def proc(tmp_path):
    """A /proc with nginx (master PID 10 and worker 11 share the socket) and synapse (PID 20)."""
    (tmp_path / "net").mkdir()
    (tmp_path / "net/tcp").write_text(TCP)
    (tmp_path / "net/tcp6").write_text(TCP6)
    processes = {
        10: ("nginx", b"nginx: master process /usr/sbin/nginx\0", 1001),
        11: ("nginx", b"nginx: worker process\0", 1001),
        20: ("python3", b"/usr/bin/python3\0-m\0synapse.app.homeserver\0", 1002),
    }
    for pid, (comm, cmdline, inode) in processes.items():
        (tmp_path / str(pid) / "fd").mkdir(parents=True)
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
        (tmp_path / str(pid) / "cmdline").write_bytes(cmdline)
        os.symlink("/dev/null", tmp_path / str(pid) / "fd" / "0")
        os.symlink(f"socket:[{inode}]", tmp_path / str(pid) / "fd" / "3")
    (tmp_path / "self").mkdir()
    return tmp_path


def test_the_holder_is_named_with_pid_and_command(proc):
    assert port_holder("127.0.0.2", 443, proc=str(proc)) == (
        "127.0.0.2:443 is held by nginx (PID 10: nginx: master process /usr/sbin/nginx) and 1 more process(es)"
    )
    assert port_holder("127.0.0.5", 8008, proc=str(proc)) == (
        "127.0.0.5:8008 is held by python3 (PID 20: /usr/bin/python3 -m synapse.app.homeserver)"
    )


def test_nothing_listening_and_an_invisible_holder_are_told_apart(proc):
    assert port_holder("127.0.0.3", 443, proc=str(proc)) == "nothing listens on 127.0.0.3:443"
    assert port_holder("::1", 443, proc=str(proc)) == (
        "[::1]:443 is held by a process this user cannot see (socket inode 2002)"
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


CHECK = {"address": "127.0.0.2", "server_name": "example.test", "path": "/x", "body_contains": "new"}


def test_a_check_that_becomes_true_before_the_timeout_passes():
    clock = Clock()
    answers = iter([Response(502, {}, b"bad gateway"), Response(200, {}, b"old"), Response(200, {}, b"the new one")])
    assert verify(CHECK, 5, fetch=lambda *args: next(answers), clock=clock, sleep=clock.sleep) == ""


def test_a_failed_check_says_what_was_expected_what_was_seen_and_who_holds_the_port():
    clock = Clock()
    calls = []

    def fetch(*args):
        calls.append(args)
        return Response(200, {}, b'{"m.server": "old:443"}')

    message = verify(
        CHECK, 2, fetch=fetch, holder=lambda a, p: f"{a}:{p} is held by nginx (PID 1)", clock=clock, sleep=clock.sleep
    )
    assert calls[0] == ("127.0.0.2", 443, "example.test", "/x", True, 2)
    assert len(calls) > 1, "retried until the timeout"
    assert message == (
        "check_served: https://127.0.0.2:443/x with SNI and Host example.test should answer status 200 and a body "
        "containing 'new', but gave body '{\"m.server\": \"old:443\"}' for 2 s (check_timeout); "
        "127.0.0.2:443 is held by nginx (PID 1)"
    )


def test_a_refused_connection_is_reported_as_no_answer():
    clock = Clock()

    def fetch(*args):
        raise ConnectionRefusedError(111, "Connection refused")

    message = verify(
        {**CHECK, "tls": False, "port": 8080},
        1,
        fetch=fetch,
        holder=lambda a, p: "nothing listens",
        clock=clock,
        sleep=clock.sleep,
    )
    assert "http://127.0.0.2:8080/x with Host example.test" in message
    assert "no answer (ConnectionRefusedError" in message and message.endswith("nothing listens")


def test_the_real_proc_names_this_process_for_its_own_listener():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        port = listener.getsockname()[1]
        assert f"(PID {os.getpid()}:" in port_holder("127.0.0.1", port)
    finally:
        listener.close()


def test_fixture_helpers_encode_like_the_kernel():
    table = Path("/proc/net/tcp").read_text() if Path("/proc/net/tcp").exists() else ""
    if "0100007F" in table:  # 127.0.0.1 as the kernel writes it on this machine
        assert _v4("127.0.0.1", 0).startswith("0100007F")


def test_every_failing_check_is_named_within_one_shared_timeout():
    clock = Clock()
    good = {**CHECK, "address": "127.0.0.3"}
    bad_port = {**CHECK, "port": 8448}

    def fetch(address, port, *args):
        if port == 8448:
            raise ConnectionRefusedError(111, "Connection refused")
        return Response(200, {}, b"new" if address == "127.0.0.3" else b"old")

    problems = verify_all(
        [CHECK, good, bad_port], 3, fetch=fetch, holder=lambda a, p: "nothing", clock=clock, sleep=clock.sleep
    )
    assert [problem.split(" with ")[0] for problem in problems] == [
        "check_served: https://127.0.0.2:443/x",
        "check_served: https://127.0.0.2:8448/x",
    ]
    assert clock.now < 3 + 1, "the second failing check did not wait a timeout of its own"
    assert verify_all([good], 3, fetch=fetch, clock=clock, sleep=clock.sleep) == []

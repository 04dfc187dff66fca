"""Start and stop a private Knot DNS (knotd) instance for the lab and the tests.

Everything the server uses lives in one working directory: its configuration, zone files,
database, run directory (pid file, control socket) and log.  It listens on exactly one
address and port (``listen: IP@port``), never on a wildcard address, so several instances
can run side by side on different loopback addresses.

Failure zones: ``broken_zones`` maps a zone name to ``None`` (the zone is configured but its
file does not exist) or to zone text that does not parse.  Knot 3.2 then answers SERVFAIL for
every name at or below that zone; this is how the tests get a SERVFAIL for one SRV query.

Dynamic updates (RFC 2136, for the ``srv_records`` role): ``tsig_keys`` maps key names to
``(algorithm, base64 secret)`` and ``updatable_zones`` maps zone names to the key allowed to
update them.  Updatable zones are written back to their zone file immediately.

As a context manager::

    with KnotServer(workdir, "127.0.0.1", 5353, {"example.test.": ZONE_TEXT}) as knot:
        knot.nameserver   # "127.0.0.1:5353"

From the command line (the server keeps running after ``start`` returns)::

    python tests/lab/knot.py start --workdir DIR --listen 127.0.0.1@5353 \\
        --zone example.test.=example.test.zone [--broken-zone bad.example.test.]
    python tests/lab/knot.py status --workdir DIR
    python tests/lab/knot.py stop --workdir DIR
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

__all__ = ["KnotError", "KnotServer", "find_knotd", "port_in_use", "read_state"]

STATE_FILE = "knot-state.json"


class KnotError(RuntimeError):
    """knotd could not be configured, started or stopped."""


def find_knotd() -> str:
    """Path of ``knotd`` (Debian installs it in /usr/sbin, which may not be on PATH)."""
    for candidate in (shutil.which("knotd"), "/usr/sbin/knotd", "/usr/local/sbin/knotd"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise KnotError("knotd not found: install Knot DNS (apt-get install knot knot-dnsutils; `make deps` does this)")


def _fqdn(zone: str) -> str:
    return zone if zone.endswith(".") else zone + "."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - we run as root
        return True
    # A zombie (exited, not yet reaped) is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _pid_is_our_knotd(pid: int, conf: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(b"knotd" in part for part in cmdline[:1]) and str(conf).encode() in cmdline


def port_in_use(address: str, port: int) -> str | None:
    """Why ``address``/``port`` cannot be ours, or None when UDP and TCP are both free.

    knotd binds with SO_REUSEPORT, so a second knotd on the same address and port starts
    without complaint and the two share the queries.  Binding a plain socket first (which
    conflicts with any existing socket, reuse-port or not) catches that.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for kind, label in ((socket.SOCK_DGRAM, "UDP"), (socket.SOCK_STREAM, "TCP")):
        with socket.socket(family, kind) as probe:
            try:
                probe.bind((address, port))
            except OSError as exc:
                return f"{label} {address}@{port} is already in use ({exc.strerror})"
    return None


def read_state(workdir: Path) -> dict | None:
    """The state file written by :meth:`KnotServer.start`, or None."""
    path = Path(workdir) / STATE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class KnotServer:
    """One knotd process, configured from Python data."""

    def __init__(
        self,
        workdir: Path | str,
        address: str = "127.0.0.1",
        port: int = 5353,
        zones: Mapping[str, str] | None = None,
        *,
        broken_zones: Mapping[str, str | None] | None = None,
        tsig_keys: Mapping[str, tuple[str, str]] | None = None,
        updatable_zones: Mapping[str, str] | None = None,
        zone_files: Mapping[str, Path | str] | None = None,
    ) -> None:
        if address in ("0.0.0.0", "::", "") or address.startswith("0."):
            raise KnotError(f"refusing to listen on the wildcard address {address!r}: use a specific loopback address")
        self.workdir = Path(workdir).resolve()
        self.address = address
        self.port = int(port)
        self.zones = {_fqdn(k): v for k, v in (zones or {}).items()}
        self.zone_files = {_fqdn(k): Path(v) for k, v in (zone_files or {}).items()}
        self.broken_zones = {_fqdn(k): v for k, v in (broken_zones or {}).items()}
        self.tsig_keys = dict(tsig_keys or {})
        self.updatable_zones = {_fqdn(k): v for k, v in (updatable_zones or {}).items()}
        for zone, key in self.updatable_zones.items():
            if key not in self.tsig_keys:
                raise KnotError(f"zone {zone}: TSIG key {key!r} is not defined")
        self._process: subprocess.Popen[bytes] | None = None

    # -- paths ------------------------------------------------------------------------
    @property
    def conf_path(self) -> Path:
        return self.workdir / "knot.conf"

    @property
    def rundir(self) -> Path:
        return self.workdir / "run"

    @property
    def pidfile(self) -> Path:
        return self.rundir / "knot.pid"

    @property
    def control_socket(self) -> Path:
        return self.rundir / "knot.sock"

    @property
    def zonedir(self) -> Path:
        return self.workdir / "zones"

    @property
    def log_path(self) -> Path:
        return self.workdir / "knot.log"

    @property
    def nameserver(self) -> str:
        """``IP:port`` as the lookup's ``nameservers`` option takes it."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    def zone_path(self, zone: str) -> Path:
        return self.zonedir / f"{_fqdn(zone)[:-1]}.zone"

    # -- configuration ----------------------------------------------------------------
    def config_text(self) -> str:
        q = json.dumps  # knot accepts double-quoted strings like JSON's
        lines = [
            "# Written by tests/lab/knot.py; regenerated at every start.",
            "server:",
            f"    rundir: {q(str(self.rundir))}",
            f"    pidfile: {q(str(self.pidfile))}",
            f"    listen: {self.address}@{self.port}",
            "    udp-workers: 1",
            "    tcp-workers: 1",
            "    background-workers: 1",
            "",
            "log:",
            f"  - target: {q(str(self.log_path))}",
            "    any: info",
            "",
            "database:",
            f"    storage: {q(str(self.workdir / 'db'))}",
            "",
            "control:",
            f"    listen: {q(str(self.control_socket))}",
            "",
        ]
        if self.tsig_keys:
            lines.append("key:")
            for name, (algorithm, secret) in self.tsig_keys.items():
                lines += [f"  - id: {name}", f"    algorithm: {algorithm}", f"    secret: {secret}"]
            lines.append("")
            lines.append("acl:")
            for name in self.tsig_keys:
                lines += [f"  - id: update-{name}", f"    key: {name}", "    action: update"]
            lines.append("")
        lines += [
            "template:",
            "  - id: default",
            f"    storage: {q(str(self.zonedir))}",
            '    file: "%s.zone"',
            "    zonefile-sync: -1",
            "    zonefile-load: whole",
            "    journal-content: none",
            "    semantic-checks: off",
            "",
            "zone:",
        ]
        for zone in [*self.zones, *self.zone_files, *self.broken_zones]:
            lines.append(f"  - domain: {zone}")
            if zone in self.zone_files:
                lines.append(f"    file: {q(str(self.zone_files[zone].resolve()))}")
            if zone in self.updatable_zones:
                lines += [
                    f"    acl: update-{self.updatable_zones[zone]}",
                    "    zonefile-sync: 0",
                    "    journal-content: changes",
                ]
        return "\n".join(lines) + "\n"

    def write_files(self) -> None:
        for directory in (self.workdir, self.rundir, self.zonedir, self.workdir / "db"):
            directory.mkdir(parents=True, exist_ok=True)
        for zone, text in self.zones.items():
            self.zone_path(zone).write_text(text)
        for zone, text in self.broken_zones.items():
            path = self.zone_path(zone)
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text)
        # The journal would replay old dynamic updates over a fresh zone file.
        shutil.rmtree(self.workdir / "db", ignore_errors=True)
        (self.workdir / "db").mkdir()
        self.conf_path.write_text(self.config_text())
        if self.tsig_keys:
            os.chmod(self.conf_path, 0o600)

    # -- process ----------------------------------------------------------------------
    def running_pid(self) -> int | None:
        """PID of a knotd started with this working directory's config, if it runs."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if _pid_alive(pid) and _pid_is_our_knotd(pid, self.conf_path):
            return pid
        return None

    def start(self, *, timeout: float = 15.0, detach: bool = False) -> None:
        """Write config and zones, start knotd and wait until every good zone answers.

        A knotd left running from this working directory (an interrupted run) is stopped
        first.  ``detach`` lets the server outlive this Python process (the CLI).
        """
        knotd = find_knotd()
        if self.running_pid() is not None:
            self.stop()
        busy = port_in_use(self.address, self.port)
        if busy:
            raise KnotError(f"cannot start knotd from {self.workdir}: {busy}")
        self.write_files()
        self.log_path.write_text("")
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self._process = subprocess.Popen(
                [knotd, "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=detach,
                close_fds=True,
            )
        finally:
            log.close()
        try:
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        state = {
            "pid": self._process.pid,
            "address": self.address,
            "port": self.port,
            "conf": str(self.conf_path),
            "zones": sorted(self.zones) + sorted(self.zone_files),
            "broken_zones": sorted(self.broken_zones),
        }
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self, *, timeout: float = 15.0) -> None:
        """Poll SOA of every good zone until knotd answers NOERROR for all of them."""
        deadline = time.monotonic() + timeout
        pending = [*self.zones, *self.zone_files]
        last = "no answer yet"
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise KnotError(
                    f"knotd exited with status {self._process.returncode} while starting "
                    f"({self.conf_path}); log:\n{self._log_tail()}"
                )
            log = self._log_tail(200)
            for marker in ("cannot bind", "failed to bind", "Address already in use"):
                if marker in log:
                    raise KnotError(f"knotd could not listen on {self.address}@{self.port}; log:\n{self._log_tail()}")
            for zone in pending:
                if f"[{zone}] zone event 'load' failed" in log:
                    raise KnotError(f"knotd could not load zone {zone}; log:\n{self._log_tail()}")
            still = []
            for zone in pending:
                try:
                    reply = dns.query.udp(
                        dns.message.make_query(zone, dns.rdatatype.SOA), self.address, port=self.port, timeout=0.5
                    )
                except (dns.exception.DNSException, OSError) as exc:
                    last = f"{zone}: {exc!r}"
                    still.append(zone)
                    continue
                if reply.rcode() != dns.rcode.NOERROR or not reply.answer:
                    last = f"{zone}: {dns.rcode.to_text(reply.rcode())}"
                    still.append(zone)
            pending = still
            if not pending and (self.zones or self.zone_files or self.running_pid()):
                return
            if time.monotonic() > deadline:
                raise KnotError(
                    f"knotd on {self.address}@{self.port} not ready after {timeout:.0f}s ({last}); "
                    f"log:\n{self._log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, *, timeout: float = 10.0) -> bool:
        """Stop knotd (SIGTERM, then SIGKILL after ``timeout``). True if one was running."""
        pid = self._process.pid if self._process is not None and self._process.poll() is None else None
        if pid is None:
            pid = self.running_pid()
        stopped = False
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _pid_alive(pid):
                if self._process is not None and self._process.pid == pid:
                    self._process.poll()
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    break
                time.sleep(0.05)
            stopped = True
        if self._process is not None:
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self._process.kill()
                self._process.wait()
            self._process = None
        self.pidfile.unlink(missing_ok=True)
        (self.workdir / STATE_FILE).unlink(missing_ok=True)
        return stopped

    def __enter__(self) -> KnotServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- command line --------------------------------------------------------------------------
def _parse_listen(value: str) -> tuple[str, int]:
    address, sep, port = value.rpartition("@")
    if not sep:
        address, port = value, "53"
    return address.strip("[]"), int(port)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--listen", default="127.0.0.1@5353", help="IP@port (default 127.0.0.1@5353)")
    parser.add_argument(
        "--zone", action="append", default=[], metavar="NAME=FILE", help="a zone and its zone file (repeatable)"
    )
    parser.add_argument(
        "--broken-zone", action="append", default=[], metavar="NAME", help="a zone configured without a file (SERVFAIL)"
    )
    args = parser.parse_args(argv)
    address, port = _parse_listen(args.listen)
    zones = {}
    for item in args.zone:
        name, sep, path = item.partition("=")
        if not sep:
            parser.error(f"--zone {item!r}: expected NAME=FILE")
        zones[name] = Path(path).read_text()
    server = KnotServer(args.workdir, address, port, zones, broken_zones={z: None for z in args.broken_zone})
    try:
        if args.action == "start":
            server.start(detach=True)
            print(f"knotd running, pid {server.running_pid()}, on {server.nameserver}")
        elif args.action == "stop":
            print("stopped" if server.stop() else "not running")
        else:
            pid = server.running_pid()
            state = read_state(args.workdir) or {}
            where = f"{state.get('address', address)}@{state.get('port', port)}"
            print(f"running, pid {pid}, on {where}" if pid else "not running")
            return 0 if pid else 3
    except KnotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())

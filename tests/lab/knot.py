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
import json
import os
import shutil
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
import proc

__all__ = ["KnotError", "KnotServer", "find_knotd", "port_in_use", "read_state"]

STATE_FILE = "knot-state.json"


class KnotError(RuntimeError):
    """knotd could not be configured, started or stopped."""


def find_knotd() -> str:
    """Path of ``knotd`` (Debian installs it in /usr/sbin, which may not be on PATH)."""
    knotd = proc.find_executable("knotd")
    if knotd is None:
        raise KnotError("knotd not found: install Knot DNS (apt-get install knot knot-dnsutils; `make deps` does this)")
    return knotd


def _fqdn(zone: str) -> str:
    return zone if zone.endswith(".") else zone + "."


def port_in_use(address: str, port: int) -> str | None:
    """Why ``address``/``port`` cannot be ours, or None when UDP and TCP are both free.

    knotd binds with SO_REUSEPORT, so a second knotd on the same address and port starts
    without complaint and the two share the queries.  Binding a plain socket first (which
    conflicts with any existing socket, reuse-port or not) catches that.
    """
    for kind, label in ((socket.SOCK_DGRAM, "UDP"), (socket.SOCK_STREAM, "TCP")):
        error = proc.bind_error(address, port, kind)
        if error:
            return f"{label} {address}@{port} is already in use ({error})"
    return None


def read_state(workdir: Path) -> dict | None:
    """The state file written by :meth:`KnotServer.start`, or None."""
    return proc.read_json(Path(workdir) / STATE_FILE)


class KnotServer(proc.Daemon):
    """One knotd process, configured from Python data.

    Its files: ``workdir``, ``conf_path``, ``rundir`` (``pidfile``, ``control_socket``),
    ``zonedir``, ``log_path`` (knot's own log, and its stdout and stderr).
    """

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
        super().__init__(workdir, pidfile="run/knot.pid", log="knot.log", state=STATE_FILE)
        self.conf_path = self.workdir / "knot.conf"
        self.rundir = self.pidfile.parent
        self.control_socket = self.rundir / "knot.sock"
        self.zonedir = self.workdir / "zones"
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
    def is_ours(self, argv: list[bytes]) -> bool:
        """A knotd started with this working directory's config (:meth:`running_pid` is its PID)."""
        return any(b"knotd" in part for part in argv[:1]) and str(self.conf_path).encode() in argv

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
        self._process = proc.spawn([knotd, "-c", str(self.conf_path)], self.log_path, detach=detach)
        try:
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        self.write_state(
            {
                "pid": self._process.pid,
                "address": self.address,
                "port": self.port,
                "conf": str(self.conf_path),
                "zones": sorted(self.zones) + sorted(self.zone_files),
                "broken_zones": sorted(self.broken_zones),
            }
        )

    def wait_ready(self, *, timeout: float = 15.0) -> None:
        """Poll SOA of every good zone until knotd answers NOERROR for all of them."""
        deadline = time.monotonic() + timeout
        pending = [*self.zones, *self.zone_files]
        last = "no answer yet"
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise KnotError(
                    f"knotd exited with status {self._process.returncode} while starting "
                    f"({self.conf_path}); log:\n{self.log_tail()}"
                )
            log = self.log_tail(200)
            for marker in ("cannot bind", "failed to bind", "Address already in use"):
                if marker in log:
                    raise KnotError(f"knotd could not listen on {self.address}@{self.port}; log:\n{self.log_tail()}")
            for zone in pending:
                if f"[{zone}] zone event 'load' failed" in log:
                    raise KnotError(f"knotd could not load zone {zone}; log:\n{self.log_tail()}")
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
                    f"log:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, *, timeout: float = 10.0) -> bool:
        """Stop knotd (SIGTERM, then SIGKILL after ``timeout``). True if one was running."""
        pid = self._process.pid if self._process is not None and self._process.poll() is None else None
        if pid is None:
            pid = self.running_pid()
        if pid is not None:
            proc.terminate(pid, timeout=timeout)
        if self._process is not None:
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self._process.kill()
                self._process.wait()
            self._process = None
        self.forget()
        return pid is not None

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

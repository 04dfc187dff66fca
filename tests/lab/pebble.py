"""Start and stop a private pebble (the ACME test server, Debian's ``pebble``) for the lab and tests.

Everything lives in one state directory: a small CA of its own (``ca.pem``, the bundle that
trusts pebble's HTTPS: ``REQUESTS_CA_BUNDLE`` for certbot), pebble's server certificate (its
subjectAltName has the listen address, so ``https://<address>:<port>/dir`` verifies), the
config, the pid file, the log, and ``roots.pem``: pebble's issuing root (and intermediate),
which pebble regenerates at every start and which is refetched from the management port after
each start.  That root is what a client trusts for pebble-issued certificates.

pebble runs with ``PEBBLE_VA_NOSLEEP=1`` (no random validation delay) and
``PEBBLE_WFE_NONCEREJECT=0`` (no random bad-nonce rejections); it resolves challenge names
through ``dns_server`` (``-dnsserver``), validates HTTP-01 on ``http_port`` and rejects orders
for names in ``blocklist`` (``domainBlocklist``).

    server = PebbleServer(state_dir, address="127.0.0.4", dns_server="127.0.0.1:5353")
    server.start()            # detached; an outdated instance is stopped first
    server.directory          # "https://127.0.0.4:14000/dir"
    server.ca_bundle, server.roots_path
    server.stop()

From the command line::

    python tests/lab/pebble.py up --state-dir D --address A --dns-server IP:PORT [--port 14000]
        [--management-port 15000] [--http-port 80] [--json]
    python tests/lab/pebble.py status --state-dir D
    python tests/lab/pebble.py down --state-dir D
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pki
import proc

__all__ = ["PebbleError", "PebbleServer", "find_pebble"]

STATE_FILE = "pebble-state.json"


class PebbleError(RuntimeError):
    """pebble could not be configured, started or stopped."""


def find_pebble() -> str:
    """Path of ``pebble`` (Debian package ``pebble``)."""
    binary = proc.find_executable("pebble")
    if binary is None:
        raise PebbleError("pebble not found: install it (apt-get install pebble; `make deps` does this)")
    return binary


class PebbleServer(proc.Daemon):
    """One pebble process configured from Python data (see the module's docstring)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        address: str,
        dns_server: str,
        port: int = 14000,
        management_port: int = 15000,
        http_port: int = 80,
        tls_port: int = 443,
        blocklist: Sequence[str] = (),
    ) -> None:
        if address in ("0.0.0.0", "::", "") or address.startswith("0."):
            raise PebbleError(
                f"refusing to listen on the wildcard address {address!r}: use a specific loopback address"
            )
        super().__init__(state_dir, pidfile="pebble.pid", log="pebble.log", state=STATE_FILE)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.address = address
        self.dns_server = dns_server
        self.port = int(port)
        self.management_port = int(management_port)
        self.http_port = int(http_port)
        self.tls_port = int(tls_port)
        self.blocklist = list(blocklist)
        self.conf_path = self.workdir / "pebble-config.json"
        self.ca_base = self.workdir / "ca"
        self.ca_bundle = self.workdir / "ca.pem"
        self.server_base = self.workdir / "server"
        self.roots_path = self.workdir / "roots.pem"

    # -- addresses ------------------------------------------------------------------------
    @property
    def _host(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address

    @property
    def directory(self) -> str:
        return f"https://{self._host}:{self.port}/dir"

    @property
    def management(self) -> str:
        return f"https://{self._host}:{self.management_port}"

    # -- configuration --------------------------------------------------------------------
    def config(self) -> dict:
        return {
            "pebble": {
                "listenAddress": f"{self._host}:{self.port}",
                "managementListenAddress": f"{self._host}:{self.management_port}",
                "certificate": str(self.server_base) + ".pem",
                "privateKey": str(self.server_base) + ".key",
                "httpPort": self.http_port,
                "tlsPort": self.tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
                "domainBlocklist": self.blocklist,
            }
        }

    def settings(self) -> dict:
        """What an instance is started with: a running instance with other settings is outdated."""
        return {"config": self.config(), "dns_server": self.dns_server}

    def write_files(self) -> None:
        ca = pki.load_or_create_ca(self.ca_base, common_name="matrixops lab pebble HTTPS CA")
        pki.issue_cert(ca, self.server_base, [self.address, "localhost"])
        self.conf_path.write_text(json.dumps(self.config(), indent=2) + "\n")

    # -- process --------------------------------------------------------------------------
    def is_ours(self, argv: list[bytes]) -> bool:
        return any(b"pebble" in part for part in argv[:1]) and str(self.conf_path).encode() in argv

    def up_to_date(self) -> bool:
        """Whether a running instance was started with this object's settings."""
        return self.running_pid() is not None and self.read_state().get("settings") == self.settings()

    def start(self, *, timeout: float = 20.0) -> None:
        """Start pebble detached (stopping an outdated instance first), wait until it answers, fetch the roots."""
        binary = find_pebble()
        if self.running_pid() is not None:
            self.stop()
        for port in (self.port, self.management_port):
            busy = proc.bind_error(self.address, port, reuse_address=True)
            if busy:
                raise PebbleError(f"cannot start pebble from {self.workdir}: {self.address}:{port} is in use ({busy})")
        self.write_files()
        # No authorization reuse either: every order is validated, so a broken challenge always fails.
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
        process = proc.spawn(
            [binary, "-config", str(self.conf_path), "-dnsserver", self.dns_server],
            self.log_path,
            detach=True,
            cwd=self.workdir,
            env=env,
        )
        self.pidfile.write_text(f"{process.pid}\n")
        try:
            self.wait_ready(timeout=timeout, process_pid=process.pid)
            self.fetch_roots()
        except BaseException:
            self.stop()
            raise
        self.write_state({"pid": process.pid, "settings": self.settings()})

    def _get(self, url: str, *, timeout: float = 2.0) -> bytes:
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:  # noqa: S310 - https only
            return response.read()

    def wait_ready(self, *, timeout: float = 20.0, process_pid: int | None = None) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            if process_pid is not None and not proc.pid_alive(process_pid):
                raise PebbleError(f"pebble exited while starting ({self.conf_path}); log:\n{self.log_tail()}")
            try:
                json.loads(self._get(self.directory))
                self._get(f"{self.management}/roots/0")
                return
            except (OSError, ValueError, urllib.error.URLError) as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise PebbleError(
                    f"pebble at {self.directory} not ready after {timeout:.0f}s ({last}); log:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def fetch_roots(self) -> Path:
        """Write ``roots.pem``: the current issuing root, then the intermediate (pebble makes new ones at each start)."""
        root = self._get(f"{self.management}/roots/0")
        intermediate = self._get(f"{self.management}/intermediates/0")
        self.roots_path.write_bytes(root.rstrip(b"\n") + b"\n" + intermediate.rstrip(b"\n") + b"\n")
        return self.roots_path

    def stop(self, *, timeout: float = 10.0) -> bool:
        pid = self.running_pid()
        if pid is not None:
            proc.terminate(pid, timeout=timeout)
        self.forget()
        return pid is not None

    def info(self) -> dict:
        return {
            "directory": self.directory,
            "ca_bundle": str(self.ca_bundle),
            "roots": str(self.roots_path),
            "pid": self.running_pid(),
            "management": self.management,
        }

    def __enter__(self) -> PebbleServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _human(info: dict, headline: str) -> None:
    print(headline)
    print(f"  directory:  {info['directory']} (pid {info['pid']})")
    print(f"  CA bundle:  {info['ca_bundle']} (trust pebble's HTTPS: REQUESTS_CA_BUNDLE)")
    print(f"  roots:      {info['roots']} (trust pebble-issued certificates)")
    print(f"  management: {info['management']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start, stop or show a private pebble ACME server.")
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--address", default="127.0.0.4")
    parser.add_argument("--dns-server", default="127.0.0.1:5353", metavar="IP:PORT")
    parser.add_argument("--port", type=int, default=14000)
    parser.add_argument("--management-port", type=int, default=15000)
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument(
        "--json", action="store_true", help="print directory, ca_bundle, roots, pid, management as JSON"
    )
    args = parser.parse_args(argv)
    server = PebbleServer(
        args.state_dir,
        address=args.address,
        dns_server=args.dns_server,
        port=args.port,
        management_port=args.management_port,
        http_port=args.http_port,
    )
    try:
        if args.action == "up":
            if server.up_to_date():
                server.fetch_roots()
                headline = "pebble already running"
            else:
                server.start()
                headline = "pebble started"
        elif args.action == "down":
            print("pebble stopped" if server.stop() else "pebble was not running")
            return 0
        else:
            pid = server.running_pid()
            headline = "pebble running" if pid else "pebble not running"
            if pid is None:
                state_info = server.info()
                proc.print_info(state_info, headline, as_json=args.json, human=_human)
                return 3
    except (PebbleError, OSError) as exc:
        return proc.cli_failure(f"pebble {args.action}", exc)
    proc.print_info(server.info(), headline, as_json=args.json, human=_human)
    return 0


if __name__ == "__main__":
    sys.exit(main())

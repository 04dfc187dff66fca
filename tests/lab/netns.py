"""An IPv6 and dual-stack lab in network namespaces: targets and vantage points that really differ
in their address families (issue #19).

Everything lives in network namespaces of its own (``ip netns``, root only), joined by veth pairs
to a bridge in a hub namespace: the machine's own network (loopback included) is never touched.
One IPv4 ``/24`` and one unique-local IPv6 ``/64`` (``fd00::/8``) are used, inside the
namespaces only:

==============  =====================================  ==========================================
namespace       addresses                              what runs there
==============  =====================================  ==========================================
``hub``         none (bridge ``br0``)                  the other namespaces' veth peers
``dns``         ``10.77.0.53``, ``fd00:6d78:f1ee::53``  knot, authoritative for ``fleet.test.``,
                                                       one instance per family (port 53)
``v6only``      ``fd00:6d78:f1ee::6`` (no IPv4)        an IPv6-only target: keys on ``:8448``,
                                                       the server well-known on ``:443``
``dual``        ``10.77.0.7``, ``10.77.0.8``,           a dual-stack target whose IPv6 side is
                ``fd00:6d78:f1ee::7``                  broken: keys on ``10.77.0.7:8448`` only
                                                       (nothing listens on ``[::7]:8448``); the
                                                       fleet names on ``10.77.0.8:8448``
``vantage4``    ``10.77.0.40`` (no IPv6 address, no    an IPv4-only vantage point: connecting to
                IPv6 route)                            IPv6 gives "Network is unreachable"
``vantage``     ``10.77.0.41``, ``fd00:6d78:f1ee::41``  a dual-stack vantage point
==============  =====================================  ==========================================

Names of ``fleet.test`` (server names with an explicit port unless said otherwise):

* ``v6.fleet.test:8448``: AAAA only, federates over IPv6;
* ``delegated6.fleet.test``: AAAA only; its well-known (``[::6]:443``) delegates to
  ``keys6.fleet.test:8448`` (AAAA only);
* ``dual.fleet.test:8448``: A and AAAA; the IPv4 side federates, the IPv6 side refuses;
* ``v4.fleet.test:8448``: A only (``10.77.0.8``);
* ``f001.fleet.test:8448`` ... (``fleet_size`` of them): A ``10.77.0.8``, each with keys of its
  own, for checks of many names at once.

Servers are the test-support peers (``support.peers``, keys signed by ``support.matrix``) and
real knot. They are started from a thread that has joined the namespace (``setns(2)`` through
ctypes): sockets it opens, threads it starts and processes it spawns all belong to that
namespace. A vantage point runs commands with :meth:`Namespace.command` (``ip netns exec``),
e.g. ``ansible-playbook``.

Namespaces are named ``mxo6-<pid>-<role>`` after the process that made them. ``start()`` first
removes every ``mxo6-*`` namespace whose process is gone (a crashed run), killing what still runs
in it; ``stop()`` removes this lab's own. From the command line::

    python tests/lab/netns.py serve --workdir DIR [--fleet-size N]   # until Ctrl-C; prints JSON
    python tests/lab/netns.py clean [--all]                          # stale (or all) namespaces
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import knot
import pki
import proc

__all__ = ["PREFIX", "Namespace", "NetnsLab", "clean", "ip_command", "lab_namespaces"]

PREFIX = "mxo6-"
CLONE_NEWNET = 0x40000000
ZONE = "fleet.test"
FED_PORT = 8448
V4 = "10.77.0"  # /24
V6 = "fd00:6d78:f1ee"  # /64, unique local
CA_NAME = "matrixops netns lab CA"

T = TypeVar("T")


def v4(host: int) -> str:
    return f"{V4}.{host}"


def v6(host: int) -> str:
    return f"{V6}::{host}"


DNS4, DNS6 = v4(53), v6(53)
V6ONLY = v6(6)
DUAL4, DUAL6 = v4(7), v6(7)
FLEET4 = v4(8)
VANTAGE4 = v4(40)
VANTAGE_DUAL4, VANTAGE_DUAL6 = v4(41), v6(41)


def name(label: str) -> str:
    """``name("v6")`` → ``v6.fleet.test``."""
    return f"{label}.{ZONE}"


def fleet_label(index: int) -> str:
    return f"f{index:03d}"


def ip_command() -> str:
    """Path of iproute2's ``ip`` (in /usr/sbin on Debian, which may not be on PATH)."""
    found = proc.find_executable("ip")
    if found is None:
        raise RuntimeError("the netns lab needs iproute2's 'ip' command: apt-get install iproute2")
    return found


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([ip_command(), *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def lab_namespaces() -> list[str]:
    """The names of every namespace of this lab (``mxo6-*``), any owner."""
    listed = _ip("netns", "list").stdout.splitlines()
    return [line.split()[0] for line in listed if line.startswith(PREFIX)]


def _owner_alive(namespace: str) -> bool:
    try:
        pid = int(namespace[len(PREFIX) :].split("-", 1)[0])
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(namespace: str) -> None:
    """Kill what runs in ``namespace`` (knotd of a crashed run), then delete it."""
    pids = _ip("netns", "pids", namespace, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    _ip("netns", "del", namespace, check=False)


def clean(*, everything: bool = False) -> list[str]:
    """Remove the namespaces whose owner process is gone (``everything``: all of them); returns their names."""
    removed = [ns for ns in lab_namespaces() if everything or not _owner_alive(ns)]
    for namespace in removed:
        _remove(namespace)
    return removed


@dataclass(frozen=True)
class Namespace:
    """One network namespace: ``run()`` a function inside it, or a ``command()`` line for it."""

    name: str

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside the namespace (``ip netns exec``)."""
        return [ip_command(), "netns", "exec", self.name, *argv]

    def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a thread that joined the namespace; its result or its exception.

        Sockets opened, threads started and processes spawned there stay in the namespace.
        """
        outcome: dict[str, Any] = {}

        def inside() -> None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        errno = ctypes.get_errno()
                        raise OSError(errno, f"setns({self.path}): {os.strerror(errno)}")
                finally:
                    os.close(fd)
                outcome["value"] = function(*args)
            except BaseException as exc:  # handed to the caller
                outcome["error"] = exc

        thread = threading.Thread(target=inside, name=f"netns-{self.name}", daemon=True)
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]


@dataclass(frozen=True)
class Node:
    role: str
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()


NODES = (
    Node("dns", (DNS4,), (DNS6,)),
    Node("v6only", (), (V6ONLY,)),
    Node("dual", (DUAL4, FLEET4), (DUAL6,)),
    Node("vantage4", (VANTAGE4,), ()),
    Node("vantage", (VANTAGE_DUAL4,), (VANTAGE_DUAL6,)),
)


@dataclass
class NetnsLab:
    """The namespaces, knot and the key servers; ``start()``/``stop()`` or a ``with`` block."""

    workdir: Path
    fleet_size: int = 0
    owner: int = field(default_factory=os.getpid)
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    ca_path: Path | None = None
    certificate: pki.IssuedCert | None = None
    now_ms: int = 0
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    # -- what tests read ---------------------------------------------------------------------------
    @property
    def nameserver4(self) -> str:
        return f"{DNS4}:53"

    @property
    def nameserver6(self) -> str:
        return f"[{DNS6}]:53"

    @property
    def vantage(self) -> Namespace:
        """The dual-stack vantage point."""
        return self.namespaces["vantage"]

    @property
    def vantage4(self) -> Namespace:
        """The IPv4-only vantage point."""
        return self.namespaces["vantage4"]

    def fleet_names(self) -> list[str]:
        return [name(fleet_label(index)) for index in range(1, self.fleet_size + 1)]

    def info(self) -> dict:
        return {
            "namespaces": {role: ns.name for role, ns in self.namespaces.items()},
            "nameservers": {"ipv4": self.nameserver4, "ipv6": self.nameserver6},
            "ca_path": str(self.ca_path),
            "zone": ZONE,
            "server_names": {
                "ipv6_only": f"{name('v6')}:{FED_PORT}",
                "ipv6_only_well_known": name("delegated6"),
                "dual_stack_broken_ipv6": f"{name('dual')}:{FED_PORT}",
                "ipv4_only": f"{name('v4')}:{FED_PORT}",
                "fleet": [f"{fleet}:{FED_PORT}" for fleet in self.fleet_names()],
            },
            "certificate_not_after": self.certificate.certificate.not_valid_after_utc.isoformat()
            if self.certificate
            else None,
        }

    # -- life ------------------------------------------------------------------------------------------
    def namespace_name(self, role: str) -> str:
        return f"{PREFIX}{self.owner}-{role}"

    def start(self) -> NetnsLab:
        if os.geteuid() != 0:
            raise RuntimeError("the netns lab needs root (ip netns, setns)")
        clean()
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._build_network()
            self._issue_certificate()
            self._start_dns()
            self._start_servers()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stack.close()
        for namespace in reversed(list(self.namespaces.values())):
            _remove(namespace.name)
        self.namespaces.clear()

    def __enter__(self) -> NetnsLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _add_namespace(self, role: str) -> Namespace:
        namespace = Namespace(self.namespace_name(role))
        _remove(namespace.name)  # our own pid, reused: a leftover
        _ip("netns", "add", namespace.name)
        self.namespaces[role] = namespace
        _ip("-n", namespace.name, "link", "set", "lo", "up")
        return namespace

    def _build_network(self) -> None:
        hub = self._add_namespace("hub").name
        _ip("-n", hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", hub, "link", "set", "br0", "up")
        for node in NODES:
            ns = self._add_namespace(node.role).name
            peer = f"h-{node.role}"
            _ip("-n", hub, "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("-n", hub, "link", "set", peer, "master", "br0", "up")
            for address in node.ipv4:
                _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            for address in node.ipv6:
                _ip("-n", ns, "-6", "addr", "add", f"{address}/64", "dev", "eth0", "nodad")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def _issue_certificate(self) -> None:
        ca = pki.create_ca(self.workdir / "pki" / "ca", common_name=CA_NAME)
        names = [name(label) for label in ("v6", "delegated6", "keys6", "dual", "v4")] + self.fleet_names()
        self.certificate = pki.issue_cert(ca, self.workdir / "pki" / "fleet", names)
        self.ca_path = ca.bundle_path

    def zone_text(self) -> str:
        from support.nameserver import Zone  # the tests' zone builder (tests/ is on the path too)

        zone = Zone(ZONE, DNS4)
        zone.a(f"ns.{ZONE}", DNS6)
        zone.a(name("v6"), V6ONLY)
        zone.a(name("delegated6"), V6ONLY)
        zone.a(name("keys6"), V6ONLY)
        zone.a(name("dual"), DUAL4, DUAL6)
        zone.a(name("v4"), FLEET4)
        for fleet in self.fleet_names():
            zone.a(fleet, FLEET4)
        return zone.text()

    def _start_dns(self) -> None:
        dns = self.namespaces["dns"]
        text = self.zone_text()
        for family, address in (("4", DNS4), ("6", DNS6)):
            server = knot.KnotServer(self.workdir / f"knot{family}", address, 53, {f"{ZONE}.": text})
            dns.run(server.start)
            self._stack.callback(server.stop)

    def _start_servers(self) -> None:
        from support import peers
        from support.matrix import KEYS_PATH, VERSION_PATH, WELL_KNOWN_PATH, SigningKey, key_response

        assert self.certificate is not None
        self.now_ms = int(time.time() * 1000)
        valid_until = self.now_ms + 86_400_000
        signer = SigningKey("ed25519:netns", bytes(range(32)))
        version = peers.json_reply({"server": {"name": "netns-lab", "version": "0.1"}})

        def keys(host: str, server_name: str) -> dict:
            return {
                (host, KEYS_PATH): peers.json_reply(key_response(server_name, valid_until, (signer,))),
                (host, VERSION_PATH): version,
            }

        v6_routes = {
            **keys(name("v6"), f"{name('v6')}:{FED_PORT}"),
            **keys(name("keys6"), name("delegated6")),
            (name("delegated6"), WELL_KNOWN_PATH): peers.json_reply({"m.server": f"{name('keys6')}:{FED_PORT}"}),
        }
        dual_routes = keys(name("dual"), f"{name('dual')}:{FED_PORT}")
        fleet_routes = keys(name("v4"), f"{name('v4')}:{FED_PORT}")
        for fleet in self.fleet_names():
            fleet_routes.update(keys(fleet, f"{fleet}:{FED_PORT}"))
        context = peers.server_context(self.certificate)

        def serve(listeners: list) -> peers.Peers:
            return peers.Peers(listeners)

        for role, listeners in (
            (
                "v6only",
                [
                    peers.Listener(V6ONLY, FED_PORT, context, v6_routes, keep_alive=True),
                    peers.Listener(V6ONLY, 443, context, v6_routes, keep_alive=True),
                ],
            ),
            (
                "dual",
                [  # nothing on [DUAL6]:8448: the broken IPv6 side
                    peers.Listener(DUAL4, FED_PORT, context, dual_routes, keep_alive=True),
                    peers.Listener(FLEET4, FED_PORT, context, fleet_routes, keep_alive=True),
                ],
            ),
        ):
            server = self.namespaces[role].run(serve, listeners)
            self._stack.callback(server.close)


@contextlib.contextmanager
def running(workdir: Path, *, fleet_size: int = 0) -> Iterator[NetnsLab]:
    with NetnsLab(workdir, fleet_size=fleet_size) as lab:
        yield lab


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="build the lab and serve until interrupted")
    serve.add_argument("--workdir", type=Path, required=True)
    serve.add_argument("--fleet-size", type=int, default=0)
    cleaner = sub.add_parser("clean", help="remove the namespaces of runs that are gone")
    cleaner.add_argument("--all", action="store_true", help="remove every mxo6-* namespace, running or not")
    args = parser.parse_args(argv)
    if args.command == "clean":
        for namespace in clean(everything=args.all):
            print(f"removed {namespace}")
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with NetnsLab(args.workdir, fleet_size=args.fleet_size) as lab:
        print(json.dumps(lab.info(), indent=2), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the support package
    sys.exit(_main())

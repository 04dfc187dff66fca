# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The migration lab world: server names of ``mig.test`` half-way through moving their delegation.

Everything binds addresses of one ``<net>.0/24`` of loopback, the world ``migrate`` of
``support.net`` (``MATRIXOPS_MIGRATE_NET``, or else the first free one of ``127.0.120`` …
``127.0.129``):

=====================  =====================================================================
``<net>.53:5353``      knot, authoritative for ``mig.test.``, with a TTL per record
``<net>.10:443``       the well-known files, by ``Host``, with their ``Cache-Control``
``<net>.N:8448``       one homeserver per target (:data:`TARGETS`): version and keys signed
                       for the server name it serves
=====================  =====================================================================

Each :class:`Name` says what it publishes and, in a comment, why the numbers its test asserts
are what they are (docs/implementations.md, the profiles' cache rules).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import knot
import pki
from support import net, peers
from support.matrix import KEYS_PATH, VERSION_PATH, SigningKey, key_response
from support.matrix import WELL_KNOWN_PATH as WK_PATH

ZONE = "mig.test"
DNS_PORT = 5353
WK_HOST = 10
FED_PORT = 8448
DEFAULT_TTL = 30
KEY = SigningKey("ed25519:mig1", bytes(range(32)))

#: target label -> (last octet, the server name its keys are signed for)
TARGETS: dict[str, tuple[int, str]] = {
    "old-before": (21, "before"),
    "new-before": (22, "before"),
    "old-clamp": (23, "clamp"),
    "new-clamp": (24, "clamp"),
    "old-srv": (25, "srv"),
    "new-srv": (26, "srv"),
    "old-after": (27, "after"),
    "new-after": (28, "after"),
    "other-neither": (30, "neither"),
    "old-both": (33, "both"),
    "new-both": (34, "both"),
    "old-broken": (31, "broken"),
    "new-broken": (32, "broken"),
}


def n(label: str) -> str:
    """``n("before")`` → ``before.mig.test``."""
    return f"{label}.{ZONE}"


def target(label: str) -> str:
    """``target("old-before")`` → ``old-before.mig.test:8448``."""
    return f"{n(label)}:{FED_PORT}"


@dataclass(frozen=True)
class World:
    net: net.Net
    ca_path: Path | None = None

    def ip(self, host: int) -> str:
        return self.net.ip(host)

    @property
    def nameserver(self) -> str:
        return f"{self.ip(53)}:{DNS_PORT}"


def zone_text(world: World) -> str:
    """The zone, with the TTLs the tests count on."""
    ip = world.ip
    lines = [
        f"$ORIGIN {ZONE}.",
        f"$TTL {DEFAULT_TTL}",
        f"{ZONE}. SOA ns.{ZONE}. hostmaster.{ZONE}. 1 60 60 600 60",
        f"{ZONE}. NS ns.{ZONE}.",
        f"ns.{ZONE}. A {ip(53)}",
        # well-known delegations: the server names live on the well-known host
        *(f"{n(label)}. A {ip(WK_HOST)}" for label in ("before", "clamp", "after", "neither", "broken")),
        # before: the old target's address has a TTL of 300 s, shorter than the max-age (3600 s)
        f"{n('old-before')}. 300 A {ip(21)}",
        # srv: no well-known (the name has no address), one SRV record with a TTL of 2 h
        f"_matrix-fed._tcp.{n('srv')}. 7200 SRV 10 0 {FED_PORT} {n('old-srv')}.",
        # both: two SRV records (TTL 600 s), the old target first and the new one as a fallback
        f"_matrix-fed._tcp.{n('both')}. 600 SRV 10 0 {FED_PORT} {n('old-both')}.",
        f"_matrix-fed._tcp.{n('both')}. 600 SRV 20 0 {FED_PORT} {n('new-both')}.",
        # broken: only the deprecated _matrix._tcp service, to the new target; the name's own
        # address (the well-known host) has nothing on port 8448
        f"_matrix._tcp.{n('broken')}. SRV 10 0 {FED_PORT} {n('new-broken')}.",
    ]
    lines += [f"{n(label)}. A {ip(octet)}" for label, (octet, _served) in TARGETS.items() if label != "old-before"]
    return "\n".join(lines) + "\n"


def well_known_routes() -> dict:
    """(Host, path) -> the well-known answer of each name that has one (``srv`` has none)."""

    def delegate(to: str, max_age: int) -> peers.Reply:
        return peers.json_reply({"m.server": target(to)}, headers={"Cache-Control": f"max-age={max_age}"})

    return {
        (n("before"), WK_PATH): delegate("old-before", 3600),
        (n("clamp"), WK_PATH): delegate("old-clamp", 60),
        (n("after"), WK_PATH): delegate("new-after", 3600),
        (n("neither"), WK_PATH): delegate("other-neither", 3600),
        (n("broken"), WK_PATH): peers.reply(404, b"{}"),
    }


def tls_names(world: World) -> list[str]:
    labels = ["before", "clamp", "srv", "after", "neither", "broken", "both", *TARGETS]
    return sorted(n(label) for label in labels) + [world.ip(WK_HOST)]


@contextlib.contextmanager
def running(world: World, workdir: Path) -> Iterator[World]:
    """Knot and every peer, files in ``workdir``, until the block ends."""
    ca = pki.create_ca(workdir / "pki" / "ca", common_name="matrixops migrate lab CA")
    context = peers.server_context(pki.issue_cert(ca, workdir / "pki" / "peers", tls_names(world)))
    valid_until_ts = int((time.time() + 7 * 86400) * 1000)
    version = peers.json_reply({"server": {"name": "migrate-lab", "version": "1"}})
    listeners = [peers.Listener(world.ip(WK_HOST), 443, context, well_known_routes())]
    for octet, served in TARGETS.values():
        keys = peers.json_reply(key_response(n(served), valid_until_ts, (KEY,)))
        listeners.append(peers.Listener(world.ip(octet), FED_PORT, context, {KEYS_PATH: keys, VERSION_PATH: version}))
    with contextlib.ExitStack() as stack:
        stack.enter_context(knot.KnotServer(workdir / "knot", world.ip(53), DNS_PORT, {ZONE: zone_text(world)}))
        stack.enter_context(peers.Peers(listeners))
        yield World(world.net, ca.bundle_path)


def _binds() -> list[tuple[int, int]]:
    return sorted({(53, DNS_PORT), (WK_HOST, 443)} | {(octet, FED_PORT) for octet, _served in TARGETS.values()})


NET = net.allocate("migrate", binds=_binds())
WORLD = World(NET)

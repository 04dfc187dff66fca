# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reference runner of ``make bench``: Synapse's own resolver on the bench world.

Runs in a Python that has ``matrix-synapse`` installed (the lab's Synapse virtualenv; never on
the pytest path, where ``tests/lab/synapse.py`` would shadow the real ``synapse`` package)::

    <synapse venv>/bin/python benchmarks/synapse_reference.py --nameserver IP:PORT --ca CA.pem NAMES.json

For each server name it does what a Synapse homeserver does before it connects to a remote
server (``synapse.http.federation.matrix_federation_agent``): ``WellKnownResolver.get_well_known``
(an HTTPS GET of ``/.well-known/matrix/server`` through a Twisted ``Agent`` trusting ``--ca``),
then, unless the delegated name has a port, ``SrvResolver.resolve_service`` for
``_matrix-fed._tcp`` and then ``_matrix._tcp``, falling back to port 8448; then the AAAA and A
records of the first target, as its ``HostnameEndpoint`` does before connecting. All names at
once (Synapse limits nothing here), DNS through ``twisted.names`` asking ``--nameserver``.

Prints one JSON object: ``resolve_wall`` (the resolution alone; ``make bench`` times the whole
process itself), ``cpu`` (user + system seconds of this process), ``peak_rss_mb``, and
``results``: ``{name: [host, port] or {"error": ...}}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path

from synapse.http.federation.srv_resolver import SrvResolver
from synapse.http.federation.well_known_resolver import WellKnownResolver
from synapse.util.clock import Clock
from twisted.internet import defer, reactor
from twisted.internet.interfaces import IResolverSimple
from twisted.internet.ssl import Certificate
from twisted.names import client, dns
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool
from zope.interface import implementer


@implementer(IResolverSimple)
class _AddressResolver:
    """The reactor's host-name resolver: A records from the bench nameserver (for the Agent)."""

    def __init__(self, dns_client: client.Resolver) -> None:
        self._dns = dns_client

    def getHostByName(self, name: str, timeout: tuple = ()) -> defer.Deferred:  # noqa: N802 - Twisted's name
        def first(answer: tuple) -> str:
            for record in answer[0]:
                if record.type == dns.A:
                    return record.payload.dottedQuad()
            raise OSError(f"no A record for {name}")

        return self._dns.lookupAddress(name).addCallback(first)


async def resolve(name: str, wk: WellKnownResolver, srv: SrvResolver, dns_client: client.Resolver) -> list:
    result = await wk.get_well_known(name.encode("ascii"))
    host, port = name, None
    if result.delegated_server is not None:
        delegated = result.delegated_server.decode("ascii")
        host, sep, port_text = delegated.rpartition(":")
        if sep and port_text.isdigit():
            port = int(port_text)
        else:
            host = delegated
    if port is None:
        servers = await srv.resolve_service(b"_matrix-fed._tcp." + host.encode("ascii"))
        if not servers:
            servers = await srv.resolve_service(b"_matrix._tcp." + host.encode("ascii"))
        if servers:
            host, port = servers[0].host.decode("ascii"), servers[0].port
        else:
            port = 8448
    # HostnameEndpoint: AAAA and A of the target before it connects.
    await defer.DeferredList([dns_client.lookupIPV6Address(host), dns_client.lookupAddress(host)], consumeErrors=True)
    return [host, port]


async def main_async(args: argparse.Namespace, names: list[str]) -> dict:
    address, _sep, port = args.nameserver.rpartition(":")
    dns_client = client.Resolver(servers=[(address, int(port))])
    reactor.installResolver(_AddressResolver(dns_client))
    trust = Certificate.loadPEM(Path(args.ca).read_bytes())
    pool = HTTPConnectionPool(reactor)
    agent = Agent(reactor, contextFactory=BrowserLikePolicyForHTTPS(trustRoot=trust), pool=pool)
    clock = Clock(reactor, server_name="bench.reference")
    wk = WellKnownResolver("bench.reference", reactor, clock, agent, b"matrixops-bench-reference")
    srv = SrvResolver(dns_client=dns_client, cache={})
    begin = time.monotonic()

    async def one(name: str) -> list | dict:
        try:
            return await resolve(name, wk, srv, dns_client)
        except Exception as exc:  # noqa: BLE001 - reported per name
            return {"error": f"{type(exc).__name__}: {exc}"}

    outcomes = await defer.gatherResults([defer.ensureDeferred(one(name)) for name in names])
    end = time.monotonic()
    await pool.closeCachedConnections()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "resolve_wall": end - begin,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "results": dict(zip(names, outcomes, strict=True)),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--nameserver", required=True, help="IP:PORT of the bench nameserver")
    parser.add_argument("--ca", required=True, help="the bench CA (PEM)")
    parser.add_argument("names", type=Path, help="a JSON list of server names")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # "metrics collection from sentinel context": we run outside a homeserver
    names = json.loads(args.names.read_text())
    report: dict = {}

    def run() -> None:
        def done(value: dict) -> None:
            report.update(value)
            reactor.stop()

        def failed(failure: object) -> None:
            report["error"] = str(failure)
            reactor.stop()

        defer.ensureDeferred(main_async(args, names)).addCallbacks(done, failed)

    reactor.callWhenRunning(run)
    reactor.run()
    json.dump(report, sys.stdout)
    return 0 if "error" not in report else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Synapse reference runner: where Synapse's own federation client connects, at a cold cache.

The reference the ``synapse`` implementation profile (plugins/module_utils/_profiles.py) is
checked against (issue 21). It runs in a Python that has ``matrix-synapse`` installed, the lab's
Synapse virtualenv (tests/lab/synapse.py makes it), with ``-I`` so that ``tests/lab/synapse.py``
(the lab helper of the same name) can never shadow the real package::

    <synapse venv>/bin/python -I tests/lab/synapse_reference_runner.py \\
        --nameserver IP:PORT --ca CA.pem [--allow CIDR ...] [--dns-timeout S] CASES.json

``CASES.json`` is a JSON object ``{case id: server name}``. For each case, a new
``MatrixFederationAgent`` (so a new well-known cache, a new SRV cache and a new connection pool:
a cold cache) makes one real federation request,
``GET matrix-federation://<server name>/_matrix/federation/v1/version``, exactly as a Synapse
homeserver sends its requests: Synapse's ``WellKnownResolver`` fetches the well-known file (its
redirects, body limit, status and JSON rules), its ``MatrixHostnameEndpoint`` asks its
``SrvResolver`` for ``_matrix-fed._tcp`` then ``_matrix._tcp`` and tries every target in its
order, Twisted's ``HostnameEndpoint`` tries every address, Synapse's ``FederationPolicyForHTTPS``
checks the certificate against ``--ca`` (the TLS name Synapse picks, no SNI for IP literals), and
the request carries Synapse's ``Host`` header.

What the runner sets, as a homeserver's configuration would:

* DNS: every query goes to ``--nameserver`` (``twisted.names``): the SRV queries of Synapse's
  ``SrvResolver``, and A and AAAA queries for Twisted's ``HostnameEndpoint`` (installed as the
  reactor's host-name resolver, in place of the system's ``getaddrinfo``; AAAA addresses first,
  then A, as glibc orders them for the lab's unique-local and private addresses; an IP literal is
  used as it is). ``--dns-timeout`` seconds per query, once (Twisted's default is 1, 3, 11 and 45
  seconds: the same error, later).
* Addresses: Synapse's default ``ip_range_blacklist`` with ``--allow`` ranges as its
  ``ip_range_whitelist`` (the lab's addresses are private; a default Synapse refuses them).
* TLS: ``federation_ca_trust_root`` = ``--ca``, certificates verified.

The landing servers are the lab's: each answers the request with JSON saying what it saw,
``{"endpoint": "ip:port", "sni": ..., "host": ..., "path": ...}`` (tests/integration/profiles).
The runner prints one JSON object: ``synapse`` and ``twisted`` (the versions), and ``results``,
``{case id: {"endpoint", "sni", "host", "path", "status"}}`` for a request that was answered (the
landing server's account plus the HTTP status), or ``{"error": "<exception type>: <message>"}``
when Synapse could not connect or send it. Exit status 0 unless the runner itself failed.

From the tests (any Python: Synapse and Twisted are imported only when the runner runs)::

    import synapse_reference_runner                       # tests/lab on sys.path
    report = synapse_reference_runner.reference(python, {"D1": "d1.pf.test"},
        nameserver="127.0.110.53:5353", ca=ca_path, allow=["127.0.110.0/24"])
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RUNNER = Path(__file__).resolve()
PATH = b"/_matrix/federation/v1/version"
CASE_SECONDS = 90  # a whole case: the well-known fetch, SRV, every target, the answer


def reference(
    python: str | Path,
    cases: dict[str, str],
    *,
    nameserver: str,
    ca: str | Path,
    allow: Sequence[str],
    prefix: Sequence[str] = (),
    dns_timeout: float = 2.0,
) -> dict:
    """Run the runner in ``python`` (the Synapse virtualenv's) on ``cases``; its report.

    For the tests, in any Python: ``prefix`` runs it through a command (``ip netns exec NAME``).
    Raises RuntimeError with the runner's error output when it failed.
    """
    with tempfile.TemporaryDirectory(prefix="synapse-reference-") as tmp:
        cases_file = Path(tmp) / "cases.json"
        cases_file.write_text(json.dumps(cases))
        argv = [*prefix, str(python), "-I", str(RUNNER), "--nameserver", nameserver, "--ca", str(ca)]
        argv += [f"--allow={cidr}" for cidr in allow]
        argv += ["--dns-timeout", str(dns_timeout), str(cases_file)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(
            f"the Synapse reference runner failed (rc {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return json.loads(done.stdout)


def _run(args: argparse.Namespace, cases: dict[str, str]) -> dict:
    """Synapse's side, in the Synapse virtualenv: every case, then the report."""
    import ipaddress
    from importlib.metadata import version
    from types import SimpleNamespace

    from synapse.config.server import DEFAULT_IP_RANGE_BLOCKLIST, generate_ip_set
    from synapse.crypto.context_factory import FederationPolicyForHTTPS
    from synapse.http.federation.matrix_federation_agent import MatrixFederationAgent
    from synapse.http.federation.srv_resolver import SrvResolver
    from synapse.util.clock import Clock
    from twisted.internet import defer, reactor
    from twisted.internet._resolver import HostResolution
    from twisted.internet._sslverify import Certificate, trustRootFromCertificates
    from twisted.internet.address import IPv4Address, IPv6Address
    from twisted.internet.interfaces import IHostnameResolver
    from twisted.names import client, dns
    from twisted.web.client import readBody
    from zope.interface import implementer

    class _Dns:
        """``twisted.names`` asking one nameserver, each query once with ``timeout`` seconds."""

        def __init__(self, nameserver: str, timeout: float) -> None:
            host, _sep, port = nameserver.rpartition(":")
            self._client = client.Resolver(servers=[(host.strip("[]"), int(port))])
            self._timeout = (timeout,)

        def lookupService(self, name: bytes, timeout: Any = None) -> defer.Deferred:  # noqa: N802 - Twisted's name
            return self._client.lookupService(name, timeout=timeout or self._timeout)

        def addresses(self, name: str) -> defer.Deferred:
            """``[(family, address)]``: AAAA answers, then A answers; a failed query gives none."""

            def records(rdtype: int) -> defer.Deferred:
                lookup = self._client.lookupIPV6Address if rdtype == dns.AAAA else self._client.lookupAddress
                found = lookup(name, timeout=self._timeout)
                found.addCallback(
                    lambda answer: [
                        (rdtype, r.payload.dottedQuad() if rdtype == dns.A else _v6(r))
                        for r in answer[0]
                        if r.type == rdtype
                    ]
                )
                found.addErrback(lambda _failure: [])
                return found

            both = defer.gatherResults([records(dns.AAAA), records(dns.A)])
            return both.addCallback(lambda lists: [*lists[0], *lists[1]])

    def _v6(record: Any) -> str:
        return str(ipaddress.IPv6Address(record.payload.address))

    @implementer(IHostnameResolver)
    class _HostnameResolver:
        """The reactor's host-name resolver (what ``getaddrinfo`` is for a homeserver): the lab's DNS."""

        def __init__(self, lab_dns: _Dns) -> None:
            self._dns = lab_dns

        def resolveHostName(  # noqa: N802 - Twisted's name
            self,
            resolutionReceiver: Any,  # noqa: N803
            hostName: str,  # noqa: N803
            portNumber: int = 0,  # noqa: N803
            addressTypes: Any = None,  # noqa: N803
            transportSemantics: str = "TCP",  # noqa: N803
        ) -> HostResolution:
            resolution = HostResolution(hostName)
            resolutionReceiver.resolutionBegan(resolution)
            try:
                literal = ipaddress.ip_address(hostName)
            except ValueError:
                found = self._dns.addresses(hostName)
            else:
                found = defer.succeed([(dns.AAAA if literal.version == 6 else dns.A, str(literal))])

            def deliver(addresses: list) -> None:
                for rdtype, address in addresses:
                    kind = IPv6Address if rdtype == dns.AAAA else IPv4Address
                    if addressTypes is None or kind in addressTypes:
                        resolutionReceiver.addressResolved(kind("TCP", address, portNumber))
                resolutionReceiver.resolutionComplete()

            found.addCallback(deliver)
            return resolution

    def _tls_policy(ca: Path) -> FederationPolicyForHTTPS:
        """Synapse's federation TLS policy as its configuration builds it, trusting ``ca`` only."""
        pem = ca.read_text()
        blocks = [f"-----BEGIN CERTIFICATE-----{part}" for part in pem.split("-----BEGIN CERTIFICATE-----")[1:]]
        tls = SimpleNamespace(
            federation_ca_trust_root=trustRootFromCertificates([Certificate.loadPEM(block) for block in blocks]),
            federation_client_minimum_tls_version="1",
            federation_verify_certificates=True,
            federation_certificate_verification_whitelist=[],
        )
        return FederationPolicyForHTTPS(SimpleNamespace(tls=tls))  # type: ignore[arg-type]

    async def _one(server_name: str, args: argparse.Namespace, lab_dns: _Dns, policy: FederationPolicyForHTTPS) -> dict:
        """One federation request to ``server_name`` from a new agent (cold caches)."""
        agent = MatrixFederationAgent(
            server_name="reference.invalid",
            reactor=reactor,
            clock=Clock(reactor, server_name="reference.invalid"),
            tls_client_options_factory=policy,
            user_agent=b"matrixops-synapse-reference",
            ip_allowlist=generate_ip_set(args.allow),
            ip_blocklist=generate_ip_set(DEFAULT_IP_RANGE_BLOCKLIST, ["0.0.0.0", "::"]),  # noqa: S104 - Synapse's own
            _srv_resolver=SrvResolver(dns_client=lab_dns, cache={}),
        )
        try:
            requested = agent.request(b"GET", b"matrix-federation://" + server_name.encode("ascii") + PATH)
            requested.addTimeout(CASE_SECONDS, reactor)
            response = await requested
            body = await readBody(response)
        finally:
            await agent._pool.closeCachedConnections()  # noqa: SLF001 - the agent's own pool, per case
        try:
            seen = json.loads(body)
        except ValueError:
            seen = {"body": body[:200].decode("utf-8", "replace")}
        return {**seen, "status": response.code}

    async def _all(args: argparse.Namespace, cases: dict[str, str]) -> dict:
        lab_dns = _Dns(args.nameserver, args.dns_timeout)
        reactor.installNameResolver(_HostnameResolver(lab_dns))
        policy = _tls_policy(args.ca)

        async def case(server_name: str) -> dict:
            try:
                return await _one(server_name, args, lab_dns, policy)
            except Exception as exc:  # noqa: BLE001 - each case's outcome, reported
                return {"error": f"{type(exc).__name__}: {exc}"}

        outcomes = await defer.gatherResults([defer.ensureDeferred(case(name)) for name in cases.values()])
        return {
            "synapse": version("matrix-synapse"),
            "twisted": version("twisted"),
            "results": dict(zip(cases, outcomes, strict=True)),
        }

    report: dict = {}

    def run() -> None:
        def done(value: dict) -> None:
            report.update(value)
            reactor.stop()

        def failed(failure: Any) -> None:
            report["error"] = failure.getTraceback()
            reactor.stop()

        defer.ensureDeferred(_all(args, cases)).addCallbacks(done, failed)

    reactor.callWhenRunning(run)
    reactor.run()
    return report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--nameserver", required=True, help="IP:PORT of the DNS server for every query")
    parser.add_argument("--ca", required=True, type=Path, help="the CA (PEM) federation certificates chain to")
    parser.add_argument("--allow", action="append", default=[], help="a CIDR of Synapse's ip_range_whitelist")
    parser.add_argument("--dns-timeout", type=float, default=2.0, help="seconds per DNS query (default 2)")
    parser.add_argument("cases", type=Path, help="a JSON object {case id: server name}")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # Synapse's "sentinel context" notes: we run outside a homeserver
    report = _run(args, json.loads(args.cases.read_text()))
    json.dump(report, sys.stdout, indent=1, sort_keys=True)
    return 1 if "error" in report else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The network of ``federation_check``: the FederationProbe port over ``_https`` and ``_wellknown``.

Private module: not part of the collection's public API.
"""

from __future__ import annotations

import socket
import ssl

from ._https import HttpsConnection, make_ssl_context
from ._model import ConfigError, HttpResponse, HttpsError
from ._resolver import Resolver
from ._wellknown import fetch_following_redirects

__all__ = ["HttpsProbe", "has_local_route"]


def has_local_route(address: str, port: int) -> bool:
    """Whether this host has a route to ``address``: connect() of a UDP socket looks the route up
    locally and sends nothing. False when the lookup fails (no route, no source address of that
    family, no such family in the kernel)."""
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return False
    for family, kind, proto, _name, sockaddr in infos:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.connect(sockaddr)
        except OSError:
            continue
        return True
    return False


class _Session:
    """A TlsSession over one HttpsConnection (kept alive for the requests to that address)."""

    def __init__(self, connection: HttpsConnection, sock: ssl.SSLSocket, problem: HttpsError | None) -> None:
        self.connection = connection
        cipher = sock.cipher()
        self.version = sock.version()
        self.cipher = cipher[0] if cipher else None
        self.certificate = sock.getpeercert(binary_form=True)
        self.certificate_problem = problem

    def get(self, path: str, *, host_header: str, body_limit: int) -> HttpResponse:
        return self.connection.request(path, host_header=host_header, body_limit=body_limit)

    def close(self) -> None:
        self.connection.close()


class HttpsProbe:
    """Connects with certificate checks, and again without them to report on an invalid certificate."""

    def __init__(self, resolver: Resolver) -> None:
        options = resolver.options
        self.resolver = resolver
        self.timeout = options.timeout
        # One verifying context per run: the resolver's own when it verifies (the CA bundle is
        # read and parsed once), a verifying one of its own when validate_certs is false.
        if options.validate_certs:
            self.verifying = resolver.https.context
        else:
            try:
                self.verifying = make_ssl_context(ca_path=options.ca_path, validate_certs=True)
            except HttpsError as exc:
                raise ConfigError(str(exc)) from exc
        self.inspecting = make_ssl_context(validate_certs=False)

    def connect(self, address: str, port: int, *, server_hostname: str) -> _Session:
        problem = None
        connection = HttpsConnection(
            address, port, server_hostname=server_hostname, context=self.verifying, timeout=self.timeout
        )
        try:
            sock = connection.connect()
        except HttpsError as exc:
            if exc.kind != "certificate":
                raise
            problem = exc
            connection = HttpsConnection(
                address, port, server_hostname=server_hostname, context=self.inspecting, timeout=self.timeout
            )
            sock = connection.connect()
        return _Session(connection, sock, problem)

    def fetch(self, url: str, *, body_limit: int) -> list[tuple[str, HttpResponse]]:
        clock = self.resolver.clock
        return fetch_following_redirects(
            url,
            dns_addresses=self.resolver.addresses,
            https=self.resolver.https,
            body_limit=body_limit,
            deadline=clock.monotonic() + self.resolver.well_known_budget,
            clock=clock,
        )

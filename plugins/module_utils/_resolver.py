# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wiring of the real ports to the resolution core, shared by the lookup and the module.

Private module: not part of the collection's public API.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from ._dns import AddressAnswer, DnsConfigError, DnsPythonPort, parse_nameservers
from ._https import HttpResponse, HttpsConnection, HttpsError, make_ssl_context
from ._resolution import Memo, Resolution, ResolutionError, resolve_server_name

__all__ = [
    "ConfigError",
    "HttpsFetcher",
    "ResolveOptions",
    "Resolver",
    "WELL_KNOWN_BUDGET_FACTOR",
    "NAME_BUDGET_FACTOR",
]

# Step 3 (the well-known fetch, redirects included) takes at most 3 x timeout; one whole name at
# most NAME_BUDGET_FACTOR x timeout: step 3, two SRV queries and one round of address lookups
# (the targets of a name are looked up in parallel only when they are new; see the docs).
WELL_KNOWN_BUDGET_FACTOR = 3
_Self = TypeVar("_Self", bound="Closing")
NAME_BUDGET_FACTOR = 6


class Closing:
    """``with`` closes it."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ConfigError(ValueError):
    """An option is unusable (bad nameserver, unreadable CA bundle, bad number)."""


@dataclass(frozen=True)
class ResolveOptions:
    nameservers: list | None = None
    timeout: float = 10.0
    ca_path: str | None = None
    validate_certs: bool = True
    allow_private_addresses: bool = False
    concurrency: int = 16

    @classmethod
    def from_params(cls, params: dict, **overrides: object) -> ResolveOptions:
        """The options among a module's parameters, then ``overrides``."""
        names = ("nameservers", "timeout", "ca_path", "validate_certs", "allow_private_addresses")
        values = {name: params[name] for name in names if name in params}
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def check(self) -> None:
        if not isinstance(self.timeout, (int, float)) or isinstance(self.timeout, bool) or self.timeout <= 0:
            raise ConfigError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if (
            not isinstance(self.concurrency, int)
            or isinstance(self.concurrency, bool)
            or not 1 <= self.concurrency <= 256
        ):
            raise ConfigError(f"concurrency must be a whole number from 1 to 256, got {self.concurrency!r}")


class HttpsFetcher:
    """The HTTPS port: one GET to the first of ``addresses`` that answers."""

    def __init__(self, *, ca_path: str | None, validate_certs: bool, timeout: float) -> None:
        try:
            self.context = make_ssl_context(ca_path=ca_path, validate_certs=validate_certs)
        except HttpsError as exc:
            raise ConfigError(str(exc)) from exc
        self.timeout = timeout

    def get(
        self, host: str, port: int, path: str, *, addresses: list[str], body_limit: int, deadline: float | None
    ) -> HttpResponse:
        failures = []
        for address in addresses:
            connection = HttpsConnection(
                address, port, server_hostname=host, context=self.context, timeout=self.timeout
            )
            try:
                return connection.request(path, body_limit=body_limit, deadline=deadline)
            except HttpsError as exc:
                if exc.kind not in ("connect", "timeout", "tls", "certificate"):
                    raise  # the server answered: its answer is the result
                failures.append(exc)
                if deadline is not None and time.monotonic() >= deadline:
                    break
            finally:
                connection.close()
        if not failures:
            raise HttpsError(f"no address to connect to for {host}", kind="connect")
        if len(failures) == 1:
            raise failures[0]
        raise HttpsError("; ".join(str(failure) for failure in failures), kind=failures[-1].kind)


class Resolver(Closing):
    """Resolves many server names for one lookup call or module run (one memo, never reused)."""

    def __init__(self, options: ResolveOptions) -> None:
        options.check()
        self.options = options
        try:
            nameservers = parse_nameservers(options.nameservers)
            self.dns = DnsPythonPort(nameservers, options.timeout, workers=max(2, 2 * options.concurrency))
        except DnsConfigError as exc:
            raise ConfigError(str(exc)) from exc
        self.https = HttpsFetcher(
            ca_path=options.ca_path, validate_certs=options.validate_certs, timeout=options.timeout
        )
        self.memo = Memo()

    def close(self) -> None:
        self.dns.close()

    def addresses(self, host: str, deadline: float | None = None) -> AddressAnswer:
        """AAAA and A of ``host``, looked up once per run (shared with the resolution core)."""
        return self.memo.get(("addresses", host), lambda: self.dns.addresses(host, deadline=deadline))

    def resolve(self, name: object) -> Resolution:
        return self.memo.get(
            _memo_key(name),
            lambda: resolve_server_name(
                name,
                dns=self.dns,
                https=self.https,
                memo=self.memo,
                allow_private_addresses=self.options.allow_private_addresses,
                well_known_budget=WELL_KNOWN_BUDGET_FACTOR * self.options.timeout,
                step_timeout=self.options.timeout,
            ),
        )

    def resolve_all(self, names: list) -> list[Resolution | ResolutionError]:
        """Resolve ``names`` concurrently; results (or errors) in the order of ``names``."""

        def one(name: object) -> Resolution | ResolutionError:
            try:
                return self.resolve(name)
            except ResolutionError as exc:
                return exc

        # Each distinct name is scheduled once: a repeated name would otherwise hold a worker
        # while it waits for the first resolution of that name (the memo makes it wait, not
        # resolve again), and a list with repeats would resolve fewer names at a time.
        first: dict = {}
        for name in names:
            first.setdefault(_memo_key(name), name)
        distinct = list(first.values())
        if len(distinct) <= 1 or self.options.concurrency == 1:
            outcomes = [one(name) for name in distinct]
        else:
            with ThreadPoolExecutor(
                max_workers=min(self.options.concurrency, len(distinct)), thread_name_prefix="matrixops-resolve"
            ) as pool:
                outcomes = list(pool.map(one, distinct))
        by_key = {_memo_key(name): outcome for name, outcome in zip(distinct, outcomes)}
        return [by_key[_memo_key(name)] for name in names]


def _memo_key(name: object) -> tuple[str, str]:
    """The memo key of a term: the name as given (a non-string by its repr)."""
    return ("server_name", name if isinstance(name, str) else repr(name))

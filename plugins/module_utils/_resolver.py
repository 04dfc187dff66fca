# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The composition: real adapters, one memo and one thread pool wired to the resolution core.

Private module: not part of the collection's public API. Shared by the ``resolve`` lookup, the
``federation_check`` module (through ``_federation``) and the ``srv_record`` module's checks.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from ._dns import DnsClient, DnsConfigError, parse_nameservers
from ._https import HttpsFetcher
from ._memo import Memo
from ._model import SYSTEM_CLOCK, AddressAnswer, Closing, ConfigError, Resolution, ResolutionError
from ._parallel import ThreadPool
from ._profiles import Profile
from ._resolution import MAX_PARALLEL_LOOKUPS, ProfileOutcome, resolve_implementations, resolve_server_name

_T = TypeVar("_T")

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_CONCURRENCY",
    "ResolveOptions",
    "Resolver",
    "WELL_KNOWN_BUDGET_FACTOR",
    "NAME_BUDGET_FACTOR",
    "pool_size",
]

# Step 3 (the well-known fetch, redirects included) takes at most 3 x timeout; one whole name at
# most NAME_BUDGET_FACTOR x timeout: step 3, two SRV queries and one round of address lookups
# (the targets of a name are looked up in parallel only when they are new; see the docs).
WELL_KNOWN_BUDGET_FACTOR = 3
NAME_BUDGET_FACTOR = 6

# Names in flight by default: chosen from `make bench` (docs/performance.md, "Concurrency"). With
# 50 ms per round trip, 16 left the lookup waiting on the network (1000 names x ~4 round trips /
# 16 >= 11.7 s); above 64 the resolution is CPU-bound on 2 cores and more threads only add
# switching. MAX_CONCURRENCY bounds what an option may ask for.
DEFAULT_CONCURRENCY = 64
MAX_CONCURRENCY = 256
# Descriptors kept free for everything else of the process (Ansible's own, logs, pipes).
FD_RESERVE = 64


def pool_size(concurrency: int, fd_limit: int | None = None) -> int:
    """Threads of a run's pool: ``concurrency`` names and 2 x MAX_PARALLEL_LOOKUPS nested lookups.

    Every thread holds at most one socket at a time (a UDP query, or one TLS connection), so the
    pool size bounds the run's descriptors; it is lowered to fit under the soft RLIMIT_NOFILE
    (minus FD_RESERVE) so that a low limit slows the run instead of failing names with EMFILE.
    """
    wanted = concurrency + 2 * MAX_PARALLEL_LOOKUPS
    if fd_limit is None:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        fd_limit = soft if soft != resource.RLIM_INFINITY else wanted + FD_RESERVE
    return max(2, min(wanted, fd_limit - FD_RESERVE))


@dataclass(frozen=True)
class ResolveOptions:
    nameservers: list | None = None
    timeout: float = 10.0
    ca_path: str | None = None
    validate_certs: bool = True
    allow_private_addresses: bool = False
    concurrency: int = DEFAULT_CONCURRENCY

    @classmethod
    def from_params(cls, params: dict, **overrides: object) -> ResolveOptions:
        """The options among a module's parameters, then ``overrides``."""
        names = ("nameservers", "timeout", "ca_path", "validate_certs", "allow_private_addresses")
        values = {name: params[name] for name in names if name in params}
        values.update(overrides)
        return cls(**values)

    def check(self) -> None:
        if not isinstance(self.timeout, (int, float)) or isinstance(self.timeout, bool) or self.timeout <= 0:
            raise ConfigError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if (
            not isinstance(self.concurrency, int)
            or isinstance(self.concurrency, bool)
            or not 1 <= self.concurrency <= MAX_CONCURRENCY
        ):
            raise ConfigError(
                f"concurrency must be a whole number from 1 to {MAX_CONCURRENCY}, got {self.concurrency!r}"
            )


class Resolver(Closing):
    """Resolves many server names for one lookup call or module run (one memo, never reused)."""

    def __init__(self, options: ResolveOptions) -> None:
        options.check()
        self.options = options
        # The real clock: the adapters compare their deadlines with time.monotonic() too.
        self.clock = SYSTEM_CLOCK
        # Names, the SRV targets of each name, and AAAA + A of each target share these threads.
        # Bad options (nameservers, an unreadable CA bundle) fail before the pool exists.
        try:
            nameservers = parse_nameservers(options.nameservers)
        except DnsConfigError as exc:
            raise ConfigError(str(exc)) from exc
        self.https = HttpsFetcher(
            ca_path=options.ca_path, validate_certs=options.validate_certs, timeout=options.timeout
        )
        self.pool = ThreadPool(pool_size(options.concurrency))
        try:
            self.dns = DnsClient(nameservers, options.timeout, parallel=self.pool)
        except DnsConfigError as exc:  # dnspython is missing
            self.pool.close()
            raise ConfigError(str(exc)) from exc
        self.memo = Memo()

    def close(self) -> None:
        self.pool.close()  # the DNS client has no threads of its own: it uses this pool

    @property
    def well_known_budget(self) -> float:
        """The seconds a well-known fetch may take, redirects included."""
        return WELL_KNOWN_BUDGET_FACTOR * self.options.timeout

    def addresses(self, host: str, deadline: float | None = None) -> AddressAnswer:
        """AAAA and A of ``host``, looked up once per run (shared with the resolution core)."""
        return self.memo.get(
            ("addresses", host), lambda: self.dns.addresses(host, deadline=deadline), deadline=deadline
        )

    def resolve(self, name: object) -> Resolution:
        return self.memo.get(
            _memo_key(name),
            lambda: resolve_server_name(
                name,
                dns=self.dns,
                https=self.https,
                memo=self.memo,
                allow_private_addresses=self.options.allow_private_addresses,
                well_known_budget=self.well_known_budget,
                step_timeout=self.options.timeout,
                clock=self.clock,
                parallel=self.pool,
            ),
        )

    def resolve_implementations(self, name: object, profiles: list[Profile]) -> list[ProfileOutcome]:
        """``name`` as each of ``profiles`` resolves it: one network pass (this run's memo) for all."""
        key = (*_memo_key(name), tuple(profile.name for profile in profiles))
        return self.memo.get(
            ("implementations", *key),
            lambda: resolve_implementations(
                name,
                profiles,
                dns=self.dns,
                https=self.https,
                memo=self.memo,
                allow_private_addresses=self.options.allow_private_addresses,
                well_known_budget=self.well_known_budget,
                step_timeout=self.options.timeout,
                clock=self.clock,
                parallel=self.pool,
            ),
        )

    def resolve_all(self, names: list) -> list[Resolution | ResolutionError]:
        """Resolve ``names`` concurrently; results (or errors) in the order of ``names``."""

        def one(name: object) -> Resolution | ResolutionError:
            try:
                return self.resolve(name)
            except ResolutionError as exc:
                return exc

        return self._each_name(one, names)

    def resolve_all_implementations(self, names: list, profiles: list[Profile]) -> list[list[ProfileOutcome]]:
        """``resolve_implementations`` for ``names`` concurrently, in the order of ``names``."""
        return self._each_name(lambda name: self.resolve_implementations(name, profiles), names)

    def _each_name(self, one: Callable[[Any], _T], names: list) -> list[_T]:
        """``one(name)`` for each distinct name, concurrently; the outcomes in the order of ``names``."""
        # Each distinct name is scheduled once: a repeated name would otherwise hold a worker
        # while it waits for the first resolution of that name (the memo makes it wait, not
        # resolve again), and a list with repeats would resolve fewer names at a time.
        first: dict = {}
        for name in names:
            first.setdefault(_memo_key(name), name)
        distinct = list(first.values())
        outcomes = self.pool.map(one, distinct, limit=self.options.concurrency)
        by_key = {_memo_key(name): outcome for name, outcome in zip(distinct, outcomes)}
        return [by_key[_memo_key(name)] for name in names]


def _memo_key(name: object) -> tuple[str, str]:
    """The memo key of a term: the name as given (a non-string by its repr)."""
    return ("server_name", name if isinstance(name, str) else repr(name))

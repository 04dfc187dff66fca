# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a fleet check judges beyond the federation tester (issue #19), pure functions of data.

Private module: not part of the collection's public API. Used by ``federation_check`` (through
``_federation.FederationChecker``) and by the reports (``_report``):

* certificate expiry: whole days left on a certificate, against a threshold;
* "still on our platform": networks that every resolved address must be in;
* address families: an address's family, which families to check, and whether a connection
  error means "this host has no route for that family" rather than "the server is broken".
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FAMILIES",
    "NO_ROUTE_REASONS",
    "CheckPolicy",
    "days_left",
    "expiry_problem",
    "family_of",
    "is_no_route",
    "on_platform",
    "parse_networks",
    "parse_time",
]

FAMILIES = ("any", "ipv4", "ipv6")

#: Connection errors that can mean "this host has no route for the address's family", not "the
#: server is broken": ENETUNREACH (no route at all), EADDRNOTAVAIL (no source address of that
#: family, e.g. IPv6 disabled) and EAFNOSUPPORT (no IPv6 in the kernel). Linux also gives
#: ENETUNREACH when a router on the way sends ICMP net-unreachable, so the checker only calls it
#: no route when a local route lookup finds none (``_federation_probe.has_local_route``).
#: "No route to host" (EHOSTUNREACH) is not among them: a router near the server says it as well.
NO_ROUTE_REASONS = (
    "Network is unreachable",
    "Cannot assign requested address",
    "Address family not supported by protocol",
)


def is_no_route(error: Any) -> bool:
    """Whether an error line reads like "this host has no route to the address" (see NO_ROUTE_REASONS)."""
    return isinstance(error, str) and any(reason in error for reason in NO_ROUTE_REASONS)


def family_of(address: Any) -> str:
    """``ipv6`` for an IPv6 address, else ``ipv4``."""
    return "ipv6" if isinstance(address, str) and ":" in address else "ipv4"


def parse_time(text: Any) -> float | None:
    """``2027-01-01T00:00:00Z`` (a certificate's ``not_after``) → seconds since the epoch."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        try:
            parsed = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed.timestamp()


def days_left(not_after: Any, now: float) -> int | None:
    """Whole days until ``not_after`` (negative once expired, rounded down); None when unknown."""
    expiry = parse_time(not_after)
    if expiry is None:
        return None
    return math.floor((expiry - now) / 86400)


def expiry_problem(endpoint: str, days: int, not_after: Any, threshold: str) -> str:
    """What to say of the certificate ``endpoint`` presented, ``days`` whole days before ``not_after``.

    ``threshold``: how the threshold is named (``14 days (certificate_expiry_days)``). A certificate
    past its ``not_after`` has expired, whatever the threshold.
    """
    if days < 0:
        ago = -days
        return (
            f"the certificate presented by {endpoint} expired {ago} day{'' if ago == 1 else 's'} ago "
            f"({not_after}): renew it"
        )
    return (
        f"the certificate presented by {endpoint} expires in {days} day{'' if days == 1 else 's'} ({not_after}), "
        f"within the threshold of {threshold}: renew it"
    )


def parse_networks(values: Any) -> list:
    """``["192.0.2.0/24", "2001:db8::7"]`` → networks (an address is its own /32 or /128).

    Raises ValueError naming the value that is neither an address nor a network.
    """
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValueError(f"platform networks must be a list of addresses or networks (CIDR), got {values!r}")
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError as exc:
            raise ValueError(
                f"platform network {value!r} is neither an IP address nor a network like 192.0.2.0/24: {exc}"
            ) from exc
    return networks


def on_platform(address: Any, networks: list) -> bool:
    """Whether ``address`` is inside one of ``networks``."""
    try:
        parsed = ipaddress.ip_address(str(address))
    except ValueError:
        return False
    return any(parsed in network for network in networks)


@dataclass(frozen=True)
class CheckPolicy:
    """``expiry_days``: a certificate with fewer whole days left is expiring (a warning, an error
    with ``expiry_error``); None: no threshold. ``networks``: when given, every resolved address
    must be inside one of them. ``family``: ``any``, or check only ``ipv4`` or ``ipv6`` addresses."""

    expiry_days: int | None = None
    expiry_error: bool = False
    networks: tuple = ()
    family: str = "any"

    @classmethod
    def from_params(cls, params: dict) -> CheckPolicy:
        """From a module's parameters; ValueError says what is wrong."""
        expiry = params.get("certificate_expiry_days")
        if expiry is not None and (isinstance(expiry, bool) or not isinstance(expiry, int) or expiry < 0):
            raise ValueError(f"certificate_expiry_days must be a whole number of days (0 or more), got {expiry!r}")
        family = params.get("address_family") or "any"
        if family not in FAMILIES:
            raise ValueError(f"address_family must be one of {', '.join(FAMILIES)}, got {family!r}")
        return cls(
            expiry_days=expiry,
            expiry_error=bool(params.get("certificate_expiry_error")),
            networks=tuple(parse_networks(params.get("platform_networks"))),
            family=family,
        )

    def wants(self, address: str) -> bool:
        """Whether ``address`` is of a family this check covers."""
        return self.family == "any" or family_of(address) == self.family

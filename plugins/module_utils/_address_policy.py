# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which addresses stock Synapse refuses to federate with (its default ``ip_range_blacklist``).

Private module: not part of the collection's public API.
"""

from __future__ import annotations

import ipaddress

__all__ = ["private_address_warnings", "private_range"]

_BLOCKED_NETWORKS = [
    ipaddress.ip_network(net)
    for net in (
        # Synapse's default ip_range_blacklist
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "169.254.0.0/16",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "0.0.0.0/8",
        "255.255.255.255/32",
        "::1/128",
        "fe80::/10",
        "fc00::/7",
        "2001:db8::/32",
        "ff00::/8",
        "fec0::/10",
        "::/128",
    )
]


def private_range(address: str) -> str | None:
    """The blocked range an address falls in (as Synapse's default ``ip_range_blacklist``), or None."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for network in _BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return str(network)
    return None


def private_address_warnings(host: str, addresses: list[str]) -> list[str]:
    """One warning per address of ``host`` in a blocked range."""
    warnings = []
    for address in addresses:
        network = private_range(address)
        if network:
            where = address if host == address else f"{host} resolves to {address}, which"
            warnings.append(
                f"{where} is in {network}, a range stock Synapse refuses to federate with "
                "(its default ip_range_blacklist)"
            )
    return warnings

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Options shared by the resolve lookup and the federation_check module.
    DOCUMENTATION = r"""
options:
  nameservers:
    description:
      - DNS servers to ask, each an IP address with an optional port (V(192.0.2.53), V(127.0.0.1:5353),
        V([2001:db8::53]:53)).
      - When empty, the nameservers of the system resolver (C(/etc/resolv.conf)) are used.
      - dnspython does not read C(/etc/hosts), so names only found there do not resolve.
    type: list
    elements: str
  timeout:
    description:
      - Seconds allowed for each network step, that is one DNS query, one TCP connect with its TLS
        handshake, or one whole HTTP response (status, headers and body).
      - The well-known step as a whole (redirects included) takes at most 3 times O(timeout), and
        one server name at most 6 times O(timeout) plus one more O(timeout) for the address
        lookups of its SRV targets (looked up in parallel, as one round).
    type: float
    default: 10
  ca_path:
    description:
      - A PEM bundle of CA certificates trusted instead of the system store, for example a lab CA.
    type: path
  validate_certs:
    description:
      - Whether TLS certificates must be valid. Never disable this outside tests, homeservers
        do not.
    type: bool
    default: true
  allow_private_addresses:
    description:
      - Do not warn about addresses in ranges that stock Synapse refuses to federate with
        (loopback, RFC 1918, link-local, documentation ranges...). Useful for labs and tests.
    type: bool
    default: false
requirements:
  - dnspython >= 2.4 on the host that resolves (the controller for the lookup; for a module, the host it runs on)
"""

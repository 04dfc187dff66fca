# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The error catalogue: a stable code for each problem ``federation_check`` and the lookup report.

Private module: not part of the collection's public API. docs/troubleshooting.md has one row and
one section per code (its unit test checks that against CATALOGUE); the error lines themselves
may be reworded, the codes stay.
"""

from __future__ import annotations

__all__ = ["CATALOGUE", "Problem", "code_of"]

#: code -> the title of its section in docs/troubleshooting.md
CATALOGUE = {
    "invalid-server-name": "Invalid server name",
    "srv-disabled": "Federation disabled by SRV",
    "dns-failure": "DNS failures",
    "no-address": "No address",
    "invalid-m-server": "Invalid m.server",
    "cannot-connect": "Cannot connect",
    "slow-or-broken-response": "Slow or broken responses",
    "tls-handshake-failed": "TLS handshake failed",
    "certificate-wrong-name": "Certificate for the wrong name",
    "certificate-expired": "Expired certificate",
    "certificate-refused": "Certificate refused for another reason",
    "certificate-untrusted": "Untrusted certificate",
    "keys-wrong-server-name": "Keys for another server name",
    "keys-expired": "Expired keys",
    "keys-bad-signature": "Bad signing keys",
    "not-a-homeserver": "Not a homeserver behind the proxy",
    "delegation-elsewhere": "Delegation points elsewhere",
    "invalid-expected-target": "Invalid expected_target",
    "client-cors": "Client file without CORS",
    "client-well-known": "Client well-known problems",
    "support-file": "Support file problems",
    "check-crashed": "A check that crashed",
    "certificate-expiring": "Certificate about to expire",
    "off-platform": "Address outside the platform",
    "no-route": "No route from this host",
}


class Problem(str):
    """An error line that knows its catalogue code (``str(problem)`` is the plain line)."""

    code: str

    def __new__(cls, code: str, text: str) -> Problem:
        if code not in CATALOGUE:
            raise ValueError(f"unknown problem code {code!r}: add it to CATALOGUE and docs/troubleshooting.md")
        problem = super().__new__(cls, text)
        problem.code = code
        return problem


def code_of(line: str) -> str:
    """The code of an error line (a Problem); a plain string is a bug the tests catch."""
    if not isinstance(line, Problem):
        raise TypeError(f"error line without a code: {line!r}")
    return line.code

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Matrix server names: grammar, normalisation and validation.

Private module: not part of the collection's public API.

The grammar is the one of the Matrix specification (appendices, "Server Name")::

    server_name = hostname [ ":" port ]
    port        = 1*5DIGIT
    hostname    = IPv4address / "[" IPv6address "]" / dns-name
    dns-name    = 1*255dns-char
    dns-char    = DIGIT / ALPHA / "-" / "."

Labels of a DNS name must be non-empty (so a trailing dot makes a name invalid, as in Synapse),
ports must be in 1..65535, and a Unicode name is converted to its IDNA A-label form.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = ["ServerName", "ServerNameError", "parse_server_name", "parse_host"]

DNS_NAME_MAX = 255
LONG_NAME_WARNING = 230
_DNS_CHARS = re.compile(r"\A[A-Za-z0-9.-]+\Z")
_PORT = re.compile(r"\A[0-9]{1,5}\Z")
_DOTTED_NUMBERS = re.compile(r"\A[0-9]+(\.[0-9]+){3}\Z")
_IPV6_CHARS = re.compile(r"\A[0-9A-Fa-f:.]+\Z")


class ServerNameError(ValueError):
    """A string is not a valid Matrix server name (or hostname)."""


@dataclass(frozen=True)
class ServerName:
    """A parsed server name. ``host`` is the A-label DNS name or the bare IP address."""

    host: str
    port: int | None
    kind: str  # "dns", "ipv4" or "ipv6"
    port_text: str | None = None  # the port as written ("08448" stays "08448": names compare as strings)

    @property
    def is_ip_literal(self) -> bool:
        return self.kind != "dns"

    @property
    def host_for_url(self) -> str:
        """The host as written in a URL or server name: IPv6 addresses in brackets."""
        return f"[{self.host}]" if self.kind == "ipv6" else self.host

    def __str__(self) -> str:
        if self.port is None:
            return self.host_for_url
        return f"{self.host_for_url}:{self.port_text or self.port}"


def _describe(char: str) -> str:
    if char.isprintable() and not char.isspace():
        return f"'{char}' (U+{ord(char):04X})"
    if char == " ":
        return "a space (U+0020)"
    return f"U+{ord(char):04X}"


def _parse_port(text: str, original: str) -> int:
    if not _PORT.match(text):
        raise ServerNameError(f"'{original}': the port must be 1 to 5 digits, got '{text}'")
    port = int(text)
    if not 1 <= port <= 65535:
        raise ServerNameError(f"'{original}': the port must be between 1 and 65535, got {port}")
    return port


def _to_a_label(host: str, original: str) -> str:
    try:
        encoded = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ServerNameError(
            f"'{original}': the Unicode hostname cannot be converted to IDNA A-labels ({exc})"
        ) from exc
    # The codec maps some characters (for example ideographic full stops) to dots; the result
    # must still satisfy the ASCII grammar, which the caller checks next.
    return encoded


def _check_dns_name(host: str, original: str) -> None:
    if not host:
        raise ServerNameError(f"'{original}': the hostname is empty")
    if len(host) > DNS_NAME_MAX:
        raise ServerNameError(f"'{original}': the hostname is {len(host)} characters long, the limit is {DNS_NAME_MAX}")
    if not _DNS_CHARS.match(host):
        bad = next(c for c in host if not _DNS_CHARS.match(c))
        raise ServerNameError(
            f"'{original}': the hostname contains {_describe(bad)}; only letters, digits, '-' and '.' are allowed"
        )
    if host.endswith("."):
        raise ServerNameError(f"'{original}': a trailing dot is not allowed in a Matrix server name (remove it)")
    if host.startswith(".") or ".." in host:
        raise ServerNameError(f"'{original}': the hostname has an empty label")
    if _DOTTED_NUMBERS.match(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError as exc:
            raise ServerNameError(f"'{original}': '{host}' is not a valid IPv4 address") from exc


def parse_host(text: str, *, original: str | None = None, allow_unicode: bool = True) -> tuple[str, str, list[str]]:
    """Parse a hostname (no port). Returns ``(host, kind, warnings)``; IPv6 comes back bare.

    ``text`` may be a bracketed IPv6 literal. Raises ServerNameError.
    """
    original = text if original is None else original
    warnings: list[str] = []
    if text.startswith("["):
        if not text.endswith("]"):
            raise ServerNameError(f"'{original}': an IPv6 literal must end with ']'")
        inner = text[1:-1]
        if not inner or not _IPV6_CHARS.match(inner):
            raise ServerNameError(f"'{original}': '{inner}' is not a valid IPv6 address")
        try:
            ipaddress.IPv6Address(inner)
        except ValueError as exc:
            raise ServerNameError(f"'{original}': '{inner}' is not a valid IPv6 address") from exc
        return inner, "ipv6", warnings
    if ":" in text:
        raise ServerNameError(f"'{original}': an IPv6 address must be written in brackets, like '[{text}]'")
    host = text
    if not host.isascii():
        if not allow_unicode:
            bad = next(c for c in host if not c.isascii())
            raise ServerNameError(
                f"'{original}': the hostname contains {_describe(bad)}; only letters, digits, '-' and '.' are allowed"
            )
        if host.endswith(".") or host.endswith("\u3002"):
            raise ServerNameError(f"'{original}': a trailing dot is not allowed in a Matrix server name (remove it)")
        host = _to_a_label(host, original)
        warnings.append(f"server name '{original}' is not ASCII: using its IDNA form '{host}'")
    _check_dns_name(host, original)
    if _DOTTED_NUMBERS.match(host):
        return host, "ipv4", warnings
    return host, "dns", warnings


def parse_server_name(value: object, *, allow_unicode: bool = True) -> tuple[ServerName, list[str]]:
    """Parse and normalise a server name. Returns ``(ServerName, warnings)``.

    The name keeps its case and its port (server names are case-sensitive); a Unicode name is
    converted to A-labels with a warning. Raises ServerNameError with a message naming the input.
    """
    if not isinstance(value, str):
        raise ServerNameError(f"a server name must be a string, got {type(value).__name__} {value!r}")
    original = value
    if not value:
        raise ServerNameError("the server name is empty")
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ServerNameError(f"'{original}': an IPv6 literal must end with ']'")
        host_text, rest = value[: end + 1], value[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ServerNameError(f"'{original}': only ':port' may follow an IPv6 literal, got '{rest}'")
        port_text = rest[1:] if rest else None
    elif "/" in value:
        raise ServerNameError(
            f"'{original}': contains '/', but a server name is a host name with an optional port, "
            "without a scheme or a path (like 'matrix.example.com:443')"
        )
    elif value.count(":") > 1:
        raise ServerNameError(f"'{original}': an IPv6 address must be written in brackets, like '[{value}]'")
    elif ":" in value:
        host_text, port_text = value.split(":", 1)
    else:
        host_text, port_text = value, None
    port = None if port_text is None else _parse_port(port_text, original)
    host, kind, warnings = parse_host(host_text, original=original, allow_unicode=allow_unicode)
    if kind == "dns":
        if host != host.lower():
            warnings.append(
                f"server name '{original}' contains upper-case letters: server names are "
                "case-sensitive, so user IDs on it differ from the lower-case name"
            )
        if len(host) > LONG_NAME_WARNING:
            warnings.append(
                f"server name '{original}' is {len(host)} characters long: keep it under "
                f"{LONG_NAME_WARNING} so that user IDs stay within Matrix's 255-character limit"
            )
    keep_text = port_text if port is not None and port_text != str(port) else None
    return ServerName(host=host, port=port, kind=kind, port_text=keep_text), warnings

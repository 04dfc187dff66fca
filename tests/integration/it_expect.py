"""Expected-result builders and matchers for the lookup's result dict (docs/architecture.md, "Resolution methods")."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from it_world import WK_PATH, ZONE, wk_url

RESULT_KEYS = {
    "server_name",
    "method",
    "delegated_server",
    "host_header",
    "tls_server_name",
    "sni",
    "targets",
    "well_known",
    "srv",
    "warnings",
}
WELL_KNOWN_KEYS = {"url", "status", "m_server", "error", "redirects", "cache_seconds"}
SRV_KEYS = {"name", "records", "error"}
SRV_RECORD_KEYS = {"priority", "weight", "port", "target"}
TARGET_KEYS = {"host", "port", "addresses"}


class Text:
    """Equals a non-empty string containing every fragment (case-insensitive)."""

    def __init__(self, *fragments: str) -> None:
        self.fragments = fragments

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other) and all(f.lower() in other.lower() for f in self.fragments)

    def __repr__(self) -> str:
        return f"Text{self.fragments!r}"


class Anything:
    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = Anything()


class Unordered:
    """Equals a list with the same items in any order."""

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = list(items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list) or len(other) != len(self.items):
            return False
        remaining = list(other)
        for item in self.items:
            for i, candidate in enumerate(remaining):
                if item == candidate:
                    del remaining[i]
                    break
            else:
                return False
        return True

    def __repr__(self) -> str:
        return f"Unordered({self.items!r})"


def target(host: str, port: int, *addresses: str) -> dict:
    return {"host": host, "port": port, "addresses": list(addresses) if len(addresses) < 2 else Unordered(addresses)}


def record(priority: int, weight: int, port: int, target_host: str) -> dict:
    return {"priority": priority, "weight": weight, "port": port, "target": target_host}


def srv_query(host: str, *records: dict, legacy: bool = False, error: Any = None) -> dict:
    service = "_matrix._tcp" if legacy else "_matrix-fed._tcp"
    return {"name": f"{service}.{host}", "records": Unordered(records), "error": error}


def no_srv(host: str) -> list[dict]:
    """Both SRV names asked, neither has records (NXDOMAIN or NODATA)."""
    return [srv_query(host), srv_query(host, legacy=True)]


def well_known_ok(host: str, m_server: Any, *, redirects: Iterable[str] = (), cache_seconds: int = 86400) -> dict:
    return {
        "url": wk_url(host),
        "status": 200,
        "m_server": m_server,
        "error": None,
        "redirects": list(redirects),
        "cache_seconds": cache_seconds,
    }


def well_known_failed(host: str, error: Any, *, status: Any = None, m_server: Any = None, redirects: Any = ()) -> dict:
    """A well-known that gave no delegation: reported with its reason, cached 3600 s."""
    return {
        "url": wk_url(host),
        "status": status,
        "m_server": m_server,
        "error": error,
        "redirects": list(redirects) if isinstance(redirects, (list, tuple)) else redirects,
        "cache_seconds": 3600,
    }


def not_delegated(host: str, method: str, targets: list, well_known: dict, srv: list, *, warnings: Any = ()) -> dict:
    """Rules 4 to 6: no delegation; the hostname is the Host header, the TLS name and the SNI."""
    return {
        "server_name": host,
        "method": method,
        "delegated_server": None,
        "host_header": host,
        "tls_server_name": host,
        "sni": host,
        "targets": targets,
        "well_known": well_known,
        "srv": srv,
        "warnings": list(warnings) if isinstance(warnings, (list, tuple)) else warnings,
    }


def fell_through_to_default_port(host: str, address: str, well_known: dict, *, warnings: Any = ()) -> dict:
    """Rule 6: the hostname itself on 8448."""
    return not_delegated(
        host, "default_port", [target(host, 8448, address)], well_known, no_srv(host), warnings=warnings
    )


def fell_through_to_srv(host: str, well_known: dict, srv_target: str, port: int, address: str) -> dict:
    """Rule 4: ``_matrix-fed._tcp.<hostname>`` records, certificate still for the hostname."""
    srv = [srv_query(host, record(10, 5, port, srv_target))]
    return not_delegated(host, "srv", [target(srv_target, port, address)], well_known, srv)


def delegated_by_well_known(host: str, well_known: dict, *, warnings: Any = ()) -> dict:
    """Step 3.2 to the world's standard delegation target ``wk-port-target.it.test:8451``."""
    from it_world import DELEGATED, ip

    delegated_host = DELEGATED.split(":", maxsplit=1)[0]
    return {
        "server_name": host,
        "method": "well_known_explicit_port",
        "delegated_server": DELEGATED,
        "host_header": DELEGATED,
        "tls_server_name": delegated_host,
        "sni": delegated_host,
        "targets": [target(delegated_host, 8451, ip(23))],
        "well_known": well_known,
        "srv": [],
        "warnings": list(warnings) if isinstance(warnings, (list, tuple)) else warnings,
    }


def assert_result(got: dict, expected: dict) -> None:
    """Compare the documented fields; pytest shows a field-by-field diff on failure."""
    assert {key: got.get(key, "<missing>") for key in expected} == expected


__all__ = [
    "ANY",
    "RESULT_KEYS",
    "Text",
    "Unordered",
    "WK_PATH",
    "ZONE",
    "assert_result",
    "delegated_by_well_known",
    "fell_through_to_default_port",
    "fell_through_to_srv",
    "not_delegated",
    "no_srv",
    "record",
    "srv_query",
    "target",
    "well_known_failed",
    "well_known_ok",
]

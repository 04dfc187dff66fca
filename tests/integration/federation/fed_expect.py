"""Expected pieces of a ``federation_check`` result (docs/architecture.md, "The federation_check result")."""

from __future__ import annotations

from fed_world import FED_PORT, HOSTILE_IP, World

RESULT_KEYS = {
    "ok",
    "server_name",
    "resolution",
    "connections",
    "version",
    "client",
    "support",
    "errors",
    "error_codes",
    "summary",
}
CONNECTION_KEYS = {"address", "port", "ok", "state", "error", "tls", "checks", "keys"}
TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")

ALL_PASSED = {
    "valid_certificate": True,
    "matching_server_name": True,
    "future_valid_until_ts": True,
    "has_ed25519_key": True,
    "all_ed25519_checks_ok": True,
}
#: No usable TLS session (refused, TLS failure, rejected certificate): the key checks did not run.
NOT_RUN = {
    "valid_certificate": False,
    "matching_server_name": None,
    "future_valid_until_ts": None,
    "has_ed25519_key": None,
    "all_ed25519_checks_ok": None,
}
#: TLS fine but no usable keys document (HTTP error, not JSON, not an object).
NO_KEYS = {
    "valid_certificate": True,
    "matching_server_name": False,
    "future_valid_until_ts": False,
    "has_ed25519_key": False,
    "all_ed25519_checks_ok": None,
}


def checks(**changes: bool | None) -> dict:
    """ALL_PASSED with some checks changed."""
    unknown = set(changes) - set(ALL_PASSED)
    assert not unknown, unknown
    return {**ALL_PASSED, **changes}


def tls(world: World, certificate: str, *, valid: bool = True, session: dict | None = None) -> dict:
    """The ``tls`` dict for one of the world's certificates; version and cipher from ``session``."""
    session = session or {}
    return {
        "version": session.get("version"),
        "cipher": session.get("cipher"),
        "certificate_valid": valid,
        "certificate": world.cert_details(certificate),
    }


def keys(server_name: str, valid_until_ts: int, *key_ids: str) -> dict:
    return {"server_name": server_name, "valid_until_ts": valid_until_ts, "verify_keys": list(key_ids)}


def assert_tls_session(connection: dict) -> dict:
    """A TLS session was made: version and cipher are real values. Returns the ``tls`` dict."""
    session = connection["tls"]
    assert session is not None, connection
    assert session["version"] in TLS_VERSIONS, session
    assert isinstance(session["cipher"], str) and session["cipher"], session
    return session


def only_connection(result: dict) -> dict:
    assert len(result["connections"]) == 1, result["connections"]
    connection = result["connections"][0]
    assert set(connection) == CONNECTION_KEYS, connection
    assert connection["state"] == ("ok" if connection["ok"] else "error"), connection  # no no-route on loopback
    return connection


def connection(
    address: str,
    *,
    error: str | None,
    tls: dict | None,
    checks: dict,
    keys: dict | None,
    port: int = FED_PORT,
) -> dict:
    ok = error is None and all(value is not False for value in checks.values())
    return {
        "address": address,
        "port": port,
        "ok": ok,
        "state": "ok" if ok else "error",  # no "no-route" on loopback
        "error": error,
        "tls": tls,
        "checks": checks,
        "keys": keys,
    }


def hostile_connection(
    world: World,
    got: dict,
    *,
    error: str | None,
    checks: dict,
    keys: dict | None,
    certificate: str = "default",
    valid: bool = True,
) -> dict:
    """The connection to the hostile key servers (``<net>.10:8448``) as expected, ``got`` being the
    one reported: a TLS session was made, with ``certificate`` (one of the world's)."""
    session = assert_tls_session(got)
    return connection(
        HOSTILE_IP, error=error, tls=tls(world, certificate, valid=valid, session=session), checks=checks, keys=keys
    )


def assert_failed_with(result: dict, *lines: str, version: dict | None, code: str | None = None) -> None:
    """A check that ran to the end (``fail_on_error: false``) and found exactly these problems;
    ``version`` is what ``/_matrix/federation/v1/version`` gave (None when it was not fetched);
    ``code``, when given, is the catalogue code of one of them (``error_codes``, one per line)."""
    assert set(result) >= RESULT_KEYS, sorted(result)
    assert result["failed"] is False, result.get("msg")
    assert result["changed"] is False
    assert result["ok"] is False
    assert result["errors"] == list(lines)
    assert len(result["error_codes"]) == len(result["errors"]), result["error_codes"]
    if code is not None:
        assert code in result["error_codes"], result["error_codes"]
    assert result["version"] == version
    summary = result["summary"]
    assert f"Federation FAILED ({len(lines)} problem" in summary, summary
    for line in lines:
        assert line in summary, summary
    assert "Federation OK" not in summary, summary


def assert_passed(result: dict) -> None:
    assert set(result) >= RESULT_KEYS, sorted(result)
    assert result["failed"] is False, result.get("msg")
    assert result["changed"] is False
    assert result["errors"] == []
    assert result["error_codes"] == []
    assert result["ok"] is True
    assert result["summary"].rstrip("\n").splitlines()[-1] == "Federation OK", result["summary"]

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""FederationChecker over fakes of its ports (the resolution and the FederationProbe): every problem and its code."""

from __future__ import annotations

import json

import pytest
from test_federation import LATER_MS, NOW_MS, key_document

from ansible_collections.matrixops.delegation.plugins.module_utils._catalogue import Problem
from ansible_collections.matrixops.delegation.plugins.module_utils._federation import FederationChecker
from ansible_collections.matrixops.delegation.plugins.module_utils._model import (
    ConfigError,
    FetchFailure,
    HttpResponse,
    HttpsError,
    Resolution,
    ResolutionError,
    Target,
    WellKnown,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import ResolveOptions

SERVER = "example.com"
MATRIX = "matrix.example.com"
A1, A2 = "198.51.100.7", "2001:db8::7"
KEYS = "/_matrix/key/v2/server"
VERSION = "/_matrix/federation/v1/version"
CLIENT_URL = f"https://{SERVER}/.well-known/matrix/client"
SUPPORT_URL = f"https://{SERVER}/.well-known/matrix/support"
VERSIONS_URL = f"https://{MATRIX}/_matrix/client/versions"


def response(value, *, status=200, headers=()) -> HttpResponse:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    return HttpResponse(status=status, reason="", headers=list(headers), body=body)


GOOD_ROUTES = {KEYS: response(key_document(SERVER)), VERSION: response({"server": {"name": "Synapse", "version": "1"}})}


class FakeSession:
    def __init__(self, routes=None, *, problem=None):
        self.routes = dict(GOOD_ROUTES if routes is None else routes)
        self.version, self.cipher, self.certificate = "TLSv1.3", "TLS_AES_128_GCM_SHA256", None
        self.certificate_problem = problem
        self.requests: list[tuple[str, str]] = []
        self.closed = False

    def get(self, path, *, host_header, body_limit):
        self.requests.append((path, host_header))
        answer = self.routes.get(path, response(b"not found", status=404))
        if isinstance(answer, HttpsError):
            raise answer
        return answer

    def close(self):
        self.closed = True


class FakeProbe:
    """``sessions``: (address, port) -> FakeSession or HttpsError; ``pages``: url -> hops or FetchFailure."""

    def __init__(self, sessions=None, pages=None):
        self.sessions = sessions or {}
        self.pages = pages or {}
        self.connected: list[tuple[str, int, str]] = []

    def connect(self, address, port, *, server_hostname):
        self.connected.append((address, port, server_hostname))
        session = self.sessions.get((address, port), None)
        if session is None:
            session = self.sessions[(address, port)] = FakeSession()
        if isinstance(session, HttpsError):
            raise session
        return session

    def fetch(self, url, *, body_limit):
        page = self.pages.get(url)
        if page is None:
            raise FetchFailure(f"{url}: cannot connect: Connection refused")
        if isinstance(page, FetchFailure):
            raise page
        return page


class FakeResolver:
    def __init__(self, outcome):
        self.outcome = outcome
        self.closed = False

    def resolve(self, name):
        if isinstance(self.outcome, ResolutionError):
            raise self.outcome
        return self.outcome

    def close(self):
        self.closed = True


def resolution(*addresses, method="well_known_explicit_port", well_known=None) -> Resolution:
    return Resolution(
        server_name=SERVER,
        method=method,
        delegated_server=f"{MATRIX}:8448",
        host_header=f"{MATRIX}:8448",
        tls_server_name=MATRIX,
        sni=MATRIX,
        targets=[Target(MATRIX, 8448, list(addresses or (A1,)))],
        well_known=well_known,
    )


def run(outcome=None, probe=None, *, validate_certs=True, **kwargs) -> tuple[dict, FederationChecker]:
    options = ResolveOptions(timeout=1.0, validate_certs=validate_certs)
    checker = FederationChecker(
        options,
        now=lambda: NOW_MS / 1000,
        resolver=FakeResolver(resolution() if outcome is None else outcome),
        probe=probe or FakeProbe(),
    )
    with checker:
        return checker.run(SERVER, **kwargs), checker


def test_a_good_server_passes_with_no_error_codes():
    probe = FakeProbe()
    result, checker = run(resolution(A1, A2), probe)
    assert result["ok"] is True
    assert (result["errors"], result["error_codes"]) == ([], [])
    assert [c["ok"] for c in result["connections"]] == [True, True]
    assert result["version"] == {"name": "Synapse", "version": "1"}
    assert probe.connected == [(A1, 8448, MATRIX), (A2, 8448, MATRIX)]
    assert probe.sessions[(A1, 8448)].requests == [(KEYS, f"{MATRIX}:8448"), (VERSION, f"{MATRIX}:8448")]
    assert probe.sessions[(A1, 8448)].closed
    assert checker.resolver.closed
    assert result["summary"].endswith("Federation OK\n")


def problem_codes(result) -> list[tuple[str, str]]:
    assert len(result["errors"]) == len(result["error_codes"])
    assert not any(isinstance(error, Problem) for error in result["errors"])  # plain strings out
    return list(zip(result["error_codes"], result["errors"], strict=True))


@pytest.mark.parametrize(
    ("session", "code", "start"),
    [
        (HttpsError(f"{A1}:8448: cannot connect: Connection refused", kind="connect"), "cannot-connect", "cannot check"),
        (HttpsError(f"{A1}:8448: connection timed out", kind="timeout", code="cannot-connect"), "cannot-connect", ""),
        (HttpsError(f"{A1}:8448: TLS handshake failed: x", kind="tls"), "tls-handshake-failed", "cannot check"),
        (FakeSession({KEYS: HttpsError(f"{A1}:8448: no complete response within 1s", kind="timeout")}),
         "slow-or-broken-response", "cannot check"),
        (FakeSession({}), "not-a-homeserver", "GET /_matrix/key/v2/server"),
        (FakeSession({**GOOD_ROUTES, VERSION: response({"name": "x"})}), "not-a-homeserver", "/_matrix/federation"),
        (FakeSession({**GOOD_ROUTES, VERSION: response(b"<html>")}), "not-a-homeserver", "GET /_matrix/federation"),
        (FakeSession({**GOOD_ROUTES, KEYS: response(key_document("other.example"))}), "keys-wrong-server-name", "keys"),
        (FakeSession({**GOOD_ROUTES, KEYS: response(key_document(SERVER, NOW_MS - 1))}), "keys-expired", "keys"),
        (FakeSession({**GOOD_ROUTES, KEYS: response(key_document(SERVER, keys={}))}), "keys-bad-signature", "keys"),
        (FakeSession(problem=HttpsError("bad", kind="certificate", verify_code=62)), "certificate-wrong-name", "cert"),
        (FakeSession(problem=HttpsError("bad", kind="certificate", verify_code=10)), "certificate-expired", "cert"),
        (FakeSession(problem=HttpsError("bad", kind="certificate", verify_code=20)), "certificate-untrusted", "cert"),
        (FakeSession(problem=HttpsError("bad", kind="certificate", verify_code=99)), "certificate-refused", "cert"),
    ],
)  # fmt: skip
def test_each_connection_problem_has_its_code(session, code, start):
    result, _checker = run(probe=FakeProbe({(A1, 8448): session}))
    assert result["ok"] is False
    [(got_code, line)] = problem_codes(result)
    assert got_code == code
    assert line.startswith(start)
    assert result["connections"][0]["error"] == line


def test_an_invalid_certificate_is_a_warning_without_validate_certs():
    probe = FakeProbe({(A1, 8448): FakeSession(problem=HttpsError("bad", kind="certificate", verify_code=62))})
    result, checker = run(probe=probe, validate_certs=False)
    assert result["ok"] is True
    assert result["connections"][0]["checks"]["valid_certificate"] is False
    assert "(ignored: validate_certs is false)" in checker.warnings[0]


def test_a_resolution_error_is_reported_with_its_code_and_the_partial_result():
    partial = Resolution(server_name=SERVER, method="default_port")
    error = ResolutionError(SERVER, "address lookup for example.com", "no IPv6 or IPv4 address found", partial=partial,
                            code="no-address")  # fmt: skip
    result, _checker = run(error)
    assert problem_codes(result) == [("no-address", str(error))]
    assert result["resolution"]["method"] == "default_port"
    assert result["connections"] == []


def test_an_invalid_m_server_is_an_error_and_other_well_known_failures_are_not():
    bad = WellKnown(url=f"https://{SERVER}/.well-known/matrix/server", status=200, error="'m.server' is not valid")
    bad.error_code = "invalid-m-server"
    result, _checker = run(resolution(well_known=bad))
    assert problem_codes(result) == [("invalid-m-server", f"{bad.url}: {bad.error}")]
    missing = WellKnown(url=bad.url, error="HTTP status 404")
    result, _checker = run(resolution(well_known=missing))
    assert result["ok"] is True


@pytest.mark.parametrize(
    ("expected", "code"),
    [
        ("matrix.example.com", "invalid-expected-target"),
        ("bad name!", "invalid-expected-target"),
        ("other.example.com:443", "delegation-elsewhere"),
    ],
)
def test_expected_target_problems(expected, code):
    result, _checker = run(expected_target=expected)
    assert [item[0] for item in problem_codes(result)] == [code]


def test_a_matching_expected_target_is_no_problem():
    result, _checker = run(expected_target=f"{MATRIX}:8448")
    assert result["ok"] is True


def test_no_address_to_check_is_a_problem():
    result, _checker = run(Resolution(server_name=SERVER, method="default_port", targets=[]))
    assert problem_codes(result) == [("no-address", f"no connection to {SERVER} could be checked")]


# -- the client and support files -----------------------------------------------------------------------
CORS = [("access-control-allow-origin", "*")]
GOOD_CLIENT = {"m.homeserver": {"base_url": f"https://{MATRIX}"}}


def client_run(client=None, versions=None, extra=None):
    pages = {CLIENT_URL: [(CLIENT_URL, response(GOOD_CLIENT if client is None else client, headers=CORS))]}
    pages[VERSIONS_URL] = [(VERSIONS_URL, response({"versions": ["v1.11"]} if versions is None else versions))]
    pages.update(extra or {})
    result, _checker = run(probe=FakeProbe(pages=pages), check_client=True)
    return result


def test_a_good_client_file():
    result = client_run()
    assert result["ok"] is True
    assert result["client"] == {"url": CLIENT_URL, "status": 200, "base_url": f"https://{MATRIX}", "cors": True,
                                "versions_ok": True, "error": None}  # fmt: skip


@pytest.mark.parametrize(
    ("client", "versions", "extra", "code", "fragment"),
    [
        ({}, None, None, "client-well-known", "no m.homeserver.base_url"),
        ({"m.homeserver": {"base_url": "http://x"}}, None, None, "client-well-known", "must be an https:// URL"),
        (None, {"versions": []}, None, "client-well-known", "no 'versions' list"),
        (None, None, {VERSIONS_URL: [(VERSIONS_URL, response(b"x", status=502))]}, "client-well-known", "HTTP status"),
        ({**GOOD_CLIENT, "m.identity_server": {}}, None, None, "client-well-known", "m.identity_server has no"),
        ({**GOOD_CLIENT, "m.identity_server": {"base_url": "https://id.example"}}, None, None, "client-well-known",
         "m.identity_server.base_url: https://id.example/_matrix/identity/v2"),
        (None, None, {CLIENT_URL: FetchFailure("redirect loop")}, "client-well-known", "client well-known: redirect"),
        (None, None, {CLIENT_URL: [(CLIENT_URL, response(b"[]", headers=CORS))]}, "client-well-known", "JSON an array"),
        (None, None, {CLIENT_URL: [(CLIENT_URL, response(b"", status=404, headers=CORS))]}, "client-well-known",
         "answered HTTP 404"),
        (None, None, {CLIENT_URL: [(CLIENT_URL, response(GOOD_CLIENT))]}, "client-cors", "Access-Control-Allow-Origin"),
    ],
)  # fmt: skip
def test_client_file_problems(client, versions, extra, code, fragment):
    result = client_run(client, versions, extra)
    codes = problem_codes(result)
    assert codes[0][0] == code
    assert fragment in codes[0][1]
    assert result["client"]["error"] == codes[0][1]


def support_run(page):
    result, _checker = run(probe=FakeProbe(pages={SUPPORT_URL: page}), check_support=True)
    return result


def test_support_file_good_and_bad():
    good = support_run([(SUPPORT_URL, response({"support_page": "https://example.com/help"}))])
    assert good["ok"] is True and good["support"]["valid"] is True
    bad = support_run([(SUPPORT_URL, response({"contacts": []}))])
    assert [code for code, _line in problem_codes(bad)] == ["support-file"]
    missing = support_run([(SUPPORT_URL, response(b"", status=404))])
    assert missing["support"]["status"] == 404
    assert problem_codes(missing)[0][1].startswith("support well-known: HTTP status 404")
    failed = support_run(FetchFailure("too many redirects", [(SUPPORT_URL, response(b"", status=302))]))
    assert failed["support"]["status"] == 302


def test_an_invalid_server_name_skips_the_well_known_files():
    error = ResolutionError("bad name!", "parsing the server name", "invalid", code="invalid-server-name")
    checker = FederationChecker(ResolveOptions(), resolver=FakeResolver(error), probe=FakeProbe())
    result = checker.run("bad name!", check_client=True, check_support=True)
    assert result["client"] is None and result["support"] is None
    assert problem_codes(result) == [("invalid-server-name", str(error))]


# -- the real ports ---------------------------------------------------------------------------------------
def test_the_real_ports_refuse_an_unreadable_ca_bundle(tmp_path):
    with pytest.raises(ConfigError, match="cannot load CA bundle"):
        FederationChecker(ResolveOptions(nameservers=["127.0.0.1:53"], ca_path=str(tmp_path / "missing.pem")))


def test_a_checker_with_its_own_resolver_needs_its_own_probe():
    with pytest.raises(ValueError, match="needs its own probe"):
        FederationChecker(ResolveOptions(), resolver=FakeResolver(resolution()))


def test_keys_documents_are_checked_against_the_injected_clock():
    late = FakeSession({**GOOD_ROUTES, KEYS: response(key_document(SERVER, LATER_MS))})
    result, _checker = run(probe=FakeProbe({(A1, 8448): late}))
    assert result["ok"] is True

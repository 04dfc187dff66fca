# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile well-known servers, through the real HTTPS and DNS ports: each gives "no delegation"
with its reason (or follows the redirect), within its time bound, and never an exception."""

from __future__ import annotations

import pytest
import rb_world as w

# Fell through to step 6 (the hostname's own address, port 8448) with this well-known report.
NO_DELEGATION = {"method": "default_port", "delegated_server": None}


def fell_through(result: dict, *, status: int | None, error: str) -> None:
    assert {key: result[key] for key in NO_DELEGATION} == NO_DELEGATION
    assert result["well_known"]["status"] == status
    assert error in result["well_known"]["error"], result["well_known"]["error"]
    assert result["well_known"]["cache_seconds"] == 3600


# -- bodies that never end, or never come -------------------------------------------------------------
@pytest.mark.parametrize("label", ["wk-endless", "wk-endless-chunked"])
def test_endless_body_is_cut_at_the_body_limit(resolve, label):
    outcome, seconds = resolve.timed(w.n(label))
    result = outcome.to_dict()
    fell_through(result, status=200, error="body of 51200 bytes or more (limit 51199)")
    assert seconds < w.TIMEOUT  # cut by size, long before the timeout


def test_silence_after_the_tls_handshake_is_cut_at_timeout(resolve, world):
    outcome, seconds = resolve.timed(w.n("wk-silent"))
    fell_through(outcome.to_dict(), status=None, error=f"no complete response within {w.TIMEOUT:g}s")
    last = [r for r in world.peers.requests_to(f"{w.WK_IP}:443") if r.host == w.n("wk-silent")][-1]
    assert last.sni == w.n("wk-silent")  # the handshake and the request did happen
    assert w.TIMEOUT * 0.9 <= seconds < w.TIMEOUT + 0.5


def test_stalled_tls_handshake_is_cut_at_timeout(resolve):
    outcome, seconds = resolve.timed(w.n("wk-stall"))
    fell_through(outcome.to_dict(), status=None, error="TLS handshake timed out")
    assert seconds < w.TIMEOUT + 0.5


# -- bodies that are not a delegation -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("label", "error"),
    [
        ("wk-invalid-utf8", "the body is not valid UTF-8 (invalid start byte at byte 33)"),
        ("wk-json-list", "the body is JSON an array, expected an object"),
        ("wk-json-string", "the body is JSON a string, expected an object"),
    ],
    ids=["wk-invalid-utf8", "wk-json-list", "wk-json-string"],
)
def test_body_that_is_not_a_json_object(resolve, label, error):
    fell_through(resolve(w.n(label)), status=200, error=error)


@pytest.mark.parametrize(
    ("label", "shown"),
    [("wk-m-number", "a number"), ("wk-m-object", "an object"), ("wk-m-null", "null")],
    ids=["wk-m-number", "wk-m-object", "wk-m-null"],
)
def test_m_server_of_the_wrong_type_is_reported_as_sent(resolve, label, shown):
    result = resolve(w.n(label))
    fell_through(result, status=200, error=f"'m.server' is {shown}, expected a string")
    assert result["well_known"]["m_server"] == w.WRONG_TYPES[label]


@pytest.mark.parametrize("label", sorted(w.BAD_M_SERVERS))
def test_m_server_breaking_the_grammar_is_an_error_and_falls_through(resolve, label):
    value = w.BAD_M_SERVERS[label]
    result = resolve(w.n(label))
    fell_through(result, status=200, error="'m.server' is not a valid server name")
    assert result["well_known"]["m_server"] == value
    (warning,) = result["warnings"]
    assert "homeservers disagree on such a file" in warning and "fix it" in warning


@pytest.mark.parametrize("label", ["wk-m-scheme", "wk-m-path"])
def test_m_server_that_is_a_url_is_not_advised_to_be_bracketed_as_ipv6(resolve, label):
    """A URL in m.server is no IPv6 literal: the advice must not be to write '[https://...]'."""
    error = resolve(w.n(label))["well_known"]["error"]
    assert "[https://" not in error and "IPv6" not in error, error


# -- lying framing ------------------------------------------------------------------------------------
def test_content_length_shorter_than_the_body_reads_only_that_much(resolve):
    fell_through(resolve(w.n("wk-length-short")), status=200, error="the body is not valid JSON")


def test_content_length_longer_than_the_body_then_close(resolve):
    error = "connection closed after 35 of 135 bytes of the body"
    fell_through(resolve(w.n("wk-length-long-close")), status=200, error=error)


def test_content_length_longer_than_the_body_on_an_open_connection_times_out(resolve):
    outcome, seconds = resolve.timed(w.n("wk-length-long-open"))
    fell_through(outcome.to_dict(), status=200, error=f"no complete response within {w.TIMEOUT:g}s")
    assert seconds < w.TIMEOUT + 0.5


# -- redirects ------------------------------------------------------------------------------------------
def test_redirect_to_an_ip_literal_is_followed_without_sni_checking_the_ip(resolve, world):
    result = resolve(w.n("wk-redirect-ip"))
    assert result["method"] == "well_known_explicit_port"
    assert result["delegated_server"] == w.DELEGATED
    assert result["well_known"]["redirects"] == [f"https://{w.IP_TARGET}{w.WK_PATH}"]
    request = world.peers.requests_to(f"{w.IP_TARGET}:443")[-1]
    assert (request.sni, request.host) == (None, w.IP_TARGET)


def test_redirect_to_an_ip_literal_whose_certificate_does_not_name_it_falls_through(resolve):
    result = resolve(w.n("wk-redirect-ip-unnamed"))
    fell_through(result, status=302, error=f"TLS certificate not valid for '{w.IP_TARGET_UNNAMED}'")


def test_redirect_to_another_port_is_followed_with_that_port(resolve, world):
    result = resolve(w.n("wk-redirect-port"))
    assert result["method"] == "well_known_explicit_port"
    assert result["well_known"]["redirects"] == [f"https://{w.n('wk-redirect-port')}:8443/delegation"]
    request = world.peers.requests_to(f"{w.WK_IP}:8443")[-1]
    assert (request.sni, request.host) == (w.n("wk-redirect-port"), f"{w.n('wk-redirect-port')}:8443")


def test_redirect_location_with_non_ascii_bytes_is_a_reason_not_an_exception(resolve, world):
    """Location: https://host/d\\xe9l\\xe9gation (latin-1 bytes): percent-encoded (UTF-8) and followed, never a crash."""
    outcome, _seconds = resolve.timed(w.n("wk-redirect-latin1"))  # any exception but ResolutionError escapes
    result = outcome.to_dict()
    assert result["method"] == "default_port"  # the server has no such percent-encoded path: HTTP 404
    assert result["well_known"]["error"].startswith("HTTP status 404 from ")
    assert world.peers.requests_to(f"{w.WK_IP}:443")[-1].path == "/d%C3%A9l%C3%A9gation"

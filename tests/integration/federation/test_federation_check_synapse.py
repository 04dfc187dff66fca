"""``federation_check`` against the lab's real Synapse behind TLS (nginx with lab-CA certificates).

example.test serves ``/.well-known/matrix/server`` → ``matrix.example.test:443`` (nginx on
``<net>.2``); matrix.example.test (nginx on ``<net>.3``) proxies ``/_matrix`` to Synapse.
"""

from __future__ import annotations

import time

from fed_cases import synapse_cases
from fed_expect import ALL_PASSED, assert_passed, assert_tls_session, connection, keys, only_connection, tls
from fed_world import (
    CLIENT_PATH,
    DELEGATED_HOST,
    MATRIX_IP,
    SERVER_NAME,
    SERVER_WK_PATH,
    SUPPORT_PATH,
)

RESOLUTION = {
    "server_name": SERVER_NAME,
    "method": "well_known_explicit_port",
    "delegated_server": f"{DELEGATED_HOST}:443",
    "host_header": f"{DELEGATED_HOST}:443",
    "tls_server_name": DELEGATED_HOST,
    "sni": DELEGATED_HOST,
    "targets": [{"host": DELEGATED_HOST, "port": 443, "addresses": [MATRIX_IP]}],
    "well_known": {
        "url": f"https://{SERVER_NAME}{SERVER_WK_PATH}",
        "status": 200,
        "m_server": f"{DELEGATED_HOST}:443",
        "error": None,
        "redirects": [],
        "cache_seconds": 86400,  # no Cache-Control header
    },
    "srv": [],
    "warnings": [],
}


def test_real_synapse_behind_tls_passes_every_check(synapse_run, fed_world, synapse_server):
    result = synapse_run["synapse"]
    assert_passed(result)
    assert result["server_name"] == SERVER_NAME
    assert result["resolution"] == RESOLUTION
    got = only_connection(result)
    session = assert_tls_session(got)
    assert got["keys"]["valid_until_ts"] > time.time() * 1000, got["keys"]
    assert got == connection(
        MATRIX_IP,
        port=443,
        error=None,
        tls=tls(fed_world, "matrix", session=session),
        checks=ALL_PASSED,
        keys=keys(SERVER_NAME, got["keys"]["valid_until_ts"], *synapse_server.key_ids),
    )
    assert got["tls"]["certificate"]["sans"] == [DELEGATED_HOST]
    assert result["version"] == {"name": "Synapse", "version": synapse_server.version}
    assert result["client"] is None
    assert result["support"] is None


def test_summary_reads_like_a_federation_tester_report(synapse_run, synapse_server):
    summary = synapse_run["synapse"]["summary"]
    lines = summary.rstrip("\n").splitlines()
    assert lines[0] == f"Federation report for {SERVER_NAME}", summary
    assert lines[-1] == "Federation OK", summary
    for fragment in (
        "well_known_explicit_port",
        f"{DELEGATED_HOST}:443",
        f"{MATRIX_IP}:443",
        f"Synapse {synapse_server.version}",
        *synapse_server.key_ids,
    ):
        assert fragment in summary, (fragment, summary)


def test_client_and_support_well_knowns_pass_against_good_files(synapse_run, synapse_server):
    result = synapse_run["synapse-client-support"]
    assert_passed(result)
    assert result["client"] == {
        "url": f"https://{SERVER_NAME}{CLIENT_PATH}",
        "status": 200,
        "base_url": f"https://{DELEGATED_HOST}",
        "cors": True,
        "versions_ok": True,  # Synapse's /_matrix/client/versions, through nginx
        "error": None,
    }
    assert result["support"] == {
        "url": f"https://{SERVER_NAME}{SUPPORT_PATH}",
        "status": 200,
        "valid": True,
        "error": None,
    }
    assert only_connection(result)["ok"] is True
    assert result["version"] == {"name": "Synapse", "version": synapse_server.version}


def test_expected_target_mismatch_is_an_error(synapse_run):
    result = synapse_run["synapse-expected-target-mismatch"]
    assert result["failed"] is False and result["changed"] is False
    assert result["ok"] is False
    assert result["errors"] == [
        f"expected_target {DELEGATED_HOST}:8448 is not where {SERVER_NAME} resolves to "
        f"(well_known_explicit_port gives {DELEGATED_HOST}:443): fix the delegation or expected_target"
    ]
    # the federation itself is fine: only the expectation failed
    assert only_connection(result)["ok"] is True
    assert only_connection(result)["checks"] == ALL_PASSED
    assert result["resolution"] == RESOLUTION


def test_matching_expected_target_passes(synapse_run, fed_world):
    assert synapse_cases(fed_world)["synapse"]["expected_target"] == f"{DELEGATED_HOST}:443"
    assert synapse_run["synapse"]["ok"] is True
    assert synapse_run["synapse"]["errors"] == []

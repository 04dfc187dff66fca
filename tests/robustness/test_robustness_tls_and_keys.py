# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TLS peers the federation check must refuse, and key servers sending duplicate JSON keys.

Each TLS peer serves the same bad certificate (or protocol) for the well-known (443) and for
federation (8448): the resolution falls through with the reason, ``federation_check``'s core
(``FederationChecker``, what the module runs) reports what to fix. The rows that already have
real-server tests elsewhere (expired, self-signed, wrong name, bad signature ...) are referenced
in docs/robustness.md instead of repeated here.
"""

from __future__ import annotations

import socket
import ssl
import warnings

import pytest
import rb_world as w

from ansible_collections.matrixops.delegation.plugins.module_utils._federation import FederationChecker

TLS_CASES = {
    "tls-future": (
        "TLS certificate not valid for 'tls-future.rb.test': certificate is not yet valid",
        "certificate presented by {endpoint} is not valid yet: check its dates and the server clock",
    ),
    "tls-ip-only": (
        "TLS certificate not valid for 'tls-ip-only.rb.test': Hostname mismatch",
        "certificate presented by {endpoint} is valid for {address} but the spec requires it to be valid for "
        "tls-ip-only.rb.test",
    ),
    "tls-10": (
        "TLS handshake failed: [SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version",
        "cannot check {endpoint}: TLS handshake failed: [SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version",
    ),
}


def check(resolve, label: str) -> dict:
    with FederationChecker(resolve.options()) as checker:
        return checker.run(w.server_name(label))


@pytest.mark.parametrize("label", sorted(TLS_CASES))
def test_bad_tls_peer_gives_no_well_known_delegation(resolve, label):
    result = resolve(w.n(label))
    assert result["method"] == "default_port"
    assert result["well_known"]["status"] is None
    assert TLS_CASES[label][0] in result["well_known"]["error"]


@pytest.mark.parametrize("label", sorted(TLS_CASES))
def test_bad_tls_peer_fails_the_federation_check_saying_why(resolve, label):
    address = w.TLS_PEERS[label]
    endpoint = f"{address}:{w.FED_PORT}"
    result = check(resolve, label)
    assert result["ok"] is False
    (connection,) = result["connections"]
    assert connection["checks"]["valid_certificate"] is False
    assert connection["keys"] is None  # nothing is requested over a connection that is not trusted
    (error,) = result["errors"]
    assert error.startswith(TLS_CASES[label][1].format(endpoint=endpoint, address=address)), error


def test_tls_10_peer_really_speaks_tls_10(world):
    """The TLS 1.0 row is only meaningful if that peer does speak TLS 1.0 (to a permissive client)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(world.ca_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with (
        socket.create_connection((w.TLS_10_IP, w.FED_PORT), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=w.n("tls-10")) as tls,
    ):
        assert tls.version() == "TLSv1"


def test_key_server_harness_passes_with_good_keys(resolve):
    """The baseline: the world's signed keys pass, so the duplicate-key rows test only the duplicates."""
    result = check(resolve, "keys-good")
    assert result["ok"] is True, result["errors"]


def test_duplicate_json_keys_are_read_as_synapse_reads_them_last_one_wins(resolve):
    """{"server_name": "evil...", ..., "server_name": "<the signed one>"}: Python's json, like
    Synapse, keeps the last value, so the check judges the keys exactly as Synapse would."""
    result = check(resolve, "keys-dup-first")
    assert result["ok"] is True, result["errors"]
    assert result["connections"][0]["keys"]["server_name"] == w.server_name("keys-dup-first")


def test_duplicate_json_key_with_a_wrong_last_value_fails_the_check(resolve):
    result = check(resolve, "keys-dup-last")
    assert result["ok"] is False
    checks = result["connections"][0]["checks"]
    assert checks["matching_server_name"] is False
    assert checks["all_ed25519_checks_ok"] is False
    endpoint = f"{w.KEYS_IP}:{w.FED_PORT}"
    assert result["errors"][0].startswith(
        f'keys served by {endpoint} are for server name "evil.rb.test:8448" but the server name is '
        f"'{w.server_name('keys-dup-last')}'"
    )

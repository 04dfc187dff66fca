"""Each federation failure on its own, against hostile key servers: the specific error line.

Every scenario is served by the same server as ``good`` (which passes), with one thing wrong.
"""

from __future__ import annotations

import datetime as dt

import pytest
from fed_expect import (
    ALL_PASSED,
    NOT_RUN,
    assert_failed_with,
    assert_passed,
    checks,
    connection,
    hostile_connection,
    keys,
    only_connection,
)
from fed_world import (
    ANCIENT_TS,
    DEAD_IP,
    FED_PORT,
    HOSTILE_IP,
    HOSTILE_VERSION,
    KEY,
    KEYS_PATH,
    SECOND_KEY,
    endpoint,
    fed,
    iso,
    n,
)

EP = endpoint(HOSTILE_IP)  # "<net>.10:8448", as error lines name it


def iso_ms(timestamp_ms: int) -> str:
    return iso(dt.datetime.fromtimestamp(timestamp_ms / 1000, tz=dt.UTC))


def cert_failure(world, result: dict, certificate: str, line: str, *, code: str) -> None:
    """The certificate was refused (problem ``code``): no requests on that connection, the key
    checks are null."""
    assert_failed_with(result, line, version=None, code=code)
    got = only_connection(result)
    assert got == hostile_connection(
        world, got, certificate=certificate, valid=False, error=line, checks=NOT_RUN, keys=None
    )


def keys_failure(
    hostile_run,
    world,
    label: str,
    line: str,
    *,
    code: str,
    claimed: str | None = None,
    valid_until_ts: int | None = None,
    key_id: str = KEY.key_id,
    **failed_checks: bool | None,
) -> None:
    """TLS was fine; the keys document was fetched and failed ``failed_checks`` (problem ``code``). The keys as
    published: for ``claimed`` (by default the scenario's server name), ``valid_until_ts`` (by
    default the world's, a day ahead), with ``key_id``."""
    result = hostile_run[label]
    assert_failed_with(result, line, version=HOSTILE_VERSION, code=code)
    got = only_connection(result)
    if valid_until_ts is None:
        valid_until_ts = world.times.valid_until_ts
    expected_keys = keys(claimed or fed(label), valid_until_ts, key_id)
    assert got == hostile_connection(world, got, error=line, checks=checks(**failed_checks), keys=expected_keys)


# -- the control: the same server, nothing wrong ------------------------------------------------------


def test_good_server_passes(hostile_run, fed_world):
    result = hostile_run["good"]
    assert_passed(result)
    assert result["server_name"] == fed("good")
    assert result["resolution"]["method"] == "explicit_port"
    got = only_connection(result)
    expected_keys = keys(fed("good"), fed_world.times.valid_until_ts, KEY.key_id)
    assert got == hostile_connection(fed_world, got, error=None, checks=ALL_PASSED, keys=expected_keys)
    assert result["version"] == HOSTILE_VERSION


def test_connects_with_the_sni_and_host_header_of_the_spec(hostile_run, fed_world):
    assert hostile_run["good"]["ok"] is True
    seen = fed_world.hostile.requests_for(fed("good"), KEYS_PATH)
    assert seen, "the key server got no request with Host: good.example.test:8448"
    assert {s.sni for s in seen} == {n("good")}


def test_every_ed25519_key_is_checked(hostile_run, fed_world):
    result = hostile_run["two-keys"]
    assert_passed(result)
    got = only_connection(result)
    assert got["keys"] == keys(fed("two-keys"), fed_world.times.valid_until_ts, KEY.key_id, SECOND_KEY.key_id)


# -- certificates -----------------------------------------------------------------------------------------


def test_wrong_certificate_name(hostile_run, fed_world):
    cert_failure(
        fed_world,
        hostile_run["wrong-name"],
        "wrong_name",
        f"certificate presented by {EP} is valid for {n('other')} but the spec requires it to be valid for "
        f"{n('wrong-name')}",
        code="certificate-wrong-name",
    )


def test_srv_certificate_valid_for_the_target_but_not_the_server_name(hostile_run, fed_world):
    result = hostile_run["srv-cert"]
    assert result["resolution"]["method"] == "srv"
    assert result["resolution"]["targets"] == [{"host": n("srv-host"), "port": FED_PORT, "addresses": [HOSTILE_IP]}]
    assert result["resolution"]["tls_server_name"] == n("srv-cert")
    cert_failure(
        fed_world,
        result,
        "srv_target",
        f"certificate presented by {EP} is valid for {n('srv-host')} but the spec requires it to be valid for "
        f"{n('srv-cert')} (SRV delegation: the certificate must be valid for the server name, not for the SRV target)",
        code="certificate-wrong-name",
    )


def test_srv_delegation_with_a_certificate_for_the_server_name_passes(hostile_run, fed_world):
    result = hostile_run["srv-good"]
    assert_passed(result)
    assert result["resolution"]["method"] == "srv"
    assert only_connection(result)["checks"] == ALL_PASSED
    # SNI and Host are the server name, not the SRV target
    seen = fed_world.hostile.requests_for(n("srv-good"), KEYS_PATH)
    assert seen and {s.sni for s in seen} == {n("srv-good")}


def test_expired_certificate(hostile_run, fed_world):
    not_after = iso(fed_world.certs["expired"].certificate.not_valid_after_utc)
    cert_failure(
        fed_world,
        hostile_run["expired-cert"],
        "expired",
        f"certificate presented by {EP} expired on {not_after}: renew it",
        code="certificate-expired",
    )


def test_untrusted_ca(hostile_run, fed_world):
    cert_failure(
        fed_world,
        hostile_run["self-signed"],
        "self_signed",
        f"certificate presented by {EP} is not signed by a trusted CA (issuer CN={n('self-signed')}): use a "
        "certificate from a public CA and serve the full chain (or pass ca_path for a private CA)",
        code="certificate-untrusted",
    )


# -- keys ---------------------------------------------------------------------------------------------------


def test_keys_for_another_server_name(hostile_run, fed_world):
    server_name = fed("keys-other")
    line = (
        f"keys served by {EP} are for server name \"{n('other')}\" but the server name is '{server_name}': "
        f"set server_name in homeserver.yaml to '{server_name}', or delegate to the right server"
    )
    # the document is validly self-signed by the name it claims
    keys_failure(
        hostile_run,
        fed_world,
        "keys-other",
        line,
        code="keys-wrong-server-name",
        claimed=n("other"),
        matching_server_name=False,
    )


def test_expired_valid_until_ts(hostile_run, fed_world):
    expired = fed_world.times.expired_ts
    line = (
        f"keys served by {EP} expired at {iso_ms(expired)} (valid_until_ts is in the past): "
        "the server must publish fresh keys"
    )
    keys_failure(
        hostile_run,
        fed_world,
        "keys-expired",
        line,
        code="keys-expired",
        valid_until_ts=expired,
        future_valid_until_ts=False,
    )


def test_valid_until_ts_before_year_one_is_expired_not_a_crash(hostile_run, fed_world):
    """-(2**53)+1 is a valid canonical JSON integer; it cannot be shown as a date."""
    result = hostile_run["keys-ancient"]
    assert "module_stderr" not in result, result.get("module_stderr", "")[-2000:]
    assert result["failed"] is False, result.get("msg")
    assert result["ok"] is False
    [line] = result["errors"]
    assert result["error_codes"] == ["keys-expired"]
    assert line.startswith(f"keys served by {EP} expired"), line
    assert "valid_until_ts is in the past" in line, line
    got = only_connection(result)
    assert got["checks"] == checks(future_valid_until_ts=False)
    assert got["keys"] == keys(fed("keys-ancient"), ANCIENT_TS, KEY.key_id)


def test_bad_signature(hostile_run, fed_world):
    server_name = fed("bad-signature")
    line = f"keys served by {EP}: {KEY.key_id}: the signature by {server_name} with {KEY.key_id} does not verify"
    changed = fed_world.times.valid_until_ts + 1  # after signing
    keys_failure(
        hostile_run,
        fed_world,
        "bad-signature",
        line,
        code="keys-bad-signature",
        valid_until_ts=changed,
        all_ed25519_checks_ok=False,
    )


def test_no_ed25519_key(hostile_run, fed_world):
    line = f"keys served by {EP} have no ed25519 verify key"
    # no ed25519 key: nothing to verify, so null rather than false
    no_key = {"has_ed25519_key": False, "all_ed25519_checks_ok": None}
    keys_failure(hostile_run, fed_world, "no-ed25519", line, code="keys-bad-signature", key_id="ed448:1", **no_key)


# -- addresses and expectations --------------------------------------------------------------------------


def test_one_of_two_addresses_refusing_connections(hostile_run, fed_world):
    result = hostile_run["two-addresses"]
    line = f"cannot check {endpoint(DEAD_IP)}: cannot connect: Connection refused"
    assert_failed_with(result, line, version=HOSTILE_VERSION, code="cannot-connect")
    assert result["resolution"]["targets"] == [
        {"host": n("two-addresses"), "port": FED_PORT, "addresses": [HOSTILE_IP, DEAD_IP]}
    ]
    by_address = {c["address"]: c for c in result["connections"]}
    assert sorted(by_address) == sorted([HOSTILE_IP, DEAD_IP])
    good = by_address[HOSTILE_IP]
    expected_keys = keys(fed("two-addresses"), fed_world.times.valid_until_ts, KEY.key_id)
    # the other address is still checked, and ok
    assert good == hostile_connection(fed_world, good, error=None, checks=ALL_PASSED, keys=expected_keys)
    assert by_address[DEAD_IP] == connection(DEAD_IP, error=line, tls=None, checks=NOT_RUN, keys=None)


# -- well-known files (check_client / check_support) -------------------------------------------------------


def without_cors(hostile_run, label: str) -> dict:
    """The client well-known of ``label`` (HTTP 200, in the end) lacks the CORS header, and
    everything else about it is right. Returns the result."""
    result = hostile_run[label]
    url = f"https://{n(label)}/.well-known/matrix/client"
    line = f"{url} is served without 'Access-Control-Allow-Origin: *': web clients cannot read it; add the header"
    assert_failed_with(result, line, version=HOSTILE_VERSION, code="client-cors")
    assert result["client"] == {
        "url": url,
        "status": 200,
        "base_url": f"https://{n(label)}",
        "cors": False,
        "versions_ok": True,
        "error": line,
    }
    return result


def test_client_well_known_without_cors(hostile_run):
    result = without_cors(hostile_run, "no-cors")
    assert result["support"] is None
    assert only_connection(result)["ok"] is True


def test_cors_is_required_on_every_redirect_hop_of_the_client_well_known(hostile_run):
    without_cors(hostile_run, "cors-redirect")  # its status is the one of the file the redirect led to


def test_identity_server_in_the_client_well_known_is_checked(hostile_run):
    result = hostile_run["identity-down"]
    [line] = result["errors"]
    url = f"https://{n('identity-down')}/identity/_matrix/identity/v2"
    assert line.startswith(f"m.identity_server.base_url: {url}: "), line
    assert "404" in line, line
    assert_failed_with(result, line, version=HOSTILE_VERSION, code="client-well-known")
    assert result["client"]["cors"] is True
    assert result["client"]["versions_ok"] is True  # the homeserver part is fine
    assert result["client"]["error"] == line


def test_invalid_support_file(hostile_run):
    result = hostile_run["bad-support"]
    url = f"https://{n('bad-support')}/.well-known/matrix/support"
    line = f"support well-known {url}: contacts[0] has no 'role' (m.role.admin, m.role.security or a namespaced role)"
    assert_failed_with(result, line, version=HOSTILE_VERSION, code="support-file")
    assert result["support"] == {"url": url, "status": 200, "valid": False, "error": line}
    assert result["client"] is None
    assert only_connection(result)["ok"] is True


@pytest.mark.parametrize("case", ["good", "wrong-name", "keys-other", "bad-signature"])
def test_well_knowns_are_not_checked_unless_asked(hostile_run, case):
    assert hostile_run[case]["client"] is None
    assert hostile_run[case]["support"] is None

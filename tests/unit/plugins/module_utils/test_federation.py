# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The federation tester's pure parts: key checks, the support file, certificate details, the report."""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID
from signed_json import sign_json

from ansible_collections.matrixops.delegation.plugins.module_utils._federation_checks import (
    certificate_details,
    certificate_error,
    check_keys,
    check_support_file,
    summarise,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._model import HttpsError, Resolution
from ansible_collections.matrixops.delegation.plugins.module_utils._signing import encode_base64

SERVER = "example.com"
ENDPOINT = "198.51.100.7:8448"
NOW_MS = 1_800_000_000_000
LATER_MS = NOW_MS + 86_400_000
SEED = bytes(range(32))
SEED_2 = bytes(range(32, 64))


# -- check_keys ------------------------------------------------------------------------------------------


def public_b64(seed: bytes) -> str:
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return encode_base64(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def key_document(
    server_name: str = SERVER,
    valid_until_ts: object = LATER_MS,
    keys: dict[str, bytes] | None = None,
    *,
    signer: str | None = None,
) -> dict:
    """A ``/_matrix/key/v2/server`` answer, self-signed with every key of ``keys`` (id -> seed)."""
    keys = {"ed25519:a_key": SEED} if keys is None else keys
    document: dict = {
        "server_name": server_name,
        "valid_until_ts": valid_until_ts,
        "verify_keys": {key_id: {"key": public_b64(seed)} for key_id, seed in keys.items()},
        "old_verify_keys": {"ed25519:old": {"key": public_b64(SEED_2), "expired_ts": NOW_MS - 1}},
    }
    for key_id, seed in keys.items():
        document = sign_json(document, signing_name=signer or server_name, key_id=key_id, seed=seed)
    return document


def check(document: object, server_name: str = SERVER) -> tuple[dict, dict | None, list[str]]:
    return check_keys(document, server_name=server_name, now_ms=NOW_MS, endpoint=ENDPOINT)


PASSED = {
    "matching_server_name": True,
    "future_valid_until_ts": True,
    "has_ed25519_key": True,
    "all_ed25519_checks_ok": True,
}


def test_good_keys_pass_every_check():
    checks, summary, errors = check(key_document())
    assert checks == PASSED
    assert summary == {"server_name": SERVER, "valid_until_ts": LATER_MS, "verify_keys": ["ed25519:a_key"]}
    assert errors == []


def test_every_ed25519_key_must_verify():
    document = key_document(keys={"ed25519:b": SEED_2, "ed25519:a": SEED})
    assert check(document) == (
        PASSED,
        {"server_name": SERVER, "valid_until_ts": LATER_MS, "verify_keys": ["ed25519:a", "ed25519:b"]},
        [],
    )
    document["signatures"][SERVER]["ed25519:b"] = document["signatures"][SERVER]["ed25519:a"]
    checks, _summary, errors = check(document)
    assert checks["all_ed25519_checks_ok"] is False
    assert errors == [f"keys served by {ENDPOINT}: ed25519:b: the signature by {SERVER} with ed25519:b does not verify"]


def test_unsigned_is_not_covered_by_the_signature():
    document = key_document()
    document["unsigned"] = {"added": "by a notary"}
    assert check(document)[0] == PASSED


def test_keys_for_another_server_name():
    checks, summary, errors = check(key_document(server_name="other.example.com"))
    assert checks == {**PASSED, "matching_server_name": False}  # validly self-signed by the name it claims
    assert summary["server_name"] == "other.example.com"
    assert errors == [
        f'keys served by {ENDPOINT} are for server name "other.example.com" but the server name is '
        f"'{SERVER}': set server_name in homeserver.yaml to '{SERVER}', or delegate to the right server"
    ]


def test_server_names_are_case_sensitive():
    assert check(key_document(server_name="Example.com"))[0]["matching_server_name"] is False


@pytest.mark.parametrize(("valid_until_ts", "future"), [(NOW_MS + 1, True), (NOW_MS, False), (NOW_MS - 1, False)])
def test_valid_until_ts_must_be_in_the_future(valid_until_ts, future):
    checks, _summary, errors = check(key_document(valid_until_ts=valid_until_ts))
    assert checks == {**PASSED, "future_valid_until_ts": future}
    if future:
        assert errors == []
    else:
        when = dt.datetime.fromtimestamp(valid_until_ts / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert errors == [
            f"keys served by {ENDPOINT} expired at {when} (valid_until_ts is in the past): "
            "the server must publish fresh keys"
        ]


@pytest.mark.parametrize("valid_until_ts", [-(2**53) + 1, -(10**15), -62135596800001])
def test_valid_until_ts_before_year_one_is_expired_not_an_exception(valid_until_ts):
    """Integers in the canonical JSON range that no date can show: an error line, not a crash."""
    checks, _summary, errors = check(key_document(valid_until_ts=valid_until_ts))
    assert checks["future_valid_until_ts"] is False
    assert len(errors) == 1 and errors[0].startswith(f"keys served by {ENDPOINT} expired"), errors


@pytest.mark.parametrize(
    ("valid_until_ts", "shown"),
    [(None, "null"), ("1800000000000", '"1800000000000"'), (True, "true")],
)
def test_valid_until_ts_must_be_an_integer(valid_until_ts, shown):
    checks, _summary, errors = check(key_document(valid_until_ts=valid_until_ts))
    assert checks == {**PASSED, "future_valid_until_ts": False}
    assert errors == [f"keys served by {ENDPOINT} have no valid_until_ts integer (got {shown})"]


def test_a_float_valid_until_ts_is_an_error_not_an_exception():
    document = key_document()
    document["valid_until_ts"] = float(LATER_MS)  # changed after signing, as a JSON parser would give it
    checks, _summary, errors = check(document)
    assert checks["future_valid_until_ts"] is False
    assert checks["all_ed25519_checks_ok"] is False
    assert f"keys served by {ENDPOINT} have no valid_until_ts integer (got {float(LATER_MS)})" in errors
    assert any("not canonical JSON" in error for error in errors), errors


@pytest.mark.parametrize(
    "verify_keys", [{}, {"curve25519:x": {"key": public_b64(SEED)}}, ["ed25519:a_key"], None], ids=repr
)
def test_no_ed25519_key(verify_keys):
    document = key_document()
    document["verify_keys"] = verify_keys
    checks, summary, errors = check(document)
    assert checks == {**PASSED, "has_ed25519_key": False, "all_ed25519_checks_ok": None}
    assert summary["verify_keys"] == (sorted(verify_keys) if isinstance(verify_keys, dict) else [])
    assert errors == [f"keys served by {ENDPOINT} have no ed25519 verify key"]


def test_other_algorithms_are_ignored_next_to_ed25519():
    document = key_document()
    document["verify_keys"]["curve25519:x"] = {"key": "bm90IGNoZWNrZWQ"}
    document = sign_json(document, signing_name=SERVER, key_id="ed25519:a_key", seed=SEED)
    assert check(document)[0] == PASSED


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (
            lambda d: d.update(valid_until_ts=LATER_MS + 1),
            "the signature by example.com with ed25519:a_key does not verify",
        ),
        (lambda d: d["signatures"].pop(SERVER), "no signature by example.com with ed25519:a_key"),
        (lambda d: d.update(signatures=[]), "no signature by example.com with ed25519:a_key"),
        (lambda d: d["verify_keys"]["ed25519:a_key"].pop("key"), "the verify key has no 'key' string"),
        (lambda d: d["verify_keys"].update({"ed25519:a_key": "key"}), "the verify key has no 'key' string"),
        (lambda d: d["verify_keys"]["ed25519:a_key"].update(key=encode_base64(b"x" * 31)), "the key is 31 bytes"),
        (lambda d: d["verify_keys"]["ed25519:a_key"].update(key="not base64!"), "invalid base64"),
        (lambda d: d["verify_keys"]["ed25519:a_key"].update(key=public_b64(SEED_2)), "does not verify"),
        (lambda d: d["signatures"][SERVER].update({"ed25519:a_key": 7}), "unusable signature or key"),
    ],
    ids=[
        "changed after signing",
        "no signature",
        "signatures not an object",
        "no key",
        "entry not an object",
        "short key",
        "key not base64",
        "another key",
        "signature not a string",
    ],
)
def test_bad_self_signature(tamper, reason):
    document = key_document()
    tamper(document)
    checks, _summary, errors = check(document)
    assert checks["all_ed25519_checks_ok"] is False
    assert len(errors) == 1 and errors[0].startswith(f"keys served by {ENDPOINT}: ed25519:a_key: "), errors
    assert reason in errors[0], errors


def test_garbage_in_the_keys_is_an_error_not_an_exception():
    document = key_document()
    document["extra"] = "\ud800"  # a lone surrogate, as json.loads('"\\ud800"') gives it
    checks, _summary, errors = check(document)
    assert checks["all_ed25519_checks_ok"] is False
    assert len(errors) == 1 and errors[0].startswith(f"keys served by {ENDPOINT}: ed25519:a_key: "), errors


@pytest.mark.parametrize(
    ("document", "shown"), [([], "an array"), ("keys", "a string"), (None, "null"), (3, "a number")]
)
def test_keys_that_are_not_an_object(document, shown):
    checks, summary, errors = check(document)
    assert checks == {
        "matching_server_name": False,
        "future_valid_until_ts": False,
        "has_ed25519_key": False,
        "all_ed25519_checks_ok": None,
    }
    assert summary is None
    assert errors == [f"keys served by {ENDPOINT} are {shown}, expected a JSON object"]


def test_check_keys_does_not_modify_the_document():
    document = key_document()
    before = copy.deepcopy(document)
    check(document)
    assert document == before


# -- check_support_file -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"contacts": [{"role": "m.role.admin", "matrix_id": "@admin:example.com"}]},
        {"contacts": [{"role": "m.role.security", "email_address": "security@example.com"}]},
        {"contacts": [{"role": "org.example.role.ops", "matrix_id": "@ops:example.com", "email_address": "o@e.com"}]},
        {"support_page": "https://example.com/support"},
        {"support_page": "http://example.com/support"},
        {"contacts": [], "support_page": "https://example.com/support"},
        {
            "contacts": [
                {"role": "m.role.admin", "matrix_id": "@admin:example.com"},
                {"role": "m.role.security", "email_address": "security@example.com"},
            ],
            "support_page": "https://example.com/support",
            "org.example.extra": True,
        },
    ],
)
def test_valid_support_files(data):
    assert check_support_file(data) == []


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({}, ["the support file has neither 'contacts' nor 'support_page'"]),
        ([], ["the support file is an array, expected a JSON object"]),
        ({"contacts": "admin@example.com"}, ["'contacts' is a string, expected an array"]),
        ({"contacts": ["admin@example.com"]}, ["contacts[0] is a string, expected an object"]),
        (
            {"contacts": [{"matrix_id": "@admin:example.com"}]},
            ["contacts[0] has no 'role' (m.role.admin, m.role.security or a namespaced role)"],
        ),
        (
            {"contacts": [{"role": "", "matrix_id": "@admin:example.com"}]},
            ["contacts[0] has no 'role' (m.role.admin, m.role.security or a namespaced role)"],
        ),
        ({"contacts": [{"role": "m.role.admin"}]}, ["contacts[0] needs a 'matrix_id' or an 'email_address'"]),
        (
            {"contacts": [{"role": "m.role.admin", "matrix_id": 5}]},
            ["contacts[0] needs a 'matrix_id' or an 'email_address'"],
        ),
        (
            {"support_page": "example.com/support"},
            ["'support_page' must be an http(s) URL, got \"example.com/support\""],
        ),
        ({"support_page": 42}, ["'support_page' must be an http(s) URL, got 42"]),
        (
            {"contacts": [{"role": "m.role.admin", "matrix_id": "@a:example.com"}, {}]},
            [
                "contacts[1] has no 'role' (m.role.admin, m.role.security or a namespaced role)",
                "contacts[1] needs a 'matrix_id' or an 'email_address'",
            ],
        ),
    ],
    ids=[
        "empty",
        "array",
        "contacts string",
        "contact string",
        "no role",
        "empty role",
        "no address",
        "matrix_id not a string",
        "support_page not a URL",
        "support_page not a string",
        "second contact empty",
    ],
)
def test_invalid_support_files(data, errors):
    assert check_support_file(data) == errors


def test_contacts_alone_must_not_be_empty():
    """Spec (client-server API, /.well-known/matrix/support): "If only contacts is set, it must
    contain at least one item"."""
    assert check_support_file({"contacts": []}) != []


# -- certificate_details ------------------------------------------------------------------------------------

NOT_AFTER = dt.datetime(2031, 5, 17, 8, 9, 10, tzinfo=dt.UTC)


def make_der(*, subject: x509.Name, issuer: x509.Name, sans: list[x509.GeneralName] | None) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .not_valid_before(NOT_AFTER - dt.timedelta(days=90))
        .not_valid_after(NOT_AFTER)
        .serial_number(x509.random_serial_number())
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
    )
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def name(*attributes: tuple) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


def test_certificate_details_rfc4514_names_sans_and_expiry():
    der = make_der(
        subject=name(
            (NameOID.COUNTRY_NAME, "US"),
            (NameOID.ORGANIZATION_NAME, "Example, Inc."),
            (NameOID.COMMON_NAME, "matrix.example.com"),
        ),
        issuer=name(
            (NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "Let's Encrypt"), (NameOID.COMMON_NAME, "R11")
        ),
        sans=[
            x509.DNSName("matrix.example.com"),
            x509.IPAddress(ipaddress.ip_address("198.51.100.7")),
            x509.DNSName("example.com"),
            x509.IPAddress(ipaddress.ip_address("2001:db8::7")),
        ],
    )
    assert certificate_details(der) == {
        # RFC 4514: most specific RDN first, special characters escaped
        "subject": "CN=matrix.example.com,O=Example\\, Inc.,C=US",
        "issuer": "CN=R11,O=Let's Encrypt,C=US",
        # plain names and addresses (DNS names first, then IP addresses)
        "sans": ["matrix.example.com", "example.com", "198.51.100.7", "2001:db8::7"],
        "not_after": "2031-05-17T08:09:10Z",
    }


def test_certificate_details_without_san_extension():
    der = make_der(subject=name((NameOID.COMMON_NAME, "legacy")), issuer=name((NameOID.COMMON_NAME, "ca")), sans=None)
    details = certificate_details(der)
    assert details["sans"] == []
    assert details["subject"] == "CN=legacy"


@pytest.mark.parametrize("der", [None, b"", b"not a certificate", b"\x30\x03\x02\x01\x01"], ids=repr)
def test_certificate_details_of_nothing_or_garbage_is_none(der):
    assert certificate_details(der) is None


# -- certificate_error ------------------------------------------------------------------------------------


def resolution(method: str, tls_server_name: str = SERVER) -> Resolution:
    return Resolution(server_name=SERVER, method=method, tls_server_name=tls_server_name)


DETAILS = {
    "subject": "CN=host.example.net",
    "issuer": "CN=Test CA",
    "sans": ["host.example.net"],
    "not_after": "2020-01-01T00:00:00Z",
}


def certificate_problem(code: int) -> HttpsError:
    return HttpsError(f"{ENDPOINT}: TLS certificate not valid", kind="certificate", verify_code=code)


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("explicit_port", ""),
        ("srv", " (SRV delegation: the certificate must be valid for the server name, not for the SRV target)"),
        ("srv_legacy", " (SRV delegation: the certificate must be valid for the server name, not for the SRV target)"),
        ("well_known_srv", " (the certificate must be valid for the delegated server name, not for the SRV target)"),
        ("ip_literal", " (an IP literal server name needs a certificate with that IP address)"),
    ],
)
def test_certificate_name_mismatch_says_which_name_the_spec_wants(method, suffix):
    assert certificate_error(ENDPOINT, certificate_problem(62), DETAILS, resolution(method)) == (
        f"certificate presented by {ENDPOINT} is valid for host.example.net but the spec requires it to be valid "
        f"for {SERVER}{suffix}"
    )


def test_certificate_errors_by_verify_code():
    res = resolution("default_port")
    assert certificate_error(ENDPOINT, certificate_problem(10), DETAILS, res) == (
        f"certificate presented by {ENDPOINT} expired on 2020-01-01T00:00:00Z: renew it"
    )
    assert "not valid yet" in certificate_error(ENDPOINT, certificate_problem(9), DETAILS, res)
    for code in (18, 19, 20, 21):
        assert certificate_error(ENDPOINT, certificate_problem(code), DETAILS, res).startswith(
            f"certificate presented by {ENDPOINT} is not signed by a trusted CA (issuer CN=Test CA)"
        )
    assert certificate_error(ENDPOINT, certificate_problem(62), None, res).startswith(
        f"certificate presented by {ENDPOINT} is valid for no names"
    )


# -- summarise -------------------------------------------------------------------------------------------------


def connection(address: str, port: int = 8448, *, ok: bool = True) -> dict:
    return {
        "address": address,
        "port": port,
        "ok": ok,
        "error": None if ok else "boom",
        "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "certificate_valid": ok, "certificate": None},
        "checks": {},
        "keys": {"server_name": SERVER, "valid_until_ts": LATER_MS, "verify_keys": ["ed25519:a_key"]} if ok else None,
    }


def report(**changes: object) -> dict:
    result = {
        "ok": True,
        "server_name": SERVER,
        "resolution": {
            "server_name": SERVER,
            "method": "well_known_srv",
            "delegated_server": "matrix.example.com",
            "host_header": "matrix.example.com",
            "tls_server_name": "matrix.example.com",
            "sni": "matrix.example.com",
            "targets": [{"host": "host.example.net", "port": 8448, "addresses": ["2001:db8::7", "198.51.100.7"]}],
            "well_known": {"url": "https://example.com/.well-known/matrix/server", "error": None},
            "srv": [],
            "warnings": [],
        },
        "connections": [connection("2001:db8::7"), connection("198.51.100.7")],
        "version": {"name": "Synapse", "version": "1.163.2"},
        "client": None,
        "support": None,
        "errors": [],
    }
    result.update(changes)
    return result


def test_summary_of_a_passing_check():
    summary = summarise(report())
    lines = summary.splitlines()
    assert summary.endswith("\n")
    assert lines[0] == "Federation report for example.com"
    assert lines[-1] == "Federation OK"
    text = "\n".join(lines)
    for fragment in (
        "well_known_srv",
        "https://example.com/.well-known/matrix/server",
        "matrix.example.com",
        "host.example.net:8448",
        "[2001:db8::7]:8448",  # IPv6 addresses bracketed before a port
        "198.51.100.7:8448",
        "TLSv1.3",
        "ed25519:a_key",
        "Synapse 1.163.2",
    ):
        assert fragment in text, (fragment, summary)
    assert "FAILED" not in summary


def test_summary_of_a_failing_check_lists_every_error():
    errors = ["first thing to fix", "second thing to fix"]
    summary = summarise(report(ok=False, errors=errors, connections=[connection("198.51.100.7", ok=False)]))
    lines = summary.splitlines()
    assert "Federation FAILED (2 problems):" in lines
    assert lines[-2:] == ["  - first thing to fix", "  - second thing to fix"]
    assert "Federation OK" not in summary
    assert any("198.51.100.7:8448" in line and "FAILED" in line for line in lines), summary


def test_summary_with_one_problem_is_singular():
    assert "Federation FAILED (1 problem):" in summarise(report(ok=False, errors=["x"]))


def test_summary_without_resolution_does_not_crash():
    summary = summarise(report(ok=False, resolution=None, connections=[], version=None, errors=["cannot resolve"]))
    assert summary.splitlines()[0] == "Federation report for example.com"
    assert "  - cannot resolve" in summary


def test_summary_names_the_well_known_problem_when_there_is_no_delegation():
    resolution = report()["resolution"]
    resolution.update(method="default_port", delegated_server=None)
    resolution["well_known"] = {"url": "https://example.com/.well-known/matrix/server", "error": "HTTP status 404"}
    assert "HTTP status 404" in summarise(report(resolution=resolution))


def test_summary_reports_client_and_support_files():
    summary = summarise(
        report(
            ok=False,
            client={"url": "u", "status": 200, "base_url": "b", "cors": False, "versions_ok": True, "error": "no CORS"},
            support={"url": "u", "status": 200, "valid": True, "error": None},
            errors=["no CORS"],
        )
    )
    assert any(line.startswith("Client") and "no CORS" in line for line in summary.splitlines()), summary
    assert any(line.startswith("Support") and "OK" in line for line in summary.splitlines()), summary

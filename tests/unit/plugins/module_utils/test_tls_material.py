# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TLS material checks on real certificates: PEM, key match, names (RFC 6125), expiry."""

from __future__ import annotations

import pytest
from support.tls_certs import DAY, NOW, ca, issue, key_pem, new_key

from ansible_collections.matrixops.delegation.plugins.module_utils._tls_material import (
    TlsMaterialError,
    check_material,
    covers,
    dns_name_matches,
    load_certificates,
    load_private_key,
    normalise_name,
)

CERT = "/etc/ssl/matrix.pem"
KEY = "/etc/ssl/matrix.key"


def check(cert_pem, key, names=(), **kwargs):
    kwargs.setdefault("now", NOW)
    return check_material(cert_pem, key, names, certificate_source=CERT, key_source=KEY, **kwargs)


@pytest.mark.parametrize("kind", ["ec", "rsa", "ed25519"])
def test_matching_pair_has_no_problem(kind):
    leaf = issue(["matrix.example.com"], kind=kind)
    report = check(leaf.pem, leaf.key_pem, ["matrix.example.com"])
    assert report == {
        "problems": [],
        "warnings": [],
        "not_after": "2027-03-03T10:00:00Z",
        "days_left": 90,
        "names": ["matrix.example.com"],
    }


def test_chain_signed_by_a_ca_with_traditional_key_format():
    authority = ca()
    leaf = issue(["matrix.example.com", "example.com"], issuer=authority, kind="rsa")
    report = check(leaf.pem + authority.pem, key_pem(leaf.key, fmt="traditional"), ["example.com"])
    assert report["problems"] == [] and report["names"] == ["matrix.example.com", "example.com"]


def test_key_of_another_certificate_is_a_problem_that_names_both_sources():
    leaf = issue(["matrix.example.com"])
    other = new_key("rsa")
    report = check(leaf.pem, key_pem(other))
    (problem,) = report["problems"]
    assert problem == (
        f"{KEY} does not belong to the certificate in {CERT} (CN=matrix.example.com): their public keys differ "
        "(certificate: EC secp256r1, key: RSA 2048-bit); expected the private key the certificate was issued for"
    )


def test_chain_in_the_wrong_order_is_named():
    authority = ca()
    leaf = issue(["matrix.example.com"], issuer=authority)
    (problem,) = check(authority.pem + leaf.pem, leaf.key_pem)["problems"]
    assert problem.startswith(
        f"{KEY} belongs to certificate number 2 in {CERT} (CN=matrix.example.com), not to the first"
    )
    assert "expected the server certificate first" in problem


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("", "it is empty"),
        ("just text", "it holds no PEM block"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "its certificate cannot be parsed"),
        ("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "a certificate request"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "another kind of PEM block"),
    ],
)
def test_unreadable_certificate(text, found):
    leaf = issue(["matrix.example.com"])
    report = check(text, leaf.key_pem, ["matrix.example.com"])
    (problem,) = report["problems"]
    assert problem.startswith(f"{CERT} is not a PEM certificate: expected '-----BEGIN CERTIFICATE-----'")
    assert found in problem
    assert (report["not_after"], report["days_left"], report["names"]) == ("", None, [])


def test_key_given_as_certificate_and_swapped_arguments_never_show_the_key():
    leaf = issue(["matrix.example.com"])
    report = check(leaf.key_pem, leaf.pem)
    assert report["problems"] == [
        f"{CERT} is not a PEM certificate: expected '-----BEGIN CERTIFICATE-----' (the server certificate first, "
        "then any intermediates), but it holds a private key",
        f"{KEY} is not a PEM private key: expected '-----BEGIN PRIVATE KEY-----' (or RSA/EC PRIVATE KEY), but it holds "
        "a certificate",
    ]
    body = leaf.key_pem.splitlines()[1]
    assert all(body not in message for message in report["problems"])


def test_encrypted_and_broken_keys():
    leaf = issue(["matrix.example.com"])
    encrypted = key_pem(leaf.key, password=b"secret")
    (problem,) = check(leaf.pem, encrypted)["problems"]
    assert problem.startswith(f"{KEY} is an encrypted private key: expected an unencrypted one")
    broken = "-----BEGIN PRIVATE KEY-----\nTOP-SECRET-MATERIAL\n-----END PRIVATE KEY-----\n"
    (problem,) = check(leaf.pem, broken)["problems"]
    assert "its private key cannot be parsed" in problem and "TOP-SECRET" not in problem


def test_no_key_checks_only_the_certificate():
    leaf = issue(["matrix.example.com"])
    assert check(leaf.pem, None, ["matrix.example.com"])["problems"] == []


def test_bytes_are_accepted():
    leaf = issue(["matrix.example.com"])
    assert check(leaf.pem.encode(), leaf.key_pem.encode())["problems"] == []


def test_load_functions_raise_their_own_error():
    with pytest.raises(TlsMaterialError, match="^x is not a PEM certificate"):
        load_certificates("nothing", "x")
    with pytest.raises(TlsMaterialError, match="^y is not a PEM private key"):
        load_private_key("nothing", "y")


# -- names -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("matrix.example.com", "matrix.example.com", True),
        ("Matrix.Example.COM", "matrix.example.com", True),
        ("matrix.example.com", "MATRIX.example.com.", True),
        ("*.example.com", "matrix.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", ".example.com", False),
        ("*.com", "example.com", False),
        ("f*.example.com", "foo.example.com", False),
        ("a.*.example.com", "a.b.example.com", False),
        ("*.*.example.com", "a.b.example.com", False),
        ("matrix.example.com", "matrix.example.org", False),
        ("*.example.com", "192.0.2.1", False),
        ("192.0.2.1", "192.0.2.1", False),
    ],
)
def test_dns_names_per_rfc_6125(pattern, name, matches):
    assert dns_name_matches(pattern, name) is matches


@pytest.mark.parametrize(
    ("name", "covered"),
    [
        ("192.0.2.1", True),
        ("[2001:db8::1]", True),
        ("2001:DB8:0::1", True),
        ("192.0.2.2", False),
        ("matrix.example.com:8448", True),
        ("bücher.example.com", True),
    ],
)
def test_ip_addresses_only_by_ip_entries(name, covered):
    assert (
        covers(["*.example.com", "192.0.2.1", "xn--bcher-kva.example.com"], ["192.0.2.1", "2001:db8::1"], name)
        is covered
    )


def test_normalise_name():
    assert normalise_name(" Example.COM.:8448 ") == "example.com"
    assert normalise_name("[::1]:443") == "::1"


def test_uncovered_names_are_problems_with_what_was_found():
    leaf = issue(["matrix.example.com", "*.example.org", "192.0.2.1"])
    report = check(leaf.pem, leaf.key_pem, ["matrix.example.com", "example.com", "a.example.org", "192.0.2.9"])
    assert report["problems"] == [
        f"the certificate in {CERT} is not valid for example.com: expected that name among its subjectAltNames, "
        "found matrix.example.com, *.example.org, 192.0.2.1",
        f"the certificate in {CERT} is not valid for 192.0.2.9: expected that name among its subjectAltNames, "
        "found matrix.example.com, *.example.org, 192.0.2.1 (an IP address must be an IP address entry)",
    ]


def test_a_certificate_without_subject_alt_name_names_the_common_name():
    leaf = issue(["matrix.example.com"], san=False)
    (problem,) = check(leaf.pem, leaf.key_pem, ["matrix.example.com"])["problems"]
    assert problem == (
        f"the certificate in {CERT} (CN=matrix.example.com) has no subjectAltName: expected one naming "
        "matrix.example.com (TLS clients ignore the common name)"
    )


def test_default_sources_read_well():
    leaf = issue(["a.example.com"])
    report = check_material(leaf.pem, None, ["b.example.com"], now=NOW)
    assert report["problems"][0].startswith("the certificate is not valid for b.example.com")


# -- dates -------------------------------------------------------------------------------------
def test_expired_is_a_problem():
    leaf = issue(["matrix.example.com"], not_before=NOW - 100 * DAY, not_after=NOW - 3 * DAY)
    report = check(leaf.pem, leaf.key_pem, ["matrix.example.com"])
    assert report["problems"] == [
        f"the certificate in {CERT} expired on 2026-11-30T10:00:00Z (3 days ago): expected a valid one; renew it"
    ]
    assert report["days_left"] == -3 and report["warnings"] == []


def test_expiring_within_warn_days_is_a_warning():
    leaf = issue(["matrix.example.com"], not_after=NOW + 10 * DAY + 3600 * DAY / 86400)
    report = check(leaf.pem, leaf.key_pem, warn_days=14)
    assert report["problems"] == []
    assert report["warnings"] == [
        f"the certificate in {CERT} expires on 2026-12-13T11:00:00Z, in 10 days (within the 14 days warned about): "
        "renew it"
    ]
    assert check(leaf.pem, leaf.key_pem, warn_days=10)["warnings"] == []
    assert check(leaf.pem, leaf.key_pem, warn_days=0)["warnings"] == []


def test_not_yet_valid_is_a_problem():
    leaf = issue(["matrix.example.com"], not_before=NOW + DAY)
    (problem,) = check(leaf.pem, leaf.key_pem)["problems"]
    assert problem.startswith(f"the certificate in {CERT} is not valid before 2026-12-04T10:00:00Z")


def test_expired_intermediate_is_a_problem():
    authority = ca("Old Intermediate", not_after=NOW - DAY)
    leaf = issue(["matrix.example.com"], issuer=authority)
    (problem,) = check(leaf.pem + authority.pem, leaf.key_pem)["problems"]
    assert problem.startswith(f"certificate number 2 in {CERT} (CN=Old Intermediate) expired on 2026-12-02T10:00:00Z")


def test_now_defaults_to_the_real_clock():
    leaf = issue(["matrix.example.com"], not_before=NOW - 1000 * DAY, not_after=NOW - 900 * DAY)
    report = check_material(leaf.pem, leaf.key_pem)
    assert report["days_left"] < -900 and "expired" in report["problems"][0]

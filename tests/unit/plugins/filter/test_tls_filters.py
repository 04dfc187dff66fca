# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The TLS filters: tls_problems (a shell over _tls_material) and certbot_lineage."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from support.tls_certs import issue, key_pem, new_key

from ansible_collections.matrixops.delegation.plugins.filter.tls import FilterModule, certbot_lineage, tls_problems


def test_filters_are_registered_under_their_documented_names():
    assert set(FilterModule().filters()) == {"tls_problems", "certbot_lineage"}


def test_tls_problems_returns_the_documented_keys():
    leaf = issue(["matrix.example.com"])
    report = tls_problems(leaf.pem, leaf.key_pem, names=["matrix.example.com"])
    assert set(report) == {"problems", "warnings", "not_after", "days_left", "names"}
    assert report["problems"] == [] and report["names"] == ["matrix.example.com"]
    assert isinstance(report["days_left"], int) and report["not_after"].endswith("Z")


def test_tls_problems_default_and_given_sources():
    leaf = issue(["matrix.example.com"])
    other = key_pem(new_key())
    (problem,) = tls_problems(leaf.pem, other)["problems"]
    assert problem.startswith("the private key does not belong to the certificate (CN=matrix.example.com)")
    (problem,) = tls_problems(leaf.pem, other, certificate_source="well_known_tls_certificate", key_source="k.pem")[
        "problems"
    ]
    assert problem.startswith("k.pem does not belong to the certificate in well_known_tls_certificate")


def test_tls_problems_takes_one_name_as_a_string_and_warn_days_as_text():
    leaf = issue(["matrix.example.com"])
    report = tls_problems(leaf.pem, None, names="example.com", warn_days="1000")
    assert report["problems"][0].startswith("the certificate is not valid for example.com")
    assert report["warnings"][0].startswith("the certificate expires on")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"warn_days": "soon"}, "warn_days must be a whole number"), ({"names": {"a": 1}}, "names must be a list")],
)
def test_tls_problems_bad_arguments(kwargs, message):
    leaf = issue(["matrix.example.com"])
    with pytest.raises(AnsibleFilterError, match=message):
        tls_problems(leaf.pem, leaf.key_pem, **kwargs)


def test_tls_problems_never_raises_for_bad_input():
    report = tls_problems(None, 42, certificate_source="a", key_source="b")
    assert report["problems"] == [
        "a is not a PEM certificate: expected '-----BEGIN CERTIFICATE-----' (the server certificate first, then any "
        "intermediates), but it is empty",
        "b is not a PEM private key: expected '-----BEGIN PRIVATE KEY-----' (or RSA/EC PRIVATE KEY), but it holds no "
        "PEM block",
    ]


@pytest.mark.parametrize(
    ("path", "config_dir", "lineage"),
    [
        ("/etc/letsencrypt/live/example.com/fullchain.pem", "/etc/letsencrypt", "example.com"),
        ("/etc/letsencrypt/archive/example.com/fullchain3.pem", "/etc/letsencrypt", "example.com"),
        (
            "/etc/letsencrypt/archive/matrix.example.com-0001/privkey2.pem",
            "/etc/letsencrypt/",
            "matrix.example.com-0001",
        ),
        ("/srv/le/live/x/cert.pem", "/srv/le", "x"),
        ("/etc/letsencrypt/live/README", "/etc/letsencrypt", ""),
        ("/etc/letsencrypt/live/example.com", "/etc/letsencrypt", ""),
        ("/etc/letsencrypt/live/example.com/sub/cert.pem", "/etc/letsencrypt", ""),
        ("/etc/letsencrypt/keys/0001_key-certbot.pem", "/etc/letsencrypt", ""),
        ("/etc/letsencrypt-old/live/example.com/cert.pem", "/etc/letsencrypt", ""),
        ("/etc/ssl/certs/example.pem", "/etc/letsencrypt", ""),
        ("etc/letsencrypt/live/example.com/cert.pem", "/etc/letsencrypt", ""),
        ("/etc/letsencrypt/live/example.com/cert.pem", "letsencrypt", ""),
        ("/live/example.com/cert.pem", "/", "example.com"),
        (" /etc/letsencrypt/live/example.com/cert.pem\n", "/etc/letsencrypt ", "example.com"),
    ],
)
def test_certbot_lineage(path, config_dir, lineage):
    assert certbot_lineage(path, config_dir) == lineage


@pytest.mark.parametrize("value", [None, 42, ["/etc/letsencrypt/live/x/cert.pem"]])
def test_certbot_lineage_of_a_non_string_is_empty(value):
    assert certbot_lineage(value) == ""


def test_certbot_lineage_default_config_dir():
    assert certbot_lineage("/etc/letsencrypt/live/example.com/privkey.pem") == "example.com"

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The well_known role's validation filters: server_name_problem and support_problem."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.matrixops.delegation.plugins.filter.well_known import (
    FilterModule,
    server_name_problem,
    support_problem,
)


def test_filters_are_registered_under_their_documented_names():
    assert set(FilterModule().filters()) == {"server_name_problem", "support_problem"}


@pytest.mark.parametrize(
    "value",
    ["matrix.example.com", "matrix.example.com:443", "matrix.example.com:8448", "1.2.3.4:8448", "[2001:db8::1]:443"],
)
def test_valid_m_server_has_no_problem(value):
    assert server_name_problem(value) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "https://matrix.example.com",
            "is a URL; a server name is hostname[:port] without scheme or path, like 'matrix.example.com'",
        ),
        ("https://", "is a URL"),
        ("host:99999", "the port must be between 1 and 65535, got 99999"),
        ("host:0", "the port must be between 1 and 65535"),
        ("matrix.example.com/matrix", "path"),
        ("matrix.example.com:443/x", "path"),
        ("matrix.example.com.", "trailing dot"),
        ("", "empty"),
        (443, "must be a string"),
        (None, "must be a string"),
        ("2001:db8::1", "in brackets"),
    ],
)
def test_malformed_m_server_is_explained(value, expected):
    problem = server_name_problem(value)
    assert expected in problem
    if isinstance(value, str) and value:
        assert f"'{value}'" in problem, "the message quotes the value"


def test_unicode_name_gets_its_idna_form_suggested():
    assert (
        server_name_problem("bücher.example")
        == "'bücher.example' is not ASCII; write its IDNA form 'xn--bcher-kva.example'"
    )


def test_delegated_server_name_must_not_have_a_port():
    assert server_name_problem("example.com:8448", allow_port=False).startswith("'example.com:8448' has a port")
    assert server_name_problem("example.com", allow_port=False) == ""


def test_delegated_server_name_must_not_be_an_ip_literal():
    assert "is an IP address" in server_name_problem("192.0.2.1", allow_ip_literal=False)
    assert "is an IP address" in server_name_problem("[2001:db8::1]", allow_ip_literal=False)


def test_server_name_problem_options_must_be_booleans():
    with pytest.raises(AnsibleFilterError):
        server_name_problem("example.com", allow_port="no")


VALID_SUPPORT = {
    "contacts": [
        {"role": "m.role.admin", "matrix_id": "@admin:example.com", "email_address": "admin@example.com"},
        {"role": "m.role.security", "email_address": "security@example.com"},
        {"role": "org.example.dpo", "matrix_id": "@dpo:example.com:8448"},
    ],
    "support_page": "https://example.com/support",
}


def test_valid_support_document_has_no_problem():
    assert support_problem(VALID_SUPPORT) == ""
    assert support_problem({"support_page": "https://example.com/help"}) == ""
    assert support_problem({"contacts": [{"role": "m.role.admin", "email_address": "a@example.com"}]}) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"contacts": [{"matrix_id": "@admin:example.com"}]}, "contacts[0] has no 'role'"),
        ({"contacts": [{"role": "m.role.admin"}]}, "contacts[0] needs a 'matrix_id' or an 'email_address'"),
        (
            {"contacts": [{"role": "m.role.boss", "email_address": "a@example.com"}]},
            "role 'm.role.boss' is not defined",
        ),
        ({"contacts": [{"role": "admin", "email_address": "a@example.com"}]}, "nor a namespaced identifier"),
        ({"contacts": [{"role": "m.role.admin", "matrix_id": "admin"}]}, "matrix_id must be a user ID"),
        ({"contacts": [{"role": "m.role.admin", "matrix_id": "@:example.com"}]}, "empty localpart"),
        ({"contacts": [{"role": "m.role.admin", "matrix_id": "@a:example.com:99999"}]}, "invalid server name"),
        (
            {"contacts": [{"role": "m.role.admin", "email_address": "nobody"}]},
            "email_address must be an e-mail address",
        ),
        ({"contacts": "admin@example.com"}, "'contacts' is a string, expected an array"),
        ({"support_page": "example.com/help"}, "'support_page' must be an http(s) URL"),
        ({}, "neither 'contacts' nor 'support_page'"),
        (["admin"], "expected a JSON object"),
    ],
)
def test_invalid_support_document_is_explained(value, expected):
    assert expected in support_problem(value)


def test_every_support_problem_is_reported():
    problems = support_problem({"contacts": [{"matrix_id": "bad"}, {"role": "m.role.admin"}]})
    assert "contacts[0] has no 'role'" in problems
    assert "contacts[0]: matrix_id must be a user ID" in problems
    assert "contacts[1] needs a 'matrix_id' or an 'email_address'" in problems

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reverse_proxy role's input check and upstream URL parser."""

from __future__ import annotations

import re

import pytest

from ansible_collections.matrixops.delegation.plugins.module_utils._reverse_proxy_settings import (
    parse_upstream,
    settings_problems,
)

GOOD = {
    "server_name": "example.com",
    "hostname": "matrix.example.com",
    "federation_ports": [8448],
    "client_port": 443,
    "upstream": "http://127.0.0.1:8008",
    "bind_addresses": [],
    "tls_certificate": "/etc/letsencrypt/live/matrix.example.com/fullchain.pem",
    "tls_certificate_key": "/etc/letsencrypt/live/matrix.example.com/privkey.pem",
    "tls_certificate_content": False,
    "tls_certificate_key_content": False,
    "federation_tls_certificate": "",
    "federation_tls_certificate_key": "",
    "federation_tls_certificate_content": False,
    "federation_tls_certificate_key_content": False,
    "max_body_size": "50M",
    "synapse_config_dir": "/etc/matrix-synapse/conf.d",
    "synapse_main_config": "",
    "synapse_python": "",
    "tls_warn_days": 30,
    "verify_timeout": 30,
    "certbot_dir": "/etc/letsencrypt",
}


def problems_with(**changes):
    return settings_problems({**GOOD, **changes})


def test_good_settings():
    assert settings_problems(GOOD) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8008", {"scheme": "http", "host": "127.0.0.1", "host_kind": "ipv4", "port": 8008}),
        ("http://[::1]:8008", {"scheme": "http", "host": "::1", "host_kind": "ipv6", "host_for_url": "[::1]"}),
        ("https://synapse.internal:8448", {"scheme": "https", "host": "synapse.internal", "host_kind": "dns"}),
    ],
)
def test_parse_upstream(url, expected):
    parts = parse_upstream(url)
    assert parts["url"] == url
    assert {key: parts[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:8008/", "must not have a path"),
        ("127.0.0.1:8008", r"must be http\(s\)://host:port"),
        ("ftp://127.0.0.1:8008", "must start with http:// or https://"),
        ("http://127.0.0.1", "needs an explicit port"),
        ("http://127.0.0.1:0", "from 1 to 65535"),
        ("http://::1:8008", "IPv6 host in brackets"),
        ("", "must be a URL"),
        (None, "must be a URL"),
    ],
)
def test_parse_upstream_refuses(url, message):
    with pytest.raises(ValueError, match=message):
        parse_upstream(url)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hostname": "matrix.example.com:443"}, "without scheme, port or path"),
        ({"hostname": "198.51.100.7"}, "must be a DNS name"),
        ({"hostname": None}, "must be the delegated host name"),
        ({"server_name": "exa mple.com"}, "reverse_proxy_server_name must be the Matrix server name"),
        ({"federation_ports": []}, "non-empty list"),
        ({"federation_ports": [443, 84430]}, "got 84430"),
        ({"client_port": "x"}, "reverse_proxy_client_port must be a port number"),
        ({"bind_addresses": ["[::1]"]}, "without brackets"),
        ({"bind_addresses": "127.0.0.1"}, "must be a list"),
        ({"max_body_size": "50 MB"}, "nginx size"),
        ({"synapse_config_dir": "conf.d"}, "must be an absolute path"),
        ({"upstream": "https://127.0.0.1:8008"}, "use an http:// upstream"),
        ({"upstream": "http://localhost:8008"}, "must be an IP address"),
        ({"synapse_python": "python3"}, "reverse_proxy_synapse_python must be an absolute path"),
        ({"tls_certificate": "", "tls_certificate_content": False}, "reverse_proxy_tls_certificate .* is required"),
        ({"tls_certificate": "cert.pem"}, "reverse_proxy_tls_certificate must be an absolute path"),
        ({"federation_tls_certificate": "/etc/ssl/example.com.pem"}, "federation_tls_certificate_key .* is missing"),
        (
            {
                "federation_ports": [443],
                "federation_tls_certificate": "/etc/ssl/e.pem",
                "federation_tls_certificate_key": "/etc/ssl/e.key",
            },
            "federation port 443 is also reverse_proxy_client_port",
        ),
        ({"tls_warn_days": -1}, "reverse_proxy_tls_warn_days must be a whole number of at least 0"),
        ({"tls_warn_days": "soon"}, "reverse_proxy_tls_warn_days"),
        ({"verify_timeout": 0}, r"reverse_proxy_verify_timeout must be a number of at least 1; got 0 \(seconds\)"),
        ({"certbot_dir": "letsencrypt"}, "reverse_proxy_certbot_dir must be an absolute path"),
    ],
)
def test_settings_problems(changes, message):
    problems = problems_with(**changes)
    assert len(problems) == 1, problems
    assert re.search(message, problems[0]), problems[0]


def test_synapse_left_alone_allows_an_https_upstream_by_name():
    assert problems_with(synapse_config_dir="", upstream="https://synapse.internal:8448") == []


def test_optional_settings_may_be_absent():
    minimal = {
        key: value for key, value in GOOD.items() if key not in ("tls_warn_days", "verify_timeout", "certbot_dir")
    }
    assert settings_problems(minimal) == []

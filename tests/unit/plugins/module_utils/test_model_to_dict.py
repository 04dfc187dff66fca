# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resolution.to_dict(): the same dict as dataclasses.asdict gave, plain values, nothing shared."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from ansible_collections.matrixops.delegation.plugins.module_utils._model import (
    Method,
    Resolution,
    SrvLookup,
    SrvRecord,
    Target,
    WellKnown,
)


class Tagged(str):
    """Like Ansible's tagged strings: a str subclass carrying something along."""

    tags = ("origin",)


def full() -> Resolution:
    return Resolution(
        server_name=Tagged("example.com"),
        method=Method("well_known_srv"),
        delegated_server="matrix.example.com",
        host_header="matrix.example.com",
        tls_server_name="matrix.example.com",
        sni="matrix.example.com",
        targets=[Target("host.example.net", 443, ["2001:db8::7", "198.51.100.7"]), Target("b.example", 8448, [])],
        well_known=WellKnown(
            url="https://example.com/.well-known/matrix/server",
            status=200,
            m_server={"nested": ["json", 1]},
            redirects=["https://example.com/elsewhere"],
            cache_seconds=3600,
        ),
        srv=[
            SrvLookup("_matrix-fed._tcp.matrix.example.com", [SrvRecord(10, 5, 443, "host.example.net").to_dict()]),
            SrvLookup("_matrix._tcp.matrix.example.com", [], error="SERVFAIL"),
        ],
        warnings=["a warning"],
    )


@pytest.mark.parametrize(
    "resolution",
    [
        full(),
        Resolution(server_name="example.com"),
        Resolution(server_name="[2001:db8::1]", method=Method("ip_literal"), targets=[Target("2001:db8::1", 8448, [])]),
    ],
    ids=["full", "empty", "ip-literal"],
)
def test_to_dict_is_what_asdict_gave(resolution):
    expected = asdict(resolution)
    if resolution.method is not None:
        expected["method"] = str(resolution.method)
    assert resolution.to_dict() == expected


def test_to_dict_gives_plain_strings_and_shares_nothing_mutable():
    resolution = full()
    first, second = resolution.to_dict(), resolution.to_dict()
    assert first["server_name"].__class__ is str
    assert first["method"].__class__ is str
    assert first["method"] == "well_known_srv"
    first["targets"][0]["addresses"].append("192.0.2.9")
    first["well_known"]["m_server"]["nested"].append("changed")
    first["srv"][0]["records"][0]["port"] = 1
    first["warnings"].append("changed")
    assert second == resolution.to_dict()
    assert resolution.targets[0].addresses == ["2001:db8::7", "198.51.100.7"]
    assert resolution.well_known.m_server == {"nested": ["json", 1]}

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fuzz target: the server-name parser, alone and as the first step of a resolution.

The property: a valid result or the code's own error type (ServerNameError, ResolutionError);
never any other exception, never a hang. ``make test`` runs the ``brief`` hypothesis profile,
``make fuzz`` the ``fuzz`` one (see conftest.py).
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.matrixops.delegation.plugins.module_utils._model import (
    METHODS,
    PARSE_STEP,
    AddressAnswer,
    HttpsError,
    Resolution,
    ResolutionError,
    SrvAnswer,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._resolution import resolve_server_name
from ansible_collections.matrixops.delegation.plugins.module_utils._server_name import (
    ServerName,
    ServerNameError,
    parse_host,
    parse_server_name,
)

# Characters that matter to the grammar, IDNA and the shells, plus whole tokens that do.
SPECIAL = "aZ09.-:[]_/ \t\n%@#?\\\u00fc\u00df\u0130\u3002\uff0e\uff61\u200b\u200d\u0000\ud800\ufeff\u202e"
TOKENS = st.sampled_from(
    [
        *SPECIAL,
        "xn--",
        "xn--bcher-kva",
        "::",
        "]:",
        "[::1]",
        "[::ffff:1.2.3.4]",
        "1.2.3.4",
        "256.1.1.1",
        "08448",
        "65536",
        "0",
        "a" * 63,
        "a" * 64,
        "https://",
        ".",
        "..",
        "example.com",
        "\u00e9",
        "\u0661",
    ]
)
NAMES = st.one_of(
    st.text(),
    st.text(SPECIAL, max_size=60),
    st.lists(TOKENS, max_size=25).map("".join),
    st.builds(lambda host, port: f"{host}:{port}", st.text(SPECIAL, max_size=20), st.integers(-1, 10**6)),
    st.integers(1, 300).map(lambda size: ("a" * 62 + ".") * (size // 63) + "b" * (size % 63)),
)
NOT_STRINGS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.binary(max_size=20),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
DNS_HOST = re.compile(r"\A[A-Za-z0-9-](?:[A-Za-z0-9.-]*[A-Za-z0-9-])?\Z")


def parsed(parse, *args, **kwargs) -> tuple | None:
    """What ``parse`` returns, or None when it refused the value with a ServerNameError that says why."""
    try:
        return parse(*args, **kwargs)
    except ServerNameError as exc:
        assert str(exc)
        return None


@given(st.one_of(NAMES, NOT_STRINGS))
def test_fuzz_parse_server_name(value):
    got = parsed(parse_server_name, value)
    if got is None:
        return
    parsed_name, warnings = got
    assert isinstance(parsed_name, ServerName)
    assert all(isinstance(warning, str) for warning in warnings)
    text = str(parsed_name)
    assert text.isascii() and text.isprintable()
    if parsed_name.kind == "dns":
        assert DNS_HOST.match(parsed_name.host) and len(parsed_name.host) <= 255 and ".." not in parsed_name.host
    assert parsed_name.port is None or 1 <= parsed_name.port <= 65535
    assert parse_server_name(text)[0] == parsed_name  # the normal form parses to itself


@given(st.one_of(NAMES), st.booleans())
def test_fuzz_parse_host(value, allow_unicode):
    got = parsed(parse_host, value, allow_unicode=allow_unicode)
    if got is None:
        return
    host, kind, warnings = got
    assert kind in ("dns", "ipv4", "ipv6")
    assert host.isascii()
    assert all(isinstance(warning, str) for warning in warnings)


class EveryNameResolves:
    """DNS port: every host name has one public address, no SRV anywhere."""

    def srv(self, name: str) -> SrvAnswer:
        return SrvAnswer(name=name, records=[], status="NXDOMAIN")

    def addresses(self, name: str) -> AddressAnswer:
        return AddressAnswer(name=name, addresses=["2001:4860:4860::8888", "8.8.8.8"])


class NoHttps:
    def get(self, host, port, path, *, addresses, body_limit, deadline):
        raise HttpsError(f"{host}:{port}: cannot connect: Connection refused", kind="connect")


@given(st.one_of(NAMES, NOT_STRINGS))
def test_fuzz_resolve_server_name_parses_or_fails_at_the_parse_step(value):
    try:
        result = resolve_server_name(value, dns=EveryNameResolves(), https=NoHttps())
    except ResolutionError as exc:
        assert exc.step == PARSE_STEP
        assert str(exc).startswith("cannot resolve server name ")
        return
    assert isinstance(result, Resolution)
    assert result.method in METHODS
    assert result.targets and all(target.addresses for target in result.targets)
    assert result.to_dict()["server_name"] == parse_server_name(value)[0].__str__()

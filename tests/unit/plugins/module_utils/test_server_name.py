# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The server-name grammar of the Matrix spec (appendices, "Server Name")."""

from __future__ import annotations

import contextlib
import ipaddress
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.matrixops.delegation.plugins.module_utils._server_name import (
    ServerName,
    ServerNameError,
    parse_host,
    parse_server_name,
)

VALID = [
    # the spec's examples
    ("matrix.org", "matrix.org", None, "dns"),
    ("matrix.org:8888", "matrix.org", 8888, "dns"),
    ("1.2.3.4", "1.2.3.4", None, "ipv4"),
    ("1.2.3.4:1234", "1.2.3.4", 1234, "ipv4"),
    ("[1234:5678::abcd]", "1234:5678::abcd", None, "ipv6"),
    ("[1234:5678::abcd]:5678", "1234:5678::abcd", 5678, "ipv6"),
    # more of the grammar
    ("localhost", "localhost", None, "dns"),
    ("a", "a", None, "dns"),
    ("x:1", "x", 1, "dns"),
    ("x:65535", "x", 65535, "dns"),
    ("my-host.example-domain.com", "my-host.example-domain.com", None, "dns"),
    ("-leading-hyphen.example", "-leading-hyphen.example", None, "dns"),
    ("123.example", "123.example", None, "dns"),
    ("1.2.3", "1.2.3", None, "dns"),
    ("1.2.3.4.5", "1.2.3.4.5", None, "dns"),
    ("0.0.0.0", "0.0.0.0", None, "ipv4"),
    ("255.255.255.255:443", "255.255.255.255", 443, "ipv4"),
    ("[::1]", "::1", None, "ipv6"),
    ("[::1]:8448", "::1", 8448, "ipv6"),
    ("[::ffff:1.2.3.4]:8448", "::ffff:1.2.3.4", 8448, "ipv6"),
    ("[2001:DB8::A]", "2001:DB8::A", None, "ipv6"),
    ("a" * 255, "a" * 255, None, "dns"),
    (".".join(["a" * 63] * 4), ".".join(["a" * 63] * 4), None, "dns"),
]

INVALID = [
    ("matrix.org.", "trailing dot"),
    ("matrix.org.:8448", "trailing dot"),
    ("host:0", "between 1 and 65535"),
    ("host:65536", "between 1 and 65535"),
    ("host:123456", "port"),
    ("host:abc", "port"),
    ("host:", "port"),
    ("host:+80", "port"),
    ("host: 80", "port"),
    ("host:-1", "port"),
    ("host:8O", "port"),
    ("a b", "a space"),
    ("a\tb", "U+0009"),
    ("_x.example", "'_'"),
    ("x_y.example", "'_'"),
    ("a..b", "empty label"),
    (".a", "empty label"),
    (":8448", "empty"),
    ("", "empty"),
    ("a" * 256, "256 characters"),
    ("::1", "brackets"),
    ("1234:5678::abcd", "brackets"),
    ("1234:5678::abcd:8448", "brackets"),
    ("[::1", "must end with ']'"),
    ("[]", "not a valid IPv6"),
    ("[::1]x", "only ':port'"),
    ("[::1]:", "port"),
    ("[::1]:0", "between 1 and 65535"),
    ("[1.2.3.4]", "not a valid IPv6"),
    ("[example.com]", "not a valid IPv6"),
    ("[::g]", "not a valid IPv6"),
    ("[fe80::1%eth0]", "not a valid IPv6"),
    ("[fe80::1%25eth0]:8448", "not a valid IPv6"),
    ("999.1.1.1", "not a valid IPv4"),
    ("1.2.3.256:8448", "not a valid IPv4"),
    ("01.2.3.4", "not a valid IPv4"),
    ("https://x", "port"),
    ("x/path", "'/'"),
    ("x:8448/path", "port"),
    ("user@host", "'@'"),
    ("host?query", "'?'"),
    ("\u00fc.example.", "trailing dot"),
    ("\u00fc.example\u3002", "trailing dot"),
]


@pytest.mark.parametrize(("text", "host", "port", "kind"), VALID)
def test_valid_server_names(text, host, port, kind):
    parsed, warnings = parse_server_name(text)
    assert parsed == ServerName(host=host, port=port, kind=kind)
    assert parsed.is_ip_literal is (kind != "dns")
    assert str(parsed) == text
    assert len(warnings) == (1 if len(host) > 230 else 0)  # the long-name warning only


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid_server_names(text, reason):
    with pytest.raises(ServerNameError) as info:
        parse_server_name(text)
    assert reason in str(info.value)
    if text:
        assert f"'{text}'" in str(info.value)  # the message names the input


@pytest.mark.parametrize("value", [None, 42, 4.2, b"matrix.org", ["matrix.org"], {"matrix.org": 1}, True, object()])
def test_non_string_server_names(value):
    with pytest.raises(ServerNameError, match="must be a string"):
        parse_server_name(value)


def test_host_for_url_brackets_ipv6_only():
    assert parse_server_name("[::1]:8448")[0].host_for_url == "[::1]"
    assert parse_server_name("1.2.3.4:8448")[0].host_for_url == "1.2.3.4"
    assert parse_server_name("matrix.org:8448")[0].host_for_url == "matrix.org"


def test_port_is_kept_as_written():
    # server names are compared as strings: "example.com:08448" is not "example.com:8448"
    parsed, _warnings = parse_server_name("example.com:08448")
    assert str(parsed) == "example.com:08448"


# -- case, length and Unicode --------------------------------------------------------------------------
def test_upper_case_is_a_warning_and_the_case_is_kept():
    parsed, warnings = parse_server_name("Matrix.ORG:8448")
    assert str(parsed) == "Matrix.ORG:8448"
    assert parsed.host == "Matrix.ORG"
    assert len(warnings) == 1
    assert "upper-case" in warnings[0] and "Matrix.ORG:8448" in warnings[0]


def test_upper_case_in_an_ipv6_literal_is_no_warning():
    assert parse_server_name("[2001:DB8::A]")[1] == []


@pytest.mark.parametrize(("length", "warns"), [(230, False), (231, True), (255, True)])
def test_long_names_warn_over_230_characters(length, warns):
    name = ("a" * 62 + ".") * 4
    name = name[: length - 1] + "b"
    parsed, warnings = parse_server_name(name)
    assert str(parsed) == name
    assert len(warnings) == (1 if warns else 0)
    if warns:
        assert str(length) in warnings[0] and "230" in warnings[0]


@pytest.mark.parametrize(
    ("text", "a_label"),
    [
        ("b\u00fccher.com", "xn--bcher-kva.com"),
        ("b\u00fccher.com:8448", "xn--bcher-kva.com:8448"),
        ("\u4f8b\u3048.\u30c6\u30b9\u30c8", "xn--r8jz45g.xn--zckzah"),
        ("m\u00fcnchen\u3002example", "xn--mnchen-3ya.example"),
    ],
)
def test_unicode_names_become_a_labels_with_a_warning(text, a_label):
    parsed, warnings = parse_server_name(text)
    assert str(parsed) == a_label
    assert len(warnings) == 1
    assert text in warnings[0] and a_label.split(":")[0] in warnings[0]


def test_unicode_is_refused_when_not_allowed():
    with pytest.raises(ServerNameError, match="'\u00fc'"):
        parse_server_name("b\u00fccher.com", allow_unicode=False)


@pytest.mark.parametrize("text", ["a" * 64 + "\u00fc.com", "\u00fc..com", "\u00fc" + ".a" * 200])
def test_unicode_names_that_idna_cannot_encode_are_errors(text):
    with pytest.raises(ServerNameError):
        parse_server_name(text)


# -- parse_host (no port) --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "host", "kind"),
    [("matrix.org", "matrix.org", "dns"), ("1.2.3.4", "1.2.3.4", "ipv4"), ("[::1]", "::1", "ipv6")],
)
def test_parse_host(text, host, kind):
    assert parse_host(text) == (host, kind, [])


@pytest.mark.parametrize("text", ["matrix.org:8448", "::1", "[::1", "", "a b", "matrix.org."])
def test_parse_host_rejects(text):
    with pytest.raises(ServerNameError):
        parse_host(text)


# -- properties ----------------------------------------------------------------------------------------
SPECIAL_CHARS = "abcXYZ0189.-:[]_/ %@#?\u00fc\u00df\u3002\uff0e\u200b\u0000\ud800"
TOKENS = st.sampled_from([*SPECIAL_CHARS, "xn--", "::", "]:", "[::1]", "1.2.3.4", "65536", "a" * 63])
ANY_TEXT = st.one_of(st.text(), st.text(SPECIAL_CHARS, max_size=40), st.lists(TOKENS, max_size=20).map("".join))
ANY_OBJECT = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.binary(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.tuples(st.text(max_size=5)),
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, ANY_OBJECT))
def test_property_parser_raises_nothing_but_server_name_error(value):
    outcome = _parsed_or_error(value)
    if isinstance(outcome, ServerNameError):
        assert str(outcome)
        return
    parsed, warnings = outcome
    assert isinstance(parsed, ServerName)
    assert all(isinstance(warning, str) for warning in warnings)
    # whatever it accepted, it accepts again in its normalised form, as it is
    assert parse_server_name(str(parsed))[0] == parsed


def _parsed_or_error(value):
    try:
        return parse_server_name(value)
    except ServerNameError as exc:
        return exc


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, ANY_OBJECT), st.booleans())
def test_property_parse_host_raises_nothing_but_server_name_error(value, allow_unicode):
    if not isinstance(value, str):
        return
    with contextlib.suppress(ServerNameError):
        parse_host(value, allow_unicode=allow_unicode)


LABEL = st.from_regex(re.compile(r"[A-Za-z0-9-]{1,20}", re.ASCII), fullmatch=True)
DNS_NAME = st.lists(LABEL, min_size=1, max_size=12).map(".".join).filter(lambda name: len(name) <= 255)
PORT = st.one_of(st.none(), st.integers(1, 65535).map(str))


def _is_bad_ipv4(name: str) -> bool:
    if not re.fullmatch(r"[0-9]+(\.[0-9]+){3}", name):
        return False
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return True
    return False


@st.composite
def ascii_server_names(draw):
    kind = draw(st.sampled_from(["dns", "ipv4", "ipv6"]))
    if kind == "dns":
        host = draw(DNS_NAME)
        assume(not _is_bad_ipv4(host))  # 999.1.1.1 matches dns-name but is refused as an IPv4 literal
        text = host
    elif kind == "ipv4":
        host = text = str(draw(st.ip_addresses(v=4)))
    else:
        host = str(draw(st.ip_addresses(v=6)))
        if draw(st.booleans()):
            host = host.upper()
        text = f"[{host}]"
    port = draw(PORT)
    return (text if port is None else f"{text}:{port}"), host, port


@settings(max_examples=300, deadline=None)
@given(ascii_server_names())
def test_property_valid_ascii_names_round_trip(case):
    text, host, port = case
    parsed, _warnings = parse_server_name(text)
    assert str(parsed) == text
    assert parsed.host == host
    assert parsed.port == (None if port is None else int(port))


@settings(max_examples=300, deadline=None)
@given(DNS_NAME.filter(lambda name: name != name.lower() and not _is_bad_ipv4(name)), PORT)
def test_property_upper_case_warns_not_fails(host, port):
    text = host if port is None else f"{host}:{port}"
    parsed, warnings = parse_server_name(text)
    assert str(parsed) == text
    assert any("upper-case" in warning for warning in warnings)


@settings(max_examples=300, deadline=None)
@given(st.integers(231, 255), st.sampled_from("abz09-"), st.integers(1, 60))
def test_property_long_names_warn_not_fail(length, char, label_length):
    label = "a" + char * (label_length - 1)
    host = ".".join([label] * (length // (label_length + 1) + 1))[:length].rstrip(".")
    host = host + "a" * (length - len(host))
    assume(".." not in host)
    parsed, warnings = parse_server_name(host)
    assert len(host) == length
    assert str(parsed) == host
    assert any("230" in warning for warning in warnings)

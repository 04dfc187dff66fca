# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fuzz targets: the nginx -T reader and the TLS material checks.

Properties: any text gives server blocks or NginxConfigError (never another exception); a
directive tree written out as nginx text reads back the same; any listen value gives sockets or
NginxConfigError; any certificate and key text gives a report, never an exception, and never a
message that quotes the key.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.matrixops.delegation.plugins.module_utils._nginx_config import (
    Directive,
    NginxConfigError,
    parse_config,
    parse_listen,
    server_blocks,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._tls_material import check_material

NGINX_CHARS = st.sampled_from(list("server listen_name{};#\"'\\$ \t\n:[]*.~^0123456789http") + ["\r", "é"])


@given(st.text(NGINX_CHARS, max_size=300))
def test_any_text_gives_blocks_or_the_readers_error(text):
    dump = f"# configuration file /etc/nginx/nginx.conf:\nhttp {{\n{text}\n}}\n"
    try:
        blocks = server_blocks(dump)
    except NginxConfigError as exc:
        assert str(exc).startswith("/etc/nginx/nginx.conf")
    else:
        assert all(block.file == "/etc/nginx/nginx.conf" for block in blocks)


def _render(directives, depth=0):
    out = []
    for directive in directives:
        head = "  " * depth + directive.text()
        if directive.block is None:
            out.append(head + ";")
        else:
            out.append(head + " {")
            out.extend(_render(directive.block, depth + 1))
            out.append("  " * depth + "}")
    return out


def _strip(directives):
    return [(d.name, d.args, None if d.block is None else _strip(d.block)) for d in directives]


NAMES = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
ARGS = st.lists(st.text(max_size=12).filter(lambda arg: "\x00" not in arg), max_size=3)
TREES = st.recursive(
    st.lists(st.builds(lambda n, a: Directive(n, tuple(a), "/f", 1), NAMES, ARGS), max_size=3),
    lambda inner: st.lists(
        st.builds(lambda n, a, b: Directive(n, tuple(a), "/f", 1, tuple(b)), NAMES, ARGS, inner), max_size=3
    ),
    max_leaves=12,
)


@given(TREES)
def test_a_written_tree_reads_back_the_same(tree):
    text = "\n".join(_render(tree)) + "\n"
    assert _strip(parse_config(text, "/f")) == _strip(tree), text


@given(st.text(max_size=40), st.lists(st.text(max_size=10), max_size=3))
def test_any_listen_gives_sockets_or_the_readers_error(value, flags):
    try:
        sockets = parse_listen(value, flags)
    except NginxConfigError:
        return
    assert sockets and all(s.family in ("ipv4", "ipv6", "unix", "name") for s in sockets)


KEYISH = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    st.builds(
        lambda body: f"-----BEGIN PRIVATE KEY-----\nSECRET{body}\n-----END PRIVATE KEY-----\n", st.text(max_size=80)
    ),
    st.builds(lambda body: f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n", st.text(max_size=80)),
)


@given(KEYISH, KEYISH, st.lists(st.text(max_size=20), max_size=3), st.integers(-5, 400))
def test_any_material_gives_a_report_and_never_quotes_the_key(cert, key, names, warn_days):
    report = check_material(cert, key, names, warn_days, certificate_source="C", key_source="K")
    assert set(report) == {"problems", "warnings", "not_after", "days_left", "names"}
    assert report["problems"], "nothing here is a usable certificate"
    assert not any("SECRET" in message for message in report["problems"] + report["warnings"])

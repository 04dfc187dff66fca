# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reverse_proxy role's Synapse listener merge and the foreign conf.d check."""

from __future__ import annotations

import pytest

from ansible_collections.matrixops.delegation.plugins.module_utils._synapse_listeners import (
    foreign_listener_problems,
    load_yaml,
    merge_listeners,
)

# Debian's matrix-synapse package (homeserver.yaml as shipped), plus a tag, a request id header,
# http_options and a metrics listener, as an operator would have them.
DEBIAN_MAIN = """
server_name: example.com
listeners:
  - port: 8008
    tls: false
    type: http
    x_forwarded: true
    bind_addresses: ['::1', '127.0.0.1']
    tag: main
    request_id_header: X-Request-ID
    http_options: {max_body_size: 1}
    resources:
      - names: [client, federation, consent]
        compress: true
  - port: 9000
    type: metrics
    bind_addresses: ['127.0.0.1']
macaroon_secret_key: "secret"
"""

FRAGMENT = "/etc/matrix-synapse/conf.d/matrixops-reverse-proxy.yaml"
MAIN = "/etc/matrix-synapse/homeserver.yaml"


def test_debian_listener_is_kept_with_every_key():
    listeners = merge_listeners(load_yaml(DEBIAN_MAIN), host="127.0.0.1", port=8008)
    assert listeners == [
        {
            "port": 8008,
            "tls": False,
            "type": "http",
            "x_forwarded": True,
            "bind_addresses": ["::1", "127.0.0.1"],
            "tag": "main",
            "request_id_header": "X-Request-ID",
            "http_options": {"max_body_size": 1},
            "resources": [{"names": ["client", "federation", "consent"], "compress": True}],
        },
        {"port": 9000, "type": "metrics", "bind_addresses": ["127.0.0.1"]},
    ]


def test_missing_needs_are_merged_and_compress_left_alone():
    main = {
        "listeners": [
            {
                "port": 8008,
                "type": "http",
                "tls": True,
                "bind_addresses": ["::1"],
                "resources": [{"names": ["client"]}],
            },
            {"port": 8448, "type": "http", "tls": True, "resources": [{"names": ["federation"]}]},
        ]
    }
    listeners = merge_listeners(main, host="127.0.0.1", port=8008)
    proxied = listeners[0]
    assert proxied["tls"] is False
    assert proxied["x_forwarded"] is True
    assert proxied["type"] == "http"
    # ::1 does not accept connections to 127.0.0.1: the upstream host is added, ::1 kept.
    assert proxied["bind_addresses"] == ["::1", "127.0.0.1"]
    assert proxied["resources"] == [{"names": ["client", "federation"]}]
    assert "compress" not in proxied["resources"][0]
    assert listeners[1] == main["listeners"][1]
    # The input is not changed.
    assert main["listeners"][0]["tls"] is True


@pytest.mark.parametrize(
    ("addresses", "host", "expected"),
    [
        (None, "127.0.0.1", None),
        (["0.0.0.0"], "127.0.0.1", ["0.0.0.0"]),
        (["::"], "127.0.0.1", ["::"]),
        (["0.0.0.0"], "::1", ["0.0.0.0", "::1"]),
        (["::1"], "::1", ["::1"]),
        (["0:0:0:0:0:0:0:1"], "::1", ["0:0:0:0:0:0:0:1"]),
    ],
)
def test_bind_addresses_cover_the_upstream_host(addresses, host, expected):
    listener = {"port": 8008, "type": "http", "resources": [{"names": ["client", "federation"]}]}
    if addresses is not None:
        listener["bind_addresses"] = addresses
    (merged,) = merge_listeners({"listeners": [listener]}, host=host, port=8008)
    assert merged.get("bind_addresses") == expected


def test_legacy_bind_address_is_kept_or_widened():
    (kept,) = merge_listeners({"listeners": [{"port": 8008, "bind_address": "127.0.0.1"}]}, host="127.0.0.1", port=8008)
    assert kept["bind_address"] == "127.0.0.1"
    assert "bind_addresses" not in kept
    (widened,) = merge_listeners(
        {"listeners": [{"port": 8008, "bind_address": "10.0.0.5"}]}, host="127.0.0.1", port=8008
    )
    assert widened["bind_addresses"] == ["10.0.0.5", "127.0.0.1"]
    assert "bind_address" not in widened


def test_no_listener_on_the_port_adds_one_bound_to_the_upstream_host():
    main = {"listeners": [{"port": 9000, "type": "metrics"}, {"path": "/run/synapse.sock", "type": "http"}]}
    listeners = merge_listeners(main, host="::1", port=8008)
    assert listeners[:2] == main["listeners"]
    assert listeners[2] == {
        "port": 8008,
        "bind_addresses": ["::1"],
        "type": "http",
        "tls": False,
        "x_forwarded": True,
        "resources": [{"names": ["client", "federation"], "compress": False}],
    }


@pytest.mark.parametrize("main", [None, {}, {"listeners": None}, {"listeners": []}])
def test_no_listeners_at_all(main):
    assert merge_listeners(main, host="127.0.0.1", port=8008) == [
        {
            "port": 8008,
            "bind_addresses": ["127.0.0.1"],
            "type": "http",
            "tls": False,
            "x_forwarded": True,
            "resources": [{"names": ["client", "federation"], "compress": False}],
        }
    ]


def test_the_listener_covering_the_host_is_chosen_among_several_on_the_port():
    main = {
        "listeners": [
            {"port": 8008, "bind_addresses": ["10.0.0.5"], "type": "http", "resources": [{"names": ["client"]}]},
            {"port": 8008, "bind_addresses": ["127.0.0.1"], "type": "http", "resources": [{"names": ["client"]}]},
        ]
    }
    listeners = merge_listeners(main, host="127.0.0.1", port=8008)
    assert listeners[0] == main["listeners"][0]
    assert listeners[1]["x_forwarded"] is True
    assert listeners[1]["resources"] == [{"names": ["client", "federation"]}]


def test_port_given_as_string_in_the_main_file():
    (merged,) = merge_listeners({"listeners": [{"port": "8008", "tag": "t"}]}, host="127.0.0.1", port=8008)
    assert merged["tag"] == "t"
    assert merged["x_forwarded"] is True


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([], "must be a YAML mapping, got list"),
        ({"listeners": {"port": 8008}}, "'listeners' must be a list, got dict"),
        ({"listeners": ["8008"]}, r"listeners\[0\] must be a mapping, got str"),
        ({"listeners": [{"port": 8008, "bind_addresses": "127.0.0.1"}]}, "bind_addresses of the listener on port 8008"),
    ],
)
def test_bad_shapes(config, message):
    with pytest.raises(ValueError, match=message):
        merge_listeners(config, host="127.0.0.1", port=8008)


def test_bad_yaml_names_the_position_not_the_line():
    with pytest.raises(ValueError, match=r"not valid YAML .*line 3, column") as raised:
        load_yaml("a: 1\nmacaroon_secret_key: 'secret\n  b: [")
    assert "secret" not in str(raised.value)


def test_foreign_listener_files_are_named():
    files = [
        {"path": FRAGMENT, "content": "listeners: []\n"},
        {"path": "/etc/matrix-synapse/conf.d/workers.yaml", "content": "listeners:\n  - port: 8083\n"},
        {"path": "/etc/matrix-synapse/conf.d/server_name.yaml", "content": "server_name: example.com\n"},
        {"path": "/etc/matrix-synapse/conf.d/empty.yaml", "content": ""},
        {"path": "/etc/matrix-synapse/conf.d/broken.yaml", "content": "a: [\n"},
    ]
    problems = foreign_listener_problems(files, fragment=FRAGMENT, main_config=MAIN)
    assert len(problems) == 2
    assert problems[0].startswith("/etc/matrix-synapse/conf.d/workers.yaml sets a top-level 'listeners'")
    assert MAIN in problems[0]
    assert "reverse_proxy_synapse_config_dir: ''" in problems[0]
    assert problems[1].startswith("Synapse's config file /etc/matrix-synapse/conf.d/broken.yaml: it is not valid YAML")


def test_no_foreign_listener_files():
    assert (
        foreign_listener_problems([{"path": FRAGMENT, "content": "listeners: []"}], fragment=FRAGMENT, main_config=MAIN)
        == []
    )

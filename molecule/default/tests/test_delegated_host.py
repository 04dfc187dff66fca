# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The delegated host matrix.example.test (127.0.0.3) after the deploy playbook: the
reverse_proxy role's nginx server block and Synapse fragment, their permissions, and the
listeners of nginx, Synapse and the lab's knot DNS."""

from __future__ import annotations

import pytest
import yaml

testinfra_hosts = ["ansible://matrix_delegated_hosts"]

SITE = "/etc/nginx/conf.d/matrix-reverse-proxy-matrix.example.test.conf"


def test_server_block_listens_on_the_delegated_address_port_443_only(host):
    site = host.file(SITE)
    assert (site.user, site.group, site.mode) == ("root", "root", 0o644)
    text = site.content_string
    assert "listen 127.0.0.3:443 ssl;" in text
    assert ":8448" not in text
    assert "server_name matrix.example.test;" in text
    assert "proxy_pass http://127.0.0.1:8008;" in text


def test_certificate_paths_used_and_no_key_copied(host, lab_dir):
    text = host.file(SITE).content_string
    assert f"ssl_certificate {lab_dir}/certs/matrix.example.test.pem;" in text
    assert f"ssl_certificate_key {lab_dir}/certs/matrix.example.test.key;" in text
    assert not host.file("/etc/nginx/tls/matrix-reverse-proxy-matrix.example.test.key").exists


def test_synapse_fragment_puts_the_http_listener_behind_the_proxy(host, lab_dir):
    fragment = host.file(f"{lab_dir}/synapse/conf.d/matrixops-reverse-proxy.yaml")
    assert (fragment.user, fragment.mode) == ("root", 0o644)
    config = yaml.safe_load(fragment.content_string)
    assert config["no_tls"] is True
    listener = config["listeners"][0]
    assert (listener["port"], listener["bind_addresses"], listener["tls"], listener["x_forwarded"]) == (
        8008,
        ["127.0.0.1"],
        False,
        True,
    )
    assert sorted(listener["resources"][0]["names"]) == ["client", "federation"]


def test_synapse_runs_behind_its_init_script(host):
    assert host.run("/etc/init.d/matrixops-demo-synapse status").rc == 0


@pytest.mark.parametrize(
    "spec",
    [
        "tcp://127.0.0.3:443",  # nginx: client and federation (matrix.example.test:443)
        "tcp://127.0.0.1:8008",  # Synapse, plain HTTP behind the proxy
        "tcp://127.0.0.1:5353",  # the lab's knot DNS
    ],
)
def test_listening(host, spec):
    assert host.socket(spec).is_listening


@pytest.mark.parametrize(
    "spec",
    [
        "tcp://127.0.0.3:8448",  # federation is delegated to port 443, not the default port
        "tcp://127.0.0.1:8448",  # no_tls: Synapse has no TLS listener of its own
        "tcp://0.0.0.0:8008",
        "tcp://0.0.0.0:8448",
    ],
)
def test_not_listening(host, spec):
    assert not host.socket(spec).is_listening

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The server-name host example.test (127.0.0.2) after the deploy playbook: the well_known role's
files, their permissions, and nginx listening on 127.0.0.2:443 only."""

from __future__ import annotations

import well_known_files

testinfra_hosts = ["ansible://matrix_server_name_hosts"]

EXPECTED_DOCUMENTS = {
    "server": {"m.server": "matrix.example.test:443"},
    "client": {"m.homeserver": {"base_url": "https://matrix.example.test"}},
    "support": {
        "contacts": [
            {"role": "m.role.admin", "matrix_id": "@admin:example.test", "email_address": "admin@example.test"}
        ]
    },
}


# Each document's file holds it, owned by root:root, mode 0644 (as the well_known scenarios check).
test_well_known_file_holds_the_deployed_document, test_well_known_file_is_world_readable_and_owned_by_root = (
    well_known_files.document_file_tests(EXPECTED_DOCUMENTS)
)


def test_server_block_listens_on_the_server_name_address_only(host):
    site = host.file("/etc/nginx/conf.d/matrix-well-known-example.test.conf")
    assert (site.user, site.group, site.mode) == ("root", "root", 0o644)
    assert "listen 127.0.0.2:443 ssl;" in site.content_string
    assert "listen 443" not in site.content_string
    assert "server_name example.test;" in site.content_string


def test_private_key_written_from_content_is_private(host):
    key = host.file("/etc/nginx/matrix-well-known/example.test.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)
    certificate = host.file("/etc/nginx/matrix-well-known/example.test.pem")
    assert (certificate.user, certificate.mode) == ("root", 0o644)
    assert "BEGIN CERTIFICATE" in certificate.content_string


def test_nginx_runs_with_a_valid_configuration(host):
    assert host.service("nginx").is_running
    assert host.run("nginx -t").rc == 0


def test_https_listener_on_127_0_0_2(host):
    assert host.socket("tcp://127.0.0.2:443").is_listening


def test_no_wildcard_listener(host):
    for spec in ("tcp://0.0.0.0:443", "tcp://:::443", "tcp://0.0.0.0:80", "tcp://:::80"):
        assert not host.socket(spec).is_listening, spec

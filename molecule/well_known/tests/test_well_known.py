# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest-testinfra tests of the well_known role: files, modes, owners, the nginx service.

Run by the scenarios' verify.yml (tasks/testinfra.yml) against the molecule inventory. The mode
the role ran in last is WELL_KNOWN_EXPECTED_MODE; the scenario's vars/main.yml (WELL_KNOWN_VARS_FILE)
holds the expected documents and paths.
"""

from __future__ import annotations

import os
from pathlib import Path

import well_known_files
import yaml

MODE = os.environ["WELL_KNOWN_EXPECTED_MODE"]
VARS = yaml.safe_load(Path(os.environ["WELL_KNOWN_VARS_FILE"]).read_text())
SERVER_NAME = VARS["well_known_server_name"]
SITE = f"/etc/nginx/conf.d/matrix-well-known-{SERVER_NAME}.conf"
SNIPPET = f"/etc/nginx/snippets/matrix-well-known-{SERVER_NAME}.conf"
TLS_CERTIFICATE = f"/etc/nginx/matrix-well-known/{SERVER_NAME}.pem"
TLS_KEY = f"/etc/nginx/matrix-well-known/{SERVER_NAME}.key"
WEBROOT = well_known_files.WEBROOT.format(server_name=SERVER_NAME)
RELEASES = f"{WEBROOT}/.well-known/.matrixops-releases"
#: The file names of version 0.1.0, which the role replaces.
LEGACY = (
    "/etc/nginx/conf.d/matrix-well-known.conf",
    "/etc/nginx/snippets/matrix-well-known.conf",
    "/etc/nginx/matrix-well-known/fullchain.pem",
    "/etc/nginx/matrix-well-known/privkey.pem",
    "/var/www/matrix-well-known/.well-known/matrix",
)
EXPECTED = VARS["expected_documents"]


def _file_of_mode(host, path: str, mode: str) -> str | None:
    """The text of the role's file at ``path`` when the role ran in ``mode`` last (the file is
    owned by root, mode 0644), else None (the file is absent)."""
    managed = host.file(path)
    if mode != MODE:
        assert not managed.exists
        return None
    assert (managed.user, managed.mode) == ("root", 0o644)
    return managed.content_string


# Each document's file holds it, owned by root:root, mode 0644 (the default scenario checks the same).
test_json_file_holds_the_document, test_json_file_is_world_readable_and_owned_by_root = (
    well_known_files.document_file_tests(EXPECTED)
)


def test_json_files_not_configured_are_absent(host):
    present = [
        name for name in ("server", "client", "support") if host.file(f"{well_known_files.DOCUMENTS_DIR}/{name}").exists
    ]
    assert present == [name for name in ("server", "client", "support") if name in EXPECTED]


def test_documents_are_one_release_behind_a_symlink(host):
    link = host.file(well_known_files.DOCUMENTS_DIR)
    assert link.is_symlink
    release = link.linked_to
    assert release.startswith(f"{RELEASES}/")
    assert host.file(f"{release}/.matrixops-release").exists
    # Older releases are removed after a successful change: only the current one remains.
    assert host.run(f"ls -A {RELEASES}").stdout.split() == [release.rsplit("/", 1)[1]]


def test_no_temporary_or_backup_file_remains(host):
    directories = ["/etc/nginx/conf.d", "/etc/nginx/snippets", "/etc/nginx/matrix-well-known", f"{WEBROOT}/.well-known"]
    found = host.run(f"find {' '.join(directories)} -name '*.tmp' -o -name '*.bak'").stdout.split()
    assert found == []


def test_files_of_version_0_1_0_are_gone(host):
    assert [path for path in LEGACY if host.file(path).exists] == []


def test_nginx_serves_the_name_once(host):
    result = host.run("nginx -t")
    assert f'conflicting server name "{SERVER_NAME}"' not in result.stderr


def test_nginx_mode_server_block_only_in_nginx_mode(host):
    text = _file_of_mode(host, SITE, "nginx")
    if text is None:
        return
    for address in VARS["well_known_bind_addresses"]:
        assert f"listen {address}:443 ssl;" in text
    assert "listen 443 ssl;" not in text, "bind addresses are set, so no wildcard listen"
    assert f"server_name {SERVER_NAME};" in text
    # The documents are aliased from the release directory, so they switch with the reload.
    release = host.file(well_known_files.DOCUMENTS_DIR).linked_to
    for name in EXPECTED:
        assert f"alias {release}/{name};" in text


def test_snippet_only_in_nginx_snippet_mode(host):
    text = _file_of_mode(host, SNIPPET, "nginx_snippet")
    if text is None:
        return
    directives = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert not [line for line in directives if line.startswith("server")], "a snippet holds location blocks only"
    release = host.file(well_known_files.DOCUMENTS_DIR).linked_to
    for name in EXPECTED:
        assert f"location = /.well-known/matrix/{name} {{" in text
        assert f"alias {release}/{name};" in text


def test_tls_files_written_from_content_only_in_nginx_mode(host):
    written = VARS.get("well_known_tls_certificate_content")
    if MODE != "nginx" or not written:
        assert not host.file(TLS_CERTIFICATE).exists
        assert not host.file(TLS_KEY).exists
        return
    key = host.file(TLS_KEY)
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)
    assert "PRIVATE KEY" in key.content_string
    certificate = host.file(TLS_CERTIFICATE)
    assert (certificate.user, certificate.mode) == ("root", 0o644)
    assert "BEGIN CERTIFICATE" in certificate.content_string


def test_nginx_is_installed(host):
    assert host.package("nginx").is_installed


def test_nginx_runs_with_a_valid_configuration(host):
    assert host.file("/run/nginx.pid").exists
    assert host.service("nginx").is_running
    assert host.run("nginx -t").rc == 0


def test_nginx_is_enabled_in_nginx_mode(host):
    if MODE == "nginx":
        assert host.service("nginx").is_enabled


def test_https_listener_on_the_bind_addresses_only_in_nginx_mode(host):
    """The nginx mode listens on each bind address; the other modes leave listening to the
    operator's site: no server block of the role's own, so nothing of it listens there."""
    if MODE == "nginx":
        for address in VARS["well_known_bind_addresses"]:
            assert host.socket(f"tcp://{address}:443").is_listening
    else:
        assert not host.file(SITE).exists
        snippet = host.file(SNIPPET)
        assert not snippet.exists or "listen" not in snippet.content_string


def test_no_wildcard_https_listener(host):
    assert not host.socket("tcp://0.0.0.0:443").is_listening
    assert not host.socket("tcp://:::443").is_listening

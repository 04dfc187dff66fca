# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The well_known role's document files as the testinfra tests check them, in the scenarios
``well_known`` and ``well_known_modes`` (well_known/tests/test_well_known.py) and on the
server-name host of ``default`` (default/tests/test_server_name_host.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

#: The role's default webroot of a server name.
WEBROOT = "/var/www/matrix-well-known/{server_name}"

#: Where the role serves the documents of example.test from (its default webroot's .well-known/matrix,
#: a symlink to the current release directory under .well-known/.matrixops-releases).
DOCUMENTS_DIR = WEBROOT.format(server_name="example.test") + "/.well-known/matrix"


def document_file_tests(expected: Mapping[str, Any]) -> tuple[Callable[..., None], Callable[..., None]]:
    """Two tests, each run for every name of ``expected`` (document name -> its JSON data):
    the file holds that document; it is owned by root:root with mode 0644.

    A test module binds them to names starting with ``test_``, and pytest collects them there
    (on the module's hosts, ``testinfra_hosts``).
    """

    @pytest.mark.parametrize("name", sorted(expected))
    def holds_the_document(host, name: str) -> None:
        document = host.file(f"{DOCUMENTS_DIR}/{name}")
        assert document.is_file
        assert json.loads(document.content_string) == expected[name]

    @pytest.mark.parametrize("name", sorted(expected))
    def is_world_readable_and_owned_by_root(host, name: str) -> None:
        document = host.file(f"{DOCUMENTS_DIR}/{name}")
        assert (document.user, document.group, document.mode) == ("root", "root", 0o644)

    return holds_the_document, is_world_readable_and_owned_by_root

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``release_id``: the directory name ``config_files`` gives a ``release`` (documentation: release_id.yml).

The same function as the module's (module_utils ``_transaction.release_id``), so a template can
name the release directory before the module runs, for example in an nginx ``alias``.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.matrixops.delegation.plugins.module_utils._transaction import release_id as _release_id


def release_id(files: Any) -> str:
    """The first 16 hex digits of sha256 over the sorted (path, mode, content) of ``files``."""
    if not isinstance(files, list) or not all(isinstance(item, dict) and "path" in item for item in files):
        raise AnsibleFilterError("release_id: expects the list of release files, each a dict with path and content")
    try:
        return _release_id(files)
    except ValueError as exc:
        raise AnsibleFilterError(f"release_id: a mode is not an octal string like '0644' ({exc})") from exc


class FilterModule:
    """The release id filter."""

    def filters(self) -> dict:
        return {"release_id": release_id}

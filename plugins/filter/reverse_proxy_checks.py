# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters behind the ``matrixops.delegation.reverse_proxy`` role: thin wrappers around the
private module_utils ``_reverse_proxy_settings`` (input checks, upstream URL) and
``_synapse_listeners`` (Synapse's listeners), which hold the logic and its unit tests.
Documented in the ``reverse_proxy_*.yml`` files beside this one.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.matrixops.delegation.plugins.module_utils._reverse_proxy_settings import (
    parse_upstream,
    settings_problems,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._synapse_listeners import (
    foreign_listener_problems,
    load_yaml,
    merge_listeners,
)


def reverse_proxy_upstream(url: object) -> dict[str, Any]:
    try:
        return parse_upstream(url)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def reverse_proxy_settings_problems(settings: object) -> list[str]:
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError(f"reverse_proxy_settings_problems expects a dict, got {type(settings).__name__}")
    return settings_problems(settings)


def reverse_proxy_synapse_listeners(
    main_config: object, host: str, port: int, source: str = "Synapse's main config"
) -> list[dict[str, Any]]:
    try:
        config = load_yaml(main_config) if isinstance(main_config, str) else main_config
        return merge_listeners(config, host=host, port=int(port))
    except ValueError as exc:
        raise AnsibleFilterError(
            f"cannot take the listeners from {source}: {exc}; fix that file (Synapse cannot start with it either)"
        ) from None


def reverse_proxy_foreign_listeners(files: object, fragment: str, main_config: str) -> list[str]:
    if not isinstance(files, list) or not all(isinstance(entry, Mapping) for entry in files):
        raise AnsibleFilterError("reverse_proxy_foreign_listeners expects a list of {path, content} dicts")
    texts = []
    for entry in files:
        content = entry.get("content", "")
        if entry.get("encoding") == "base64":  # ansible.builtin.slurp's result
            try:
                content = base64.b64decode(str(content)).decode("utf-8", errors="replace")
            except ValueError as exc:
                raise AnsibleFilterError(f"reverse_proxy_foreign_listeners: bad base64 content: {exc}") from None
        texts.append({"path": entry.get("path") or entry.get("source") or "", "content": content})
    return foreign_listener_problems(texts, fragment=fragment, main_config=main_config)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "reverse_proxy_settings_problems": reverse_proxy_settings_problems,
            "reverse_proxy_upstream": reverse_proxy_upstream,
            "reverse_proxy_synapse_listeners": reverse_proxy_synapse_listeners,
            "reverse_proxy_foreign_listeners": reverse_proxy_foreign_listeners,
        }

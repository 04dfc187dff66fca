# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Synapse's ``listeners`` behind the ``reverse_proxy`` role: the merged list of its conf.d
fragment, and the other conf.d files that would fight over the same top-level key.

Private module: not part of the collection's public API. Pure functions (no host access); the
role reads the files and passes their text in. Synapse merges its config files key by key (a
later file's top-level key replaces the earlier one's), so a fragment that sets ``listeners``
replaces the main file's whole list: the fragment must therefore hold every listener of the main
file, with the proxy's needs merged into the one on the upstream's port.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

try:
    import yaml
except ImportError as exc:  # pragma: no cover - PyYAML comes with ansible-core on the controller
    YAML_IMPORT_ERROR: ImportError | None = exc
else:
    YAML_IMPORT_ERROR = None

__all__ = ["LISTENER_RESOURCES", "foreign_listener_problems", "load_yaml", "merge_listeners"]

#: The resources the HTTP listener behind the proxy serves (Synapse's reverse-proxy docs).
LISTENER_RESOURCES = ("client", "federation")


def load_yaml(text: str) -> Any:
    """Parse YAML; ValueError names only the position (the files hold secrets, and a YAML error
    quotes the line)."""
    if YAML_IMPORT_ERROR is not None:
        raise ValueError(f"the Python library PyYAML is needed to read it: {YAML_IMPORT_ERROR}")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ValueError(f"it is not valid YAML ({problem}{where})") from None


def _listeners_of(config: object) -> list[Mapping[str, Any]]:
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise ValueError(f"it must be a YAML mapping, got {type(config).__name__}")
    listeners = config.get("listeners") or []
    if not isinstance(listeners, list):
        raise ValueError(f"its 'listeners' must be a list, got {type(listeners).__name__}")
    for index, listener in enumerate(listeners):
        if not isinstance(listener, Mapping):
            raise ValueError(f"listeners[{index}] must be a mapping, got {type(listener).__name__}")
    return listeners


def _bind_addresses(listener: Mapping[str, Any]) -> list[str] | None:
    """The listener's addresses; None when it sets none (Synapse then binds every address)."""
    addresses = listener.get("bind_addresses")
    if addresses is None and listener.get("bind_address"):
        addresses = [listener["bind_address"]]
    if addresses is None:
        return None
    if not isinstance(addresses, list):
        raise ValueError(f"bind_addresses of the listener on port {listener.get('port')} must be a list")
    return [str(address) for address in addresses]


def _covers(addresses: list[str] | None, host: str) -> bool:
    """Whether a listener bound to ``addresses`` accepts connections to ``host``."""
    if addresses is None:
        return True
    try:
        version = ipaddress.ip_address(host).version
    except ValueError:
        return host in addresses
    for address in addresses:
        if address == host or address == "::" or (address == "0.0.0.0" and version == 4):
            return True
        try:
            if ipaddress.ip_address(address) == ipaddress.ip_address(host):
                return True
        except ValueError:
            continue
    return False


def _on_port(listener: Mapping[str, Any], port: int) -> bool:
    return "path" not in listener and str(listener.get("port", "")) == str(port)


def _merged(listener: Mapping[str, Any], host: str) -> dict[str, Any]:
    """The operator's listener with what the proxy needs: plain HTTP, X-Forwarded-For trusted,
    the client and federation resources, reachable on ``host``. Every other key is kept
    (bind addresses, tag, request_id_header, http_options, compress, other resources)."""
    merged = copy.deepcopy(dict(listener))
    addresses = _bind_addresses(merged)
    if not _covers(addresses, host):
        merged.pop("bind_address", None)
        merged["bind_addresses"] = [*(addresses or []), host]
    merged["type"] = "http"
    merged["tls"] = False
    merged["x_forwarded"] = True
    resources = merged.get("resources")
    if not isinstance(resources, list):
        resources = []
    resources = [dict(resource) if isinstance(resource, Mapping) else resource for resource in resources]
    served = {name for resource in resources if isinstance(resource, dict) for name in (resource.get("names") or [])}
    missing = [name for name in LISTENER_RESOURCES if name not in served]
    if missing:
        first = next((resource for resource in resources if isinstance(resource, dict)), None)
        if first is None:
            resources.append({"names": missing})
        else:
            first["names"] = [*(first.get("names") or []), *missing]
    merged["resources"] = resources
    return merged


def merge_listeners(main_config: object, *, host: str, port: int) -> list[dict[str, Any]]:
    """The ``listeners`` of the fragment: every listener of the main config, in order, with the
    proxy's needs merged into the listener on ``port`` (the first one that accepts connections to
    ``host``, else the first one on that port, which then also binds ``host``); when no listener
    has that port, a new one bound to ``host`` is appended. Raises ValueError on a bad shape."""
    listeners = _listeners_of(main_config)
    candidates = [index for index, listener in enumerate(listeners) if _on_port(listener, port)]
    target = next(
        (index for index in candidates if _covers(_bind_addresses(listeners[index]), host)),
        candidates[0] if candidates else None,
    )
    result = [
        _merged(listener, host) if index == target else copy.deepcopy(dict(listener))
        for index, listener in enumerate(listeners)
    ]
    if target is None:
        result.append(
            {
                "port": int(port),
                "bind_addresses": [host],
                "type": "http",
                "tls": False,
                "x_forwarded": True,
                "resources": [{"names": list(LISTENER_RESOURCES), "compress": False}],
            }
        )
    return result


def foreign_listener_problems(files: Sequence[Mapping[str, Any]], *, fragment: str, main_config: str) -> list[str]:
    """One message per file of Synapse's config directory (``{path, content}``, the role's own
    fragment excluded by path) that sets a top-level ``listeners`` or cannot be parsed: Synapse
    merges top-level keys, so that file and the fragment would silently replace each other's
    list, whichever sorts last winning."""
    problems = []
    for entry in files:
        path = str(entry.get("path", ""))
        if path == fragment:
            continue
        try:
            config = load_yaml(str(entry.get("content", "")))
        except ValueError as exc:
            problems.append(f"Synapse's config file {path}: {exc}; fix it (Synapse cannot start with it either)")
            continue
        if isinstance(config, Mapping) and "listeners" in config:
            problems.append(
                f"{path} sets a top-level 'listeners' (expected: only {fragment}, the role's fragment, sets it in this "
                "directory). Synapse merges config files key by key, so one list would silently replace the other. "
                f"Move those listeners into {main_config} (the role keeps every listener of that file and merges the "
                f"proxy's into the one on the upstream's port) and remove 'listeners' from {path}; or set "
                "reverse_proxy_synapse_config_dir: '' and configure Synapse's listener for the proxy yourself"
            )
    return problems

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TLS filters shared by the roles: ``tls_problems`` (a certificate chain and its key, checked
before nginx is given them) and ``certbot_lineage`` (whether a certificate lives in a certbot
tree). Thin shells over ``module_utils/_tls_material.py``; documented in ``tls_problems.yml`` and
``certbot_lineage.yml`` beside this file.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.matrixops.delegation.plugins.module_utils._tls_material import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    check_material,
)


def _names(names: object) -> list[str]:
    if names is None:
        return []
    if isinstance(names, (str, bytes)):
        return [names.decode() if isinstance(names, bytes) else names]
    if isinstance(names, Mapping) or not isinstance(names, Iterable):
        raise AnsibleFilterError(f"tls_problems: names must be a list of host names; got {type(names).__name__}")
    return [str(name) for name in names]


def tls_problems(
    cert_pem: object,
    key_pem: object = None,
    names: object = None,
    warn_days: object = 30,
    certificate_source: str = "",
    key_source: str = "",
) -> dict[str, Any]:
    """``{problems, warnings, not_after, days_left, names}`` of a PEM chain and its key."""
    if not HAS_CRYPTOGRAPHY:
        raise AnsibleFilterError(
            f"tls_problems needs the Python library cryptography on the controller: {CRYPTOGRAPHY_IMPORT_ERROR}"
        )
    try:
        days = int(str(warn_days), 10)
    except ValueError:
        raise AnsibleFilterError(f"tls_problems: warn_days must be a whole number of days; got {warn_days!r}") from None
    return check_material(
        cert_pem if isinstance(cert_pem, (str, bytes)) else "" if cert_pem is None else str(cert_pem),
        key_pem if isinstance(key_pem, (str, bytes)) or key_pem is None else str(key_pem),
        names=_names(names),
        warn_days=days,
        certificate_source=str(certificate_source or "the certificate"),
        key_source=str(key_source or "the private key"),
    )


def certbot_lineage(path: object, config_dir: object = "/etc/letsencrypt") -> str:
    """The certbot lineage name of a certificate's real path, or ''."""
    if not isinstance(path, str) or not isinstance(config_dir, str):
        return ""
    path, config_dir = path.strip(), config_dir.strip()  # folded YAML scalars end with a space
    if not path.startswith("/") or not config_dir.startswith("/"):
        return ""
    base = posixpath.normpath(config_dir)
    parts = posixpath.normpath(path).split("/")
    base_parts = base.split("/") if base != "/" else [""]
    if parts[: len(base_parts)] != base_parts:
        return ""
    rest = parts[len(base_parts) :]
    if len(rest) != 3 or rest[0] not in ("archive", "live") or not rest[1] or not rest[2]:
        return ""
    return rest[1]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"tls_problems": tls_problems, "certbot_lineage": certbot_lineage}

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that check well-known values against the Matrix spec before anything is deployed.

``server_name_problem`` and ``support_problem`` return an empty string for a valid value and the
reason otherwise, so that a role can ``assert`` on them and name its own variable in the message.
Documentation: ``server_name_problem.yml`` and ``support_problem.yml`` beside this file.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.matrixops.delegation.plugins.module_utils._federation_checks import check_support_file
from ansible_collections.matrixops.delegation.plugins.module_utils._server_name import (
    ServerNameError,
    parse_server_name,
)

#: Contact roles the spec defines; others must be namespaced identifiers (``org.example.dpo``).
SPEC_ROLES = ("m.role.admin", "m.role.security")


def server_name_problem(value: Any, allow_port: bool = True, allow_ip_literal: bool = True) -> str:
    """Why ``value`` is not a valid server name (``hostname[:port]``), or ``''`` when it is.

    Only the ASCII form is accepted: a Unicode name gets its IDNA A-label form suggested.
    """
    if not isinstance(allow_port, bool) or not isinstance(allow_ip_literal, bool):
        raise AnsibleFilterError("server_name_problem: allow_port and allow_ip_literal must be booleans")
    if isinstance(value, str) and "://" in value:
        host = value.split("://", 1)[1].split("/", 1)[0]
        return f"'{value}' is a URL; a server name is hostname[:port] without scheme or path" + (
            f", like '{host}'" if host else ""
        )
    try:
        parsed, _warnings = parse_server_name(value, allow_unicode=False)
    except ServerNameError as exc:
        if isinstance(value, str) and not value.isascii():
            try:
                converted, _warnings = parse_server_name(value)
            except ServerNameError:
                return str(exc)
            return f"'{value}' is not ASCII; write its IDNA form '{converted}'"
        if isinstance(value, str) and "/" in value and "path" not in str(exc):
            return f"{exc} (a server name is hostname[:port], without a path)"
        return str(exc)
    if not allow_port and parsed.port is not None:
        return (
            f"'{value}' has a port; a server name with an explicit port is never delegated "
            "through /.well-known/matrix/server (homeservers connect to that port directly)"
        )
    if not allow_ip_literal and parsed.is_ip_literal:
        return (
            f"'{value}' is an IP address; homeservers connect to IP literal server names directly and "
            "never fetch /.well-known/matrix/server for them"
        )
    return ""


def _contact_problems(index: int, contact: dict) -> list[str]:
    where = f"contacts[{index}]"
    problems = []
    role = contact.get("role")
    if isinstance(role, str) and role and role not in SPEC_ROLES:
        if role.startswith("m."):
            problems.append(
                f"{where}: role '{role}' is not defined by the spec ({', '.join(SPEC_ROLES)}); "
                "other roles must be namespaced identifiers like 'org.example.dpo'"
            )
        elif "." not in role:
            problems.append(
                f"{where}: role '{role}' is neither {' nor '.join(SPEC_ROLES)} "
                "nor a namespaced identifier like 'org.example.dpo'"
            )
    matrix_id = contact.get("matrix_id")
    if matrix_id is not None:
        if not isinstance(matrix_id, str) or not matrix_id.startswith("@") or ":" not in matrix_id:
            problems.append(f"{where}: matrix_id must be a user ID like '@admin:example.com', got {matrix_id!r}")
        else:
            localpart, server_name = matrix_id[1:].split(":", 1)
            problem = server_name_problem(server_name)
            if not localpart:
                problems.append(f"{where}: matrix_id '{matrix_id}' has an empty localpart")
            elif problem:
                problems.append(f"{where}: matrix_id '{matrix_id}' has an invalid server name: {problem}")
    email = contact.get("email_address")
    if email is not None and not (isinstance(email, str) and "@" in email.strip("@")):
        problems.append(f"{where}: email_address must be an e-mail address, got {email!r}")
    return problems


def support_problem(value: Any) -> str:
    """Why ``value`` is not a valid ``/.well-known/matrix/support`` document, or ``''`` when it is."""
    problems = check_support_file(value)
    if isinstance(value, dict) and isinstance(value.get("contacts"), list):
        for index, contact in enumerate(value["contacts"]):
            if isinstance(contact, dict):
                problems.extend(_contact_problems(index, contact))
    return "; ".join(problems)


class FilterModule:
    """Well-known validation filters."""

    def filters(self) -> dict:
        return {
            "server_name_problem": server_name_problem,
            "support_problem": support_problem,
        }

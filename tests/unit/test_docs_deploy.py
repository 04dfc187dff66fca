# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The deploy playbook's interface, its documentation (docs/deploy.md) and the sample inventories
(docs/inventory.example.yml, the lab's tests/lab/demo/inventory.yml) say the same thing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "playbooks" / "deploy.yml"
DERIVED = ROOT / "playbooks" / "vars" / "delegation.yml"
DOC = ROOT / "docs" / "deploy.md"
INVENTORIES = {
    "sample": ROOT / "docs" / "inventory.example.yml",
    "lab": ROOT / "tests" / "lab" / "demo" / "inventory.yml",
}
GROUPS = ("matrix_server_name_hosts", "matrix_delegated_hosts")
ROLES = ("well_known", "reverse_proxy", "srv_records", "certificates")


def documented_shared_variables() -> set[str]:
    """The first column of the shared variables table of docs/deploy.md."""
    text = DOC.read_text().split("### Shared variables", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(matrix_[a-z_]+)` \|", text, flags=re.MULTILINE))


def role_variables_set_by_the_playbook() -> set[str]:
    names = set()
    for play in yaml.safe_load(DEPLOY.read_text()):
        for task in play.get("tasks", []):
            if "ansible.builtin.include_role" in task:
                names |= set(task.get("vars", {}))
    return names


def inventory_variables(inventory: dict) -> dict[str, set[str]]:
    """Variable names by where they are set: 'all' and each group (group and host vars)."""
    found = {"all": set(inventory["all"].get("vars") or {})}
    for host_vars in (inventory["all"].get("hosts") or {}).values():
        found["all"] |= set(host_vars or {})
    for group, body in (inventory["all"].get("children") or {}).items():
        names = set(body.get("vars") or {})
        for host_vars in (body.get("hosts") or {}).values():
            names |= set(host_vars or {})
        found[group] = names
    return found


def role_defaults(role: str) -> set[str]:
    path = ROOT / "roles" / role / "defaults" / "main.yml"
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return set(yaml.safe_load(path.read_text()) or {}) | set(specs["argument_specs"]["main"]["options"])


def test_the_documented_shared_variables_are_the_ones_the_playbooks_read():
    used = set(re.findall(r"\bmatrix_[a-z_]+\b", DERIVED.read_text() + DEPLOY.read_text()))
    used -= {"matrix_server_name_hosts", "matrix_delegated_hosts", "matrix_dns_hosts"}
    assert documented_shared_variables() == used


def test_the_playbook_header_names_every_shared_variable():
    header = "".join(line for line in DEPLOY.read_text().splitlines(keepends=True) if line.startswith("#"))
    assert {name for name in documented_shared_variables() if name not in header} == set()


def test_the_documented_role_variables_are_the_ones_the_playbook_sets():
    text = DOC.read_text().split("The playbook sets these role variables from them", 1)[1].split("Every other", 1)[0]
    documented = set(re.findall(r"`([a-z0-9_]+)`", text))
    set_by_playbook = role_variables_set_by_the_playbook()
    plain = {name for name in set_by_playbook if "_verify_" not in name}
    assert plain <= documented
    assert {name.split("_verify_")[1] for name in set_by_playbook if "_verify_" in name} == {
        "nameservers",
        "ca_path",
        "allow_private_addresses",
        "timeout",
    }


def test_the_role_variables_the_playbook_sets_exist():
    for name in role_variables_set_by_the_playbook():
        role = next(role for role in ROLES if name.startswith(role + "_"))
        if (ROOT / "roles" / role).exists():  # srv_records is optional
            assert name in role_defaults(role), name


@pytest.mark.parametrize("which", sorted(INVENTORIES))
def test_the_inventory_has_the_groups_and_the_required_variables(which):
    inventory = yaml.safe_load(INVENTORIES[which].read_text())
    variables = inventory_variables(inventory)
    assert {"matrix_server_name", "matrix_delegated_server"} <= variables["all"]
    for group in GROUPS:
        assert inventory["all"]["children"][group]["hosts"], group


@pytest.mark.parametrize("which", sorted(INVENTORIES))
def test_the_inventory_sets_only_known_variables(which):
    """Shared variables in `all`, existing role variables, never one the playbook overrides."""
    variables = inventory_variables(yaml.safe_load(INVENTORIES[which].read_text()))
    overridden = role_variables_set_by_the_playbook()
    for where, names in variables.items():
        for name in names:
            if name.startswith(("ansible_", "lab_")):
                continue
            if name.startswith("matrix_"):
                assert where == "all" and name in documented_shared_variables(), (where, name)
                continue
            role = next((role for role in ROLES if name.startswith(role + "_")), None)
            assert role, f"{which}: {name} is neither a shared nor a role variable"
            assert name in role_defaults(role), f"{which}: {name} is not a variable of the {role} role"
            assert name not in overridden, f"{which}: the deploy playbook sets {name} from the shared variables"


def test_the_sample_inventory_is_described_in_the_doc():
    assert "inventory.example.yml" in DOC.read_text()
    assert "docs/deploy.md" in INVENTORIES["sample"].read_text()

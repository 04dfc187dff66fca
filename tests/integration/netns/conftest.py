"""Fixtures of the IPv6 and dual-stack lab tests (tests/lab/netns.py): the lab, once per session,
and one ``ansible-playbook`` run from each vantage point (inside its namespace)."""

from __future__ import annotations

import netns
import pytest
from support.playbook import PlaybookRun, run_tasks

MODULE = "matrixops.delegation.federation_check"
LOOKUP = "matrixops.delegation.resolve"
TIMEOUT = 3
FLEET_SIZE = 50  # names f001 ... f050.fleet.test, for the verify playbook (test_verify_fleet.py)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory):
    with netns.running(tmp_path_factory.mktemp("netns-lab"), fleet_size=FLEET_SIZE) as lab:
        yield lab


def options(lab: netns.NetnsLab, nameserver: str) -> dict:
    return {
        "nameservers": [nameserver],
        "ca_path": str(lab.ca_path),
        "allow_private_addresses": True,
        "timeout": TIMEOUT,
    }


@pytest.fixture(scope="session")
def check_options(lab: netns.NetnsLab):
    """``check_options(nameserver)``: the module options that point a check at the lab.

    A fixture rather than an import: ``from conftest import`` finds whichever conftest module was
    imported last when several test directories run together.
    """
    return lambda nameserver: options(lab, nameserver)


#: case -> server name, checked from every vantage point
CHECKS = {
    "ipv6_only": "ipv6_only",
    "ipv6_only_well_known": "ipv6_only_well_known",
    "dual_stack": "dual_stack_broken_ipv6",
    "ipv4_only": "ipv4_only",
}


def vantage_run(lab: netns.NetnsLab, namespace: netns.Namespace, nameserver: str, workdir) -> PlaybookRun:
    """From ``namespace``: the lookup of the IPv6-only name, then federation_check of every name."""
    names = lab.info()["server_names"]
    opts = options(lab, nameserver)
    tasks: list[dict] = [
        {
            "name": "Resolve the IPv6-only name",
            "ansible.builtin.set_fact": {"resolved": f"{{{{ query('{LOOKUP}', names.ipv6_only, **opts) }}}}"},
            "ignore_errors": True,
            "register": "lookup_run",
        }
    ]
    for case, key in CHECKS.items():
        tasks.append(
            {
                "name": f"Check {case}",
                MODULE: {"server_name": names[key], **opts, "fail_on_error": False},
                "register": case,
            }
        )
    return run_tasks(
        tasks,
        workdir,
        registered=["resolved", "lookup_run", *CHECKS],
        play_vars={"names": names, "opts": opts},
        prefix=namespace.command(),
    )


@pytest.fixture(scope="session")
def from_dual_stack(lab: netns.NetnsLab, tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    """The dual-stack vantage point, asking DNS over IPv6."""
    return vantage_run(lab, lab.vantage, lab.nameserver6, tmp_path_factory.mktemp("netns-dual"))


@pytest.fixture(scope="session")
def from_ipv4_only(lab: netns.NetnsLab, tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    """The IPv4-only vantage point (DNS over IPv4)."""
    return vantage_run(lab, lab.vantage4, lab.nameserver4, tmp_path_factory.mktemp("netns-v4"))

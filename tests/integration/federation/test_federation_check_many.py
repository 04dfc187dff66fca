# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``federation_check`` with ``server_names``: many names in one module run, against the hostile world.

Each name's entry in ``results`` must be exactly what the single-name form reports for it (the
``hostile_run`` cases), failures stay with their name, and the run's keys are ``results``,
``failed_names`` and ``ok``.
"""

from __future__ import annotations

import pytest
from fed_cases import PLAIN, common
from fed_world import fed, n, server_name
from support.playbook import PlaybookRun, run_module_cases

MODULE = "matrixops.delegation.federation_check"


@pytest.fixture(scope="module")
def many_run(fed_world, tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    base = {**common(fed_world), "fail_on_error": False}
    cases = {
        "many": {**base, "server_names": [server_name(label) for label in PLAIN] + ["bad name!"]},
        "many-targets": {
            **base,
            "server_names": {
                server_name("good"): n("good"),  # no port: invalid expected target
                server_name("srv-good"): None,
                server_name("two-keys"): "elsewhere.example.test:8448",
            },
        },
        "many-fatal": {**common(fed_world), "server_names": [fed("good"), fed("wrong-name")]},
        "many-and-one": {**base, "server_name": fed("good"), "server_names": [fed("good")]},
        "many-empty": {**base, "server_names": []},
        "many-not-names": {**base, "server_names": [fed("good"), 7]},
    }
    return run_module_cases(MODULE, cases, tmp_path_factory.mktemp("fed-many"))


def test_each_name_reports_exactly_what_its_single_check_reports(many_run, hostile_run):
    result = many_run["many"]
    assert result["failed"] is False, result.get("msg")
    assert set(result) >= {"results", "failed_names", "ok"}
    assert "server_name" not in result  # the single-name keys live in each entry
    names = [server_name(label) for label in PLAIN] + ["bad name!"]
    assert [entry["server_name"] for entry in result["results"]] == names
    for label, entry in zip(PLAIN, result["results"][: len(PLAIN)], strict=True):
        single = hostile_run[label]
        for key in ("ok", "errors", "error_codes", "version", "server_name"):
            assert entry[key] == single[key], (label, key, entry[key], single[key])
        assert [c["ok"] for c in entry["connections"]] == [c["ok"] for c in single["connections"]], label
    broken = [server_name(label) for label in PLAIN if not hostile_run[label]["ok"]]
    assert 0 < len(broken) < len(PLAIN)
    assert result["failed_names"] == [*broken, "bad name!"]
    assert result["ok"] is False
    assert result["results"][-1]["error_codes"] == ["invalid-server-name"]


def test_each_name_has_its_own_expected_target(many_run):
    result = many_run["many-targets"]
    by_name = {entry["server_name"]: entry for entry in result["results"]}
    assert by_name[server_name("good")]["error_codes"] == ["invalid-expected-target"]
    assert by_name[server_name("srv-good")]["ok"] is True
    assert by_name[server_name("two-keys")]["error_codes"] == ["delegation-elsewhere"]
    assert result["failed_names"] == [server_name("good"), server_name("two-keys")]


def test_fail_on_error_names_every_failed_name(many_run):
    result = many_run["many-fatal"]
    assert result["failed"] is True
    assert result["failed_names"] == [fed("wrong-name")]
    assert result["msg"].startswith("1 of 2 server names failed the federation check: ")
    assert fed("wrong-name") in result["msg"]
    assert [entry["ok"] for entry in result["results"]] == [True, False]


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("many-and-one", "mutually exclusive: server_name|server_names"),
        ("many-empty", "server_names is empty"),
        ("many-not-names", "every entry must be a server name (a string), got 7"),
    ],
)
def test_bad_server_names_fail_with_a_clear_message(many_run, case, fragment):
    result = many_run[case]
    assert result["failed"] is True
    assert fragment in result["msg"], result["msg"]

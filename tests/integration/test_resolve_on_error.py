"""The lookup's ``on_error`` (issue #19): ``strict`` fails the lookup on one bad name; ``report``
gives that name's ``{server_name, error, step, code}`` in its place and resolves the others. Set as
a keyword and through the variable ``matrixops_resolve_on_error``; real knot and HTTPS (it_world)."""

from __future__ import annotations

import pytest
from support.playbook import LOOKUP, run_tasks

TERMS = ["explicit.it.test:8449", "srv-servfail.it.test", "a b", "nothing.it.test", "wk-port.it.test"]


@pytest.fixture(scope="module")
def on_error_run(world, lookup_options, tmp_path_factory):
    def task(name: str, options: str) -> dict:
        return {
            "name": name,
            "ansible.builtin.set_fact": {name: f"{{{{ query('{LOOKUP}', *terms, **(opts | combine({options}))) }}}}"},
            "ignore_errors": True,
            "register": f"{name}_task",
        }

    tasks = [
        task("default", "{}"),
        task("keyword", "{'on_error': 'report'}"),
        {**task("variable", "{}"), "vars": {"matrixops_resolve_on_error": "report"}},
        {**task("keyword_wins", "{'on_error': 'strict'}"), "vars": {"matrixops_resolve_on_error": "report"}},
        task("bad_value", "{'on_error': 'ignore'}"),
    ]
    names = ["default", "keyword", "variable", "keyword_wins", "bad_value"]
    return run_tasks(
        tasks,
        tmp_path_factory.mktemp("on-error"),
        registered=[*names, *(f"{name}_task" for name in names)],
        play_vars={"terms": TERMS, "opts": lookup_options},
    )


def test_strict_by_default_the_first_bad_name_fails_the_lookup(on_error_run):
    task = on_error_run["default_task"]
    assert task["failed"] is True
    assert "srv-servfail.it.test" in task["msg"] and "(code dns-failure)" in task["msg"], task["msg"]
    assert on_error_run["default"] is None


@pytest.mark.parametrize("case", ["keyword", "variable"])
def test_report_gives_each_bad_names_error_in_its_place_and_resolves_the_others(on_error_run, case):
    assert on_error_run[f"{case}_task"].get("failed") is not True, on_error_run[f"{case}_task"]
    results = on_error_run[case]
    assert [r["server_name"] for r in results] == TERMS
    good, servfail, invalid, nothing, well_known = results
    assert good["method"] == "explicit_port" and "error" not in good
    assert well_known["method"] == "well_known_explicit_port"
    assert set(servfail) == {"server_name", "error", "step", "code"}
    assert servfail["code"] == "dns-failure"
    assert "SERVFAIL" in servfail["error"] and "_matrix-fed._tcp.srv-servfail.it.test" in servfail["step"]
    assert invalid["code"] == "invalid-server-name"
    assert nothing["code"] == "no-address"
    assert servfail["error"].startswith("cannot resolve server name 'srv-servfail.it.test'")


def test_the_keyword_wins_over_the_variable(on_error_run):
    assert on_error_run["keyword_wins_task"]["failed"] is True


def test_an_unknown_value_is_refused_naming_the_choices(on_error_run):
    message = on_error_run["bad_value_task"]["msg"]
    assert "on_error must be 'strict'" in message and "'report'" in message and "got 'ignore'" in message, message

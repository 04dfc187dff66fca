"""The lookup as a user calls it: terms, options, name normalisation, addresses and errors."""

from __future__ import annotations

import pytest
from it_cases import FAILING_NAMES, INVALID_NAMES, MULTI_TERMS
from it_expect import (
    RESULT_KEYS,
    SRV_KEYS,
    SRV_RECORD_KEYS,
    TARGET_KEYS,
    WELL_KNOWN_KEYS,
    Text,
    Unordered,
    assert_result,
    target,
)
from it_world import LONG_NAME, WK_PATH, ip, n
from support.playbook import LOOKUP, Outcome, run_tasks

# -- terms ------------------------------------------------------------------------------------------


def test_several_terms_give_results_in_term_order(outcome):
    results = outcome("multi").results
    assert [r["server_name"] for r in results] == MULTI_TERMS
    assert [r["method"] for r in results] == [
        "well_known_explicit_port",
        "ip_literal",
        "explicit_port",
        "well_known_explicit_port",
    ]


def test_duplicated_term_gives_the_same_result(outcome):
    results = outcome("multi").results
    assert results[0] == results[3]


def test_name_is_fetched_once_per_lookup_call_however_often_it_appears(outcome, world):
    first, second = outcome("once-twice-in-one-call").results
    assert first == second
    assert first["method"] == "well_known_explicit_port"
    assert len(world.https.requests_for(n("once"), WK_PATH)) == 1


def test_answers_are_not_cached_across_tasks(outcome, world):
    assert outcome("twice-first-task").result == outcome("twice-second-task").result
    assert len(world.https.requests_for(n("twice"), WK_PATH)) == 2


# -- private addresses ------------------------------------------------------------------------------


def test_private_address_is_a_warning_without_allow_private_addresses(outcome):
    got = outcome("private-dns-name").result
    assert got["method"] == "explicit_port"
    assert got["warnings"] == [Text(ip(21))]


def test_private_ip_literal_is_a_warning_without_allow_private_addresses(outcome):
    got = outcome("private-ip-literal").result
    assert got["method"] == "ip_literal"
    assert got["warnings"] == [Text(ip(20))]


def test_no_private_address_warning_with_allow_private_addresses(resolve):
    assert resolve("explicit.it.test:8449")["warnings"] == []
    assert resolve(ip(20))["warnings"] == []


# -- addresses ----------------------------------------------------------------------------------------


def test_aaaa_and_a_are_both_reported(resolve):
    assert_result(
        resolve("dual.it.test:8448"),
        {"method": "explicit_port", "targets": [target("dual.it.test", 8448, "::1", ip(35))], "warnings": []},
    )
    assert resolve("dual.it.test:8448")["targets"][0]["addresses"] == Unordered(["::1", ip(35)])


def test_aaaa_only_host(resolve):
    assert_result(resolve("v6only.it.test:8448"), {"targets": [target("v6only.it.test", 8448, "::1")], "warnings": []})


# -- names ----------------------------------------------------------------------------------------------


def test_unicode_name_is_converted_to_a_labels_with_a_warning(resolve):
    assert_result(
        resolve("bücher.it.test:8448"),
        {
            "server_name": "xn--bcher-kva.it.test:8448",
            "method": "explicit_port",
            "host_header": "xn--bcher-kva.it.test:8448",
            "tls_server_name": "xn--bcher-kva.it.test",
            "sni": "xn--bcher-kva.it.test",
            "targets": [target("xn--bcher-kva.it.test", 8448, ip(36))],
            "warnings": [Text("xn--bcher-kva.it.test")],
        },
    )


def test_upper_case_name_keeps_its_case_with_a_warning(resolve):
    got = resolve("EXPLICIT.it.test:8449")
    assert got["server_name"] == "EXPLICIT.it.test:8449"
    assert got["method"] == "explicit_port"
    assert [(t["port"], t["addresses"]) for t in got["targets"]] == [(8449, [ip(21)])]
    assert got["warnings"] == [Text("EXPLICIT.it.test")]


def test_name_over_230_characters_is_a_warning(resolve):
    got = resolve(f"{LONG_NAME}:8448")
    assert got["method"] == "explicit_port"
    assert got["targets"] == [target(LONG_NAME, 8448, ip(37))]
    assert got["warnings"] == [Text("230")]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_server_name_is_a_readable_error_naming_it(lookup_error, name):
    message = lookup_error(name, code="invalid-server-name")
    assert f"'{name}'" in message or f'"{name}"' in message, message
    assert "Traceback" not in message
    assert "unhandled exception" not in message.lower()
    assert "original message" not in message.lower()


@pytest.mark.parametrize("name", FAILING_NAMES)
def test_resolution_error_names_the_server_name_without_traceback(lookup_error, name):
    message = lookup_error(name)
    assert name in message
    assert "Traceback" not in message
    assert "unhandled exception" not in message.lower()


def test_no_traceback_anywhere_in_the_playbook_output(batch):
    assert "Traceback" not in batch.output
    assert "unhandled exception" not in batch.output.lower()


def test_failing_task_shows_the_user_a_readable_error(world, lookup_options, tmp_path):
    task = {"name": "Resolve", "ansible.builtin.debug": {"msg": f"{{{{ lookup('{LOOKUP}', term, **options) }}}}"}}
    run = run_tasks([task], tmp_path, play_vars={"term": "example.test.", "options": lookup_options}, timeout=120)
    output = run.output
    assert run.returncode != 0, output
    assert "'example.test.'" in output, output
    assert "Traceback" not in output, output


# -- the shape of the result ------------------------------------------------------------------------------


def test_result_has_exactly_the_documented_keys(resolve):
    for name in ("wk-srv.it.test", "srv.it.test", "[::1]", "wk-legacy.it.test"):
        got = resolve(name)
        assert set(got) == RESULT_KEYS, name
        assert got["well_known"] is None or set(got["well_known"]) == WELL_KNOWN_KEYS, name
        for query in got["srv"]:
            assert set(query) == SRV_KEYS, name
            for rec in query["records"]:
                assert set(rec) == SRV_RECORD_KEYS, name
        for tgt in got["targets"]:
            assert set(tgt) == TARGET_KEYS, name


def test_every_case_of_the_batch_ran(batch):
    """Guards the harness: a case that neither returned nor failed would make tests vacuous."""
    for name, registered in batch.results.items():
        got = Outcome.of(registered)
        assert (got.results is None) != (got.error is None), name
    # the batch includes failing cases, so ansible-playbook itself reports their failures as ignored
    assert batch.returncode == 0, batch.output[-3000:]

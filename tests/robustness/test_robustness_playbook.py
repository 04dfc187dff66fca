# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a user sees: catalogue rows through a real ``ansible-playbook`` (the lookup and the module).

One playbook run for the lookup and one for ``federation_check`` (``support.playbook``, one task
per case): the messages are the ones docs/robustness.md
quotes, and no hostile peer ever puts a Python traceback in front of the user.
"""

from __future__ import annotations

import pytest
import rb_world as w
from support.playbook import Case, Outcome, run_lookups, run_module_cases, world_options

PREFIX = "matrixops.delegation.resolve: "
FAILING = {
    "dns-timeout.rb.test": "cannot resolve server name 'dns-timeout.rb.test': SRV query "
    f"_matrix-fed._tcp.dns-timeout.rb.test: {w.DNS_IP}:{w.DNS_PORT} timed out after 1.0s",
    "dns-refused.rb.test": "cannot resolve server name 'dns-refused.rb.test': SRV query "
    f"_matrix-fed._tcp.dns-refused.rb.test: {w.DNS_IP}:{w.DNS_PORT} answered REFUSED",
    "dns-srv-dot.rb.test": "cannot resolve server name 'dns-srv-dot.rb.test': SRV query "
    "_matrix-fed._tcp.dns-srv-dot.rb.test: the only SRV record has target '.', which means the service is disabled",
    "loop-a.rb.test:8448": "cannot resolve server name 'loop-a.rb.test:8448': address lookup for loop-a.rb.test: "
    "no IPv6 or IPv4 address found: ",
}
FALLING_THROUGH = {
    "wk-endless.rb.test": "body of 51200 bytes or more (limit 51199)",
    "wk-m-v6-bare.rb.test": "'m.server' is not a valid server name: '2001:db8::1': an IPv6 address must be "
    "written in brackets, like '[2001:db8::1]'",
    "wk-redirect-latin1.rb.test": None,  # refused or followed; never an exception
}
CHECKS = {
    "tls-future": "certificate presented by {endpoint} is not valid yet: check its dates and the server clock",
    "tls-10": "cannot check {endpoint}: TLS handshake failed: ",
    "keys-dup-last": 'keys served by {endpoint} are for server name "evil.rb.test:8448"',
}


@pytest.fixture(scope="module")
def lookup_run(world, tmp_path_factory):
    cases = {name: Case([name], world_options(world, w.TIMEOUT)) for name in [*FAILING, *FALLING_THROUGH]}
    cases["drip"] = Case([w.n("dl-drip")], world_options(world, w.DL_T))
    return run_lookups(cases, tmp_path_factory.mktemp("lookup"))


@pytest.fixture(scope="module")
def check_run(world, tmp_path_factory):
    cases = {label: {**world_options(world, w.TIMEOUT), "server_name": w.server_name(label)} for label in CHECKS}
    return run_module_cases("matrixops.delegation.federation_check", cases, tmp_path_factory.mktemp("check"))


@pytest.mark.parametrize("name", sorted(FAILING))
def test_lookup_error_names_the_server_name_the_step_and_the_reason(lookup_run, name):
    error = Outcome.of(lookup_run[name]).error
    assert error is not None and PREFIX + FAILING[name] in error, error


@pytest.mark.parametrize("name", sorted(FALLING_THROUGH))
def test_well_known_failure_is_a_reason_in_the_result_not_a_task_failure(lookup_run, name):
    outcome = Outcome.of(lookup_run[name])
    assert outcome.error is None, outcome.error
    expected = FALLING_THROUGH[name]
    if expected is not None:
        assert expected in outcome.result["well_known"]["error"]


def test_grammar_breaking_m_server_is_an_ansible_warning(lookup_run):
    output = " ".join(lookup_run.output.split())
    assert (
        f"[WARNING]: {PREFIX}wk-m-v6-bare.rb.test: https://wk-m-v6-bare.rb.test/.well-known/matrix/server: " in output
    )


def test_dripping_well_known_is_cut_at_timeout_in_a_real_run(lookup_run):
    result = Outcome.of(lookup_run["drip"]).result
    assert result["well_known"]["error"].endswith(f"no complete response within {w.DL_T:g}s")


@pytest.mark.parametrize("label", sorted(CHECKS))
def test_federation_check_fails_the_task_with_what_to_fix(check_run, world, label):
    result = check_run[label]
    address = w.KEYS_IP if label.startswith("keys") else w.TLS_PEERS[label]
    assert result["failed"] is True
    assert result["msg"].startswith(CHECKS[label].format(endpoint=f"{address}:{w.FED_PORT}")), result["msg"]
    assert result["ok"] is False


def test_no_traceback_reaches_the_user(lookup_run, check_run):
    for run in (lookup_run, check_run):
        assert "Traceback" not in run.output
        assert "unhandled exception" not in run.output.lower()

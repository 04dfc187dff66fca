"""The srv_record module and the srv_records role through real ``ansible-playbook`` runs against
knot (RFC 2136 updates signed with TSIG), read back from knot after every run.

Each test uses its own server name under ``srv.test`` so the tests do not depend on each other.
"""

from __future__ import annotations

import pytest
import srv_world as w
from support.playbook import PlaybookRun, run_module_cases, run_tasks

TARGET = (10, 5, 8448, w.n("matrix"))
OTHER = (0, 0, 443, w.n("backup"))


def fed(label: str) -> str:
    return f"_matrix-fed._tcp.{w.n(label)}"


def legacy(label: str) -> str:
    return f"_matrix._tcp.{w.n(label)}"


def update(label: str) -> dict:
    """What the module and the role both take: the records, and where and how to update them."""
    return {
        "server_name": w.n(label),
        "targets": [{"host": w.n("matrix"), "port": 8448}],
        "ttl": 300,
        "dns_server": w.DNS_IP,
        "dns_port": w.DNS_PORT,
        "tsig_key_name": w.KEY_NAME,
        "tsig_secret": w.KEY_SECRET,
    }


def module_args(label: str, **extra) -> dict:
    return {**update(label), "timeout": 3, "checks": False, **extra}


def role_vars(label: str, **variables) -> dict:
    values = {f"srv_records_{key}": value for key, value in update(label).items()}
    values.update(
        srv_records_dns_timeout=3, srv_records_verify_nameservers=[w.NAMESERVER], srv_records_verify_timeout=3
    )
    return {**values, **variables}


def warnings_of(result: dict) -> list[str]:
    """A registered result's warnings (plain strings, or ansible-core's structured summaries)."""
    return [x if isinstance(x, str) else x.get("event", {}).get("msg", str(x)) for x in result.get("warnings", [])]


def role_step(step: str, label: str, *, check_mode: bool = False, **variables) -> list[dict]:
    """Apply the role once; keep its srv_records_result (or the failure) as ``step``."""
    include = {
        "name": f"srv_records: {step}",
        "ansible.builtin.include_role": {"name": "matrixops.delegation.srv_records"},
        "vars": role_vars(label, **variables),
    }
    if check_mode:
        include["ansible.builtin.include_role"]["apply"] = {"check_mode": True, "diff": True}
    keep = {
        "ansible.builtin.set_fact": {
            step: "{{ srv_records_zonefile if srv_records_method == 'zonefile' else srv_records_result }}"
        }
    }
    keep["vars"] = {"srv_records_method": variables.get("srv_records_method", "rfc2136")}
    return [
        {
            "name": f"Step {step}",
            "block": [include, {"name": f"Keep {step}", **keep}],
            "rescue": [
                {
                    "name": f"Keep the failure of {step}",
                    "ansible.builtin.set_fact": {step: "{{ ansible_failed_result }}"},
                }
            ],
        }
    ]


ZONEFILE = "zonefile/wk.srv.zone"

#: The role, applied step after step in ONE playbook (each step keeps its srv_record result).
ROLE_STEPS = [
    ("one_first", "one", {}),
    ("one_again", "one", {}),
    ("two_seed", "two", {}),
    (
        "two_check",
        "two",
        {"check_mode": True, "srv_records_targets": [{"host": w.n("backup"), "port": 443, "priority": 0, "weight": 0}]},
    ),
    ("ttl_seed", "ttl", {}),
    ("ttl_change", "ttl", {"srv_records_ttl": 60}),
    ("three_legacy", "three", {"srv_records_legacy": True}),
    (
        "three_keep",
        "three",
        {"srv_records_legacy": "keep", "srv_records_targets": [{"host": w.n("backup"), "port": 443}]},
    ),
    ("three_no_legacy", "three", {"srv_records_legacy": "absent"}),
    ("three_no_legacy_bool", "three", {"srv_records_legacy": False}),
    ("four_seed", "four", {}),
    ("four_absent", "four", {"srv_records_state": "absent"}),
    ("four_absent_again", "four", {"srv_records_state": "absent"}),
    ("five_given_zone", "five", {"srv_records_zone": w.ZONE + "."}),
]


@pytest.fixture(scope="module")
def role_run(srv_world, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("srv-role")
    zonefile = {
        "srv_records_method": "zonefile",
        "srv_records_zonefile_path": str(workdir / ZONEFILE),
        "srv_records_legacy": True,
        "srv_records_verify_ca_path": str(srv_world.ca_path),
    }
    steps = [*ROLE_STEPS, ("wk_zonefile", "wk", zonefile), ("wk_zonefile_again", "wk", zonefile)]
    tasks = [task for step, label, variables in steps for task in role_step(step, label, **variables)]
    run = run_tasks(tasks, workdir, registered=tuple(step for step, _label, _vars in steps))
    assert run.returncode == 0, run.output
    return run


def step(run: PlaybookRun, name: str) -> dict:
    result = run.results[name]
    assert result is not None and not result.get("failed"), f"step {name} failed: {result}"
    return result


# -- publishing -----------------------------------------------------------------------------------------
def test_the_role_publishes_the_records_and_a_second_run_changes_nothing(srv_world, role_run):
    first = step(role_run, "one_first")
    assert first["changed"] is True
    assert first["before"][fed("one")] == {"ttl": None, "records": []}
    assert step(role_run, "one_again")["changed"] is False
    assert srv_world.srv(fed("one")) == (300, [TARGET])
    # by default the deprecated name gets the same records: homeservers before Matrix 1.8 read only it
    assert srv_world.srv(legacy("one")) == (300, [TARGET])


def test_check_mode_with_diff_shows_the_change_and_sends_nothing(srv_world, role_run):
    result = step(role_run, "two_check")
    assert result["changed"] is True
    assert f"-{fed('two')}. 300 IN SRV 10 5 8448 {w.n('matrix')}." in role_run.output
    assert f"+{fed('two')}. 300 IN SRV 0 0 443 {w.n('backup')}." in role_run.output
    assert srv_world.srv(fed("two")) == (300, [TARGET])


def test_a_changed_ttl_replaces_the_records(srv_world, role_run):
    assert step(role_run, "ttl_change")["changed"] is True
    assert srv_world.srv(fed("ttl")) == (60, [TARGET])


def test_legacy_records_are_kept_untouched_or_removed_on_request(srv_world, role_run):
    published = step(role_run, "three_legacy")["after"]
    assert published[legacy("three")]["records"] == published[fed("three")]["records"] != []
    kept = step(role_run, "three_keep")
    assert kept["changed"] is True
    assert kept["names"] == [fed("three")]
    assert legacy("three") not in kept["before"] and legacy("three") not in kept["after"]
    assert step(role_run, "three_no_legacy")["changed"] is True
    assert step(role_run, "three_no_legacy_bool")["changed"] is False  # 0.1.0's false is absent
    assert srv_world.srv(legacy("three")) == (None, [])
    assert srv_world.srv(fed("three")) == (300, [TARGET])


def test_keep_updates_with_a_key_allowed_for_matrix_fed_tcp_only(srv_world, tmp_path):
    """legacy: keep neither reads nor changes _matrix._tcp, so a key limited to _matrix-fed._tcp works."""
    task = {
        "name": "Only _matrix-fed._tcp with the fed-only key",
        "matrixops.delegation.srv_record": module_args(
            "atomic",
            targets=[{"host": w.n("backup"), "port": 443, "priority": 0, "weight": 0}],
            legacy="keep",
            tsig_key_name=w.FED_ONLY_KEY,
            tsig_secret=w.FED_ONLY_SECRET,
        ),
        "register": "kept",
    }
    try:
        run = run_tasks([task], tmp_path / "keep", registered=("kept",))
        assert run.returncode == 0, run.output
        assert run.results["kept"]["names"] == [w.FED_ONLY_NAME]
        assert srv_world.srv(w.FED_ONLY_NAME) == (300, [OTHER])
    finally:
        restore = {"name": "Restore", "matrixops.delegation.srv_record": module_args("atomic", legacy="absent")}
        assert run_tasks([restore], tmp_path / "restore").returncode == 0


def test_state_absent_removes_the_records_at_both_names(srv_world, role_run):
    assert step(role_run, "four_seed")["after"][legacy("four")]["records"] != []
    assert step(role_run, "four_absent")["changed"] is True
    assert step(role_run, "four_absent_again")["changed"] is False
    assert srv_world.srv(fed("four")) == (None, [])
    assert srv_world.srv(legacy("four")) == (None, [])


def test_a_given_zone_is_used(srv_world, role_run):
    assert step(role_run, "five_given_zone")["zone"] == w.ZONE
    assert srv_world.srv(fed("five")) == (300, [TARGET])


def test_an_update_of_two_names_is_applied_whole_or_not_at_all(srv_world, tmp_path):
    """The key fed-only may change _matrix-fed._tcp.atomic but not _matrix._tcp.atomic: an update
    of both (legacy: true) is refused as one, so the allowed name does not change either."""
    seed = run_tasks(
        [{"name": "Seed", "matrixops.delegation.srv_record": module_args("atomic", legacy="absent")}], tmp_path / "seed"
    )
    assert seed.returncode == 0, seed.output
    task = {
        "name": "Both names with the fed-only key",
        "matrixops.delegation.srv_record": module_args(
            "atomic",
            targets=[{"host": w.n("backup"), "port": 443, "priority": 0, "weight": 0}],
            legacy=True,
            tsig_key_name=w.FED_ONLY_KEY,
            tsig_secret=w.FED_ONLY_SECRET,
        ),
        "register": "both",
        "ignore_errors": True,
    }
    run = run_tasks([task], tmp_path / "atomic", registered=("both",))
    result = run.results["both"]
    assert result["failed"], result
    assert result["tsig_error"] == "BADKEY"
    assert "update of zone srv.test" in result["msg"] and "nothing was changed" in result["msg"]
    assert srv_world.srv(w.FED_ONLY_NAME) == (300, [TARGET])  # not half-applied
    assert srv_world.srv(legacy("atomic")) == (None, [])


# -- bad input: one playbook, one task per case -------------------------------------------------------------
BAD_CASES = {
    "wrong_secret": {"tsig_secret": w.WRONG_SECRET},
    "key_not_allowed": {"tsig_key_name": w.OTHER_KEY, "tsig_secret": w.OTHER_SECRET},
    "unknown_key": {"tsig_key_name": "nobody"},
    "unsigned": {"tsig_key_name": None, "tsig_secret": None},
    "silent_primary": {"dns_server": w.SILENT_IP, "timeout": 1},
    "dead_primary": {"dns_server": w.DEAD_IP},
    "zone_not_served": {"server_name": "example.org"},
    "wrong_zone": {"zone": "example.org"},
    "ip_target": {"targets": [{"host": w.MATRIX_IP}]},
    "dot_and_target": {"targets": [{"host": "."}, {"host": w.n("matrix")}]},
    "server_name_with_port": {"server_name": w.n("bad") + ":8448"},
}


@pytest.fixture(scope="module")
def bad_run(srv_world, tmp_path_factory):
    seed = {"name": "Seed", "matrixops.delegation.srv_record": module_args("bad")}
    cases = {}
    for case, extra in BAD_CASES.items():
        args = module_args("bad", **{"targets": [{"host": w.n("backup"), "port": 443}], **extra})
        cases[case] = {k: v for k, v in args.items() if v is not None}
    run = run_module_cases("matrixops.delegation.srv_record", cases, tmp_path_factory.mktemp("srv-bad"), before=[seed])
    assert "Seed" in run.output and run.results, run.output
    return run


def bad(run: PlaybookRun, case: str) -> dict:
    result = run.results[case]
    assert result and result.get("failed"), f"{case} did not fail: {result}"
    assert w.KEY_SECRET not in str(result) and w.WRONG_SECRET not in str(result)
    return result


def test_nothing_was_applied_by_any_bad_case(srv_world, bad_run):
    assert srv_world.srv(fed("bad")) == (300, [TARGET])


def test_a_wrong_tsig_secret_is_notauth_badsig_naming_the_server(bad_run):
    result = bad(bad_run, "wrong_secret")
    assert result["msg"].startswith(f"matrixops.delegation.srv_record: DNS server {w.NAMESERVER}: ")
    assert "NOTAUTH (TSIG error BADSIG)" in result["msg"]
    assert (result["rcode"], result["tsig_error"]) == ("NOTAUTH", "BADSIG")


@pytest.mark.parametrize("case", ["key_not_allowed", "unknown_key"])
def test_a_key_the_server_does_not_accept_is_notauth_badkey(bad_run, case):
    result = bad(bad_run, case)
    assert "NOTAUTH (TSIG error BADKEY)" in result["msg"]
    assert result["tsig_error"] == "BADKEY"


def test_an_unsigned_update_gets_notauth_with_a_hint_about_tsig(bad_run):
    result = bad(bad_run, "unsigned")
    assert result["rcode"] == "NOTAUTH"
    assert "requires a signed update (set tsig_key_name and tsig_secret)" in result["msg"]


def test_a_primary_that_does_not_answer_times_out_after_timeout(bad_run):
    result = bad(bad_run, "silent_primary")
    assert f"DNS server {w.SILENT_IP}:{w.DNS_PORT}: " in result["msg"]
    assert "no answer within 1s (timeout)" in result["msg"]
    took = bad_run.durations["silent_primary"]
    assert took < 6, f"took {took:.1f}s"


def test_a_primary_that_is_not_listening_is_connection_refused(bad_run):
    assert (
        f"DNS server {w.DEAD_IP}:{w.DNS_PORT}: query {fed('bad')} SOA: connection refused"
        in bad(bad_run, "dead_primary")["msg"]
    )


def test_a_zone_the_server_does_not_serve_is_refused(bad_run):
    result = bad(bad_run, "zone_not_served")
    assert result["rcode"] == "REFUSED"
    assert "query _matrix-fed._tcp.example.org SOA: REFUSED" in result["msg"]


def test_a_zone_that_does_not_hold_the_names_is_refused_before_sending(bad_run):
    assert f"{fed('bad')} is not inside zone example.org" in bad(bad_run, "wrong_zone")["msg"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("ip_target", "is an IP address, but an SRV target must be a host name"),
        ("dot_and_target", "must be the only target"),
        ("server_name_with_port", "has an explicit port"),
    ],
)
def test_invalid_input_is_refused_before_anything_is_sent(bad_run, case, message):
    assert message in bad(bad_run, case)["msg"]


# -- the checks (warnings) ------------------------------------------------------------------------------------
CHECK_CASES = {
    "cname_target": ("cn", [{"host": w.n("alias")}]),
    "target_without_address": ("na", [{"host": w.n("nowhere")}]),
    "well_known_disagrees": ("wk", [{"host": w.n("matrix"), "port": 8448}]),
    "well_known_agrees": ("agree", [{"host": w.n("matrix"), "port": 8448}]),
    "dot_target": ("dot", [{"host": "."}]),
    "dot_target_under_a_well_known": ("wk", [{"host": "."}]),
}


@pytest.fixture(scope="module")
def check_run(srv_world, tmp_path_factory):
    tasks = [
        {
            "name": case,
            "matrixops.delegation.srv_record": {
                "server_name": w.n(label),
                "targets": targets,
                "checks": True,
                "nameservers": [w.NAMESERVER],
                "ca_path": str(srv_world.ca_path),
                "timeout": 3,
            },
            "register": case,
        }
        for case, (label, targets) in CHECK_CASES.items()
    ]
    run = run_tasks(tasks, tmp_path_factory.mktemp("srv-checks"), registered=tuple(CHECK_CASES))
    assert run.returncode == 0, run.output
    return run


def test_a_cname_target_is_a_warning(check_run):
    assert any(
        "is an alias (CNAME): RFC 2782 forbids that" in x for x in warnings_of(check_run.results["cname_target"])
    )


def test_a_target_without_address_is_a_warning(check_run):
    warnings = warnings_of(check_run.results["target_without_address"])
    assert f"SRV target {w.n('nowhere')} has no AAAA or A record: homeservers cannot connect to it" in warnings


def test_srv_and_a_well_known_file_that_disagree_is_a_warning(check_run):
    (warning,) = [x for x in warnings_of(check_run.results["well_known_disagrees"]) if "disagree" in x]
    assert f"https://{w.n('wk')}/.well-known/matrix/server delegates {w.n('wk')} to {w.n('elsewhere')}:443" in warning
    assert f"(which points to {w.n('matrix')}:8448)" in warning


def test_srv_and_a_well_known_file_that_agree_is_no_warning(check_run):
    assert warnings_of(check_run.results["well_known_agrees"]) == []


def test_a_dot_target_is_a_warning_that_federation_is_disabled(check_run):
    assert any("DISABLES federation" in x for x in warnings_of(check_run.results["dot_target"]))


def test_a_dot_target_does_not_disable_federation_under_a_well_known_file(check_run):
    assert any(
        "does NOT disable federation" in x for x in warnings_of(check_run.results["dot_target_under_a_well_known"])
    )


# -- the zonefile method ------------------------------------------------------------------------------------
def test_the_zonefile_method_writes_the_snippet_once(role_run):
    path = role_run.workdir / ZONEFILE
    assert step(role_run, "wk_zonefile")["changed"] is True
    assert step(role_run, "wk_zonefile_again")["changed"] is False
    lines = [line for line in path.read_text().splitlines() if not line.startswith(";")]
    assert lines == [
        f"{fed('wk')}. 300 IN SRV 10 5 8448 {w.n('matrix')}.",
        f"{legacy('wk')}. 300 IN SRV 10 5 8448 {w.n('matrix')}.",
    ]
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_the_role_shows_the_checks_as_warnings(role_run):
    assert "[WARNING]: SRV and well-known disagree" in role_run.output

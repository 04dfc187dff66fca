"""How the task behaves: check mode, ``fail_on_error``, warnings, ``validate_certs: false``."""

from __future__ import annotations

from fed_expect import ALL_PASSED, assert_failed_with, assert_passed, only_connection
from fed_world import HOSTILE_IP, endpoint, fed, n

EP = endpoint(HOSTILE_IP)
WRONG_NAME_LINE = (
    f"certificate presented by {EP} is valid for {n('other')} but the spec requires it to be valid for "
    f"{n('wrong-name')}"
)


def test_check_mode_runs_the_checks_and_changes_nothing(check_mode_run):
    assert check_mode_run.returncode == 0, check_mode_run.output[-3000:]
    good = check_mode_run["good"]
    assert good.get("skipped") is not True, good  # full check-mode support: not skipped
    assert_passed(good)
    assert only_connection(good)["checks"] == ALL_PASSED
    # really checked in check mode, not just reported as fine
    assert_failed_with(check_mode_run["wrong-name"], WRONG_NAME_LINE, version=None)


def test_fail_on_error_fails_the_task_with_the_first_error_and_the_whole_result(hostile_run):
    result = hostile_run["wrong-name-fatal"]
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["msg"] == WRONG_NAME_LINE
    assert result["ok"] is False
    assert result["errors"] == [WRONG_NAME_LINE]
    assert result["server_name"] == fed("wrong-name")
    assert only_connection(result)["error"] == WRONG_NAME_LINE
    assert "Federation FAILED" in result["summary"]


def test_fail_on_error_false_reports_without_failing(hostile_run):
    result = hostile_run["wrong-name"]
    assert result["failed"] is False
    assert "msg" not in result or not result["msg"], result.get("msg")
    assert result["errors"] == [WRONG_NAME_LINE]


def test_private_addresses_are_an_ansible_warning_not_a_failure(hostile_run):
    result = hostile_run["good-private-warning"]
    assert_passed(result)
    warnings = result.get("warnings") or []
    assert any(HOSTILE_IP in warning for warning in warnings), warnings
    assert result["resolution"]["warnings"] and all(HOSTILE_IP in w for w in result["resolution"]["warnings"])
    assert hostile_run["good"].get("warnings") in (None, [])  # allow_private_addresses: true


def test_validate_certs_false_still_reports_the_certificate_problem(hostile_run):
    """docs/architecture.md, "The federation_check result": the connection is used for requests, but
    ``certificate_valid`` still says whether the certificate is valid for ``tls_server_name``; the
    problem is a warning, not hidden."""
    result = hostile_run["wrong-name-not-validated"]
    got = only_connection(result)
    # the keys were fetched and checked over the unverified connection
    assert {k: v for k, v in got["checks"].items() if k != "valid_certificate"} == {
        k: True for k in ALL_PASSED if k != "valid_certificate"
    }
    assert got["tls"]["certificate"]["sans"] == [n("other")]
    assert got["tls"]["certificate_valid"] is False, got["tls"]
    assert got["checks"]["valid_certificate"] is False, got["checks"]
    warnings = result.get("warnings") or []
    assert any(WRONG_NAME_LINE in warning for warning in warnings), warnings
    # whatever `ok` ends up being, no error line may claim the connection was not checked
    assert not any("could be checked" in error for error in result["errors"]), result["errors"]

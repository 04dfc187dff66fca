"""Unreachable servers and garbage answers are results (``ok: false`` with the reason), not crashes;
each network step is bounded by ``timeout``."""

from __future__ import annotations

from fed_cases import SHORT_TIMEOUT
from fed_expect import NO_KEYS, NOT_RUN, assert_failed_with, connection, hostile_connection, only_connection
from fed_world import DEAD_IP, HOSTILE_IP, HOSTILE_VERSION, KEYS_PATH, OVERSIZE, PLAIN_IP, SILENT_IP, endpoint, fed, n

EP = endpoint(HOSTILE_IP)
#: What one module task may cost besides its network steps (Ansible's own work, a loaded machine).
TASK_OVERHEAD = 3.0
#: A task whose only network step times out must end within this (without the bound it would hang).
BOUND = 2 * SHORT_TIMEOUT + TASK_OVERHEAD


def problem(
    hostile_run, case: str, line: str | None = None, *, starts: str = "", version: dict | None, code: str | None = None
) -> str:
    """The case ran to the end without a crash and found one problem: ``line``, or (None) the
    reported one, which must start with ``starts``; ``code``: its catalogue code. Returns the line."""
    result = hostile_run[case]
    assert "module_stderr" not in result, result.get("module_stderr", "")[-2000:]
    assert "exception" not in result, result["exception"][-2000:]
    if line is None:
        [line] = result["errors"]
        assert line.startswith(starts), line
    assert_failed_with(result, line, version=version, code=code)
    return line


def not_connected(result: dict, address: str, line: str) -> None:
    """No TLS session with ``address``: nothing was requested, the key checks did not run."""
    assert only_connection(result) == connection(address, error=line, tls=None, checks=NOT_RUN, keys=None)


def test_unreachable_server(hostile_run):
    line = problem(
        hostile_run,
        "dead",
        f"cannot check {endpoint(DEAD_IP)}: cannot connect: Connection refused",
        version=None,
        code="cannot-connect",
    )
    not_connected(hostile_run["dead"], DEAD_IP, line)


def test_no_address_at_all(hostile_run):
    name = n("nowhere")
    line = (
        f"cannot resolve server name '{name}': address lookup for {name}: no IPv6 or IPv4 address found: "
        f"{name} has no AAAA or A records"
    )
    problem(hostile_run, "nowhere", line, version=None, code="no-address")
    result = hostile_run["nowhere"]
    assert result["connections"] == []
    assert result["resolution"]["server_name"] == name  # as far as resolution got


def test_invalid_server_name(hostile_run):
    line = (
        "cannot resolve server name 'bad name!': parsing the server name: 'bad name!': the hostname contains a "
        "space (U+0020); only letters, digits, '-' and '.' are allowed"
    )
    problem(hostile_run, "invalid-name", line, version=None, code="invalid-server-name")
    result = hostile_run["invalid-name"]
    assert result["connections"] == []
    assert result["resolution"] is None  # RETURN: null when the name is invalid


def test_keys_not_json(hostile_run, fed_world):
    starts = f"GET {KEYS_PATH} on {EP}: the body is not valid JSON ("
    line = problem(hostile_run, "not-json", starts=starts, version=HOSTILE_VERSION)
    got = only_connection(hostile_run["not-json"])
    assert got == hostile_connection(fed_world, got, error=line, checks=NO_KEYS, keys=None)


def test_keys_not_an_object(hostile_run):
    line = f"GET {KEYS_PATH} on {EP}: the body is JSON an array, expected an object"
    problem(hostile_run, "keys-array", line, version=HOSTILE_VERSION)
    assert only_connection(hostile_run["keys-array"])["checks"] == NO_KEYS


def test_keys_http_error(hostile_run):
    problem(
        hostile_run, "keys-500", f"GET {KEYS_PATH} on {EP} answered HTTP 500 (expected 200)", version=HOSTILE_VERSION
    )
    assert only_connection(hostile_run["keys-500"])["checks"] == NO_KEYS


def test_oversize_keys_document(hostile_run):
    size = len(b'{"pad": "') + OVERSIZE + len(b'"}')
    line = f"cannot check {EP}: response body is {size} bytes, the limit is {512 * 1024 - 1}"
    problem(hostile_run, "oversize", line, version=None)
    got = only_connection(hostile_run["oversize"])
    assert got["ok"] is False and got["error"] == line
    assert got["checks"]["valid_certificate"] is True


def test_missing_version_endpoint(hostile_run):
    line = f"GET /_matrix/federation/v1/version on {EP} answered HTTP 404 (expected 200)"
    problem(hostile_run, "no-version", line, version=None)
    assert only_connection(hostile_run["no-version"])["checks"]["all_ed25519_checks_ok"] is True


def test_plain_http_where_tls_is_expected(hostile_run):
    starts = f"cannot check {endpoint(PLAIN_IP)}: TLS handshake failed: "
    line = problem(hostile_run, "plain-http", starts=starts, version=None)
    not_connected(hostile_run["plain-http"], PLAIN_IP, line)


def test_server_that_never_answers_is_cut_off_at_timeout(hostile_run):
    line = problem(hostile_run, "silent", f"cannot check {endpoint(SILENT_IP)}: TLS handshake timed out", version=None)
    not_connected(hostile_run["silent"], SILENT_IP, line)
    assert hostile_run.durations["silent"] < BOUND, hostile_run.durations


def test_dripping_key_server_is_cut_off_at_timeout(hostile_run, fed_world):
    problem(hostile_run, "drip", f"cannot check {EP}: no complete response within {SHORT_TIMEOUT}s", version=None)
    [seen] = fed_world.hostile.requests_for(fed("drip"), KEYS_PATH)
    # the whole body would take 50 s; the client hung up after about `timeout`
    assert seen.client_gone is not None, "the server never noticed the client leave"
    assert seen.client_gone - seen.started < SHORT_TIMEOUT + 1.5
    assert hostile_run.durations["drip"] < BOUND, hostile_run.durations

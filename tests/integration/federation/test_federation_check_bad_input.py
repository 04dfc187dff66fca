"""Unreachable servers and garbage answers are results (``ok: false`` with the reason), not crashes;
each network step is bounded by ``timeout``."""

from __future__ import annotations

from fed_cases import SHORT_TIMEOUT
from fed_expect import NO_KEYS, NOT_RUN, assert_failed_with, assert_tls_session, connection, only_connection, tls
from fed_world import DEAD_IP, HOSTILE_IP, HOSTILE_VERSION, KEYS_PATH, OVERSIZE, PLAIN_IP, SILENT_IP, endpoint, fed, n

EP = endpoint(HOSTILE_IP)
#: What one module task may cost besides its network steps (Ansible's own work, a loaded machine).
TASK_OVERHEAD = 3.0
#: A task whose only network step times out must end within this (without the bound it would hang).
BOUND = 2 * SHORT_TIMEOUT + TASK_OVERHEAD


def no_crash(result: dict) -> None:
    assert "module_stderr" not in result, result.get("module_stderr", "")[-2000:]
    assert "exception" not in result, result["exception"][-2000:]


def test_unreachable_server(hostile_run):
    result = hostile_run["dead"]
    no_crash(result)
    line = f"cannot check {endpoint(DEAD_IP)}: cannot connect: Connection refused"
    assert_failed_with(result, line, version=None)
    assert only_connection(result) == connection(DEAD_IP, error=line, tls=None, checks=NOT_RUN, keys=None)


def test_no_address_at_all(hostile_run):
    result = hostile_run["nowhere"]
    no_crash(result)
    name = n("nowhere")
    line = (
        f"cannot resolve server name '{name}': address lookup for {name}: no IPv6 or IPv4 address found: "
        f"{name} has no AAAA or A records"
    )
    assert_failed_with(result, line, version=None)
    assert result["connections"] == []
    assert result["resolution"]["server_name"] == name  # as far as resolution got


def test_invalid_server_name(hostile_run):
    result = hostile_run["invalid-name"]
    no_crash(result)
    assert_failed_with(
        result,
        "cannot resolve server name 'bad name!': parsing the server name: 'bad name!': the hostname contains a "
        "space (U+0020); only letters, digits, '-' and '.' are allowed",
        version=None,
    )
    assert result["connections"] == []
    assert result["resolution"] is None  # RETURN: null when the name is invalid


def test_keys_not_json(hostile_run, fed_world):
    result = hostile_run["not-json"]
    no_crash(result)
    [line] = result["errors"]
    assert line.startswith(f"GET {KEYS_PATH} on {EP}: the body is not valid JSON ("), line
    assert_failed_with(result, line, version=HOSTILE_VERSION)
    got = only_connection(result)
    assert got == connection(
        HOSTILE_IP,
        error=line,
        tls=tls(fed_world, "default", session=assert_tls_session(got)),
        checks=NO_KEYS,
        keys=None,
    )


def test_keys_not_an_object(hostile_run):
    result = hostile_run["keys-array"]
    no_crash(result)
    line = f"GET {KEYS_PATH} on {EP}: the body is JSON an array, expected an object"
    assert_failed_with(result, line, version=HOSTILE_VERSION)
    assert only_connection(result)["checks"] == NO_KEYS


def test_keys_http_error(hostile_run):
    result = hostile_run["keys-500"]
    no_crash(result)
    line = f"GET {KEYS_PATH} on {EP} answered HTTP 500 (expected 200)"
    assert_failed_with(result, line, version=HOSTILE_VERSION)
    assert only_connection(result)["checks"] == NO_KEYS


def test_oversize_keys_document(hostile_run):
    result = hostile_run["oversize"]
    no_crash(result)
    size = len(b'{"pad": "') + OVERSIZE + len(b'"}')
    line = f"cannot check {EP}: response body is {size} bytes, the limit is {512 * 1024 - 1}"
    assert_failed_with(result, line, version=None)
    got = only_connection(result)
    assert got["ok"] is False and got["error"] == line
    assert got["checks"]["valid_certificate"] is True


def test_missing_version_endpoint(hostile_run):
    result = hostile_run["no-version"]
    no_crash(result)
    line = f"GET /_matrix/federation/v1/version on {EP} answered HTTP 404 (expected 200)"
    assert_failed_with(result, line, version=None)
    assert only_connection(result)["checks"]["all_ed25519_checks_ok"] is True


def test_plain_http_where_tls_is_expected(hostile_run):
    result = hostile_run["plain-http"]
    no_crash(result)
    [line] = result["errors"]
    assert line.startswith(f"cannot check {endpoint(PLAIN_IP)}: TLS handshake failed: "), line
    assert_failed_with(result, line, version=None)
    assert only_connection(result) == connection(PLAIN_IP, error=line, tls=None, checks=NOT_RUN, keys=None)


def test_server_that_never_answers_is_cut_off_at_timeout(hostile_run):
    result = hostile_run["silent"]
    no_crash(result)
    line = f"cannot check {endpoint(SILENT_IP)}: TLS handshake timed out"
    assert_failed_with(result, line, version=None)
    assert only_connection(result) == connection(SILENT_IP, error=line, tls=None, checks=NOT_RUN, keys=None)
    assert hostile_run.durations["silent"] < BOUND, hostile_run.durations


def test_dripping_key_server_is_cut_off_at_timeout(hostile_run, fed_world):
    result = hostile_run["drip"]
    no_crash(result)
    line = f"cannot check {EP}: no complete response within {SHORT_TIMEOUT}s"
    assert_failed_with(result, line, version=None)
    [seen] = fed_world.hostile.requests(fed("drip"), KEYS_PATH)
    # the whole body would take 50 s; the client hung up after about `timeout`
    assert seen.client_gone is not None, "the server never noticed the client leave"
    assert seen.client_gone - seen.started < SHORT_TIMEOUT + 1.5
    assert hostile_run.durations["drip"] < BOUND, hostile_run.durations

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The srv_record module shell: options in, one core call, results (changed, diff, errors) out.

The DNS port is a fake here (``Rfc2136Client`` is replaced); the real one is tested in
``tests/unit/plugins/module_utils/test_srv_update.py`` and against knot by the integration tests.
"""

from __future__ import annotations

import base64
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.matrixops.delegation.plugins.module_utils._srv_update import (
    Record,
    RecordSet,
    SrvUpdateError,
)
from ansible_collections.matrixops.delegation.plugins.modules import srv_record

SECRET = base64.b64encode(b"module-test-secret-module-test-s").decode()
FED = "_matrix-fed._tcp.example.com"
LEGACY = "_matrix._tcp.example.com"


class FakePort:
    """Stands in for Rfc2136Client; class attributes hold the fake server's state per test."""

    records: dict = {}
    updates: list = []
    error: Exception | None = None
    created: list = []

    def __init__(self, host, port=53, *, timeout=10.0, tsig=None):
        self.server = f"{host}:{port}"
        self.tsig = tsig
        FakePort.created.append(self)

    def find_zone(self, name):
        return "example.com"

    def read(self, name, zone):
        if FakePort.error is not None:
            raise FakePort.error
        ttl, records = FakePort.records.get(name, (None, []))
        return RecordSet.make(name, ttl, records)

    def update(self, zone, changes):
        FakePort.updates.append(changes)
        for _current, wanted in changes:
            FakePort.records[wanted.name] = (wanted.ttl, list(wanted.records))


@pytest.fixture(autouse=True)
def fake_port(monkeypatch):
    FakePort.records = {}
    FakePort.updates = []
    FakePort.error = None
    FakePort.created = []
    monkeypatch.setattr(srv_record, "Rfc2136Client", FakePort)
    monkeypatch.setattr(srv_record, "run_checks", lambda module, plan: [])
    return FakePort


def run(capsys, **args):
    """Run the module; return (result dict, failed)."""
    with patch_module_args(args), pytest.raises(SystemExit) as info:
        srv_record.main()
    result = json.loads(capsys.readouterr().out)
    return result, info.value.code != 0


BASE = {
    "server_name": "example.com",
    "targets": [{"host": "matrix.example.com"}],
    "dns_server": "192.0.2.53",
    "tsig_key_name": "update-key",
    "tsig_secret": SECRET,
}


def test_publishing_reports_a_change_then_none(capsys):
    first, failed = run(capsys, **BASE)
    assert not failed
    assert first["changed"] is True
    assert first["zone"] == "example.com"
    assert first["before"] == {FED: {"ttl": None, "records": []}, LEGACY: {"ttl": None, "records": []}}
    assert first["after"][FED] == {
        "ttl": 3600,
        "records": [{"priority": 10, "weight": 5, "port": 8448, "target": "matrix.example.com"}],
    }
    second, _failed = run(capsys, **BASE)
    assert second["changed"] is False
    assert len(FakePort.updates) == 1


def test_check_mode_reports_the_change_and_sends_nothing(capsys):
    result, _failed = run(capsys, _ansible_check_mode=True, **BASE)
    assert result["changed"] is True
    assert FakePort.updates == []


def test_diff_shows_the_records_before_and_after_as_zone_file_lines(capsys):
    result, _failed = run(capsys, _ansible_diff=True, **BASE)
    assert result["diff"] == {
        "before_header": "SRV records of example.com in zone example.com on 192.0.2.53:53",
        "after_header": "SRV records of example.com in zone example.com on 192.0.2.53:53",
        "before": "",
        "after": "_matrix-fed._tcp.example.com. 3600 IN SRV 10 5 8448 matrix.example.com.\n"
        "_matrix._tcp.example.com. 3600 IN SRV 10 5 8448 matrix.example.com.\n",
    }


# -- the deprecated _matrix._tcp name -------------------------------------------------------------------
def test_by_default_the_same_records_are_published_at_the_legacy_name(capsys):
    """Homeservers before Matrix 1.8 read _matrix._tcp only: the default publishes both names."""
    result, _failed = run(capsys, **BASE)
    assert result["names"] == [FED, LEGACY]
    assert result["after"][LEGACY] == result["after"][FED]
    assert FakePort.records[LEGACY] == FakePort.records[FED]


@pytest.mark.parametrize(
    ("legacy", "after"),
    [
        ("publish", [(10, 5, 8448, "matrix.example.com")]),
        (True, [(10, 5, 8448, "matrix.example.com")]),
        ("true", [(10, 5, 8448, "matrix.example.com")]),
        ("absent", []),
        (False, []),
        ("no", []),
    ],
)
def test_the_legacy_name_is_published_or_emptied_as_asked(capsys, legacy, after):
    FakePort.records = {LEGACY: (60, [Record(0, 0, 443, "old.example.com")])}
    result, failed = run(capsys, legacy=legacy, **BASE)
    assert not failed
    assert [tuple(record.values()) for record in result["after"][LEGACY]["records"]] == after
    assert [record.key() for record in FakePort.records[LEGACY][1]] == after


@pytest.mark.parametrize("state", ["present", "absent"])
def test_keep_leaves_the_legacy_name_alone(capsys, state):
    old = (60, [Record(0, 0, 443, "old.example.com")])
    FakePort.records = {LEGACY: old}
    result, failed = run(capsys, legacy="keep", **{**BASE, "state": state})
    assert not failed
    assert result["names"] == [FED]
    assert set(result["before"]) == set(result["after"]) == {FED}
    assert FakePort.records[LEGACY] == old
    assert all(wanted.name == FED for changes in FakePort.updates for _current, wanted in changes)


def test_an_unknown_legacy_value_fails_naming_the_choices(capsys):
    result, failed = run(capsys, legacy="both", **BASE)
    assert failed
    assert result["msg"] == (
        "matrixops.delegation.srv_record: legacy must be one of publish, keep, absent "
        "(or true/false, which mean publish/absent), got 'both'"
    )
    assert FakePort.created == []


def test_the_tsig_key_reaches_the_port(capsys):
    run(capsys, tsig_algorithm="hmac-sha512", **BASE)
    tsig = FakePort.created[0].tsig
    assert (tsig.name, tsig.algorithm, tsig.secret) == ("update-key", "hmac-sha512", SECRET)


def test_without_a_key_the_messages_are_not_signed(capsys):
    args = {k: v for k, v in BASE.items() if not k.startswith("tsig")}
    run(capsys, **args)
    assert FakePort.created[0].tsig is None


def test_key_name_and_secret_go_together(capsys):
    result, failed = run(capsys, **{k: v for k, v in BASE.items() if k != "tsig_secret"})
    assert failed
    assert "tsig_key_name, tsig_secret" in result["msg"]


def test_a_dns_error_fails_with_the_server_rcode_and_tsig_error_and_never_the_secret(capsys):
    FakePort.error = SrvUpdateError(
        "192.0.2.53:53", "update: NOTAUTH (TSIG error BADSIG)", rcode="NOTAUTH", tsig_error="BADSIG"
    )
    result, failed = run(capsys, **BASE)
    assert failed
    assert (
        result["msg"]
        == "matrixops.delegation.srv_record: DNS server 192.0.2.53:53: update: NOTAUTH (TSIG error BADSIG)"
    )
    assert (result["rcode"], result["tsig_error"]) == ("NOTAUTH", "BADSIG")
    assert result["changed"] is False
    assert SECRET not in json.dumps(result)


def test_invalid_targets_fail_before_any_dns_exchange(capsys):
    result, failed = run(capsys, **{**BASE, "targets": [{"host": "matrix.example.com", "port": 0}]})
    assert failed
    assert result["msg"] == "matrixops.delegation.srv_record: targets[0]: port must be from 1 to 65535, got 0"
    assert FakePort.created == []


def test_without_dns_server_the_records_are_only_rendered(capsys):
    result, failed = run(
        capsys,
        server_name="example.com",
        targets=[{"host": "matrix.example.com", "port": 443}],
        legacy=True,
        checks=False,
    )
    assert not failed
    assert result["changed"] is False
    assert result["before"] is None
    assert result["zone"] is None
    assert result["zonefile"] == (
        "_matrix-fed._tcp.example.com. 3600 IN SRV 10 5 8448 matrix.example.com.\n".replace("8448", "443")
        + "_matrix._tcp.example.com. 3600 IN SRV 10 5 443 matrix.example.com.\n"
    )
    assert FakePort.created == []


def test_the_plan_and_check_warnings_become_ansible_warnings(capsys, monkeypatch):
    # Recorded at module.warn: where ansible-core sends them (result or display) depends on the process.
    warned = []
    monkeypatch.setattr(srv_record.AnsibleModule, "warn", lambda self, message, **kwargs: warned.append(message))
    monkeypatch.setattr(srv_record, "run_checks", lambda module, plan: ["SRV target x is an alias (CNAME)"])
    run(capsys, **{**BASE, "targets": [{"host": ".", "port": 0}]})
    assert len(warned) == 2
    assert "DISABLES federation" in warned[0]
    assert warned[1] == "SRV target x is an alias (CNAME)"


def test_checks_do_not_run_for_state_absent(capsys, monkeypatch):
    def fail(module, plan):
        raise AssertionError("checks ran")

    monkeypatch.setattr(srv_record, "run_checks", fail)
    result, failed = run(capsys, server_name="example.com", state="absent", dns_server="192.0.2.53")
    assert not failed
    assert result["after"] == {FED: {"ttl": None, "records": []}, LEGACY: {"ttl": None, "records": []}}

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The certbot_certificate module shell: options, check mode, the files it reads and writes, a
stand-in ``certbot`` for its exit statuses (real certbot and pebble run in
tests/integration/test_certbot_certificate.py)."""

from __future__ import annotations

import json
import shlex

import pytest
from ansible.module_utils import _internal
from ansible.module_utils.common import warnings
from ansible.module_utils.testing import patch_module_args
from support.tls_certs import DAY, issue

from ansible_collections.matrixops.delegation.plugins.module_utils import _acme as acme
from ansible_collections.matrixops.delegation.plugins.modules import certbot_certificate

SECRET = "c2VjcmV0LW5ldmVyLWluLWEtcmVzdWx0"


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    if hasattr(warnings, "_global_warnings"):
        monkeypatch.setattr(warnings, "_global_warnings", {})
    if hasattr(_internal, "is_controller"):
        monkeypatch.setattr(_internal, "is_controller", False)


def run(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit) as info:
        certbot_certificate.main()
    return json.loads(capsys.readouterr().out), info.value.code != 0


@pytest.fixture
def dirs(tmp_path):
    """Options pointing certbot's directories into ``tmp_path``, and a stand-in certbot."""
    certbot = tmp_path / "certbot"
    certbot.write_text(
        f"#!/bin/sh\necho \"$@\" > {shlex.quote(str(tmp_path / 'args'))}\necho 'Some challenges have failed.' >&2\nexit 1\n"
    )
    certbot.chmod(0o755)
    return {
        "cert_name": "www.acme.test",
        "domains": ["www.acme.test"],
        "webroot": str(tmp_path / "www"),
        "certbot_dir": str(tmp_path / "config"),
        "work_dir": str(tmp_path / "work"),
        "logs_dir": str(tmp_path / "logs"),
        "certbot": str(certbot),
    }


def lineage(tmp_path, *, days=1825, conf="version = 2.1.0\n[renewalparams]\nserver = " + acme.LETS_ENCRYPT + "\n"):
    live = tmp_path / "config" / "live" / "www.acme.test"
    live.mkdir(parents=True)
    (live / "cert.pem").write_text(issue(["www.acme.test"], not_after=acme.utcnow() + days * DAY).pem)
    renewal = tmp_path / "config" / "renewal"
    renewal.mkdir(parents=True)
    (renewal / "www.acme.test.conf").write_text(conf)
    return renewal / "www.acme.test.conf"


def test_a_name_that_is_not_a_dns_name_fails_naming_the_option(capsys, dirs):
    result, failed = run(capsys, **{**dirs, "domains": ["www.acme.test", "not a name"]})
    assert failed and result["msg"].startswith("matrixops.delegation.certbot_certificate: domains: 'not a name'")


def test_check_mode_without_a_lineage_would_order_and_runs_nothing(capsys, dirs, tmp_path):
    result, failed = run(capsys, **dirs, _ansible_check_mode=True)
    assert not failed and result["changed"] and result["ordered"]
    assert result["cmd"][:2] == [dirs["certbot"], "certonly"] and "--force-renewal" not in result["cmd"]
    assert not (tmp_path / "args").exists()


def test_a_good_lineage_only_gets_renew_before_expiry_and_a_rerun_changes_nothing(capsys, dirs, tmp_path):
    conf = lineage(tmp_path)
    result, failed = run(capsys, **dirs)
    assert not failed and result["changed"] and not result["ordered"]
    assert conf.read_text().startswith("renew_before_expiry = 30 days\n")
    assert 1823 <= result["days_left"] <= 1825 and result["reason"].startswith("valid until ")
    result, failed = run(capsys, **dirs)
    assert not failed and not result["changed"]
    assert not (tmp_path / "args").exists()


def test_a_failed_certbot_run_says_what_to_fix_and_keeps_the_lineage(capsys, dirs, tmp_path):
    conf = lineage(
        tmp_path, days=10, conf="renew_before_expiry = 30 days\n[renewalparams]\nserver = " + acme.LETS_ENCRYPT + "\n"
    )
    before = conf.read_text()
    result, failed = run(capsys, **dirs)
    assert failed and result["rc"] == 1 and result["ordered"]
    assert result["msg"].endswith("challenge http-01: certbot failed: Some challenges have failed.")
    assert "--force-renewal" in (tmp_path / "args").read_text()
    assert conf.read_text() == before


def test_dns_credentials_give_the_server_for_messages_but_never_the_secret(tmp_path):
    ini = tmp_path / "k.ini"
    ini.write_text(f"dns_rfc2136_server = 192.0.2.53\ndns_rfc2136_name = k\ndns_rfc2136_secret = {SECRET}\n")
    assert certbot_certificate.dns_server_of(str(ini)) == "192.0.2.53:53"
    assert certbot_certificate.dns_server_of(str(tmp_path / "missing.ini")) is None


def test_the_log_of_this_run_only_or_all_of_a_rotated_log(tmp_path):
    log = tmp_path / "letsencrypt.log"
    log.write_text("old run\n")
    offset = certbot_certificate.log_size(str(log))
    with log.open("a") as handle:
        handle.write("this run\n")
    assert certbot_certificate.log_since(str(log), offset) == "this run\n"
    log.write_text("new\n")  # certbot rotated it
    assert certbot_certificate.log_since(str(log), offset) == "new\n"
    assert certbot_certificate.log_since(str(tmp_path / "none.log"), 0) == ""

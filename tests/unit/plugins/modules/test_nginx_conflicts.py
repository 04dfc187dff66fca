# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nginx_conflicts module shell: a stand-in ``nginx`` script prints a -T dump (a real nginx
runs in tests/integration/test_nginx_conflicts.py)."""

from __future__ import annotations

import json
import os
import shlex

import pytest
from ansible.module_utils import _internal
from ansible.module_utils.common import warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.matrixops.delegation.plugins.modules import nginx_conflicts

SITE = """\
# configuration file /etc/nginx/nginx.conf:
http {
    include /etc/nginx/sites-enabled/*;
}

# configuration file /etc/nginx/sites-enabled/example.com:
server {
    listen 443 ssl;
    server_name example.com *.example.com;
}

"""


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    """Warnings are collected process-wide; each test sees only its own module run's. Once a test of
    controller code (a filter) ran in this process, ansible-core sends warnings to its display
    instead of the result, unless the process is a module again."""
    if hasattr(warnings, "_global_warnings"):
        monkeypatch.setattr(warnings, "_global_warnings", {})
    if hasattr(_internal, "is_controller"):
        monkeypatch.setattr(_internal, "is_controller", False)


@pytest.fixture
def nginx(tmp_path):
    """``nginx(dump, rc=0)`` writes a stand-in binary that prints ``dump`` for -T; returns its path."""

    def make(dump: str = SITE, rc: int = 0, stderr: str = "nginx: configuration file test is successful") -> str:
        (tmp_path / "dump").write_text(dump)
        binary = tmp_path / "nginx"
        binary.write_text(
            "#!/bin/sh\n"
            f'echo "$@" > {shlex.quote(str(tmp_path / "args"))}\n'
            f"cat {shlex.quote(str(tmp_path / 'dump'))}\n"
            f"echo {shlex.quote(stderr)} >&2\n"
            f"exit {rc}\n"
        )
        binary.chmod(0o755)
        return str(binary)

    return make


def run(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit) as info:
        nginx_conflicts.main()
    return json.loads(capsys.readouterr().out), info.value.code != 0


WANTED = [{"server_name": "example.com", "listen": ["127.0.0.2:443", "[::1]:443"]}]


def test_conflict_fails_with_file_line_and_hint(capsys, nginx):
    result, failed = run(capsys, server_blocks=WANTED, binary=nginx(), hint="set well_known_mode: nginx_snippet")
    assert failed and result["changed"] is False
    assert result["msg"] == (
        "server_name example.com on 127.0.0.2:443 is already served by /etc/nginx/sites-enabled/example.com line 3 "
        "(listen 443 ssl at line 2); set well_known_mode: nginx_snippet"
    )
    (conflict,) = result["conflicts"]
    assert conflict["file"] == "/etc/nginx/sites-enabled/example.com" and conflict["listen"] == "127.0.0.2:443"
    assert result["servers"] == [
        {
            "file": "/etc/nginx/sites-enabled/example.com",
            "line": 1,
            "server_names": ["example.com", "*.example.com"],
            "listen": ["*:443"],
            "own": False,
        }
    ]


def test_nginx_warnings_are_returned(capsys, nginx):
    stderr = 'nginx: [warn] conflicting server name "example.com" on 0.0.0.0:443, ignored'
    result, _failed = run(capsys, server_blocks=WANTED, binary=nginx(stderr=stderr))
    assert result["nginx_warnings"] == [stderr]


def test_take_over_succeeds_with_a_warning(capsys, nginx):
    result, failed = run(capsys, server_blocks=WANTED, binary=nginx(), take_over=True)
    assert not failed and result["changed"] is False
    assert len(result["conflicts"]) == 1
    assert "taken over (take_over is true)" in json.dumps(result["warnings"])


def test_wildcard_match_is_a_note_and_a_warning(capsys, nginx):
    result, failed = run(
        capsys, server_blocks=[{"server_name": "matrix.example.com", "listen": ["443"]}], binary=nginx()
    )
    assert not failed and result["conflicts"] == []
    (note,) = result["notes"]
    assert note.startswith("server_name matrix.example.com on *:443 also matches *.example.com in ")
    assert note in json.dumps(result["warnings"])


def test_own_files_through_a_symlink(capsys, nginx, tmp_path):
    real = tmp_path / "real.conf"
    real.write_text("")
    link = tmp_path / "enabled.conf"
    link.symlink_to(real)
    dump = (
        f"# configuration file /etc/nginx/nginx.conf:\nhttp {{ include {link}; }}\n\n"
        f"# configuration file {link}:\nserver {{ listen 443; server_name example.com; }}\n\n"
    )
    result, failed = run(capsys, server_blocks=WANTED, binary=nginx(dump), own_files=[str(real)])
    assert not failed and result["conflicts"] == []
    assert result["servers"][0]["own"] is True


def test_nginx_not_installed_means_nothing_to_shadow(capsys, tmp_path):
    result, failed = run(capsys, server_blocks=WANTED, binary=str(tmp_path / "no-nginx"))
    assert not failed
    assert result["nginx_installed"] is False and result["conflicts"] == [] and result["changed"] is False


def test_failing_nginx_t_fails_naming_its_output(capsys, nginx):
    binary = nginx("", rc=1, stderr='nginx: [emerg] unknown directive "sever" in /etc/nginx/sites-enabled/x:3')
    result, failed = run(capsys, server_blocks=WANTED, binary=binary)
    assert failed
    assert result["msg"].startswith(f"'{binary} -T' failed (exit 1)")
    assert 'unknown directive "sever" in /etc/nginx/sites-enabled/x:3' in result["msg"]


def test_check_mode_runs_the_same_and_config_is_passed(capsys, nginx, tmp_path):
    result, failed = run(
        capsys, server_blocks=WANTED, binary=nginx(), config="/opt/nginx.conf", _ansible_check_mode=True
    )
    assert failed and len(result["conflicts"]) == 1
    assert (tmp_path / "args").read_text().split() == ["-T", "-c", "/opt/nginx.conf"]


def test_unreadable_dump_fails_without_a_traceback(capsys, nginx):
    result, failed = run(capsys, server_blocks=WANTED, binary=nginx("# configuration file /x:\nhttp {\n"))
    assert failed and result["msg"].startswith("cannot read the output of ")
    assert "/x: the block opened at line 1 is not closed" in result["msg"]


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([{"server_name": "example.com", "listen": ["127.0.0.1:99999"]}], "server_blocks[0].listen: listen 127.0"),
        ([{"server_name": "example.com", "listen": []}], "server_blocks[0].listen must list at least one address"),
        ([{"server_name": "", "listen": ["443"]}], "server_blocks[0].server_name must be a server name"),
    ],
)
def test_bad_arguments_are_refused_before_running_nginx(capsys, nginx, tmp_path, blocks, message):
    result, failed = run(capsys, server_blocks=blocks, binary=nginx())
    assert failed and message in result["msg"]
    assert not os.path.exists(tmp_path / "args")

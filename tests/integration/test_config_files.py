"""The config_files module through ansible-playbook: one transaction, rolled back on failure."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SECRET = "-----BEGIN PRIVATE KEY-----\nTOP-SECRET-MATERIAL\n-----END PRIVATE KEY-----\n"


def play(tmp_path: Path, task: str, *args: str) -> subprocess.CompletedProcess:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - name: Change the files\n      matrixops.delegation.config_files:\n" + task
    )
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
         "-e", f"d={tmp_path}", "-e", f"secret={SECRET!r}", *args, str(playbook)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


FILES = """\
        files:
          - {path: "{{ d }}/conf/site.conf", content: "NEW\\n"}
          - {path: "{{ d }}/www/new/server.json", content: "{}\\n"}
        secret_files:
          - {path: "{{ d }}/keys/site.key", content: "{{ secret }}"}
"""


@pytest.fixture
def site(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "keys").mkdir()
    (tmp_path / "conf/site.conf").write_text("OLD\n")
    (tmp_path / "keys/site.key").write_text("OLD KEY\n")
    (tmp_path / "keys/site.key").chmod(0o600)
    return tmp_path


def assert_untouched(site: Path) -> None:
    assert (site / "conf/site.conf").read_text() == "OLD\n"
    assert (site / "keys/site.key").read_text() == "OLD KEY\n"
    assert not (site / "www").exists(), "directories created for the transaction are removed again"


def test_writes_every_file_then_nothing_changes(site):
    first = play(site, FILES + "        validate: [/bin/true]\n        activate: [/bin/true]\n")
    assert first.returncode == 0, first.stdout
    assert "changed=1" in first.stdout
    assert (site / "conf/site.conf").read_text() == "NEW\n"
    assert (site / "www/new/server.json").read_text() == "{}\n"
    assert (site / "keys/site.key").read_text() == SECRET
    assert stat.S_IMODE(os.stat(site / "keys/site.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(site / "conf/site.conf").st_mode) == 0o644
    second = play(site, FILES + "        validate: [/bin/false]\n")
    assert second.returncode == 0, "nothing changed, so validation does not even run"
    assert "changed=0" in second.stdout


def test_failed_validation_restores_every_file(site):
    ran = play(site, FILES + "        validate: [sh, -c, 'echo config broken >&2; exit 1']\n")
    assert ran.returncode != 0
    assert "config broken" in ran.stdout and "the previous files were restored" in ran.stdout
    assert_untouched(site)
    assert "TOP-SECRET-MATERIAL" not in ran.stdout + ran.stderr


def test_failed_activation_restores_and_activates_the_old_files(site):
    marker = site / "activations"
    activate = (
        f"        activate: [sh, -c, 'cat {site}/conf/site.conf >> {marker}; grep -q OLD {site}/conf/site.conf']\n"
    )
    ran = play(site, FILES + activate)
    assert ran.returncode != 0
    assert "restored and re-activated" in ran.stdout
    assert_untouched(site)
    assert marker.read_text() == "NEW\nOLD\n", "activated once with the new files, then again with the old ones"


def test_failed_post_activation_check_rolls_back(site):
    ran = play(site, FILES + "        activate: [/bin/true]\n        check: [sh, -c, 'echo port not bound; exit 3']\n")
    assert ran.returncode != 0
    assert "post-activation check" in ran.stdout and "port not bound" in ran.stdout
    assert_untouched(site)


def test_check_mode_shows_a_diff_without_the_secret_and_writes_nothing(site):
    ran = play(site, FILES, "--check", "--diff")
    assert ran.returncode == 0, ran.stdout
    assert "+NEW" in ran.stdout and "-OLD" in ran.stdout
    assert "secret content hidden" in ran.stdout
    assert "TOP-SECRET-MATERIAL" not in ran.stdout + ran.stderr
    assert_untouched(site)


def test_relative_path_is_refused_before_any_change(site):
    ran = play(
        site, '        files:\n          - {path: "relative.conf", content: "x"}\n' + FILES[len("        files:\n") :]
    )
    assert ran.returncode != 0
    assert "path must be absolute" in ran.stdout
    assert_untouched(site)

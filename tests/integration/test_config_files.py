"""The config_files module through ansible-playbook: one transaction, rolled back on failure."""

from __future__ import annotations

import json
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


def release_task(site: Path, version: str, *extra: str) -> str:
    return (
        "        release:\n"
        f'          base: "{site}/rel"\n'
        f'          link: "{site}/www/matrix"\n'
        f'          files: [{{path: server, content: "{version}\\n"}}, {{path: sub/client, content: "c {version}\\n", mode: "0640"}}]\n'
        f'        state_dir: "{site}/state"\n' + "".join(extra)
    )


def result_of(ran: subprocess.CompletedProcess) -> dict:
    """The registered result printed by the play's last task (``-v`` output of a debug)."""
    text = ran.stdout
    start = text.index('"r": {')
    depth = 0
    for index in range(start + 5, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return json.loads(text[start + 5 : index + 1])
    raise AssertionError(text)


def play_registered(tmp_path: Path, task: str, *args: str) -> subprocess.CompletedProcess:
    return play(
        tmp_path, task + "      register: r\n      ignore_errors: true\n    - ansible.builtin.debug: {var: r}\n", *args
    )


def test_a_release_is_written_once_linked_and_old_releases_are_pruned(site):
    (site / "rel/foreign").mkdir(parents=True)  # no marker: never removed
    first = play_registered(site, release_task(site, "one"))
    one = result_of(first)
    assert one["changed"] is True and one["release_id"] == os.path.basename(one["release_dir"])
    assert os.readlink(site / "www/matrix") == one["release_dir"]
    assert (site / "www/matrix/server").read_text() == "one\n"
    assert stat.S_IMODE(os.stat(site / "www/matrix/sub/client").st_mode) == 0o640
    assert json.loads((site / "www/matrix/.matrixops-release").read_text())["release_id"] == one["release_id"]
    again = result_of(play_registered(site, release_task(site, "one")))
    assert again["changed"] is False and again["changed_files"] == []
    two = result_of(play_registered(site, release_task(site, "two")))
    assert two["changed"] is True
    assert sorted(os.listdir(site / "rel")) == sorted(["foreign", two["release_id"]]), "the old release is pruned"
    assert (site / "www/matrix/server").read_text() == "two\n"
    assert not list(site.rglob("*.matrixops-[0-9]*")), "no temp or backup remains"


def test_the_release_id_filter_names_the_modules_directory(site):
    task = release_task(site, "x") + (
        "      register: r\n"
        "    - ansible.builtin.assert:\n"
        "        that: >-\n"
        "          r.release_id == [{'path': 'server', 'content': 'x\\n'},\n"
        "          {'path': 'sub/client', 'content': 'c x\\n', 'mode': '0640'}] | matrixops.delegation.release_id\n"
    )
    ran = play(site, task)
    assert ran.returncode == 0, ran.stdout
    assert "All assertions passed" in ran.stdout


def test_check_mode_shows_the_release_diff_and_writes_nothing(site):
    ran = play_registered(site, release_task(site, "one"), "--check", "--diff")
    result = result_of(ran)
    assert result["changed"] is True and "+one" in ran.stdout
    assert not (site / "rel").exists() and not (site / "www").exists() and not (site / "state").exists()


def test_validate_fail_on_rolls_back_a_validation_that_exits_0(site):
    task = (
        FILES
        + "        validate: [sh, -c, 'echo \"nginx: [warn] conflicting server name example.com on 0.0.0.0:443, ignored\"']\n"
    )
    task += '        validate_fail_on: ["conflicting server name"]\n'
    result = result_of(play_registered(site, task))
    assert result["failed"] is True and result["rolled_back"] is True
    assert "output matches validate_fail_on 'conflicting server name'" in result["msg"]
    assert "conflicting server name example.com on 0.0.0.0:443, ignored" in result["msg"]
    assert_untouched(site)


def test_a_failed_served_check_restores_and_names_what_holds_the_port(site):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        task = FILES + (
            "        activate: [/bin/true]\n"
            f"        check_served: [{{address: 127.0.0.1, port: {port}, tls: false, server_name: x.test, path: /}}]\n"
            "        check_timeout: 1\n"
        )
        result = result_of(play_registered(site, task))
    finally:
        listener.close()
    assert result["failed"] is True and result["rolled_back"] is True
    assert f"check_served: http://127.0.0.1:{port}/ with Host x.test should answer status 200" in result["msg"]
    assert f"127.0.0.1:{port} is held by " in result["msg"] and f"(PID {os.getpid()}:" in result["msg"]
    assert "the previous files were restored and re-activated" in result["msg"]
    assert_untouched(site)


def test_results_name_the_lock_wait_and_no_recovery(site):
    result = result_of(play_registered(site, FILES + f'        state_dir: "{site}/state"\n'))
    assert result["recovered"] == {} and result["lock_waited"] < 5
    assert not (site / "state/transactions").exists() or not os.listdir(site / "state/transactions")

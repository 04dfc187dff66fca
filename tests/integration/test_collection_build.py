"""The built collection tarball installs into a fresh collections path and works from there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_built_tarball_installs_and_its_lookup_and_module_work(tmp_path):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(tmp_path / "collections")
    env["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "false"

    built = _run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path)], env, REPO_ROOT)
    assert built.returncode == 0, built.stderr
    tarball = tmp_path / "matrixops-delegation-0.1.0.tar.gz"
    assert tarball.exists(), built.stdout
    listing = subprocess.run(["tar", "-tzf", str(tarball)], capture_output=True, text=True, check=True).stdout
    assert "plugins/lookup/resolve.py" in listing
    assert ".venv" not in listing and ".lab/" not in listing and "tests/output" not in listing

    installed = _run(
        [str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p", str(tmp_path / "collections")],
        env,
        tmp_path,
    )
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / "collections/ansible_collections/matrixops/delegation/MANIFEST.json").exists()

    playbook = tmp_path / "check.yml"
    playbook.write_text(
        """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Resolve an IP literal with the installed lookup
      ansible.builtin.set_fact:
        resolution: "{{ lookup('matrixops.delegation.resolve', '127.0.0.9:8448', allow_private_addresses=true) }}"
    - name: Check a closed port with the installed module
      matrixops.delegation.federation_check:
        server_name: 127.0.0.9:1
        allow_private_addresses: true
        timeout: 2
        fail_on_error: false
      register: check
    - name: Write both down
      ansible.builtin.copy:
        content: "{{ {'resolution': resolution, 'check': check} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""
    )
    out = tmp_path / "out.json"
    ran = _run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"out={out}",
            str(playbook),
        ],
        env,
        tmp_path,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    shown = json.loads(out.read_text())
    assert shown["resolution"]["method"] == "ip_literal"
    assert shown["resolution"]["targets"] == [{"host": "127.0.0.9", "port": 8448, "addresses": ["127.0.0.9"]}]
    assert shown["check"]["ok"] is False
    assert shown["check"]["errors"][0].startswith("cannot check 127.0.0.9:1:")

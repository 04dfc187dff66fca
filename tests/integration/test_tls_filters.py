# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tls_problems and certbot_lineage in a real play, on files laid out as certbot lays them out:
``live/<name>/*.pem`` are symbolic links into ``archive/<name>/``, read with slurp and stat."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pki
import pytest
from support.playbook import run_tasks


def certbot_tree(base: Path, ca: pki.CertificateAuthority, lineage: str, names: list[str], **dates) -> Path:
    """``base/{archive,live}/lineage``; returns the live directory."""
    archive, live = base / "archive" / lineage, base / "live" / lineage
    archive.mkdir(parents=True)
    live.mkdir(parents=True)
    leaf = pki.issue_cert(ca, archive / "cert1", names, **dates)
    leaf.cert_path.rename(archive / "fullchain1.pem")
    (archive / "fullchain1.pem").write_bytes((archive / "fullchain1.pem").read_bytes() + ca.cert_path.read_bytes())
    leaf.key_path.rename(archive / "privkey1.pem")
    for name in ("fullchain", "privkey"):
        os.symlink(f"../../archive/{lineage}/{name}1.pem", live / f"{name}.pem")
    return live


def read_and_check(live: Path, names: list[str], key: Path | None = None, tag: str = "") -> list[dict]:
    key = key or live / "privkey.pem"
    return [
        {"name": f"Stat {tag}", "ansible.builtin.stat": {"path": str(live / "fullchain.pem")}, "register": f"st{tag}"},
        {
            "name": f"Read cert {tag}",
            "ansible.builtin.slurp": {"src": str(live / "fullchain.pem")},
            "register": f"c{tag}",
        },
        {"name": f"Read key {tag}", "ansible.builtin.slurp": {"src": str(key)}, "register": f"k{tag}", "no_log": True},
        {
            "name": f"Check {tag}",
            "ansible.builtin.set_fact": {
                f"report{tag}": (
                    f"{{{{ c{tag}.content | b64decode | matrixops.delegation.tls_problems("
                    f"k{tag}.content | b64decode, names={names!r}, warn_days=30, "
                    f"certificate_source=st{tag}.stat.path, key_source='{key}') }}}}"
                ),
                f"lineage{tag}": (
                    f"{{{{ st{tag}.stat.lnk_source | default(st{tag}.stat.path)"
                    f" | matrixops.delegation.certbot_lineage('{live.parent.parent}') }}}}"
                ),
            },
        },
    ]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    base = tmp_path_factory.mktemp("letsencrypt")
    ca = pki.create_ca(base / "ca")
    now = pki.utcnow()
    good = certbot_tree(base, ca, "example.test", ["example.test", "*.example.test"])
    soon = certbot_tree(base, ca, "soon.test", ["soon.test"], not_after=now + datetime.timedelta(days=5))
    old = certbot_tree(
        base,
        ca,
        "old.test",
        ["old.test"],
        not_before=now - datetime.timedelta(days=100),
        not_after=now - datetime.timedelta(days=10),
    )
    plain = base / "plain"
    other = pki.issue_cert(ca, plain / "other", ["other.test"])
    tasks = (
        read_and_check(good, ["example.test", "matrix.example.test"], tag="_good")
        + read_and_check(good, ["a.b.example.test"], key=other.key_path, tag="_bad")
        + read_and_check(soon, ["soon.test"], tag="_soon")
        + read_and_check(old, ["old.test"], tag="_old")
    )
    names = [f"{kind}{tag}" for tag in ("_good", "_bad", "_soon", "_old") for kind in ("report", "lineage")]
    run = run_tasks(tasks, tmp_path_factory.mktemp("play"), registered=names)
    assert run.returncode == 0, run.output[-3000:]
    return {"run": run, "base": base, "other_key": other.key_path}


def test_certbot_files_through_their_links_have_no_problem(outcome):
    report = outcome["run"]["report_good"]
    assert report["problems"] == [] and report["warnings"] == []
    assert report["names"] == ["example.test", "*.example.test"] and report["days_left"] >= 800
    assert outcome["run"]["lineage_good"] == "example.test"


def test_wrong_key_and_uncovered_name_name_the_files(outcome):
    live = outcome["base"] / "live" / "example.test"
    problems = outcome["run"]["report_bad"]["problems"]
    assert problems[0].startswith(
        f"{outcome['other_key']} does not belong to the certificate in {live}/fullchain.pem (CN=example.test)"
    )
    assert problems[1].startswith(f"the certificate in {live}/fullchain.pem is not valid for a.b.example.test")
    assert "BEGIN" not in " ".join(problems)


def test_expiring_is_a_warning_and_expired_a_problem(outcome):
    soon, old = outcome["run"]["report_soon"], outcome["run"]["report_old"]
    assert soon["problems"] == [] and soon["days_left"] in (4, 5)
    assert soon["warnings"][0].startswith(f"the certificate in {outcome['base']}/live/soon.test/fullchain.pem expires")
    assert old["days_left"] in (-10, -11) and "expired on" in old["problems"][0]
    assert outcome["run"]["lineage_old"] == "old.test"

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nginx_conflicts through ansible-playbook against a real, running nginx.

The nginx has its own configuration in a temporary directory, laid out like Debian's: an
operator's site in ``sites-available/`` enabled by a symbolic link in ``sites-enabled/``, a
snippet it includes, a catch-all wildcard site and this application's own file in ``conf.d/``.
It listens only on addresses of this test's ``/24`` of the ``it`` band (support.net), and it
serves the operator's page over HTTPS before the module runs, so the module reads a
configuration that nginx really loaded.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import nginx as lab_nginx
import pki
import proc
import pytest
from support import net
from support.playbook import run_module_cases, run_tasks

MODULE = "matrixops.delegation.nginx_conflicts"
NET = net.allocate("it", binds=[(241, 443), (242, 443), (242, 8448)])
SITE_IP, OWN_IP = NET.ip(241), NET.ip(242)
HINT = "set well_known_mode: nginx_snippet, or well_known_take_over: true"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A running nginx with the operator's site; yields its paths. Stopped at the end."""
    binary = lab_nginx.ensure_nginx()
    root = tmp_path_factory.mktemp("nginx-conflicts")
    ca = pki.create_ca(root / "ca")
    leaf = pki.issue_cert(ca, root / "tls" / "example.test", ["example.test", "www.example.test"])
    (root / "www").mkdir()
    (root / "www" / "index.html").write_text("the operator's own page\n")
    site = _write(
        root / "sites-available" / "example.test",
        f"""# The operator's site, written by hand years ago.
server {{
    server_name example.test www.example.test;   # line 3

    include {root}/snippets/listen-site.conf;
    ssl_certificate {leaf.cert_path};
    ssl_certificate_key {leaf.key_path};
    root {root}/www;
}}
""",
    )
    _write(root / "snippets" / "listen-site.conf", f"# shared listen\nlisten {SITE_IP}:443 ssl;\n")
    (root / "sites-enabled").mkdir()
    (root / "sites-enabled" / "example.test").symlink_to(site)
    _write(
        root / "sites-enabled" / "catch-all",
        f"server {{\n    listen {SITE_IP}:443 ssl default_server;\n    server_name *.example.test;\n"
        f"    ssl_certificate {leaf.cert_path};\n    ssl_certificate_key {leaf.key_path};\n    return 444;\n}}\n",
    )
    for copy in ("dup-a", "dup-b"):  # the same name twice: nginx warns and serves only the first
        _write(
            root / "sites-enabled" / copy,
            f"server {{\n    listen {SITE_IP}:443 ssl;\n    server_name dup.example.test;\n"
            f"    ssl_certificate {leaf.cert_path};\n    ssl_certificate_key {leaf.key_path};\n    return 204;\n}}\n",
        )
    own = _write(
        root / "conf.d" / "matrix-well-known-example.test.conf",
        f"server {{\n    listen {OWN_IP}:443 ssl;\n    server_name example.test;\n"
        f"    ssl_certificate {leaf.cert_path};\n    ssl_certificate_key {leaf.key_path};\n"
        "    location /.well-known/matrix/ { return 200 '{}'; }\n}\n",
    )
    conf = _write(
        root / "nginx.conf",
        f"""daemon on;
user root;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/tmp-body;
    proxy_temp_path {root}/tmp-proxy;
    fastcgi_temp_path {root}/tmp-fastcgi;
    uwsgi_temp_path {root}/tmp-uwsgi;
    scgi_temp_path {root}/tmp-scgi;
    include conf.d/*.conf;
    include {root}/sites-enabled/*;
}}
""",
    )
    command = [binary, "-c", str(conf), "-p", f"{root}/", "-e", str(root / "error.log")]
    started = subprocess.run(command, capture_output=True, text=True, check=False)
    assert started.returncode == 0, started.stderr
    pidfile = root / "nginx.pid"
    deadline = time.monotonic() + 15
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    try:
        status, _headers, body = _get(SITE_IP, "example.test", ca.cert_path, deadline)
        assert status.endswith("200 OK") and body == b"the operator's own page\n"
        yield {"root": root, "conf": conf, "binary": binary, "site": site, "own": own, "pid": pid}
    finally:
        proc.terminate(pid, timeout=10)
        assert not proc.pid_alive(pid)


def _get(address, host, cafile, deadline):
    while True:
        try:
            return lab_nginx.https_get(address, 443, host, "/", cafile, timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def args(served, server_name, *listen, **more):
    return {
        "server_blocks": [{"server_name": server_name, "listen": list(listen)}],
        "own_files": [str(served["own"])],
        "binary": served["binary"],
        "config": str(served["conf"]),
        "hint": HINT,
        **more,
    }


@pytest.fixture(scope="module")
def outcome(served, tmp_path_factory):
    cases = {
        "shadow": args(served, "example.test", "443", "[::1]:443"),
        "own only": args(served, "example.test", f"{OWN_IP}:443"),
        "www on the site's address": args(served, "WWW.example.test", f"{SITE_IP}:443"),
        "other port": args(served, "example.test", f"{OWN_IP}:8448"),
        "wildcard": args(served, "matrix.example.test", "443"),
        "take over": args(served, "example.test", f"{SITE_IP}:443", take_over=True),
        "site is own through its link target": {
            **args(served, "example.test", f"{SITE_IP}:443"),
            "own_files": [str(served["site"]), str(served["root"] / "sites-enabled" / "catch-all")],
        },
        "duplicate": args(served, "dup.example.test", f"{SITE_IP}:443"),
        "not installed": args(served, "example.test", "443", binary=str(served["root"] / "no-such-nginx")),
        "broken config": args(served, "example.test", "443", config=str(served["root"] / "missing.conf")),
    }
    return run_module_cases(MODULE, cases, tmp_path_factory.mktemp("playbook")).results


def site_line(served, text):
    lines = served["site"].read_text().splitlines()
    return next(number for number, line in enumerate(lines, start=1) if text in line)


def test_the_operators_site_is_found_with_its_file_and_line(served, outcome):
    result = outcome["shadow"]
    assert result["failed"] is True and result["changed"] is False
    enabled = served["root"] / "sites-enabled" / "example.test"
    line = site_line(served, "server_name example.test")
    snippet = served["root"] / "snippets" / "listen-site.conf"
    assert result["msg"] == (
        f"server_name example.test on *:443 is already served by {enabled} line {line} "
        f"(listen {SITE_IP}:443 ssl at {snippet} line 2); {HINT}"
    )
    assert [(c["file"], c["line"], c["listen"]) for c in result["conflicts"]] == [(str(enabled), line, "*:443")]
    assert all(c["listen"] != "[::1]:443" for c in result["conflicts"]), "IPv4 sites never shadow IPv6"


def test_own_files_are_not_conflicts(outcome):
    result = outcome["own only"]
    assert not result.get("failed"), result.get("msg")
    assert result["conflicts"] == [] and result["nginx_installed"] is True
    own = [s for s in result["servers"] if s["own"]]
    assert [s["server_names"] for s in own] == [["example.test"]]


def test_every_name_of_the_block_counts_and_case_does_not_matter(served, outcome):
    result = outcome["www on the site's address"]
    assert result["failed"] is True
    (conflict,) = result["conflicts"]
    assert conflict["server_name"] == "WWW.example.test" and conflict["line"] == site_line(served, "server_name")


def test_another_port_is_free(outcome):
    result = outcome["other port"]
    assert not result.get("failed") and result["conflicts"] == [] and result["notes"] == []


def test_a_wildcard_site_is_a_note_not_a_conflict(served, outcome):
    result = outcome["wildcard"]
    assert not result.get("failed"), result.get("msg")
    (note,) = result["notes"]
    catch_all = served["root"] / "sites-enabled" / "catch-all"
    assert note.startswith(
        f"server_name matrix.example.test on *:443 also matches *.example.test in {catch_all} line 3"
    )


def test_take_over_succeeds_and_still_reports(outcome):
    result = outcome["take over"]
    assert not result.get("failed"), result.get("msg")
    assert len(result["conflicts"]) == 1 and result["conflicts"][0]["existing_listen"] == f"listen {SITE_IP}:443 ssl"


def test_own_files_match_through_the_symlink(outcome):
    result = outcome["site is own through its link target"]
    assert not result.get("failed"), result.get("msg")


def test_no_nginx_nothing_to_shadow(outcome):
    result = outcome["not installed"]
    assert not result.get("failed") and result["nginx_installed"] is False and result["conflicts"] == []


def test_nginx_t_failure_names_its_output(served, outcome):
    result = outcome["broken config"]
    assert result["failed"] is True
    assert result["msg"].startswith(f"'{served['binary']} -T -c {served['root']}/missing.conf' failed (exit 1)")
    assert "missing.conf" in result["msg"] and "No such file or directory" in result["msg"]


def test_check_mode_gives_the_same_answer_and_nginx_keeps_serving(served, tmp_path):
    run = run_tasks(
        [{"name": "Check", MODULE: args(served, "example.test", f"{SITE_IP}:443"), "register": "checked",
          "ignore_errors": True}],
        tmp_path,
        registered=["checked"],
        args=["--check"],
    )  # fmt: skip
    checked = run["checked"]
    assert checked["failed"] is True and checked["changed"] is False and len(checked["conflicts"]) == 1
    assert proc.pid_alive(served["pid"]), "nginx still runs: the module only read its configuration"
    assert (served["root"] / "nginx.pid").read_text().strip() == str(served["pid"])


def test_a_name_nginx_already_warns_about_is_found_twice(served, outcome):
    result = outcome["duplicate"]
    assert result["failed"] is True
    enabled = served["root"] / "sites-enabled"
    assert [(c["file"], c["line"]) for c in result["conflicts"]] == [(f"{enabled}/dup-a", 3), (f"{enabled}/dup-b", 3)]
    assert f'conflicting server name "dup.example.test" on {SITE_IP}:443, ignored' in " ".join(result["nginx_warnings"])

"""The world of the ``srv_records`` integration tests: a real knot that takes TSIG-signed updates.

* knot on ``<net>.53:5353``, authoritative for ``srv.test.``, updatable with the TSIG key
  ``srv-update``; a second key ``other`` is known to knot but not allowed to update; a third,
  ``fed-only``, may update ``_matrix-fed._tcp.atomic.srv.test`` and nothing else (knot's
  ``update-owner``), which shows that an update of two names is applied whole or not at all;
* nginx (tests/lab/nginx.py) on ``<net>.2:443`` serving ``/.well-known/matrix/server`` for
  ``wk.srv.test`` (delegating elsewhere) and ``agree.srv.test`` (delegating where SRV says),
  with a certificate from a throwaway CA;
* ``<net>.12:5353``: a TCP listener that never answers (a primary that times out);
  ``<net>.99:5353``: nothing (connection refused).

``<net>`` is the first free ``127.0.N`` with N in 60..79 (``MATRIXOPS_SRV_NET`` picks one), so
that these tests run beside the lab, the lookup tests' world and the federation tests' world.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
for extra in (REPO_ROOT / "tests" / "lab", HERE.parent):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import knot  # noqa: E402
import nginx  # noqa: E402
import pki  # noqa: E402
from it_playbook import ansible_playbook, environment  # noqa: E402

ZONE = "srv.test"
DNS_PORT = 5353
KEY_NAME = "srv-update"
KEY_ALGORITHM = "hmac-sha256"
KEY_SECRET = "c3J2LXJlY29yZHMtaW50ZWdyYXRpb24tdGVzdC1rZXk="  # base64("srv-records-integration-test-key")
OTHER_KEY = "other"
OTHER_SECRET = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMTI="
WRONG_SECRET = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZy0="
FED_ONLY_KEY = "fed-only"
FED_ONLY_SECRET = "ZmVkLW9ubHkta2V5LWZlZC1vbmx5LWtleS1mZWQtb24="
FED_ONLY_NAME = "_matrix-fed._tcp.atomic.srv.test"


def _net_is_free(net: str) -> bool:
    binds = [(f"{net}.53", DNS_PORT), (f"{net}.2", 443), (f"{net}.12", DNS_PORT)]
    return not any(knot.port_in_use(address, port) for address, port in binds)


def _choose_net() -> str:
    configured = os.environ.get("MATRIXOPS_SRV_NET")
    if configured:
        return configured
    for third in range(60, 80):
        if _net_is_free(f"127.0.{third}"):
            return f"127.0.{third}"
    return "127.0.60"  # all busy: fail later with a clear "already in use"


NET = _choose_net()
DNS_IP = f"{NET}.53"
NAMESERVER = f"{DNS_IP}:{DNS_PORT}"
WK_IP = f"{NET}.2"
MATRIX_IP = f"{NET}.3"
SILENT_IP = f"{NET}.12"
DEAD_IP = f"{NET}.99"


def n(label: str) -> str:
    return f"{label}.{ZONE}"


def zone_text() -> str:
    return "\n".join(
        [
            f"$ORIGIN {ZONE}.",
            "$TTL 300",
            f"@ SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 300",
            "@ NS ns",
            f"ns A {DNS_IP}",
            f"matrix A {MATRIX_IP}",
            f"backup A {MATRIX_IP}",
            "alias CNAME matrix",
            f"elsewhere A {MATRIX_IP}",
            f"wk A {WK_IP}",
            f"agree A {WK_IP}",
            "",
        ]
    )


class SrvKnot(knot.KnotServer):
    """The lab's KnotServer, plus a key that may update one owner name only."""

    def config_text(self) -> str:
        text = super().config_text()
        fed_only_acl = f"  - id: update-{FED_ONLY_KEY}\n    key: {FED_ONLY_KEY}\n    action: update\n"
        assert fed_only_acl in text, text
        text = text.replace(
            fed_only_acl,
            fed_only_acl
            + f"    update-owner: name\n    update-owner-match: equal\n    update-owner-name: [{FED_ONLY_NAME}.]\n",
        )
        return text.replace(f"    acl: update-{KEY_NAME}\n", f"    acl: [update-{KEY_NAME}, update-{FED_ONLY_KEY}]\n")


@dataclass
class World:
    nameserver: str
    ca_path: Path
    workdir: Path

    def srv(self, name: str) -> tuple[int | None, list[tuple[int, int, int, str]]]:
        """(TTL, records) of ``name`` SRV, asked of knot directly (None, [] when there are none)."""
        reply = dns.query.tcp(dns.message.make_query(name + ".", dns.rdatatype.SRV), DNS_IP, port=DNS_PORT, timeout=5)
        assert reply.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN), dns.rcode.to_text(reply.rcode())
        for rrset in reply.answer:
            if rrset.rdtype == dns.rdatatype.SRV:
                records = sorted((r.priority, r.weight, r.port, r.target.to_text(omit_final_dot=True)) for r in rrset)
                return rrset.ttl, records
        return None, []


class WorldRunner:
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.knot: knot.KnotServer | None = None
        self.silent: socket.socket | None = None
        self.nginx_workdir = self.workdir / "nginx"
        self.nginx_started = False

    def start(self) -> World:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> World:
        ca = pki.create_ca(self.workdir / "pki" / "ca", common_name="matrixops srv test CA")
        cert = pki.issue_cert(ca, self.workdir / "pki" / "wk", [n("wk"), n("agree"), WK_IP])
        self.knot = SrvKnot(
            self.workdir / "knot",
            DNS_IP,
            DNS_PORT,
            {ZONE: zone_text()},
            tsig_keys={
                KEY_NAME: (KEY_ALGORITHM, KEY_SECRET),
                OTHER_KEY: (KEY_ALGORITHM, OTHER_SECRET),
                FED_ONLY_KEY: (KEY_ALGORITHM, FED_ONLY_SECRET),
            },
            updatable_zones={ZONE: KEY_NAME},
        )
        self.knot.start()
        self.silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.silent.bind((SILENT_IP, DNS_PORT))
        self.silent.listen(16)  # never accepted: the handshake completes, nobody answers
        servers = [
            nginx.Server(
                listen=f"{WK_IP}:443",
                server_name=n(label),
                certificate=cert.cert_path,
                key=cert.key_path,
                locations={"= /.well-known/matrix/server": nginx.json_return({"m.server": m_server})},
            )
            for label, m_server in (("wk", n("elsewhere") + ":443"), ("agree", n("matrix") + ":8448"))
        ]
        nginx.start(self.nginx_workdir, servers)
        self.nginx_started = True
        return World(nameserver=NAMESERVER, ca_path=ca.bundle_path, workdir=self.workdir)

    def stop(self) -> None:
        if self.nginx_started:
            nginx.stop(self.nginx_workdir)
        if self.silent is not None:
            self.silent.close()
        if self.knot is not None:
            self.knot.stop()


# -- ansible-playbook ---------------------------------------------------------------------------------
@dataclass
class PlaybookRun:
    returncode: int
    output: str
    results: dict[str, dict]  # registered results by name (tasks that register)
    seconds: float
    workdir: Path

    @property
    def changed(self) -> int:
        """``changed=N`` of the play recap."""
        for line in self.output.splitlines():
            if line.startswith("localhost") and "changed=" in line:
                return int(line.split("changed=")[1].split()[0])
        raise AssertionError(f"no play recap in the output:\n{self.output}")


def warnings_of(result: dict) -> list[str]:
    """A registered result's warnings (plain strings, or ansible-core's structured summaries)."""
    return [w if isinstance(w, str) else w.get("event", {}).get("msg", str(w)) for w in result.get("warnings", [])]


def run_playbook(tasks: list[dict], workdir: Path, *, args: tuple[str, ...] = (), registered: tuple[str, ...] = ()):
    """Run one play on localhost; return the run with the ``registered`` results (written as JSON)."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "results.json"
    out.unlink(missing_ok=True)
    collect = {
        "name": "Write the registered results",
        "ansible.builtin.copy": {
            "dest": str(out),
            "content": "{{ collected | to_json }}",
            "mode": "0644",
        },
        "check_mode": False,
        "changed_when": False,  # not part of what the tests count
        "vars": {"collected": {name: f"{{{{ {name} | default(none) }}}}" for name in registered}},
    }
    play = [
        {"name": "srv_records integration", "hosts": "localhost", "gather_facts": False, "tasks": [*tasks, collect]}
    ]
    playbook = workdir / "playbook.yml"
    playbook.write_text(json.dumps(play, indent=2))
    began = time.monotonic()
    proc = subprocess.run(
        [ansible_playbook(), "-i", "localhost,", "-c", "local", *args, str(playbook)],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=600,
        check=False,
    )
    seconds = time.monotonic() - began
    results = json.loads(out.read_text()) if out.exists() else {}
    return PlaybookRun(proc.returncode, proc.stdout + proc.stderr, results, seconds, workdir)

"""The world of the ``srv_records`` integration tests: a real knot that takes TSIG-signed updates.

* knot on ``<net>.53:5353``, authoritative for ``srv.test.``, updatable with the TSIG key
  ``srv-update``; a second key ``other`` is known to knot but not allowed to update; a third,
  ``fed-only``, may update ``_matrix-fed._tcp.atomic.srv.test`` and nothing else (knot's
  ``update-owner``), which shows that an update of two names is applied whole or not at all;
* nginx (tests/lab/nginx.py) on ``<net>.2:443`` serving ``/.well-known/matrix/server`` for
  ``wk.srv.test`` (delegating elsewhere) and ``agree.srv.test`` (delegating where SRV says),
  with a certificate from a throwaway CA;
* ``<net>.12:5353``: a TCP peer that never answers (a primary that times out);
  ``<net>.99:5353``: nothing (connection refused); ``<net>.54:5353``: test_lab_tsig's lab.

``<net>`` is the world ``srv`` of ``support.net``: ``MATRIXOPS_SRV_NET`` or the first free one of
``127.0.60`` … ``127.0.69``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import knot
import nginx
import pki
from support import net, peers
from support.nameserver import Zone

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

NET = net.allocate("srv", binds=[(53, DNS_PORT), (2, 443), (12, DNS_PORT), (54, DNS_PORT)])
DNS_IP = NET.ip(53)
NAMESERVER = f"{DNS_IP}:{DNS_PORT}"
WK_IP = NET.ip(2)
MATRIX_IP = NET.ip(3)
SILENT_IP = NET.ip(12)
DEAD_IP = NET.ip(99)


def n(label: str) -> str:
    return f"{label}.{ZONE}"


def zone() -> Zone:
    records = Zone(ZONE, DNS_IP, ttl=300, timers="3600 600 86400 300")
    for label, address in (("matrix", MATRIX_IP), ("backup", MATRIX_IP), ("elsewhere", MATRIX_IP)):
        records.a(n(label), address)
    records.cname(n("alias"), n("matrix"))
    records.a(n("wk"), WK_IP)
    records.a(n("agree"), WK_IP)
    return records


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


@contextlib.contextmanager
def running(workdir: Path) -> Iterator[World]:
    """Knot, the silent primary and nginx, with their files in ``workdir``, until the block ends."""
    ca = pki.create_ca(workdir / "pki" / "ca", common_name="matrixops srv test CA")
    cert = pki.issue_cert(ca, workdir / "pki" / "wk", [n("wk"), n("agree"), WK_IP])
    keys = {
        KEY_NAME: (KEY_ALGORITHM, KEY_SECRET),
        OTHER_KEY: (KEY_ALGORITHM, OTHER_SECRET),
        FED_ONLY_KEY: (KEY_ALGORITHM, FED_ONLY_SECRET),
    }
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
    with contextlib.ExitStack() as stack:
        primary = SrvKnot(
            workdir / "knot", DNS_IP, DNS_PORT, {ZONE: zone().text()}, tsig_keys=keys, updatable_zones={ZONE: KEY_NAME}
        )
        stack.enter_context(primary)
        stack.enter_context(peers.Peers([peers.Listener(SILENT_IP, DNS_PORT, stall=True)]))
        stack.callback(nginx.stop, workdir / "nginx")
        nginx.start(workdir / "nginx", servers)
        yield World(nameserver=NAMESERVER, ca_path=ca.bundle_path, workdir=workdir)

"""The federation check's world: DNS, hostile key servers, nginx and the lab's real Synapse.

Everything binds addresses of one ``<net>.0/24`` of loopback, the world ``fed`` of
``support.net`` (``MATRIXOPS_FED_NET``, or else the first free one of ``127.0.40`` …
``127.0.59``), never a wildcard address:

=====================  =====================================================================
``<net>.53:5353``      knot, authoritative for ``example.test.`` (this world's own copy of the
                       lab zone: the lab's knot on 127.0.0.1:5353 is neither needed nor touched)
``<net>.2:443``        nginx, ``example.test``: the server, client and support well-knowns
``<net>.3:443``        nginx, ``matrix.example.test``: ``/_matrix`` proxied to Synapse
``<net>.8:8008``       the lab's real Synapse (tests/lab/synapse.py), server name example.test,
                       plain HTTP: this world's own instance, so that it never meets another
                       run's (the lab's default is 127.0.0.1:8008)
``<net>.10:8448``      hostile key servers (``support.peers``): one scenario per name, chosen by
                       SNI (the certificate) and by ``Host`` (the answers); keys signed by
                       ``support.matrix``, not by the collection's ``_signing`` module
``<net>.10:443``       the same server, for the client and support well-knowns of the scenarios
``<net>.11:8448``      plain HTTP where TLS is expected
``<net>.12:8448``      accepts TCP connections and never says anything
``<net>.99``           nothing listens: connections are refused
=====================  =====================================================================

Certificates come from a CA made for the run (tests/lab/pki.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import knot
import nginx
import pki
from support import net, peers
from support.matrix import CLIENT_PATH, KEYS_PATH, SUPPORT_PATH, VERSION_PATH, SigningKey, key_response
from support.matrix import CLIENT_VERSIONS_PATH as VERSIONS_PATH
from support.matrix import WELL_KNOWN_PATH as SERVER_WK_PATH
from support.nameserver import Zone

FED_PORT = 8448
NET = net.allocate(
    "fed", binds=[(53, 5353), (2, 443), (3, 443), (8, 8008), (10, 443), (10, FED_PORT), (11, FED_PORT), (12, FED_PORT)]
)
ZONE = "example.test"
DNS_IP = NET.ip(53)
DNS_PORT = 5353
NAMESERVER = f"{DNS_IP}:{DNS_PORT}"
WK_IP = NET.ip(2)  # nginx: example.test
MATRIX_IP = NET.ip(3)  # nginx: matrix.example.test -> Synapse
HOSTILE_IP = NET.ip(10)  # the Python key servers
PLAIN_IP = NET.ip(11)  # plain HTTP on the federation port
SILENT_IP = NET.ip(12)  # accepts, never answers
DEAD_IP = NET.ip(99)  # nothing listens

SERVER_NAME = ZONE  # the lab Synapse's server name
DELEGATED_HOST = f"matrix.{ZONE}"
SYNAPSE_LISTEN = f"{NET.ip(8)}:8008"
SYNAPSE_UPSTREAM = f"http://{SYNAPSE_LISTEN}"
CA_NAME = "matrixops federation test CA"

#: What every hostile server says it is.
HOSTILE_VERSION = {"name": "fedworld", "version": "0.1"}

#: The well-known files nginx serves for example.test (the passing case).
GOOD_CLIENT = {"m.homeserver": {"base_url": f"https://{DELEGATED_HOST}"}}
GOOD_SUPPORT = {
    "contacts": [{"matrix_id": "@admin:example.test", "email_address": "admin@example.test", "role": "m.role.admin"}],
    "support_page": "https://example.test/support",
}
CORS = {"Access-Control-Allow-Origin": "*"}


def n(label: str) -> str:
    """``n("good")`` → ``good.example.test``."""
    return f"{label}.{ZONE}"


def fed(label: str) -> str:
    """The server name of a hostile scenario: ``good.example.test:8448`` (explicit port)."""
    return f"{n(label)}:{FED_PORT}"


def endpoint(address: str, port: int = FED_PORT) -> str:
    return f"{address}:{port}"


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


KEY = SigningKey("ed25519:fed1", bytes(range(32)))
SECOND_KEY = SigningKey("ed25519:fed2", bytes(range(32, 64)))


def json_reply(value: object, *, status: int = 200, cors: bool = True) -> peers.Reply:
    return peers.json_reply(value, status=status, headers=CORS if cors else None)


# -- the scenarios ------------------------------------------------------------------------------------
@dataclass
class Times:
    """Fixed at world start so that tests know the exact values served."""

    now_ms: int
    valid_until_ts: int  # a day ahead
    expired_ts: int  # an hour ago


@dataclass
class Scenario:
    """One hostile name: ``<label>.example.test`` on ``addresses``, answered by ``routes``."""

    label: str
    addresses: list[str]
    routes: dict[str, peers.Handler] = field(default_factory=dict)
    cert: str = "default"  # default | wrong_name | expired | self_signed | srv_target


OVERSIZE = 600 * 1024  # the module's JSON body limit is 512 KiB
ANCIENT_TS = -(2**53) + 1  # the smallest canonical JSON integer
#: SRV delegation: these names have no address, only ``_matrix-fed._tcp`` SRV records pointing to
#: srv-host.example.test:8448, and are checked under the bare name (no port).
SRV_NAMES = ("srv-cert", "srv-good")


def server_name(label: str) -> str:
    """The server name a scenario is checked under (and that its keys claim)."""
    return n(label) if label in SRV_NAMES else fed(label)


def scenarios(times: Times) -> list[Scenario]:
    version = json_reply({"server": HOSTILE_VERSION})
    versions = json_reply({"versions": ["v1.11", "v1.12"]})

    def keys(label: str, signers: tuple[SigningKey, ...] = (KEY,)) -> dict[str, peers.Handler]:
        document = key_response(server_name(label), times.valid_until_ts, signers)
        return {KEYS_PATH: json_reply(document), VERSION_PATH: version}

    def with_keys(label: str, body: object) -> dict[str, peers.Handler]:
        """The scenario's routes of :func:`keys`, but the keys document is ``body``."""
        return {**keys(label), KEYS_PATH: body if isinstance(body, peers.Reply) else json_reply(body)}

    def client(label: str, document: dict | peers.Reply, **routes: peers.Handler) -> dict[str, peers.Handler]:
        """Keys, a client well-known and the homeserver's /_matrix/client/versions."""
        well_known = document if isinstance(document, peers.Reply) else json_reply(document)
        return {**keys(label), CLIENT_PATH: well_known, VERSIONS_PATH: versions, **routes}

    bad_signature = key_response(fed("bad-signature"), times.valid_until_ts, (KEY,))
    bad_signature["valid_until_ts"] += 1  # changed after signing
    no_ed25519 = {
        "server_name": fed("no-ed25519"),
        "valid_until_ts": times.valid_until_ts,
        "verify_keys": {"ed448:1": {"key": "bm90IGFuIGVkMjU1MTkga2V5"}},
        "old_verify_keys": {},
        "signatures": {fed("no-ed25519"): {}},
    }
    return [
        Scenario("good", [HOSTILE_IP], keys("good")),
        Scenario("wrong-name", [HOSTILE_IP], keys("wrong-name"), cert="wrong_name"),
        Scenario("expired-cert", [HOSTILE_IP], keys("expired-cert"), cert="expired"),
        Scenario("self-signed", [HOSTILE_IP], keys("self-signed"), cert="self_signed"),
        Scenario(
            "keys-other", [HOSTILE_IP], with_keys("keys-other", key_response(n("other"), times.valid_until_ts, (KEY,)))
        ),
        Scenario(
            "keys-expired",
            [HOSTILE_IP],
            with_keys("keys-expired", key_response(fed("keys-expired"), times.expired_ts, (KEY,))),
        ),
        Scenario("bad-signature", [HOSTILE_IP], with_keys("bad-signature", bad_signature)),
        Scenario("no-ed25519", [HOSTILE_IP], with_keys("no-ed25519", no_ed25519)),
        Scenario("two-keys", [HOSTILE_IP], keys("two-keys", (KEY, SECOND_KEY))),
        Scenario("two-addresses", [HOSTILE_IP, DEAD_IP], keys("two-addresses")),
        Scenario("dead", [DEAD_IP]),
        Scenario(
            "no-cors",
            [HOSTILE_IP],
            client("no-cors", json_reply({"m.homeserver": {"base_url": f"https://{n('no-cors')}"}}, cors=False)),
        ),
        Scenario(
            "cors-redirect",  # the first hop (a redirect) lacks the header, the file itself has it
            [HOSTILE_IP],
            client(
                "cors-redirect",
                peers.redirect(f"https://{n('cors-redirect')}/client-file"),
                **{"/client-file": json_reply({"m.homeserver": {"base_url": f"https://{n('cors-redirect')}"}})},
            ),
        ),
        Scenario(
            "identity-down",  # m.identity_server whose /_matrix/identity/v2 answers 404
            [HOSTILE_IP],
            client(
                "identity-down",
                {
                    "m.homeserver": {"base_url": f"https://{n('identity-down')}"},
                    "m.identity_server": {"base_url": f"https://{n('identity-down')}/identity"},
                },
            ),
        ),
        Scenario(
            "bad-support",
            [HOSTILE_IP],
            {**keys("bad-support"), SUPPORT_PATH: json_reply({"contacts": [{"email_address": "admin@example.test"}]})},
        ),
        Scenario(
            "not-json",
            [HOSTILE_IP],
            with_keys("not-json", peers.reply(200, b"<html>keys</html>", {"Content-Type": "text/html"})),
        ),
        Scenario("keys-array", [HOSTILE_IP], with_keys("keys-array", [1, 2])),
        Scenario("keys-500", [HOSTILE_IP], with_keys("keys-500", json_reply({"errcode": "X"}, status=500))),
        Scenario(
            "oversize", [HOSTILE_IP], with_keys("oversize", peers.reply(200, b'{"pad": "' + b"x" * OVERSIZE + b'"}'))
        ),
        Scenario("drip", [HOSTILE_IP], {**keys("drip"), KEYS_PATH: peers.dripping_json(200)}),
        Scenario(
            "keys-ancient",  # valid_until_ts in the canonical JSON range, but before year 1
            [HOSTILE_IP],
            with_keys("keys-ancient", key_response(fed("keys-ancient"), ANCIENT_TS, (KEY,))),
        ),
        Scenario("no-version", [HOSTILE_IP], {KEYS_PATH: keys("no-version")[KEYS_PATH]}),
        Scenario("plain-http", [PLAIN_IP], keys("plain-http")),
        Scenario("silent", [SILENT_IP]),
        # SRV delegation: the certificate must be valid for the server name, not the SRV target.
        Scenario("srv-host", [HOSTILE_IP]),
        Scenario("srv-cert", [], keys("srv-cert"), cert="srv_target"),
        Scenario("srv-good", [], keys("srv-good")),
    ]


def zone(all_scenarios: list[Scenario]) -> Zone:
    records = Zone(ZONE, DNS_IP)
    records.a(ZONE, WK_IP)
    records.a(DELEGATED_HOST, MATRIX_IP)
    for scenario in all_scenarios:
        records.a(n(scenario.label), *scenario.addresses)
    for label in SRV_NAMES:
        records.srv(n(label), f"10 5 {FED_PORT} {n('srv-host')}.")
    return records


# -- the world ------------------------------------------------------------------------------------------
@dataclass
class World:
    workdir: Path
    ca_path: Path
    nameserver: str
    times: Times
    certs: dict[str, pki.IssuedCert]  # default, wrong_name, expired, self_signed, srv_target, example, matrix
    hostile: peers.Peers  # the hostile servers: <net>.10, .11 and .12

    def cert_details(self, which: str) -> dict:
        """The ``tls.certificate`` dict the module should report for one of our certificates."""
        cert = self.certs[which].certificate
        return {
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "sans": pki.cert_names(self.certs[which].cert_path),
            "not_after": iso(cert.not_valid_after_utc),
        }


def issue_certs(pki_dir: Path, all_scenarios: list[Scenario], now: dt.datetime) -> tuple[Path, dict]:
    """The CA's bundle, and the certificates by kind."""
    ca = pki.create_ca(pki_dir / "ca", common_name=CA_NAME)
    default_names = sorted(n(s.label) for s in all_scenarios if s.cert == "default")
    certs = {
        "default": pki.issue_cert(ca, pki_dir / "default", default_names),
        "wrong_name": pki.issue_cert(ca, pki_dir / "wrong-name", [n("other")]),
        "expired": pki.issue_cert(
            ca,
            pki_dir / "expired",
            [n("expired-cert")],
            not_before=now - dt.timedelta(days=30),
            not_after=now - dt.timedelta(days=2),
        ),
        "self_signed": pki.self_signed_cert(pki_dir / "self-signed", [n("self-signed")]),
        "srv_target": pki.issue_cert(ca, pki_dir / "srv-target", [n("srv-host")]),
        "example": pki.issue_cert(ca, pki_dir / "example", [SERVER_NAME]),
        "matrix": pki.issue_cert(ca, pki_dir / "matrix", [DELEGATED_HOST]),
    }
    return ca.bundle_path, certs


def nginx_servers(certs: dict[str, pki.IssuedCert]) -> list[nginx.Server]:
    """example.test with its well-knowns, and matrix.example.test in front of Synapse."""
    return [
        nginx.Server(
            listen=f"{WK_IP}:443",
            server_name=SERVER_NAME,
            certificate=certs["example"].cert_path,
            key=certs["example"].key_path,
            locations={
                f"= {SERVER_WK_PATH}": nginx.json_return({"m.server": f"{DELEGATED_HOST}:443"}, headers=CORS),
                f"= {CLIENT_PATH}": nginx.json_return(GOOD_CLIENT, headers=CORS),
                f"= {SUPPORT_PATH}": nginx.json_return(GOOD_SUPPORT, headers=CORS),
            },
        ),
        nginx.Server(
            listen=f"{MATRIX_IP}:443",
            server_name=DELEGATED_HOST,
            certificate=certs["matrix"].cert_path,
            key=certs["matrix"].key_path,
            proxy_pass=SYNAPSE_UPSTREAM,
        ),
    ]


@contextlib.contextmanager
def running(workdir: Path) -> Iterator[World]:
    """Knot, the hostile servers and nginx, with their files in ``workdir``, until the block ends."""
    now = pki.utcnow()
    now_ms = int(now.timestamp() * 1000)
    times = Times(now_ms, now_ms + 86_400_000, now_ms - 3_600_000)
    all_scenarios = scenarios(times)
    ca_path, certs = issue_certs(workdir / "pki", all_scenarios, now)
    by_sni = {n(s.label): peers.server_context(certs[s.cert]) for s in all_scenarios if s.cert != "default"}
    routes = {(n(s.label), path): reply for s in all_scenarios for path, reply in s.routes.items()}
    default = peers.server_context(certs["default"])
    listeners = [
        peers.Listener(HOSTILE_IP, FED_PORT, default, routes, by_sni, keep_alive=True),
        peers.Listener(HOSTILE_IP, 443, default, routes, by_sni, keep_alive=True),
        peers.Listener(PLAIN_IP, FED_PORT, None, routes, keep_alive=True),
        peers.Listener(SILENT_IP, FED_PORT, stall=True),
    ]
    with contextlib.ExitStack() as stack:
        stack.enter_context(knot.KnotServer(workdir / "knot", DNS_IP, DNS_PORT, {ZONE: zone(all_scenarios).text()}))
        hostile = stack.enter_context(peers.Peers(listeners))
        stack.callback(nginx.stop, workdir / "nginx")
        nginx.start(workdir / "nginx", nginx_servers(certs))
        yield World(workdir, ca_path, NAMESERVER, times, certs, hostile)

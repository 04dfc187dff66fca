"""The lab library itself (tests/lab): the PKI, the process helpers, the knot launcher and
``lab.py up|down|status``."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import knot
import pki
import proc
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from it_world import LAB_DIR, NET

LAB_DNS = f"{NET}.54"  # not the world's DNS address, not the lab's 127.0.0.1
LAB_PORT = 5353


def query(address: str, port: int, name: str, rdtype: str) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype), address, port=port, timeout=2)


# -- pki ------------------------------------------------------------------------------------------


def test_leaf_certificate_is_issued_by_the_ca_with_dns_and_ip_sans(tmp_path):
    ca = pki.create_ca(tmp_path / "ca")
    leaf = pki.issue_cert(ca, tmp_path / "leaf", ["matrix.example.test", "127.0.0.3", "[::1]"])
    leaf.certificate.verify_directly_issued_by(ca.certificate)
    assert pki.cert_names(leaf.cert_path) == ["matrix.example.test", "127.0.0.3", "::1"]
    # and the standard library trusts it through the CA bundle
    ctx = ssl.create_default_context(cafile=str(ca.bundle_path))
    assert ctx.cert_store_stats()["x509_ca"] == 1


def test_private_keys_are_written_with_mode_0600(tmp_path):
    ca = pki.create_ca(tmp_path / "ca")
    leaf = pki.issue_cert(ca, tmp_path / "leaf", ["a.test"])
    signed = pki.self_signed_cert(tmp_path / "self", ["b.test"])
    for key in (ca.key_path, leaf.key_path, signed.key_path):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_validity_window_can_make_expired_and_not_yet_valid_certificates(tmp_path):
    ca = pki.create_ca(tmp_path / "ca")
    now = pki.utcnow()
    expired = pki.issue_cert(ca, tmp_path / "old", ["a.test"], not_after=now - dt.timedelta(days=1))
    future = pki.issue_cert(ca, tmp_path / "new", ["a.test"], not_before=now + dt.timedelta(days=1))
    assert expired.certificate.not_valid_after_utc < now
    assert future.certificate.not_valid_before_utc > now


def test_self_signed_certificate_is_not_issued_by_the_ca(tmp_path):
    ca = pki.create_ca(tmp_path / "ca")
    signed = pki.self_signed_cert(tmp_path / "self", ["a.test"])
    assert signed.certificate.issuer == signed.certificate.subject
    with pytest.raises((ValueError, InvalidSignature)):
        signed.certificate.verify_directly_issued_by(ca.certificate)


def test_load_or_create_ca_keeps_an_existing_ca(tmp_path):
    first = pki.load_or_create_ca(tmp_path / "ca")
    second = pki.load_or_create_ca(tmp_path / "ca")
    assert first.certificate == second.certificate


# -- proc ---------------------------------------------------------------------------------------------


class Sleeper(proc.Daemon):
    """A daemon of the test: ``sleep`` (or Python) started from a working directory."""

    def __init__(self, workdir, program: bytes) -> None:
        super().__init__(workdir, pidfile="run/x.pid", log="x.log", state="x.json")
        self.program = program

    def is_ours(self, argv: list[bytes]) -> bool:
        return bool(argv) and self.program in argv[0]


def test_daemon_pid_counts_while_its_process_runs_and_is_ours(tmp_path):
    daemon = Sleeper(tmp_path, b"sleep")
    assert daemon.running_pid() is None and daemon.read_state() == {}
    child = proc.spawn(["sleep", "30"], daemon.log_path, detach=False)
    daemon.pidfile.parent.mkdir()
    daemon.pidfile.write_text(f"{child.pid}\n")
    daemon.write_state({"pid": child.pid})
    assert daemon.running_pid() == child.pid
    assert daemon.read_state() == {"pid": child.pid}
    assert Sleeper(tmp_path, b"knotd").running_pid() is None  # a reused pid is not ours
    assert proc.terminate(child.pid, timeout=5) is True
    assert not os.path.exists(f"/proc/{child.pid}")  # gone and reaped: no zombie left
    assert daemon.running_pid() is None
    child.wait(timeout=5)
    daemon.forget()
    assert not daemon.pidfile.exists() and not daemon.state_path.exists()
    assert daemon.log_tail() == f"({daemon.log_path} empty)"


def test_terminate_kills_a_process_that_ignores_sigterm(tmp_path):
    log = tmp_path / "stubborn.log"
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(30)"
    )
    child = proc.spawn([sys.executable, "-c", code], log, detach=True)
    deadline = time.monotonic() + 10
    while "ready" not in log.read_text() and time.monotonic() < deadline:  # SIGTERM is ignored from now on
        time.sleep(0.05)
    assert proc.terminate(child.pid, timeout=0.5) is True
    assert not proc.pid_alive(child.pid)
    child.wait(timeout=5)


def test_bind_error_names_an_address_in_use():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert proc.bind_error("127.0.0.1", port, reuse_address=True) == "Address already in use"
    assert proc.bind_error("127.0.0.1", port, reuse_address=True) is None


# -- knot ---------------------------------------------------------------------------------------------

ZONE = """$ORIGIN k.test.
$TTL 60
@ SOA ns hostmaster 1 60 60 600 60
@ NS ns
ns A 127.0.0.1
host A 192.0.2.1
"""


def test_knot_serves_zone_and_answers_servfail_for_missing_or_broken_zone_files(tmp_path):
    with knot.KnotServer(
        tmp_path,
        LAB_DNS,
        LAB_PORT,
        {"k.test.": ZONE},
        broken_zones={"missing.k.test.": None, "broken.k.test.": "this is not a zone\n"},
    ) as server:
        assert server.nameserver == f"{LAB_DNS}:{LAB_PORT}"
        answer = query(LAB_DNS, LAB_PORT, "host.k.test.", "A")
        assert answer.rcode() == dns.rcode.NOERROR
        assert [rr.to_text() for rrset in answer.answer for rr in rrset] == ["192.0.2.1"]
        assert query(LAB_DNS, LAB_PORT, "nope.k.test.", "A").rcode() == dns.rcode.NXDOMAIN
        for name in ("x.missing.k.test.", "missing.k.test.", "_srv._tcp.broken.k.test."):
            assert query(LAB_DNS, LAB_PORT, name, "SRV").rcode() == dns.rcode.SERVFAIL, name
        pid = server.running_pid()
        assert pid
    assert server.running_pid() is None
    assert knot.port_in_use(LAB_DNS, LAB_PORT) is None


def test_knot_refuses_an_address_already_in_use(tmp_path):
    with knot.KnotServer(tmp_path / "one", LAB_DNS, LAB_PORT, {"k.test.": ZONE}):
        second = knot.KnotServer(tmp_path / "two", LAB_DNS, LAB_PORT, {"k.test.": ZONE})
        with pytest.raises(knot.KnotError, match="already in use"):
            second.start()


def test_knot_refuses_wildcard_addresses(tmp_path):
    with pytest.raises(knot.KnotError, match="wildcard"):
        knot.KnotServer(tmp_path, "0.0.0.0", LAB_PORT, {"k.test.": ZONE})


# -- lab.py ---------------------------------------------------------------------------------------------


def lab(*args: str, state) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(LAB_DIR / "lab.py"), *args, "--state-dir", str(state), "--dns", f"{LAB_DNS}@{LAB_PORT}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_lab_up_down_status_are_idempotent(tmp_path):
    state = tmp_path / "lab"
    try:
        assert lab("status", state=state).returncode == 3
        first = lab("up", state=state)
        assert first.returncode == 0, first.stderr
        assert f"CA bundle:   {state / 'ca.pem'}" in first.stdout
        ca_pem = (state / "ca.pem").read_bytes()
        leaf_pem = (state / "certs" / "matrix.example.test.pem").read_bytes()

        again = lab("up", "--json", state=state)
        assert again.returncode == 0, again.stderr
        info = json.loads(again.stdout)
        assert info["dns"]["action"] == "already running"
        assert (state / "ca.pem").read_bytes() == ca_pem  # existing CA and certificates kept
        assert (state / "certs" / "matrix.example.test.pem").read_bytes() == leaf_pem

        for name, address in (("example.test.", "127.0.0.2"), ("matrix.example.test.", "127.0.0.3")):
            answer = query(LAB_DNS, LAB_PORT, name, "A")
            assert [rr.to_text() for rrset in answer.answer for rr in rrset] == [address]
        assert query(LAB_DNS, LAB_PORT, "example.test.", "SOA").rcode() == dns.rcode.NOERROR
        assert lab("status", state=state).returncode == 0

        leaf = x509.load_pem_x509_certificate(leaf_pem)
        leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
        assert set(pki.cert_names(state / "certs" / "matrix.example.test.pem")) == {"matrix.example.test", "127.0.0.3"}
        assert set(pki.cert_names(state / "certs" / "example.test.pem")) == {"example.test", "127.0.0.2"}
    finally:
        down = lab("down", state=state)
    assert down.returncode == 0 and "stopped" in down.stdout
    again = lab("down", state=state)
    assert again.returncode == 0 and "was not running" in again.stdout
    assert lab("status", state=state).returncode == 3
    assert knot.port_in_use(LAB_DNS, LAB_PORT) is None


def test_knot_accepts_tsig_signed_updates_for_updatable_zones_only(tmp_path):
    secret = base64.b64encode(os.urandom(32)).decode()
    with knot.KnotServer(
        tmp_path,
        LAB_DNS,
        LAB_PORT,
        {"k.test.": ZONE},
        tsig_keys={"lab-key": ("hmac-sha256", secret)},
        updatable_zones={"k.test.": "lab-key"},
    ) as server:
        keyring = dns.tsigkeyring.from_text({"lab-key": ("hmac-sha256", secret)})
        signed = dns.update.UpdateMessage("k.test.", keyring=keyring, keyname="lab-key", keyalgorithm="hmac-sha256")
        signed.add("_matrix-fed._tcp", 300, "SRV", "10 5 443 host.k.test.")
        assert dns.query.tcp(signed, LAB_DNS, port=LAB_PORT, timeout=3).rcode() == dns.rcode.NOERROR
        answer = query(LAB_DNS, LAB_PORT, "_matrix-fed._tcp.k.test.", "SRV")
        assert [rr.to_text() for rrset in answer.answer for rr in rrset] == ["10 5 443 host.k.test."]

        unsigned = dns.update.UpdateMessage("k.test.")
        unsigned.add("evil", 300, "A", "192.0.2.66")
        assert dns.query.tcp(unsigned, LAB_DNS, port=LAB_PORT, timeout=3).rcode() == dns.rcode.NOTAUTH
        assert stat.S_IMODE(server.conf_path.stat().st_mode) == 0o600  # the config holds the secret

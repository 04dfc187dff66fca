"""``lab.py up --tsig``: the lab's knot takes TSIG-signed updates of example.test. (molecule `srv`).

Runs a private lab (own state directory, own address) so the real lab is not disturbed.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.tsig
import dns.update
import knot
import srv_world as w

LAB = Path(knot.__file__).with_name("lab.py")
ADDRESS = w.NET.ip(54)
PORT = 5353


def lab(*args: str, state) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(LAB), *args, "--state-dir", str(state), "--dns", f"{ADDRESS}@{PORT}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def update(key: dns.tsig.Key | None) -> int:
    message = dns.update.UpdateMessage("example.test.", keyring=key)
    message.replace("_matrix-fed._tcp.example.test.", 300, "SRV", "10 5 8448 matrix.example.test.")
    try:
        return dns.query.tcp(message, ADDRESS, port=PORT, timeout=3).rcode()
    except dns.tsig.PeerError:  # BADSIG, BADKEY: knot refused the signature or the key
        return -1


def srv_records() -> list[str]:
    answer = dns.query.tcp(
        dns.message.make_query("_matrix-fed._tcp.example.test.", "SRV"), ADDRESS, port=PORT, timeout=3
    )
    return [rr.to_text() for rrset in answer.answer for rr in rrset]


def test_lab_up_tsig_takes_signed_updates_and_plain_up_resets_the_zone(tmp_path):
    state = tmp_path / "lab"
    try:
        up = lab("up", "--tsig", "--json", state=state)
        assert up.returncode == 0, up.stderr
        tsig = json.loads(up.stdout)["dns"]["tsig"]
        assert (tsig["name"], tsig["algorithm"], tsig["zone"]) == ("lab-update", "hmac-sha256", "example.test.")
        key_file = state / "tsig.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert f'secret "{tsig["secret"]}";' in key_file.read_text()
        assert json.loads(lab("status", "--json", state=state).stdout)["dns"]["tsig"]["name"] == "lab-update"

        assert update(None) == dns.rcode.NOTAUTH
        assert update(dns.tsig.Key("lab-update", w.WRONG_SECRET, "hmac-sha256")) == -1  # BADSIG
        assert srv_records() == []
        assert update(dns.tsig.Key("lab-update", tsig["secret"], "hmac-sha256")) == dns.rcode.NOERROR
        assert srv_records() == ["10 5 8448 matrix.example.test."]

        plain = lab("up", "--json", state=state)  # back to the address plan: no key, no SRV record
        assert plain.returncode == 0, plain.stderr
        info = json.loads(plain.stdout)
        assert info["dns"]["tsig"] is None and info["dns"]["action"] == "restarted"
        assert not key_file.exists()
        assert srv_records() == []
        assert update(dns.tsig.Key("lab-update", tsig["secret"], "hmac-sha256")) == -1  # BADKEY now
    finally:
        lab("down", state=state)
    assert knot.port_in_use(ADDRESS, PORT) is None

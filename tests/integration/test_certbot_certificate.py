# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""certbot_certificate through ansible-playbook: real pebble, real certbot, real knot with TSIG, real nginx.

The world lives on one ``/24`` of the ``acme`` band (support.net): knot authoritative for
``acme.test.`` on ``.53:5353`` (updates signed with the TSIG key ``acme-update``), pebble on
``.4:14000`` resolving through that knot and refusing ``blocked.acme.test``, nginx on ``.80:80``
serving the HTTP-01 webroot, and ``.81`` where nothing listens on port 80.  Each test keeps its
lineages in its own certbot directory; the tests of one lineage build on each other in file order.
"""

from __future__ import annotations

import os
from pathlib import Path

import knot
import nginx as lab_nginx
import pebble
import pytest
from cryptography import x509
from support import net
from support.playbook import run_module_cases

MODULE = "matrixops.delegation.certbot_certificate"
NET = net.allocate("acme", binds=[(53, 5353), (4, 14000), (4, 15000), (80, 80), (81, 80)])
DNS_IP, PEBBLE_IP, WEB_IP, NOTHING_IP = NET.ip(53), NET.ip(4), NET.ip(80), NET.ip(81)
ZONE = "acme.test."
TSIG_NAME = "acme-update"
TSIG_SECRET = "YWNtZS1pbnRlZ3JhdGlvbi10ZXN0LXRzaWctc2VjcmV0"  # base64, this test's only
WRONG_SECRET = "d3JvbmctdHNpZy1zZWNyZXQtZm9yLXRoZS10ZXN0cw=="
WEB_NAMES = ["www.acme.test", "alt.acme.test", "blocked.acme.test"]


def zone_text() -> str:
    lines = [
        f"$ORIGIN {ZONE}",
        "$TTL 60",
        f"@ SOA ns.{ZONE} hostmaster.{ZONE} 1 3600 600 86400 60",
        f"@ NS ns.{ZONE}",
        f"ns A {DNS_IP}",
        f"nohttp A {NOTHING_IP}",
    ]
    lines += [f"{name.removesuffix('.acme.test')} A {WEB_IP}" for name in WEB_NAMES]
    return "\n".join(lines) + "\n"


def credentials(path: Path, secret: str) -> Path:
    path.write_text(
        f"dns_rfc2136_server = {DNS_IP}\ndns_rfc2136_port = 5353\ndns_rfc2136_name = {TSIG_NAME}\n"
        f"dns_rfc2136_secret = {secret}\ndns_rfc2136_algorithm = HMAC-SHA256\n"
    )
    os.chmod(path, 0o600)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("acme")
    dns = knot.KnotServer(
        root / "knot",
        DNS_IP,
        5353,
        {ZONE: zone_text()},
        tsig_keys={TSIG_NAME: ("hmac-sha256", TSIG_SECRET)},
        updatable_zones={ZONE: TSIG_NAME},
    )
    acme = pebble.PebbleServer(
        root / "pebble", address=PEBBLE_IP, dns_server=dns.nameserver, blocklist=["blocked.acme.test"]
    )
    webroot = root / "webroot"
    webroot.mkdir()
    dns.start()
    try:
        acme.start()
        lab_nginx.start(root / "nginx", [lab_nginx.Server(listen=f"{WEB_IP}:80", server_name=WEB_NAMES, root=webroot)])
        yield {
            "root": root,
            "pebble": acme,
            "webroot": webroot,
            "good_ini": credentials(root / "good.ini", TSIG_SECRET),
            "bad_ini": credentials(root / "bad.ini", WRONG_SECRET),
        }
    finally:
        lab_nginx.stop(root / "nginx")
        acme.stop()
        dns.stop()


def http01(world, cert_name="www.acme.test", domains=("www.acme.test",), **more):
    certbot = world["root"] / "certbot"
    return {
        "cert_name": cert_name,
        "domains": list(domains),
        "webroot": str(world["webroot"]),
        "directory": world["pebble"].directory,
        "ca_bundle": str(world["pebble"].ca_bundle),
        "certbot_dir": str(certbot / "config"),
        "work_dir": str(certbot / "work"),
        "logs_dir": str(certbot / "logs"),
        "timeout": 120,
        **more,
    }


def dns01(world, ini="good_ini", **more):
    return http01(
        world,
        cert_name="dns.acme.test",
        domains=["dns.acme.test"],
        challenge="dns-01",
        webroot=None,
        dns_credentials=str(world[ini]),
        dns_propagation_seconds=1,
        **more,
    )


def run(world, cases, name, *, check=False):
    result = run_module_cases(MODULE, cases, world["root"] / "runs" / name, args=["--check"] if check else [])
    assert "Traceback" not in result.output, result.output[-4000:]
    assert TSIG_SECRET not in result.output and WRONG_SECRET not in result.output
    return result


def lineage(world, cert_name="www.acme.test") -> dict[str, bytes]:
    """Every file of the lineage (live/ through its links, archive/, renewal conf) by path."""
    config = world["root"] / "certbot" / "config"
    files = [*(config / "live" / cert_name).glob("*.pem"), *(config / "archive" / cert_name).glob("*")]
    files.append(config / "renewal" / f"{cert_name}.conf")
    return {str(path): path.read_bytes() for path in sorted(files)}


def served_cert(world, cert_name="www.acme.test") -> x509.Certificate:
    return x509.load_pem_x509_certificate((world["root"] / "certbot/config/live" / cert_name / "cert.pem").read_bytes())


def renewal_conf(world, cert_name="www.acme.test") -> str:
    return (world["root"] / "certbot/config/renewal" / f"{cert_name}.conf").read_text()


def test_http01_issues_and_a_rerun_orders_nothing(world):
    outcome = run(world, {"issue": http01(world), "rerun": http01(world)}, "issue")
    issued, rerun = outcome["issue"], outcome["rerun"]
    assert not issued.get("failed"), issued.get("msg")
    assert issued["changed"] and issued["ordered"]
    assert issued["reason"].startswith("no certificate yet at ")
    cert = served_cert(world)
    assert issued["serial"] == f"{cert.serial_number:x}"
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["www.acme.test"]
    roots = x509.load_pem_x509_certificates(world["pebble"].roots_path.read_bytes())
    assert cert.issuer == roots[1].subject, "issued by the running pebble's intermediate"
    assert issued["issuer"].startswith("CN=Pebble Intermediate CA")
    assert 1824 <= issued["days_left"] <= 1826
    assert issued["fullchain"].endswith("/live/www.acme.test/fullchain.pem") and Path(issued["fullchain"]).exists()
    assert Path(issued["privkey"]).stat().st_mode & 0o077 == 0
    assert "renew_before_expiry = 30 days" in renewal_conf(world)

    assert not rerun["changed"] and not rerun["ordered"]
    assert rerun["reason"].startswith("valid until ") and "renewal window 30 days" in rerun["reason"]
    assert rerun["serial"] == issued["serial"]


def test_check_mode_says_it_would_order_and_changes_nothing(world):
    before = lineage(world)
    outcome = run(
        world,
        {
            "renew": http01(world, renew_before_days=1900),
            "new": http01(world, cert_name="alt.acme.test", domains=["alt.acme.test"]),
        },
        "check",
        check=True,
    )
    assert outcome["renew"]["changed"] and outcome["renew"]["ordered"]
    assert "renewal window 1900 days" in outcome["renew"]["reason"]
    assert "--force-renewal" in outcome["renew"]["cmd"]
    assert outcome["new"]["changed"] and outcome["new"]["reason"].startswith("no certificate yet")
    assert "rc" not in outcome["renew"], "certbot did not run"
    assert lineage(world) == before
    assert not (world["root"] / "certbot/config/live/alt.acme.test").exists()


def test_a_renewal_window_longer_than_the_days_left_orders_and_is_written_for_certbot(world):
    serial = f"{served_cert(world).serial_number:x}"
    outcome = run(world, {"renew": http01(world, renew_before_days=1900), "back": http01(world)}, "window")
    renew, back = outcome["renew"], outcome["back"]
    assert renew["changed"] and renew["ordered"], renew.get("msg")
    assert renew["reason"].startswith("expires ") and "renewal window 1900 days" in renew["reason"]
    assert renew["serial"] != serial
    assert back["changed"] and not back["ordered"], "only renew_before_expiry changes"
    assert back["serial"] == renew["serial"] == f"{served_cert(world).serial_number:x}"
    assert "renew_before_expiry = 30 days" in renewal_conf(world)


def test_other_domains_order(world):
    serial = f"{served_cert(world).serial_number:x}"
    outcome = run(world, {"more": http01(world, domains=["www.acme.test", "alt.acme.test"])}, "domains")
    more = outcome["more"]
    assert more["ordered"], more.get("msg")
    assert more["reason"] == "domains differ: the certificate has www.acme.test, wanted alt.acme.test, www.acme.test"
    cert = served_cert(world)
    assert f"{cert.serial_number:x}" == more["serial"] != serial
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sorted(names) == ["alt.acme.test", "www.acme.test"]


def test_dns01_issues_through_knot_with_tsig(world):
    outcome = run(world, {"issue": dns01(world), "rerun": dns01(world)}, "dns01")
    issued = outcome["issue"]
    assert issued["ordered"] and not issued.get("failed"), issued.get("msg")
    assert "--dns-rfc2136" in issued["cmd"] and str(world["good_ini"]) in issued["cmd"]
    assert issued["serial"] == f"{served_cert(world, 'dns.acme.test').serial_number:x}"
    assert not outcome["rerun"]["changed"]
    assert "authenticator = dns-rfc2136" in renewal_conf(world, "dns.acme.test")


def test_failures_name_domain_challenge_and_fix_and_leave_the_lineage_alone(world):
    before = {"www.acme.test": lineage(world), "dns.acme.test": lineage(world, "dns.acme.test")}
    unreachable = f"https://{PEBBLE_IP}:14999/dir"
    cases = {
        "unreachable": http01(world, directory=unreachable),
        "untrusted": http01(world, ca_bundle="", force=True),
        "port80": http01(world, domains=["www.acme.test", "alt.acme.test", "nohttp.acme.test"]),
        "tsig": dns01(world, ini="bad_ini", force=True),
        "blocked": http01(world, domains=["www.acme.test", "alt.acme.test", "blocked.acme.test"]),
    }
    outcome = run(world, cases, "failures")
    for name in cases:
        assert outcome[name]["failed"], f"{name}: {outcome[name]}"
        # ansible-core 2.19 adds "(traceback unavailable)" to every fail_json: no traceback is in it
        assert "Traceback" not in str(outcome[name].get("exception", "")), f"{name}: no traceback for the user"
        assert outcome[name]["certbot_log"].endswith("/logs/letsencrypt.log")

    msg = outcome["unreachable"]["msg"]
    assert f"the ACME server {unreachable} is unreachable" in msg and "Connection refused" in msg
    assert "challenge http-01" in msg and "check the directory URL" in msg

    assert "set ca_bundle" in outcome["untrusted"]["msg"]

    msg = outcome["port80"]["msg"]
    assert "http-01 for nohttp.acme.test failed" in msg
    assert "port 80 of nohttp.acme.test not reachable from the ACME server" in msg
    assert f"{NOTHING_IP}:80" in msg

    msg = outcome["tsig"]["msg"]
    assert msg.startswith(
        "matrixops.delegation.certbot_certificate: certificate dns.acme.test (dns.acme.test), challenge dns-01: "
    )
    assert f"TSIG key refused by {DNS_IP}:5353" in msg

    msg = outcome["blocked"]["msg"]
    assert "refuses to issue for these names (rejectedIdentifier: " in msg and '"blocked.acme.test"' in msg

    assert {"www.acme.test": lineage(world), "dns.acme.test": lineage(world, "dns.acme.test")} == before
    assert not any((world["webroot"] / ".well-known" / "acme-challenge").glob("*")), "certbot cleaned up its tokens"

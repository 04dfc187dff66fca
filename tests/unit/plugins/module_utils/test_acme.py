# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The certbot core: order or not, certbot's command line, renew_before_expiry, failures → what to fix.

The failure fixtures are certbot 2.1's stdout + stderr, captured verbatim from real runs
against Debian's pebble 2.4 and knot (tests/lab), one per failure (2026-12-03).
"""

from __future__ import annotations

import pytest
from support.tls_certs import DAY, NOW, ca, issue

from ansible_collections.matrixops.delegation.plugins.module_utils import _acme as acme

PEBBLE = "https://127.0.109.4:14000/dir"

#: certbot 2.1 output (stdout then stderr) of real failed runs against pebble/knot.
OUTPUT = {
    "refused": (
        "Saving debug log to /tmp/acmeA/cb/logs/letsencrypt.log\n"
        "An unexpected error occurred:\n"
        "ValueError: Requesting 127.0.109.4/dir: Connection refused\n"
        "Ask for help or search for solutions at https://community.letsencrypt.org. See the logfile /tmp/acmeA/cb/logs/"
        "letsencrypt.log or re-run Certbot with -v for more details.\n"
    ),
    "untrusted": (
        "Saving debug log to /tmp/acmeA/cb/logs/letsencrypt.log\n"
        "An unexpected error occurred:\n"
        "requests.exceptions.SSLError: HTTPSConnectionPool(host='127.0.109.4', port=14000): Max retries exceeded with u"
        "rl: /dir (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
        "failed: unable to get local issuer certificate (_ssl.c:992)')))\n"
        "Ask for help or search for solutions at https://community.letsencrypt.org. See the logfile /tmp/acmeA/cb/logs/"
        "letsencrypt.log or re-run Certbot with -v for more details.\n"
    ),
    "http_noport80": (
        "Requesting a certificate for nohttp.acme.test\n"
        "\n"
        "Certbot failed to authenticate some domains (authenticator: webroot). The Certificate Authority reported these"
        " problems:\n"
        "  Domain: nohttp.acme.test\n"
        "  Type:   connection\n"
        '  Detail: Get "http://nohttp.acme.test:80/.well-known/acme-challenge/uQrncCMxxIVWN19EuuGOIzKVl1JM9dI7Z0WTcQenM'
        'Q4": dial tcp 127.0.109.5:80: connect: connection refused\n'
        "\n"
        "Hint: The Certificate Authority failed to download the temporary challenge files created by Certbot. Ensure th"
        "at the listed domains serve their content from the provided --webroot-path/-w and that files created there can"
        " be downloaded from the internet.\n"
        "\n"
        "Saving debug log to /tmp/acmeA/cb/logs/letsencrypt.log\n"
        "Some challenges have failed.\n"
        "Ask for help or search for solutions at https://community.letsencrypt.org. See the logfile /tmp/acmeA/cb/logs/"
        "letsencrypt.log or re-run Certbot with -v for more details.\n"
    ),
    "http_404": (
        "Requesting a certificate for w404.acme.test\n"
        "\n"
        "Certbot failed to authenticate some domains (authenticator: webroot). The Certificate Authority reported these"
        " problems:\n"
        "  Domain: w404.acme.test\n"
        "  Type:   unauthorized\n"
        "  Detail: Non-200 status code from HTTP: http://w404.acme.test:80/.well-known/acme-challenge/v7-uC5SveEI4DYDWD"
        "gcysXRJQpSTZ4P3JiV0wSyEYR0 returned 404\n"
        "\n"
        "Hint: The Certificate Authority failed to download the temporary challenge files created by Certbot. Ensure th"
        "at the listed domains serve their content from the provided --webroot-path/-w and that files created there can"
        " be downloaded from the internet.\n"
        "\n"
        "Saving debug log to /tmp/acmeA/cb/logs/letsencrypt.log\n"
        "Some challenges have failed.\n"
        "Ask for help or search for solutions at https://community.letsencrypt.org. See the logfile /tmp/acmeA/cb/logs/"
        "letsencrypt.log or re-run Certbot with -v for more details.\n"
    ),
    "http_nxdomain": (
        "Requesting a certificate for missing.acme.test\n"
        "\n"
        "Certbot failed to authenticate some domains (authenticator: webroot). The Certificate Authority reported these"
        " problems:\n"
        "  Domain: missing.acme.test\n"
        "  Type:   connection\n"
        '  Detail: Get "http://missing.acme.test:80/.well-known/acme-challenge/sn6KL-8sM_uzoo7zXHxs6gRWOv_1zqe860c0i9TT'
        'qkM": could not resolve URL "http://missing.acme.test:80/.well-known/acme-challenge/sn6KL-8sM_uzoo7zXHxs6gRWOv'
        '_1zqe860c0i9TTqkM"\n'
        "\n"
        "Hint: The Certificate Authority failed to download the temporary challenge files created by Certbot. Ensure th"
        "at the listed domains serve their content from the provided --webroot-path/-w and that files created there can"
        " be downloaded from the internet.\n"
        "\n"
        "Saving debug log to /tmp/acmeA/cb/logs/letsencrypt.log\n"
        "Some challenges have failed.\n"
        "Ask for help or search for solutions at https://community.letsencrypt.org. See the logfile /tmp/acmeA/cb/logs/"
        "letsencrypt.log or re-run Certbot with -v for more details.\n"
    ),
    "blocked": (
        "Requesting a certificate for blocked.acme.test\n"
        "Saving debug log to /tmp/acmeA/cb/logs/letsencrypt.log\n"
        "An unexpected error occurred:\n"
        "AttributeError: can't set attribute\n"
        "Ask for help or search for solutions at https://community.letsencrypt.org. See the logfile /tmp/acmeA/cb/logs/"
        "letsencrypt.log or re-run Certbot with -v for more details.\n"
    ),
    "dns_badtsig": (
        "Requesting a certificate for dns1.acme.test\n"
        "Saving debug log to /tmp/acmeA/cb/logs/letsencrypt.log\n"
        "Encountered exception during recovery: certbot.errors.PluginError: Encountered error when making query: The pe"
        "er didn't like the signature we sent\n"
        "Encountered error when making query: The peer didn't like the signature we sent\n"
        "Ask for help or search for solutions at https://community.letsencrypt.org. See the logfile /tmp/acmeA/cb/logs/"
        "letsencrypt.log or re-run Certbot with -v for more details.\n"
    ),
    "dns_nozone": (
        "Requesting a certificate for x.other.test\n"
        "Saving debug log to /tmp/acmeA/cb/logs/letsencrypt.log\n"
        "Encountered exception during recovery: certbot.errors.PluginError: Unable to determine base domain for _acme-c"
        "hallenge.x.other.test using names: ['_acme-challenge.x.other.test', 'x.other.test', 'other.test', 'test'].\n"
        "Unable to determine base domain for _acme-challenge.x.other.test using names: ['_acme-challenge.x.other.test',"
        " 'x.other.test', 'other.test', 'test'].\n"
        "Ask for help or search for solutions at https://community.letsencrypt.org. See the logfile /tmp/acmeA/cb/logs/"
        "letsencrypt.log or re-run Certbot with -v for more details.\n"
    ),
}

#: certbot 2.1 prints only "AttributeError: can't set attribute" for a rejected order; its log says why.
BLOCKED_LOG = """{
   "type": "urn:ietf:params:acme:error:rejectedIdentifier",
   "detail": "Order included an identifier for which issuance is forbidden by policy: \\"blocked.acme.test\\"",
   "status": 400
}
2026-12-03 13:32:42,114:DEBUG:certbot._internal.log:Exiting abnormally:
    raise messages.Error.from_json(jobj)
acme.messages.Error: urn:ietf:params:acme:error:rejectedIdentifier :: The server will not issue certificates \
for the identifier :: Order included an identifier for which issuance is forbidden by policy: "blocked.acme.test"
"""

#: The renewal conf certbot 2.1 wrote for a webroot lineage (paths shortened).
RENEWAL_CONF = """# renew_before_expiry = 30 days
version = 2.1.0
archive_dir = /etc/letsencrypt/archive/www.acme.test
cert = /etc/letsencrypt/live/www.acme.test/cert.pem
privkey = /etc/letsencrypt/live/www.acme.test/privkey.pem
chain = /etc/letsencrypt/live/www.acme.test/chain.pem
fullchain = /etc/letsencrypt/live/www.acme.test/fullchain.pem

# Options used in the renewal process
[renewalparams]
account = 6d4ea597cb2675a2b82f9a5e56c86651
key_type = ecdsa
server = https://127.0.109.4:14000/dir
authenticator = webroot
webroot_path = /var/www/acme,
[[webroot_map]]
www.acme.test = /var/www/acme
"""


def request(**changes):
    base = {
        "cert_name": "www.acme.test",
        "domains": ["www.acme.test"],
        "webroot": "/var/www/acme",
        "directory": PEBBLE,
    }
    return acme.Request(**{**base, **changes})


def facts(names=("www.acme.test",), *, days=1825, kind="ec"):
    issuer = ca("Pebble Intermediate CA 50ab43")
    cert = issue(list(names), issuer=issuer, kind=kind, not_after=NOW + days * DAY)
    return acme.certificate_facts(cert.pem.encode())


RENEWAL = acme.parse_renewal_conf(RENEWAL_CONF)


# -- the current certificate and its renewal conf ----------------------------------------------------
def test_certificate_facts_read_names_expiry_serial_issuer_and_key():
    cert = issue(["www.acme.test", "acme.test"], issuer=ca("Pebble Intermediate CA 50ab43"), not_after=NOW + 10 * DAY)
    got = acme.certificate_facts(cert.pem.encode())
    assert got.domains == ["www.acme.test", "acme.test"]
    assert got.not_after == NOW + 10 * DAY
    assert got.serial == f"{cert.certificate.serial_number:x}"
    assert got.issuer == "CN=Pebble Intermediate CA 50ab43"
    assert (got.key_type, got.key_size) == ("ecdsa", 256)
    assert got.to_dict(NOW) == {
        "not_after": acme.iso(NOW + 10 * DAY),
        "days_left": 10,
        "serial": got.serial,
        "issuer": got.issuer,
    }


def test_certificate_facts_of_an_rsa_certificate_without_names():
    cert = issue(["www.acme.test"], kind="rsa", san=False)
    got = acme.certificate_facts(cert.pem.encode())
    assert (got.domains, got.key_type, got.key_size) == ([], "rsa", 2048)


def test_certificate_facts_refuse_what_is_not_a_certificate():
    with pytest.raises(ValueError):
        acme.certificate_facts(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")


def test_renewal_conf_gives_top_level_and_renewalparams_but_not_comments_or_subsections():
    assert RENEWAL["server"] == PEBBLE
    assert RENEWAL["key_type"] == "ecdsa"
    assert RENEWAL["cert"] == "/etc/letsencrypt/live/www.acme.test/cert.pem"
    assert "renew_before_expiry" not in RENEWAL  # only a comment in certbot's file
    assert "www.acme.test" not in RENEWAL  # [[webroot_map]]


# -- the decision ------------------------------------------------------------------------------------
def test_no_lineage_orders():
    decision = acme.decide(request(), None, None, now=NOW)
    assert decision.order and decision.reason == "no certificate yet at /etc/letsencrypt/live/www.acme.test/cert.pem"


def test_a_certificate_without_renewal_conf_orders():
    decision = acme.decide(request(), facts(), None, now=NOW)
    assert decision.order and "no renewal configuration /etc/letsencrypt/renewal/www.acme.test.conf" in decision.reason


def test_a_valid_certificate_orders_nothing_and_says_until_when():
    decision = acme.decide(request(), facts(), RENEWAL, now=NOW)
    assert not decision.order
    assert decision.reason == f"valid until {acme.iso(NOW + 1825 * DAY)} (1825 days left; renewal window 30 days)"


def test_same_names_in_another_order_or_case_are_the_same_domains():
    decision = acme.decide(
        request(domains=["B.acme.test.", "www.acme.test"]), facts(("www.acme.test", "b.acme.test")), RENEWAL, now=NOW
    )
    assert not decision.order


@pytest.mark.parametrize(
    ("wanted", "have"),
    [(["www.acme.test", "acme.test"], ["www.acme.test"]), (["www.acme.test"], ["www.acme.test", "acme.test"])],
)
def test_other_domains_order(wanted, have):
    decision = acme.decide(request(domains=wanted), facts(have), RENEWAL, now=NOW)
    assert decision.order and decision.reason.startswith("domains differ: the certificate has ")


def test_expiry_within_the_renewal_window_orders():
    decision = acme.decide(request(renew_before_days=1900), facts(), RENEWAL, now=NOW)
    assert decision.order
    assert decision.reason == f"expires {acme.iso(NOW + 1825 * DAY)} (1825 days left; renewal window 1900 days)"


def test_expiry_exactly_at_the_window_orders_and_a_day_more_does_not():
    assert acme.decide(request(renew_before_days=30), facts(days=30), RENEWAL, now=NOW).order
    assert not acme.decide(request(renew_before_days=30), facts(days=31), RENEWAL, now=NOW).order


def test_another_directory_orders():
    decision = acme.decide(request(directory=acme.LETS_ENCRYPT), facts(), RENEWAL, now=NOW)
    assert decision.order and decision.reason == f"issued through {PEBBLE}, wanted {acme.LETS_ENCRYPT}"


def test_a_trailing_slash_is_the_same_directory():
    assert not acme.decide(request(directory=PEBBLE + "/"), facts(), RENEWAL, now=NOW).order


def test_another_key_type_or_rsa_size_orders():
    assert acme.decide(request(key_type="rsa"), facts(), RENEWAL, now=NOW).reason == "key type ecdsa, wanted rsa"
    rsa = facts(kind="rsa")
    assert not acme.decide(request(key_type="rsa"), rsa, RENEWAL, now=NOW).order
    assert acme.decide(request(key_type="rsa", rsa_key_size=4096), rsa, RENEWAL, now=NOW).reason == (
        "RSA key of 2048 bits, wanted 4096"
    )


def test_force_orders_a_good_certificate():
    decision = acme.decide(request(force=True), facts(), RENEWAL, now=NOW)
    assert decision.order and decision.reason.startswith("force: true (valid until ")


# -- options -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["", "localhost", "-a.example.test", "a..example.test", "a_b.example.test", "x" * 64 + ".test"]
)
def test_what_is_not_a_dns_name_is_refused(name):
    with pytest.raises(acme.AcmeError, match="domains: .* is not a DNS name"):
        acme.validate_domain(name)


def test_dns_names_are_normalised_and_a_wildcard_is_allowed():
    assert acme.validate_domain(" WWW.Acme.Test. ") == "www.acme.test"
    assert acme.validate_domain("*.acme.test") == "*.acme.test"


@pytest.mark.parametrize(
    ("changes", "option"),
    [
        ({"domains": []}, "domains"),
        ({"challenge": "tls-alpn-01"}, "challenge"),
        ({"webroot": None}, "webroot"),
        ({"challenge": "dns-01"}, "dns_credentials"),
        ({"key_type": "ed25519"}, "key_type"),
        ({"renew_before_days": 0}, "renew_before_days"),
        ({"cert_name": "../etc"}, "cert_name"),
    ],
)
def test_a_request_that_cannot_be_ordered_names_the_option(changes, option):
    with pytest.raises(acme.AcmeError, match=f"^{option}: "):
        acme.check_request(request(**changes))


def test_a_complete_request_passes():
    acme.check_request(request())
    acme.check_request(request(challenge="dns-01", webroot=None, dns_credentials="/etc/letsencrypt/x.ini"))


# -- certbot's command line --------------------------------------------------------------------------
def test_http01_command_for_a_new_lineage():
    assert acme.certbot_command(request(domains=["www.acme.test", "Acme.test"]), lineage_exists=False) == [
        "certbot", "certonly", "--non-interactive", "--agree-tos", "--cert-name", "www.acme.test",
        "-d", "www.acme.test", "-d", "acme.test",
        "--server", PEBBLE, "--key-type", "ecdsa", "--register-unsafely-without-email",
        "--webroot", "-w", "/var/www/acme",
        "--config-dir", "/etc/letsencrypt", "--work-dir", "/var/lib/letsencrypt", "--logs-dir", "/var/log/letsencrypt",
    ]  # fmt: skip


def test_dns01_rsa_command_for_an_existing_lineage_forces_renewal():
    argv = acme.certbot_command(
        request(challenge="dns-01", dns_credentials="/etc/letsencrypt/k.ini", dns_propagation_seconds=2,
                key_type="rsa", rsa_key_size=4096, email="hostmaster@acme.test", certbot="/usr/bin/certbot"),
        lineage_exists=True,
    )  # fmt: skip
    assert argv[0] == "/usr/bin/certbot"
    assert argv[-1] == "--force-renewal"
    joined = " ".join(argv)
    assert "--key-type rsa --rsa-key-size 4096 --email hostmaster@acme.test" in joined
    assert (
        "--dns-rfc2136 --dns-rfc2136-credentials /etc/letsencrypt/k.ini --dns-rfc2136-propagation-seconds 2" in joined
    )
    assert "--webroot" not in argv


# -- renew_before_expiry -----------------------------------------------------------------------------
def test_renew_before_expiry_replaces_certbots_comment():
    text = acme.set_renew_before_expiry(RENEWAL_CONF, 45)
    assert text.splitlines()[0] == "renew_before_expiry = 45 days"
    assert text.splitlines()[1:] == RENEWAL_CONF.splitlines()[1:]
    assert acme.parse_renewal_conf(text)["renew_before_expiry"] == "45 days"


def test_renew_before_expiry_is_idempotent_and_updates_a_set_value():
    once = acme.set_renew_before_expiry(RENEWAL_CONF, 45)
    assert acme.set_renew_before_expiry(once, 45) == once
    assert acme.set_renew_before_expiry(once, 20).splitlines()[0] == "renew_before_expiry = 20 days"


def test_renew_before_expiry_is_added_where_there_was_no_line():
    text = "version = 2.1.0\n[renewalparams]\nserver = x\n"
    assert acme.set_renew_before_expiry(text, 30) == "renew_before_expiry = 30 days\n" + text


# -- failures (real certbot output) ------------------------------------------------------------------
def test_unreachable_acme_server_names_the_directory():
    msg = acme.failure_message(request(directory="https://127.0.109.4:14999/dir"), OUTPUT["refused"])
    assert msg.startswith("certificate www.acme.test (www.acme.test), challenge http-01: ")
    assert (
        "the ACME server https://127.0.109.4:14999/dir is unreachable (ValueError: Requesting 127.0.109.4/dir: Connection refused)"
        in msg
    )
    assert "check the directory URL" in msg


def test_untrusted_acme_server_asks_for_ca_bundle():
    msg = acme.failure_message(request(), OUTPUT["untrusted"])
    assert f"the HTTPS certificate of the ACME server {PEBBLE} is not trusted" in msg
    assert "CERTIFICATE_VERIFY_FAILED" in msg and msg.endswith("set ca_bundle to the CA bundle that signs it")


def test_http01_with_nothing_on_port_80_names_domain_challenge_and_port():
    msg = acme.failure_message(
        request(cert_name="nohttp.acme.test", domains=["nohttp.acme.test"]), OUTPUT["http_noport80"]
    )
    assert "http-01 for nohttp.acme.test failed (connection: " in msg
    assert "dial tcp 127.0.109.5:80: connect: connection refused" in msg
    assert "port 80 of nohttp.acme.test not reachable from the ACME server" in msg


def test_http01_404_says_the_webroot_is_not_served():
    msg = acme.failure_message(request(cert_name="w404.acme.test", domains=["w404.acme.test"]), OUTPUT["http_404"])
    assert "http-01 for w404.acme.test failed (unauthorized: Non-200 status code" in msg
    assert "challenge file not served from /var/www/acme" in msg
    assert "http://w404.acme.test/.well-known/acme-challenge/ from the webroot /var/www/acme (option webroot)" in msg


def test_http01_unresolvable_name_asks_for_its_address_record():
    msg = acme.failure_message(
        request(cert_name="missing.acme.test", domains=["missing.acme.test"]), OUTPUT["http_nxdomain"]
    )
    assert "missing.acme.test does not resolve for the ACME server; publish its A/AAAA record" in msg


def test_a_problem_repeated_in_the_log_is_reported_once():
    msg = acme.failure_message(request(), OUTPUT["http_404"], OUTPUT["http_404"])
    assert msg.count("challenge file not served") == 1


def test_rejected_order_names_the_identifier_from_certbots_log():
    req = request(cert_name="blocked.acme.test", domains=["blocked.acme.test"])
    assert "AttributeError: can't set attribute" in OUTPUT["blocked"]  # all certbot says on its terminal
    msg = acme.failure_message(req, OUTPUT["blocked"], BLOCKED_LOG)
    assert msg.startswith("certificate blocked.acme.test (blocked.acme.test), challenge http-01: ")
    assert f"the ACME server {PEBBLE} refuses to issue for these names (rejectedIdentifier: " in msg
    assert 'forbidden by policy: "blocked.acme.test"' in msg and msg.endswith("or another directory")


def test_dns01_wrong_tsig_secret_names_tsig_and_the_server():
    req = request(
        challenge="dns-01", cert_name="dns1.acme.test", domains=["dns1.acme.test"], dns_server="127.0.109.1:5353"
    )
    msg = acme.failure_message(req, OUTPUT["dns_badtsig"])
    assert "challenge dns-01: TSIG key refused by 127.0.109.1:5353" in msg
    assert "check the key name, secret and algorithm in dns_credentials" in msg


def test_dns01_without_an_authoritative_zone_asks_for_the_primary():
    req = request(challenge="dns-01", cert_name="x.other.test", domains=["x.other.test"])
    msg = acme.failure_message(req, OUTPUT["dns_nozone"])
    assert "the DNS server of dns_credentials is not authoritative for a zone holding _acme-challenge" in msg


def test_dns01_refused_update_asks_to_allow_the_key():
    req = request(challenge="dns-01", dns_server="192.0.2.53:53")
    msg = acme.failure_message(req, "Encountered error when making query: REFUSED\n")
    assert "192.0.2.53:53 REFUSED the update" in msg


def test_dns01_validation_failure_points_at_the_zone_and_propagation():
    output = (
        "Certbot failed to authenticate some domains (authenticator: dns-rfc2136). The Certificate Authority "
        "reported these problems:\n  Domain: dns1.acme.test\n  Type:   unauthorized\n"
        '  Detail: Incorrect TXT record "x" found at _acme-challenge.dns1.acme.test\n'
    )
    msg = acme.failure_message(
        request(challenge="dns-01", domains=["dns1.acme.test"], dns_propagation_seconds=2), output
    )
    assert "dns-01 for dns1.acme.test failed (unauthorized: Incorrect TXT record" in msg
    assert "raise dns_propagation_seconds (2)" in msg


def test_rate_limit_says_wait_and_names_staging():
    output = (
        "An unexpected error occurred:\nurn:ietf:params:acme:error:rateLimited :: There were too many requests of a "
        "given type :: Error creating new order :: too many certificates already issued for: acme.test\n"
    )
    msg = acme.failure_message(request(), output)
    assert "rate limited by " in msg and "too many certificates already issued for: acme.test" in msg
    assert acme.LETS_ENCRYPT_STAGING in msg


def test_another_acme_error_is_quoted():
    msg = acme.failure_message(request(), "urn:ietf:params:acme:error:badCSR :: The CSR is unacceptable :: bad key\n")
    assert msg.endswith("answered badCSR: bad key")


def test_unknown_output_is_quoted_without_certbots_boilerplate():
    msg = acme.failure_message(
        request(), "Saving debug log to /x\nSomething odd\nAsk for help or search for solutions\n"
    )
    assert msg.endswith("certbot failed: Something odd")
    assert acme.failure_message(request(), "").endswith("certbot failed: no output")

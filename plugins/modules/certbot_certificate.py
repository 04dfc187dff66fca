#!/usr/bin/python
# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: certbot_certificate
author: matrixops.delegation contributors (@matrixops)
version_added: 0.2.0
short_description: Obtain a certificate by ACME with certbot, only when the current one does not do
description:
  - Keeps one certbot lineage, C(<certbot_dir>/live/<cert_name>/{cert,chain,fullchain,privkey}.pem),
    valid for O(domains), from the ACME server O(directory), by the HTTP-01 challenge (certbot's
    C(--webroot)) or the DNS-01 challenge (certbot's C(--dns-rfc2136), an RFC 2136 dynamic update
    signed with a TSIG key).
  - Reads the lineage's C(cert.pem) and renewal configuration C(<certbot_dir>/renewal/<cert_name>.conf)
    and runs C(certbot certonly) B(only) when there is no lineage yet, the certificate's names differ
    from O(domains), it expires within O(renew_before_days), it was issued through another ACME
    directory, its key type differs from O(key_type), or O(force=true). Otherwise nothing is ordered
    and a rerun reports no change.
  - Writes C(renew_before_expiry = <renew_before_days> days) into the renewal configuration, so that
    certbot's own renewal (its systemd timer or cron entry, C(certbot renew)) renews at the same point
    without Ansible. Changing only that line is a change without an order.
  - When certbot fails, the existing lineage is left as it was (certbot replaces it only after a
    successful order) and the task fails with a message naming the domain, the challenge type and
    what to fix, mapped from certbot's output, plus the path of certbot's log in RV(certbot_log).
options:
  cert_name:
    description: The lineage's name, the directory under C(live/) (usually the first domain).
    type: str
    required: true
  domains:
    description:
      - The DNS names of the certificate; the first is its subject. A change of this list (as a set)
        orders a new certificate.
    type: list
    elements: str
    required: true
  challenge:
    description:
      - V(http-01) - the ACME server fetches C(http://<domain>/.well-known/acme-challenge/<token>) on
        port 80; certbot writes the token below O(webroot), which a web server must serve.
      - V(dns-01) - certbot publishes C(_acme-challenge.<domain>) TXT records by RFC 2136 dynamic update
        with the credentials in O(dns_credentials).
    type: str
    choices: [http-01, dns-01]
    default: http-01
  webroot:
    description:
      - For O(challenge=http-01), required - the directory served as the document root of
        C(http://<domain>/) for C(/.well-known/acme-challenge/) (certbot C(--webroot -w)).
    type: path
  dns_credentials:
    description:
      - For O(challenge=dns-01), required - the certbot-dns-rfc2136 credentials file (mode 0600) with
        C(dns_rfc2136_server), C(dns_rfc2136_port), C(dns_rfc2136_name), C(dns_rfc2136_secret) and
        C(dns_rfc2136_algorithm). The module reads only the server and port from it, for messages;
        the secret stays in the file.
    type: path
  dns_propagation_seconds:
    description: Seconds certbot waits after the DNS update before asking the ACME server to validate.
    type: int
    default: 30
  directory:
    description:
      - The ACME directory URL. The default is Let's Encrypt's production service; its staging service,
        for tests (untrusted certificates, higher limits), is
        V(https://acme-staging-v02.api.letsencrypt.org/directory).
      - A lineage issued through another directory is ordered again from this one.
    type: str
    default: https://acme-v02.api.letsencrypt.org/directory
  email:
    description: The ACME account's e-mail address (expiry notices). Empty registers without an address.
    type: str
    default: ""
  ca_bundle:
    description:
      - A PEM bundle of CA certificates trusted for the ACME server's own HTTPS (for a private or test
        CA), passed to certbot as C(REQUESTS_CA_BUNDLE). Empty uses the system's trust store.
      - Renewals by certbot's timer need the same variable (see the P(matrixops.delegation.certificates#role) role).
    type: path
    default: ""
  key_type:
    description: The certificate key's type. A lineage with another key type is ordered again.
    type: str
    choices: [ecdsa, rsa]
    default: ecdsa
  rsa_key_size:
    description: Bits of an RSA key (O(key_type=rsa)).
    type: int
    default: 2048
  renew_before_days:
    description:
      - Order when the certificate expires within this many days; also written to the renewal
        configuration as C(renew_before_expiry) for certbot's own renewals.
    type: int
    default: 30
  certbot_dir:
    description: certbot's configuration directory (C(--config-dir)), holding C(live/), C(archive/), C(renewal/).
    type: path
    default: /etc/letsencrypt
  work_dir:
    description: certbot's working directory (C(--work-dir)).
    type: path
    default: /var/lib/letsencrypt
  logs_dir:
    description: certbot's log directory (C(--logs-dir)); RV(certbot_log) is its C(letsencrypt.log).
    type: path
    default: /var/log/letsencrypt
  certbot:
    description: The certbot command (a name on PATH or a path).
    type: str
    default: certbot
  timeout:
    description: Seconds certbot may run before it is stopped (the task then fails).
    type: int
    default: 300
  force:
    description: Order even when the current certificate needs nothing (a forced renewal).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads the lineage and reports whether it would order and why; runs nothing and writes nothing.
  diff_mode:
    support: none
    description: No diff; RV(reason) says what would change.
requirements:
  - certbot (Debian package C(certbot)) on the host, and for O(challenge=dns-01) its plugin
    C(python3-certbot-dns-rfc2136)
  - The Python library cryptography (a dependency of ansible-core) on the host
notes:
  - Run it as root on the host that will use the certificate; certbot keeps its account and lineages
    under O(certbot_dir).
  - Renewal without Ansible is certbot's own - C(certbot renew) from its timer or cron entry, which
    honours C(renew_before_expiry) and the hooks in C(<certbot_dir>/renewal-hooks/deploy/).
seealso:
  - name: The matrixops.delegation.certificates role
    description: Installs certbot, serves the HTTP-01 webroot, writes DNS credentials and renewal hooks, and calls this module.
    link: https://github.com/matrixops/delegation/blob/main/roles/certificates/README.md
  - name: certbot documentation
    description: The certonly command, webroot and dns-rfc2136 plugins, renewal configuration.
    link: https://eff-certbot.readthedocs.io/
"""

EXAMPLES = r"""
- name: Certificate for the delegated host by HTTP-01 (nginx serves /var/www/matrix-acme on port 80)
  matrixops.delegation.certbot_certificate:
    cert_name: matrix.example.com
    domains: [matrix.example.com]
    webroot: /var/www/matrix-acme
    email: hostmaster@example.com
  register: cert

- name: Certificate for the server name by DNS-01 (RFC 2136 with TSIG), from Let's Encrypt's staging service
  matrixops.delegation.certbot_certificate:
    cert_name: example.com
    domains: [example.com]
    challenge: dns-01
    dns_credentials: /etc/letsencrypt/matrixops-rfc2136-example.com.ini
    dns_propagation_seconds: 60
    directory: https://acme-staging-v02.api.letsencrypt.org/directory

- name: Use it
  ansible.builtin.debug:
    msg: "{{ cert.fullchain }} valid until {{ cert.not_after }} ({{ cert.reason }})"
"""

RETURN = r"""
ordered:
  description: Whether certbot was run to order a certificate (in check mode, whether it would be).
  returned: always
  type: bool
  sample: false
reason:
  description: Why the module ordered, or why not.
  returned: always
  type: str
  sample: valid until 2031-12-03T13:32:07Z (1825 days left; renewal window 30 days)
cert_name:
  description: The lineage's name.
  returned: always
  type: str
  sample: matrix.example.com
domains:
  description: The names asked for, normalised (lower case, no trailing dot).
  returned: always
  type: list
  elements: str
  sample: [matrix.example.com]
certificate:
  description: Path of the lineage's leaf certificate.
  returned: always
  type: str
  sample: /etc/letsencrypt/live/matrix.example.com/cert.pem
fullchain:
  description: Path of the leaf followed by its chain (what a web server serves).
  returned: always
  type: str
  sample: /etc/letsencrypt/live/matrix.example.com/fullchain.pem
chain:
  description: Path of the intermediate certificates.
  returned: always
  type: str
  sample: /etc/letsencrypt/live/matrix.example.com/chain.pem
privkey:
  description: Path of the private key.
  returned: always
  type: str
  sample: /etc/letsencrypt/live/matrix.example.com/privkey.pem
renewal_config:
  description: Path of the lineage's renewal configuration.
  returned: always
  type: str
  sample: /etc/letsencrypt/renewal/matrix.example.com.conf
directory:
  description: The ACME directory URL used.
  returned: always
  type: str
  sample: https://acme-v02.api.letsencrypt.org/directory
not_after:
  description: The certificate's expiry, ISO 8601 UTC.
  returned: when a certificate exists (after an order, the new one's)
  type: str
  sample: "2031-12-03T13:32:07Z"
days_left:
  description: Whole days until RV(not_after).
  returned: when a certificate exists
  type: int
  sample: 1825
serial:
  description: The certificate's serial number, lower-case hexadecimal.
  returned: when a certificate exists
  type: str
  sample: 4b1e2f0c9a7d33e1
issuer:
  description: The certificate's issuer (RFC 4514).
  returned: when a certificate exists
  type: str
  sample: CN=R11,O=Let's Encrypt,C=US
certbot_log:
  description: certbot's log file, with the details of the last run.
  returned: always
  type: str
  sample: /var/log/letsencrypt/letsencrypt.log
cmd:
  description: The certbot command line that was (or in check mode would be) run. It holds no secret.
  returned: when the module orders
  type: list
  elements: str
  sample: [certbot, certonly, --non-interactive, --agree-tos, --cert-name, matrix.example.com, -d, matrix.example.com]
rc:
  description: certbot's exit status.
  returned: when certbot ran
  type: int
  sample: 0
stdout:
  description: certbot's standard output.
  returned: when certbot failed
  type: str
  sample: "Certbot failed to authenticate some domains (authenticator: webroot)..."
stderr:
  description: certbot's standard error.
  returned: when certbot failed
  type: str
  sample: Some challenges have failed.
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.matrixops.delegation.plugins.module_utils import _acme as acme

PREFIX = "matrixops.delegation.certbot_certificate: "


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def dns_server_of(path):
    """``server:port`` from a certbot-dns-rfc2136 credentials file (never the secret), or None."""
    values = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                key, sep, value = line.partition("=")
                if sep and key.strip() in ("dns_rfc2136_server", "dns_rfc2136_port"):
                    values[key.strip()] = value.strip()
    except OSError:
        return None
    server = values.get("dns_rfc2136_server")
    return f"{server}:{values.get('dns_rfc2136_port', '53')}" if server else None


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def log_since(path, offset):
    """What certbot wrote to its log since ``offset`` (all of it when the log was rotated)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() < offset:
                offset = 0
            handle.seek(offset)
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def current_lineage(module, request, result):
    """The facts of ``cert.pem`` (None when there is none) and the renewal conf's text (None when absent)."""
    pem = None
    try:
        with open(result["certificate"], "rb") as handle:
            pem = handle.read()
    except FileNotFoundError:
        pass
    except OSError as exc:
        module.fail_json(msg=f"{PREFIX}{request.subject}: cannot read {result['certificate']}: {exc}", **result)
    facts = None
    if pem is not None:
        try:
            facts = acme.certificate_facts(pem)
        except ValueError as exc:
            module.warn(f"{result['certificate']} is not a readable certificate ({exc}); ordering a new one")
    try:
        conf = read_text(request.renewal_config)
    except OSError as exc:
        module.fail_json(msg=f"{PREFIX}{request.subject}: cannot read {request.renewal_config}: {exc}", **result)
    return facts, conf


def write_renew_before(module, request, conf, result):
    """Put ``renew_before_expiry`` into the renewal conf; whether it changed."""
    if conf is None:
        return False
    wanted = acme.set_renew_before_expiry(conf, request.renew_before_days)
    if wanted == conf:
        return False
    if not module.check_mode:
        try:
            tmp = request.renewal_config + ".matrixops-tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(wanted)
            os.chmod(tmp, os.stat(request.renewal_config).st_mode & 0o7777)
            os.replace(tmp, request.renewal_config)
        except OSError as exc:
            module.fail_json(msg=f"{PREFIX}{request.subject}: cannot write {request.renewal_config}: {exc}", **result)
    return True


def run_certbot(module, request, argv, result):
    """Run certbot (under ``timeout``); fail with a message that says what to fix."""
    environ = {"REQUESTS_CA_BUNDLE": module.params["ca_bundle"]} if module.params["ca_bundle"] else {}
    offset = log_size(result["certbot_log"])
    timeout = module.params["timeout"]
    command = ["timeout", "--kill-after=10", str(timeout), *argv] if module.get_bin_path("timeout") else argv
    rc, out, err = module.run_command(command, environ_update=environ)
    result["rc"] = rc
    if rc == 0:
        return
    if rc in (124, 137) and command is not argv:
        msg = (
            f"{PREFIX}{request.subject}: certbot did not finish within {timeout} seconds and was stopped; "
            "check that the ACME server and the DNS server answer, or raise timeout"
        )
    else:
        msg = PREFIX + acme.failure_message(request, f"{out}\n{err}", log_since(result["certbot_log"], offset))
    module.fail_json(msg=msg, stdout=out, stderr=err, **result)


def main():
    module = AnsibleModule(
        argument_spec={
            "cert_name": {"type": "str", "required": True},
            "domains": {"type": "list", "elements": "str", "required": True},
            "challenge": {"type": "str", "choices": list(acme.CHALLENGES), "default": "http-01"},
            "webroot": {"type": "path"},
            "dns_credentials": {"type": "path", "no_log": False},
            "dns_propagation_seconds": {"type": "int", "default": 30},
            "directory": {"type": "str", "default": acme.LETS_ENCRYPT},
            "email": {"type": "str", "default": ""},
            "ca_bundle": {"type": "path", "default": ""},
            "key_type": {"type": "str", "choices": list(acme.KEY_TYPES), "default": "ecdsa"},
            "rsa_key_size": {"type": "int", "default": 2048},
            "renew_before_days": {"type": "int", "default": 30},
            "certbot_dir": {"type": "path", "default": "/etc/letsencrypt"},
            "work_dir": {"type": "path", "default": "/var/lib/letsencrypt"},
            "logs_dir": {"type": "path", "default": "/var/log/letsencrypt"},
            "certbot": {"type": "str", "default": "certbot"},
            "timeout": {"type": "int", "default": 300},
            "force": {"type": "bool", "default": False},
        },
        required_if=[("challenge", "http-01", ["webroot"]), ("challenge", "dns-01", ["dns_credentials"])],
        supports_check_mode=True,
    )
    if not acme.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(acme.CRYPTOGRAPHY_IMPORT_ERROR))
    params = module.params
    try:
        domains = [acme.validate_domain(name) for name in params["domains"]]
        request = acme.Request(
            cert_name=params["cert_name"],
            domains=domains,
            challenge=params["challenge"],
            webroot=params["webroot"],
            dns_credentials=params["dns_credentials"],
            dns_propagation_seconds=params["dns_propagation_seconds"],
            directory=params["directory"],
            email=params["email"],
            key_type=params["key_type"],
            rsa_key_size=params["rsa_key_size"],
            renew_before_days=params["renew_before_days"],
            certbot_dir=params["certbot_dir"],
            work_dir=params["work_dir"],
            logs_dir=params["logs_dir"],
            certbot=params["certbot"],
            force=params["force"],
            dns_server=dns_server_of(params["dns_credentials"]) if params["dns_credentials"] else None,
        )
        acme.check_request(request)
    except acme.AcmeError as exc:
        module.fail_json(msg=f"{PREFIX}{exc}")

    result = {
        "changed": False,
        "ordered": False,
        "reason": "",
        "cert_name": request.cert_name,
        "domains": domains,
        "certificate": f"{request.live_dir}/cert.pem",
        "fullchain": f"{request.live_dir}/fullchain.pem",
        "chain": f"{request.live_dir}/chain.pem",
        "privkey": f"{request.live_dir}/privkey.pem",
        "renewal_config": request.renewal_config,
        "directory": request.directory,
        "certbot_log": os.path.join(request.logs_dir, "letsencrypt.log"),
    }
    facts, conf = current_lineage(module, request, result)
    renewal = acme.parse_renewal_conf(conf) if conf is not None else None
    now = acme.utcnow()
    decision = acme.decide(request, facts, renewal, now=now)
    result["reason"] = decision.reason
    if facts is not None:
        result.update(facts.to_dict(now))

    if not decision.order:
        result["changed"] = write_renew_before(module, request, conf, result)
        module.exit_json(**result)

    if not module.get_bin_path(request.certbot) and not os.path.isfile(request.certbot):
        module.fail_json(
            msg=f"{PREFIX}{request.subject}: certbot ({request.certbot}) not found on this host; install the "
            "Debian packages certbot and python3-certbot-dns-rfc2136, or set certbot to its path",
            **result,
        )
    argv = acme.certbot_command(request, lineage_exists=facts is not None)
    result.update(changed=True, ordered=True, cmd=argv)
    if module.check_mode:
        module.exit_json(**result)
    run_certbot(module, request, argv, result)

    facts, conf = current_lineage(module, request, result)
    if facts is None:
        module.fail_json(
            msg=f"{PREFIX}{request.subject}: certbot succeeded but left no certificate at {result['certificate']}",
            **result,
        )
    write_renew_before(module, request, conf, result)
    result.update(facts.to_dict(acme.utcnow()))
    module.exit_json(**result)


if __name__ == "__main__":
    main()

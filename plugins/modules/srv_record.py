#!/usr/bin/python
# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: srv_record
author: matrixops.delegation contributors (@matrixops)
version_added: 0.1.0
short_description: Publish the SRV records of Matrix SRV delegation by RFC 2136 dynamic update
description:
  - Makes the C(_matrix-fed._tcp.<server_name>) SRV records and, by default (O(legacy=publish)),
    the deprecated C(_matrix._tcp.<server_name>) ones exactly the O(targets), by an RFC 2136
    dynamic DNS update sent to the zone's primary server O(dns_server) and signed with a TSIG key.
  - The module first reads the records from O(dns_server), then sends B(one) update message for
    every name that differs. Its prerequisites are the records just read, so the server applies
    all of it or nothing; if somebody changed the records in between, nothing changes and the task
    fails. Afterwards the records are read again to confirm the change.
  - It reports a change only when the records (or their TTL) differ. In check mode it reads and
    reports, and sends no update.
  - Without O(dns_server) nothing is sent at all - the module validates the records, runs the
    O(checks) and returns them as zone-file lines in RV(zonefile) (the
    P(matrixops.delegation.srv_records#role) role's C(zonefile) method uses this).
  - With O(checks=true) it also warns about the mistakes the Matrix specification names - a
    target that is a CNAME or has no address, a target V(.) (which disables federation), and a
    C(/.well-known/matrix/server) file on the server name that delegates elsewhere (homeservers
    read it first, so they would never use the SRV records).
options:
  server_name:
    description:
      - The Matrix server name, as in user IDs (V(example.com)), without a port - a server name with
        an explicit port, or an IP literal, never uses SRV records.
      - A Unicode name is converted to its IDNA A-label form, with a warning.
    type: str
    required: true
  targets:
    description:
      - The SRV records, one per target, in any order. Required with O(state=present).
      - A single target with O(targets[].host=.) publishes "service decidedly not available"
        (RFC 2782), which B(disables federation) for the server name.
    type: list
    elements: dict
    suboptions:
      host:
        description:
          - The host that serves federation (its A/AAAA records are used), for example
            V(matrix.example.com); a trailing dot is allowed. Not an IP address, not a CNAME.
          - The host must present a TLS certificate valid for O(server_name), not for itself.
        type: str
        required: true
      port:
        description:
          - The TCP port of the federation listener on O(targets[].host), 1 to 65535.
          - Default V(8448) (V(0) for host V(.)).
        type: int
      priority:
        description:
          - Lower values are tried first, 0 to 65535.
          - Default V(10) (V(0) for host V(.)).
        type: int
      weight:
        description:
          - Relative weight among targets of the same priority, 0 to 65535.
          - Default V(5) (V(0) for host V(.)).
        type: int
  ttl:
    description: TTL of the records, in seconds. A record set whose TTL differs is replaced.
    type: int
    default: 3600
  legacy:
    description:
      - What to do with the deprecated name C(_matrix._tcp.<server_name>). Since Matrix 1.8,
        homeservers look up C(_matrix-fed._tcp) first and C(_matrix._tcp) only when
        C(_matrix-fed._tcp) has no records; homeservers implementing an older version of the
        specification look up C(_matrix._tcp) only. Publishing the same records at both names
        therefore reaches both.
      - V(publish) (default) - the same records as at C(_matrix-fed._tcp) (and the same TTL).
      - V(keep) - leave C(_matrix._tcp) alone; it is neither read nor changed, whatever it holds
        (also with O(state=absent)).
      - V(absent) - remove every SRV record at C(_matrix._tcp).
      - The booleans of version 0.1.0 are still accepted - V(true) means V(publish) and V(false)
        means V(absent) (0.1.0's default, which removed an operator's C(_matrix._tcp) records).
    type: raw
    default: publish
  state:
    description:
      - V(present) makes the records exactly O(targets); V(absent) removes every SRV record at
        C(_matrix-fed._tcp) and, unless O(legacy=keep), at C(_matrix._tcp).
    type: str
    choices: [present, absent]
    default: present
  zone:
    description:
      - The zone that holds the records (V(example.com)). By default it is found from the SOA record
        of O(dns_server)'s answer for C(_matrix-fed._tcp.<server_name>).
    type: str
  dns_server:
    description:
      - The primary (master) server of the zone that accepts dynamic updates - an IP address or a host
        name. Queries and the update go to it over TCP.
      - When omitted, nothing is sent; see the description.
    type: str
  dns_port:
    description: The TCP port of O(dns_server).
    type: int
    default: 53
  tsig_key_name:
    description:
      - Name of the TSIG key allowed to update the zone (the C(key) name in the server configuration).
      - Without it, the messages are not signed (for servers that allow updates by IP address).
    type: str
  tsig_algorithm:
    description: The TSIG key's algorithm.
    type: str
    choices: [hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512]
    default: hmac-sha256
  tsig_secret:
    description: The TSIG key's secret, base64 as in the server's key file. Never logged.
    type: str
  timeout:
    description:
      - Seconds allowed for each network step - one exchange with O(dns_server) (connect, send, the
        whole answer), and in the O(checks) one DNS query or HTTPS request.
    type: float
    default: 10
  checks:
    description:
      - Check, from the host the module runs on, that the targets have addresses and are not
        CNAMEs, and whether C(https://<server_name>/.well-known/matrix/server) delegates elsewhere;
        problems are warnings. Skipped with O(state=absent).
    type: bool
    default: true
  nameservers:
    description:
      - DNS servers for the O(checks) (each V(IP) or V(IP:port)); default the system resolver.
        Not used for the update, which goes to O(dns_server).
    type: list
    elements: str
  ca_path:
    description: A PEM bundle of CA certificates trusted for the well-known check instead of the system store.
    type: path
  validate_certs:
    description: Whether the well-known check requires a valid certificate, as homeservers do.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reads the records and reports what would change (with a diff); sends no update.
  diff_mode:
    support: full
    description: Shows the records before and after as zone-file lines.
requirements:
  - dnspython >= 2.4 (on the host the module runs on, usually the controller), unless O(dns_server)
    is omitted and O(checks=false)
notes:
  - "Run the module where dnspython is and O(dns_server) is reachable, usually the controller
    (C(delegate_to: localhost))."
  - Every exchange uses TCP. An unreachable server fails after O(timeout); a wrong TSIG secret
    fails with C(NOTAUTH) and TSIG error C(BADSIG), an unknown key with C(BADKEY), a server that
    does not allow the update with C(REFUSED) - and the error names the server and the response code.
  - The server must allow the key to change SRV records at both names (C(_matrix-fed._tcp) and
    C(_matrix._tcp)), unless O(legacy=keep), with which only C(_matrix-fed._tcp) is read and updated.
seealso:
  - name: The matrixops.delegation.srv_records role
    description: Publishes the records by this module or as a zone-file snippet, with an optional federation check.
    link: https://github.com/matrixops/delegation/blob/main/roles/srv_records/README.md
  - module: matrixops.delegation.federation_check
  - name: Matrix server-server API, resolving server names
    description: >-
      Steps 3.3 and 3.4 (SRV records of a delegated host name) and 4 and 5 (SRV records of the server
      name) read C(_matrix-fed._tcp) first and the deprecated C(_matrix._tcp) only when it has no records.
    link: https://spec.matrix.org/latest/server-server-api/#resolving-server-names
  - name: RFC 2136, Dynamic Updates in the Domain Name System
    description: The update message, its prerequisites and response codes.
    link: https://www.rfc-editor.org/rfc/rfc2136
"""

EXAMPLES = r"""
- name: Delegate example.com to matrix.example.com:8448 by SRV
  matrixops.delegation.srv_record:
    server_name: example.com
    targets:
      - host: matrix.example.com
        port: 8448
        priority: 10
        weight: 5
    dns_server: ns1.example.com
    tsig_key_name: ansible-update
    tsig_algorithm: hmac-sha256
    tsig_secret: "{{ vault_tsig_secret }}"
  delegate_to: localhost

- name: Two targets; leave whatever _matrix._tcp holds untouched (the key may update _matrix-fed._tcp only)
  matrixops.delegation.srv_record:
    server_name: example.com
    targets:
      - {host: matrix1.example.com, port: 443, priority: 10, weight: 60}
      - {host: matrix2.example.com, port: 443, priority: 10, weight: 40}
    legacy: keep
    ttl: 300
    zone: example.com
    dns_server: 192.0.2.53
    tsig_key_name: ansible-update
    tsig_secret: "{{ vault_tsig_secret }}"
  delegate_to: localhost

- name: Remove the SRV delegation of example.com
  matrixops.delegation.srv_record:
    server_name: example.com
    state: absent
    dns_server: 192.0.2.53
    tsig_key_name: ansible-update
    tsig_secret: "{{ vault_tsig_secret }}"
  delegate_to: localhost

- name: Only validate and render the records (no DNS server); print them for a zone file
  matrixops.delegation.srv_record:
    server_name: example.com
    targets: [{host: matrix.example.com}]
    checks: false
  delegate_to: localhost
  register: srv

- name: Show the zone-file lines
  ansible.builtin.debug:
    msg: "{{ srv.zonefile }}"
"""

RETURN = r"""
server_name:
  description: The normalised server name (IDNA A-labels).
  returned: always
  type: str
  sample: example.com
names:
  description: The SRV names the module manages, C(_matrix-fed._tcp) first (only that one with O(legacy=keep)).
  returned: always
  type: list
  elements: str
  sample: [_matrix-fed._tcp.example.com, _matrix._tcp.example.com]
zone:
  description: The zone updated (given or found); V(null) when O(dns_server) is omitted and O(zone) is not set.
  returned: always
  type: str
  sample: example.com
before:
  description:
    - The records each name had before, V(null) when O(dns_server) is omitted. Each value has
      C(ttl) (V(null) without records) and C(records) (C(priority), C(weight), C(port), C(target)).
  returned: always
  type: dict
  sample:
    _matrix-fed._tcp.example.com: {ttl: null, records: []}
    _matrix._tcp.example.com: {ttl: null, records: []}
after:
  description: The records each name has after the run (in check mode, would have), like RV(before).
  returned: always
  type: dict
  sample:
    _matrix-fed._tcp.example.com: {ttl: 3600, records: [{priority: 10, weight: 5, port: 8448, target: matrix.example.com}]}
    _matrix._tcp.example.com: {ttl: 3600, records: [{priority: 10, weight: 5, port: 8448, target: matrix.example.com}]}
zonefile:
  description: The wanted records as zone-file lines, with absolute names (empty with O(state=absent)).
  returned: always
  type: str
  sample: "_matrix-fed._tcp.example.com. 3600 IN SRV 10 5 8448 matrix.example.com.\n_matrix._tcp.example.com. 3600 IN SRV 10 5 8448 matrix.example.com.\n"
dns_server:
  description: The server asked, as V(host:port).
  returned: when O(dns_server) is set
  type: str
  sample: 192.0.2.53:53
rcode:
  description: The DNS response code of a failed exchange (V(NOTAUTH), V(REFUSED), V(SERVFAIL), V(YXRRSET)...).
  returned: on failure, when the server answered
  type: str
  sample: NOTAUTH
tsig_error:
  description: The TSIG error of a failed exchange (V(BADSIG), V(BADKEY), V(BADTIME)).
  returned: on failure, when the server reported one
  type: str
  sample: BADSIG
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.matrixops.delegation.plugins.module_utils import _srv_update as srv
from ansible_collections.matrixops.delegation.plugins.module_utils._dns import DNSPYTHON_IMPORT_ERROR, HAS_DNSPYTHON
from ansible_collections.matrixops.delegation.plugins.module_utils._rfc2136 import (
    TSIG_ALGORITHMS,
    Rfc2136Client,
    Tsig,
)

if HAS_DNSPYTHON:
    from ansible_collections.matrixops.delegation.plugins.module_utils._model import ConfigError, ResolutionError
    from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import ResolveOptions, Resolver

# No defaults here: the core applies them (8448, 10, 5 - or 0, 0, 0 for the target ".").
TARGET_SPEC = {
    "host": {"type": "str", "required": True},
    "port": {"type": "int"},
    "priority": {"type": "int"},
    "weight": {"type": "int"},
}


def run_checks(module, plan):
    """Warnings about the targets and a well-known file; returns them (the module warns)."""
    params = module.params
    options = ResolveOptions.from_params(params, allow_private_addresses=True)
    try:
        with Resolver(options) as resolver:
            findings = srv.target_findings(plan, resolver.addresses)
            resolution: dict | None
            try:
                resolution = resolver.resolve(plan.server_name).to_dict()
            except ResolutionError as exc:
                resolution = exc.partial.to_dict() if exc.partial is not None else None
    except ConfigError as exc:
        module.fail_json(msg=f"matrixops.delegation.srv_record: checks: {exc}")
    findings += srv.well_known_findings(plan, resolution, state=params["state"])
    return findings


def legacy_value(value: object) -> object:
    """A boolean written as a string (``-e legacy=false``) is 0.1.0's boolean; anything else as given."""
    if isinstance(value, str) and value.strip().lower() not in srv.LEGACY_MODES:
        try:
            return boolean(value.strip(), strict=True)
        except TypeError:
            return value
    return value


def main():
    module = AnsibleModule(
        argument_spec={
            "server_name": {"type": "str", "required": True},
            "targets": {"type": "list", "elements": "dict", "options": TARGET_SPEC},
            "ttl": {"type": "int", "default": 3600},
            "legacy": {"type": "raw", "default": "publish"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "zone": {"type": "str"},
            "dns_server": {"type": "str"},
            "dns_port": {"type": "int", "default": 53},
            "tsig_key_name": {"type": "str", "no_log": False},
            "tsig_algorithm": {"type": "str", "choices": list(TSIG_ALGORITHMS), "default": "hmac-sha256"},
            "tsig_secret": {"type": "str", "no_log": True},
            "timeout": {"type": "float", "default": 10},
            "checks": {"type": "bool", "default": True},
            "nameservers": {"type": "list", "elements": "str"},
            "ca_path": {"type": "path"},
            "validate_certs": {"type": "bool", "default": True},
        },
        required_together=[("tsig_key_name", "tsig_secret")],
        supports_check_mode=True,
    )
    params = module.params
    try:
        plan = srv.plan_records(
            params["server_name"],
            params["targets"],
            ttl=params["ttl"],
            legacy=legacy_value(params["legacy"]),
            state=params["state"],
        )
    except srv.SrvConfigError as exc:
        module.fail_json(msg=f"matrixops.delegation.srv_record: {exc}")
    result = {
        "changed": False,
        "server_name": plan.server_name,
        "names": plan.names,
        "zone": params["zone"].strip().rstrip(".") if params["zone"] else None,
        "before": None,
        "after": {record_set.name: record_set.to_dict() for record_set in plan.desired},
        "zonefile": srv.render_zonefile(plan.desired),
    }
    warnings = list(plan.warnings)

    needs_dns = params["dns_server"] is not None or (params["checks"] and params["state"] == "present")
    if needs_dns and not HAS_DNSPYTHON:
        if params["dns_server"] is not None:
            module.fail_json(msg=missing_required_lib("dnspython"), exception=str(DNSPYTHON_IMPORT_ERROR), **result)
        warnings.append("checks skipped: the Python library dnspython is not installed here (or set checks: false)")
    elif params["checks"] and params["state"] == "present":
        warnings += run_checks(module, plan)
    for message in warnings:
        module.warn(message)

    if params["dns_server"] is None:
        module.exit_json(**result)

    tsig = None
    if params["tsig_key_name"]:
        tsig = Tsig(name=params["tsig_key_name"], algorithm=params["tsig_algorithm"], secret=params["tsig_secret"])
    try:
        port = Rfc2136Client(params["dns_server"], params["dns_port"], timeout=params["timeout"], tsig=tsig)
        result["dns_server"] = port.server
        outcome = srv.synchronise(plan, port, zone=params["zone"], check_mode=module.check_mode)
    except srv.SrvConfigError as exc:
        module.fail_json(msg=f"matrixops.delegation.srv_record: {exc}", **result)
    except srv.SrvUpdateError as exc:
        extra = {key: value for key, value in (("rcode", exc.rcode), ("tsig_error", exc.tsig_error)) if value}
        module.fail_json(msg=f"matrixops.delegation.srv_record: {exc}", **result, **extra)
    result.update(
        changed=outcome.changed,
        zone=outcome.zone,
        before={record_set.name: record_set.to_dict() for record_set in outcome.before},
        after={record_set.name: record_set.to_dict() for record_set in outcome.after},
    )
    if module._diff:
        header = f"SRV records of {plan.server_name} in zone {outcome.zone} on {port.server}"
        result["diff"] = {
            "before_header": header,
            "after_header": header,
            "before": srv.render_zonefile(outcome.before),
            "after": srv.render_zonefile(outcome.after),
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()

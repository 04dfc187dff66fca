#!/usr/bin/python
# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: federation_check
author: matrixops.delegation contributors (@matrixops)
version_added: 0.1.0
short_description: Check that a Matrix server name federates, like a federation tester
description:
  - Resolves O(server_name) exactly as a homeserver does (the same core as the
    P(matrixops.delegation.resolve#lookup) lookup), then connects to B(every address of every
    target) with the SNI and C(Host) header the Matrix specification requires.
  - For each connection it records the TLS version and cipher and the certificate (subject,
    issuer, SANs, expiry), checks that the certificate is valid for the name the specification
    requires, fetches C(/_matrix/key/v2/server) and checks that the keys are for O(server_name),
    are valid in the future, include an Ed25519 key and carry a valid self-signature (Matrix
    canonical JSON and Ed25519), then fetches C(/_matrix/federation/v1/version).
  - Optionally checks the client and support well-known files (O(check_client), O(check_support)).
  - With O(implementations), it also predicts, per server name, where each homeserver
    implementation (Synapse, Dendrite, conduwuit, tuwunel, continuwuity, Conduit) would connect
    I(at a cold cache), checks those connections too, and lists in RV(divergent) the
    implementations that would fail where the specification's route works (or the reverse), with
    the change that makes every implementation agree.
  - Runs offline, in CI or behind a firewall; nothing is sent to a third-party website.
  - This module only reads, and never reports a change.
options:
  server_name:
    description:
      - The server name to check, as in user IDs (V(example.com)).
      - Exactly one of O(server_name) and O(server_names) is required.
    type: str
  server_names:
    description:
      - Many server names to check in one run, O(concurrency) at a time, instead of O(server_name).
      - Either a list of names, or a mapping of each name to its expected target (V(host:port),
        as O(expected_target)) or to V(null) for no expected target.
      - Each name is checked exactly as O(server_name) would be and isolated from the others - a
        failure, or an unexpected exception (code V(check-crashed)), becomes that name's error in
        RV(results), never the run's. The names share one resolution memo, so a delegated host
        or SRV target of several names is looked up once.
      - The result is then RV(results), RV(failed_names) and RV(ok) (the single-name keys are
        inside each entry of RV(results)); warnings are prefixed with their server name.
    type: raw
    version_added: 0.2.0
  expected_target:
    description:
      - V(host:port) that the resolution must reach; the check fails unless some target is it.
      - Only with O(server_name); with O(server_names) give a mapping of name to expected target.
    type: str
  concurrency:
    description:
      - With O(server_names), how many names are checked at a time (1 to 256).
      - The default is the P(matrixops.delegation.resolve#lookup) lookup's, chosen from
        measurement (C(docs/performance.md) in the collection's source).
    type: int
    default: 64
    version_added: 0.2.0
  check_client:
    description:
      - "Also check C(/.well-known/matrix/client) on the server name host, its
        C(Access-Control-Allow-Origin: *) header (on every redirect hop), its C(m.homeserver.base_url)
        (C(<base_url>/_matrix/client/versions) must answer with a C(versions) list) and, when
        present, C(m.identity_server)."
    type: bool
    default: false
  check_support:
    description:
      - Also check that C(/.well-known/matrix/support) exists and has C(contacts) (each with a
        C(role) and a C(matrix_id) or C(email_address)) or a C(support_page).
    type: bool
    default: false
  certificate_expiry_days:
    description:
      - A certificate with fewer whole days left (rounded down) is I(expiring) - its connection in
        RV(connections) gets C(expiring=true), and a warning says so (an error with
        O(certificate_expiry_error), code V(certificate-expiring)). Without it, only an expired
        certificate is reported.
    type: int
    version_added: 0.2.0
  certificate_expiry_error:
    description:
      - An expiring certificate (O(certificate_expiry_days)) is an error of its connection instead of a warning.
    type: bool
    default: false
    version_added: 0.2.0
  platform_networks:
    description:
      - '"Still on our platform" - addresses or networks (V(192.0.2.0/24), V(2001:db8::/48),
        V(198.51.100.7)) that every resolved address of every target must be in. An address outside
        them is an error (code V(off-platform)), whether or not it was connected to.'
    type: list
    elements: str
    version_added: 0.2.0
  address_family:
    description:
      - Which addresses to connect to - V(any), or only V(ipv4) or only V(ipv6) addresses (the
        resolution still reports every address; RV(families) marks the other family V(not-checked)).
      - A connection that fails because this host has no route for the address's family
        (C(Network is unreachable), C(Cannot assign requested address), C(Address family not
        supported by protocol), and a local route lookup finds no route to the address) is not a
        failure of the server - its C(state) is V(no-route) and a warning says so. When this host
        does have a route, a router on the way reported the network unreachable (a stale AAAA
        record, say) - that is an error of the connection. When no address at all could be reached
        for want of a route, the check fails with code V(no-route) (check from a host that has that
        family, or set this option).
    type: str
    choices: [any, ipv4, ipv6]
    default: any
    version_added: 0.2.0
  implementations:
    description:
      - Also resolve each server name as these homeserver implementations would, and check the
        connections each of them would make (RV(implementations), RV(divergent)). A list of
        implementation profile names, or V(all) for every profile.
      - The profiles are those of the P(matrixops.delegation.resolve#lookup) lookup's
        C(implementation) option - V(spec) (the specification, what this module checks anyway),
        V(synapse), V(dendrite) (its default configuration, which dials IPv4 only), V(conduwuit)
        (the final conduwuit and continuwuity up to v0.5.6), V(continuwuity-0.5) (v0.5.7 to
        v0.5.11), V(tuwunel) (from v1.5), V(tuwunel-1.0) (v1.0 to v1.4), V(continuwuity) (from
        v26.6) and V(conduit). C(docs/implementations.md) in the collection's source has their
        rules, the versions read and the divergences they cause.
      - Every prediction is I(at a cold cache) - a peer that contacted the name before may still
        use an earlier answer (C(notice_seconds) in RV(implementations) says for how long at most).
      - The network is asked once per name for every profile - the specification's view comes
        from the same pass and is what the name's own checks (RV(resolution), RV(connections))
        use. A connection is made once per address, port, TLS server name and C(Host) header -
        an implementation that would connect exactly as the specification's route does shares
        its result.
      - RV(ok) stays the specification's verdict; test RV(divergent) to fail on a divergence.
      - Without it (the default), the result is what it always was.
    type: list
    elements: str
    choices: [all, spec, synapse, dendrite, conduwuit, continuwuity-0.5, tuwunel, tuwunel-1.0, continuwuity, conduit]
    version_added: 0.2.0
  fail_on_error:
    description:
      - Fail the task when RV(ok) is false, with the first error as message and the whole result
        still returned. With V(false), the task succeeds and RV(ok) tells.
      - With O(server_names), the message names every failed name with its first error.
    type: bool
    default: true
extends_documentation_fragment:
  - matrixops.delegation.resolve
requirements:
  - cryptography on the host the module runs on (ansible-core depends on it, so a controller has it;
    a vantage host of the verify playbook needs it installed, as it needs dnspython)
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
notes:
  - Non-fatal findings (deprecated SRV names, private addresses, ignored certificate problems)
    are Ansible warnings; resolution warnings also stay in C(resolution.warnings).
  - A connection whose certificate fails verification is not used for requests unless
    O(validate_certs=false); its key checks are then V(null).
seealso:
  - plugin: matrixops.delegation.resolve
    plugin_type: lookup
  - name: Matrix server-server API, resolving server names
    description: The steps the check follows before it connects.
    link: https://spec.matrix.org/latest/server-server-api/#resolving-server-names
"""

EXAMPLES = r"""
- name: Check federation of example.com from the controller
  matrixops.delegation.federation_check:
    server_name: example.com
  delegate_to: localhost
  run_once: true

- name: Check that example.com is delegated to matrix.example.com:443 and its well-knowns are right
  matrixops.delegation.federation_check:
    server_name: example.com
    expected_target: matrix.example.com:443
    check_client: true
    check_support: true
  delegate_to: localhost
  register: federation

- name: Print the report
  ansible.builtin.debug:
    msg: "{{ federation.summary }}"

- name: Check many names in one run, each against its own expected target (null - any target)
  matrixops.delegation.federation_check:
    server_names:
      example.com: matrix.example.com:443
      example.org: matrix.example.org:8448
      example.net: null
    fail_on_error: false
  delegate_to: localhost
  run_once: true
  register: fleet

- name: Show the names that failed
  ansible.builtin.debug:
    msg: "{{ fleet.failed_names }}"

- name: Would every homeserver implementation reach example.com? (spec, Synapse, Dendrite, ...)
  matrixops.delegation.federation_check:
    server_name: example.com
    implementations: all
    fail_on_error: false
  delegate_to: localhost
  register: implementations_check

- name: Fail when some implementation disagrees with the specification, showing the fixes
  ansible.builtin.assert:
    that: implementations_check.divergent | length == 0
    fail_msg: "{{ implementations_check.divergent | map(attribute='fix') | unique | list }}"

- name: Check a lab setup (private DNS and CA), without failing the play
  matrixops.delegation.federation_check:
    server_name: example.test
    nameservers: ['127.0.0.1:5353']
    ca_path: /etc/lab/ca.pem
    allow_private_addresses: true
    fail_on_error: false
  register: lab_federation
"""

RETURN = r"""
ok:
  description: Whether every check passed (with O(server_names) - for every name).
  returned: always
  type: bool
  sample: true
results:
  description:
    - With O(server_names), one result per distinct name, in the order given - each a dict with
      the keys returned for O(server_name) (RV(ok), RV(server_name), RV(resolution),
      RV(connections), RV(families) (when the name resolved), RV(version), RV(client), RV(support),
      RV(errors), RV(error_codes), RV(summary)), plus C(expected_target) (as given, or V(null)) and
      C(seconds) (how long that name's check took); with O(implementations), also
      RV(implementations) and RV(divergent).
  returned: when O(server_names) is given
  type: list
  elements: dict
  version_added: 0.2.0
  sample:
    - ok: true
      server_name: example.com
      errors: []
      error_codes: []
failed_names:
  description: With O(server_names), the names whose check failed, in the order given.
  returned: when O(server_names) is given
  type: list
  elements: str
  version_added: 0.2.0
  sample: [example.net]
server_name:
  description: The normalised server name.
  returned: when O(server_name) is given
  type: str
  sample: example.com
resolution:
  description:
    - Exactly the P(matrixops.delegation.resolve#lookup) lookup's result for the server name
      (as far as it got when resolution failed; V(null) when the name is invalid).
  returned: when O(server_name) is given
  type: dict
  sample:
    server_name: example.com
    method: well_known_explicit_port
    delegated_server: matrix.example.com:443
    host_header: matrix.example.com:443
    tls_server_name: matrix.example.com
    sni: matrix.example.com
    targets: [{host: matrix.example.com, port: 443, addresses: ["198.51.100.7"]}]
    well_known: {url: "https://example.com/.well-known/matrix/server", status: 200, m_server: "matrix.example.com:443",
                 error: null, redirects: [], cache_seconds: 86400}
    srv: []
    warnings: []
connections:
  description:
    - One entry per address of every target, in connection order.
    - "Each entry also has C(keys): what the key server published (V(null) when it was not
      fetched), a dict with C(server_name) (the name in the keys), C(valid_until_ts) (milliseconds
      since the epoch) and C(verify_keys) (the key IDs), for example
      C({server_name: example.com, valid_until_ts: 1790000000000, verify_keys: [ed25519:a_abcd]})."
    - Read it as C(item['keys']) in templates, because C(item.keys) is the dictionary method
      (which is also why ansible-test does not accept it as a documented return key).
  returned: when O(server_name) is given
  type: list
  elements: dict
  contains:
    address:
      description: The IP address connected to.
      type: str
      sample: 198.51.100.7
    port:
      description: The TCP port.
      type: int
      sample: 443
    ok:
      description: Whether everything on this connection passed.
      type: bool
      sample: true
    state:
      description:
        - V(ok), V(error), or V(no-route) - this host has no route to the address (see
          O(address_family)); such a connection does not fail the check.
        - C(Network is unreachable) while this host has a route to the address means that a router
          on the way reported the network unreachable - V(error), and the error says so.
      type: str
      sample: ok
      version_added: 0.2.0
    expiring:
      description:
        - With O(certificate_expiry_days), whether the certificate is inside the threshold (or has expired).
        - Present only when O(certificate_expiry_days) is set and the TLS handshake got as far as a certificate.
      type: bool
      sample: false
      version_added: 0.2.0
    error:
      description: What went wrong on this connection (several problems joined with V(; )), else V(null).
      type: str
      sample: null
    tls:
      description: The TLS session, V(null) when no handshake completed.
      type: dict
      contains:
        version:
          description: TLS protocol version.
          type: str
          sample: TLSv1.3
        cipher:
          description: Cipher suite.
          type: str
          sample: TLS_AES_256_GCM_SHA384
        certificate_valid:
          description: Whether the certificate is trusted and valid for the resolution's C(tls_server_name).
          type: bool
          sample: true
        certificate:
          description: The server certificate.
          type: dict
          contains:
            subject:
              description: Subject, RFC 4514.
              type: str
              sample: CN=matrix.example.com
            issuer:
              description: Issuer, RFC 4514.
              type: str
              sample: CN=R11,O=Let's Encrypt,C=US
            sans:
              description: Subject alternative names (DNS names and IP addresses).
              type: list
              elements: str
              sample: [matrix.example.com]
            not_after:
              description: Expiry, UTC.
              type: str
              sample: "2027-01-01T00:00:00Z"
    checks:
      description: The federation tester's checks; V(null) when not run.
      type: dict
      contains:
        valid_certificate:
          description: The certificate is valid for the name the spec requires.
          type: bool
          sample: true
        matching_server_name:
          description: The keys' C(server_name) equals the server name.
          type: bool
          sample: true
        future_valid_until_ts:
          description: The keys' C(valid_until_ts) is in the future.
          type: bool
          sample: true
        has_ed25519_key:
          description: At least one C(ed25519:) verify key.
          type: bool
          sample: true
        all_ed25519_checks_ok:
          description: Every Ed25519 key's self-signature verifies; V(null) without an Ed25519 key.
          type: bool
          sample: true
families:
  description:
    - Per address family of the resolved addresses (V(ipv4), V(ipv6)) - C(addresses) (how many) and
      C(state) - V(ok), V(failed) (a connection of that family failed), V(no-route) (this host has no
      route for that family) or V(not-checked) (left out by O(address_family)).
  returned: when the name resolved
  type: dict
  sample: {ipv4: {addresses: 1, state: ok}, ipv6: {addresses: 1, state: no-route}}
  version_added: 0.2.0
implementations:
  description:
    - With O(implementations), per implementation profile asked (in the order given; V(all) - every
      profile, V(spec) first), what that implementation would do with the server name at a cold
      cache, and whether the connections it would make pass the same checks as RV(connections).
    - Each value is a dict with C(versions) (the implementation's versions this applies to),
      C(method), C(delegated_server), C(targets) (each C(host), C(port) and C(addresses) in the
      order it would use them), C(host_header), C(tls_server_name), C(sni) (V(null) - none),
      C(error) and C(code) (why it would not connect at all, else V(null)).
    - C(connections_ok) - whether every connection to its targets passes; V(false) when it would
      not connect at all; V(null) when none of its addresses could be checked from here
      (O(address_family), or no route for the family).
    - C(checks) - one per address and port of its targets - C(address), C(port), C(ok), C(state)
      (V(ok), V(error) or V(no-route)), C(error) and C(shared_with_spec) (V(true) when the
      specification's route made the same connection - same address, port, TLS name and C(Host) -
      and its result is reused; V(false) when the connection was made for this implementation).
    - C(differs_from_spec) - empty when its route is the specification's, else one C(rule),
      C(reason) (with the source lines it was read from) and C(versions) per rule that makes it
      differ (the rule names are those of C(docs/implementations.md)).
    - C(unobserved) - where it would have gone further than this check looks (a redirect to plain
      http, a body over 1 MiB); the result then assumes no delegation.
    - C(caveats) - what the result cannot see and that could change it, each only where it applies -
      the peer's cache (always), the implementation's notes on the rules that made it differ, a
      default address deny list of that implementation that refuses a target address, a route
      cache keyed by the delegated host name (the same list as the C(caveats) of the
      C(matrixops.delegation.resolve) lookup's results).
    - C(notice_seconds) and C(notice_basis) - the longest time, in seconds, a peer running it may
      keep using an earlier answer after the delegation changes, from the cache headers and DNS
      TTLs published now (V(null) - until every destination fails, Dendrite), and how it was
      reached.
  returned: when O(implementations) is given and the name was checked
  type: dict
  version_added: 0.2.0
  sample:
    dendrite:
      versions: gomatrixserverlib@ffcbbd38
      method: srv
      delegated_server: null
      targets: [{host: matrix.example.com, port: 8448, addresses: ["198.51.100.7"]}]
      host_header: example.com
      tls_server_name: example.com
      sni: example.com
      error: null
      code: null
      connections_ok: true
      checks: [{address: 198.51.100.7, port: 8448, ok: true, state: ok, error: null, shared_with_spec: true}]
      differs_from_spec: []
      unobserved: []
      caveats:
        - "at a cold cache: a peer that resolved this name before may still use its earlier answer until its
          cache expires (federation_check's notice_seconds says for how long at most)"
      notice_seconds: null
      notice_basis: ["kept until every destination fails at the transport level"]
divergent:
  description:
    - With O(implementations), one entry per implementation (other than V(spec)) whose
      C(connections_ok) differs from the specification's, and per rule that explains it - an
      implementation that would fail where the specification's route works, or the reverse.
      Empty when every implementation asked agrees (or could not be checked from here).
  returned: when O(implementations) is given and the name was checked
  type: list
  elements: dict
  version_added: 0.2.0
  contains:
    implementation:
      description: The implementation profile.
      type: str
      sample: conduwuit
    versions:
      description: The implementation's versions this applies to.
      type: str
      sample: conduwuit (final commit); continuwuity v0.5.0-v0.5.6
    spec_ok:
      description: Whether the specification's route passes the connection checks.
      type: bool
      sample: true
    implementation_ok:
      description: Whether this implementation's route passes them.
      type: bool
      sample: false
    rule:
      description: The rule of the implementation that makes it differ (as in C(docs/implementations.md)).
      type: str
      sample: srv_name_override
    reason:
      description: What the rule makes it do here, and the source lines it was read from.
      type: str
      sample: looked up example.com's own addresses before step 3 and uses them on the SRV port 8448 instead of the addresses of matrix.example.com
    fix:
      description: The change to what the server name publishes that makes every implementation agree.
      type: str
      sample: >-
        serve {"m.server": "matrix.example.com:8448"} at https://example.com/.well-known/matrix/server -
        an explicit port, so that no implementation queries SRV records
version:
  description: The C(server) of C(/_matrix/federation/v1/version) from the first connection that answered.
  returned: when O(server_name) is given
  type: dict
  sample: {name: Synapse, version: 1.163.2}
client:
  description: The client well-known check, V(null) unless O(check_client).
  returned: when O(server_name) is given
  type: dict
  sample: {url: "https://example.com/.well-known/matrix/client", status: 200, base_url: "https://matrix.example.com",
           cors: true, versions_ok: true, error: null}
support:
  description: The support well-known check, V(null) unless O(check_support).
  returned: when O(server_name) is given
  type: dict
  sample: {url: "https://example.com/.well-known/matrix/support", status: 200, valid: true, error: null}
errors:
  description: One line per problem, each saying what to fix.
  returned: when O(server_name) is given
  type: list
  elements: str
  sample: ["certificate presented by 198.51.100.7:8448 is valid for matrix.example.com but the spec requires it to be valid for example.com"]
error_codes:
  description:
    - The stable code of each line of RV(errors), in the same order. The collection's
      C(docs/troubleshooting.md) has a row and a section for each code.
  returned: when O(server_name) is given
  type: list
  elements: str
  sample: [certificate-wrong-name]
summary:
  description: A few human lines, like a federation tester's report.
  returned: when O(server_name) is given
  type: str
  sample: |
    Federation report for example.com
    Resolution: well_known_explicit_port via https://example.com/.well-known/matrix/server (m.server matrix.example.com:443)
    Host header matrix.example.com:443, certificate name matrix.example.com, SNI matrix.example.com
    Target matrix.example.com:443 -> 198.51.100.7
      198.51.100.7:443  OK  TLSv1.3 TLS_AES_256_GCM_SHA384, certificate valid, keys for example.com (ed25519:a_abcd)
    Version: Synapse 1.163.2
    Federation OK
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.matrixops.delegation.plugins.module_utils._dns import (
    DNSPYTHON_IMPORT_ERROR,
    HAS_DNSPYTHON,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._signing import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
)

if HAS_DNSPYTHON and HAS_CRYPTOGRAPHY:
    from ansible_collections.matrixops.delegation.plugins.module_utils._federation import FederationChecker
    from ansible_collections.matrixops.delegation.plugins.module_utils._model import ConfigError
    from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import ResolveOptions

from ansible_collections.matrixops.delegation.plugins.module_utils._check_policy import CheckPolicy
from ansible_collections.matrixops.delegation.plugins.module_utils._profiles import (
    PROFILE_NAMES,
    Profile,
    ProfileError,
    profiles_named,
)

DEFAULT_CONCURRENCY = 64  # the resolve lookup's default (module_utils/_resolver.py); see docs/performance.md


def main():
    module = AnsibleModule(
        argument_spec={
            "server_name": {"type": "str"},
            "server_names": {"type": "raw"},
            "expected_target": {"type": "str"},
            "concurrency": {"type": "int", "default": DEFAULT_CONCURRENCY},
            "nameservers": {"type": "list", "elements": "str"},
            "timeout": {"type": "float", "default": 10},
            "ca_path": {"type": "path"},
            "validate_certs": {"type": "bool", "default": True},
            "allow_private_addresses": {"type": "bool", "default": False},
            "check_client": {"type": "bool", "default": False},
            "check_support": {"type": "bool", "default": False},
            "fail_on_error": {"type": "bool", "default": True},
            "certificate_expiry_days": {"type": "int"},
            "certificate_expiry_error": {"type": "bool", "default": False},
            "platform_networks": {"type": "list", "elements": "str"},
            "address_family": {"type": "str", "default": "any", "choices": ["any", "ipv4", "ipv6"]},
            "implementations": {"type": "list", "elements": "str", "choices": ["all", *PROFILE_NAMES]},
        },
        mutually_exclusive=[("server_name", "server_names"), ("server_names", "expected_target")],
        required_one_of=[("server_name", "server_names")],
        supports_check_mode=True,
    )
    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=str(DNSPYTHON_IMPORT_ERROR))
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))
    params = module.params
    if params["server_names"] is not None:
        check_many(module)
    options = ResolveOptions.from_params(params)
    profiles = implementations(module)
    try:
        with FederationChecker(options, policy=policy(module)) as checker:
            result = checker.run(
                params["server_name"],
                expected_target=params["expected_target"],
                check_client=params["check_client"],
                check_support=params["check_support"],
                implementations=profiles,
            )
            warnings = list(dict.fromkeys(checker.warnings))
    except ConfigError as exc:
        module.fail_json(msg=f"matrixops.delegation.federation_check: {exc}")
    for message in warnings:
        module.warn(message)
    if params["fail_on_error"] and not result["ok"]:
        module.fail_json(msg=result["errors"][0], changed=False, **result)
    module.exit_json(changed=False, **result)


def policy(module: AnsibleModule) -> CheckPolicy:
    """certificate_expiry_*, platform_networks and address_family; a bad value fails the task."""
    try:
        return CheckPolicy.from_params(module.params)
    except ValueError as exc:
        module.fail_json(msg=f"matrixops.delegation.federation_check: {exc}")
        raise  # not reached: fail_json exits


def implementations(module: AnsibleModule) -> list[Profile] | None:
    """The profiles of the ``implementations`` option (None without it); a bad value fails the task."""
    value = module.params.get("implementations")
    if value is None:
        return None
    try:
        return profiles_named(value)
    except ProfileError as exc:
        module.fail_json(msg=f"matrixops.delegation.federation_check: {exc}")
        raise  # not reached: fail_json exits


def server_names_param(value: object) -> dict:
    """``server_names`` as {name: expected target or None}; a ValueError says what is wrong."""
    if isinstance(value, dict):
        names = {}
        for name, target in value.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"server_names: every key must be a server name (a string), got {name!r}")
            if target is not None and not isinstance(target, str):
                raise ValueError(
                    f"server_names: the expected target of {name} must be 'host:port' or null, got {target!r}"
                )
            names[name] = target or None
    elif isinstance(value, (list, tuple)):
        for name in value:
            if not isinstance(name, str) or not name:
                raise ValueError(f"server_names: every entry must be a server name (a string), got {name!r}")
        names = dict.fromkeys(value)
    else:
        raise ValueError(
            f"server_names must be a list of server names or a mapping of name to expected target, "
            f"got {type(value).__name__}"
        )
    if not names:
        raise ValueError("server_names is empty: give at least one server name")
    return names


def check_many(module: AnsibleModule) -> None:
    params = module.params
    try:
        names = server_names_param(params["server_names"])
    except ValueError as exc:
        module.fail_json(msg=f"matrixops.delegation.federation_check: {exc}")
    options = ResolveOptions.from_params(params, concurrency=params["concurrency"])
    profiles = implementations(module)
    try:
        with FederationChecker(options, policy=policy(module)) as checker:
            result = checker.run_many(
                names,
                check_client=params["check_client"],
                check_support=params["check_support"],
                implementations=profiles,
            )
            warnings = list(dict.fromkeys(checker.warnings))
    except ConfigError as exc:
        module.fail_json(msg=f"matrixops.delegation.federation_check: {exc}")
    for message in warnings:
        module.warn(message)
    if params["fail_on_error"] and not result["ok"]:
        failed = {entry["server_name"]: entry for entry in result["results"] if not entry["ok"]}
        lines = "; ".join(
            f"{name}: {entry['errors'][0] if entry['errors'] else 'failed'}" for name, entry in failed.items()
        )
        module.fail_json(
            msg=f"{len(result['failed_names'])} of {len(result['results'])} server names failed the federation check: {lines}",
            changed=False,
            **result,
        )
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

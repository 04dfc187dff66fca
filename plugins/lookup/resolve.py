# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: resolve
author: matrixops.delegation contributors (@matrixops)
version_added: 0.1.0
short_description: Resolve Matrix server names exactly as a homeserver does
description:
  - Follows the server discovery steps of the Matrix server-server API ("Resolving server
    names") for each server name and returns where a remote homeserver would connect, with
    which C(Host) header and for which name it would check the TLS certificate.
  - The steps are, in order, an IP literal, an explicit port, the C(/.well-known/matrix/server)
    file (then its delegated name's IP literal, explicit port, C(_matrix-fed._tcp) SRV records,
    deprecated C(_matrix._tcp) SRV records or port 8448), then C(_matrix-fed._tcp) and
    C(_matrix._tcp) SRV records of the server name, then port 8448.
  - Each name and each target is resolved and fetched once per lookup call however often it
    appears; nothing is cached across tasks, so a check right after a deploy sees the new state.
  - Names are resolved concurrently (O(concurrency)).
  - Resolution warnings (deprecated SRV names, CNAME SRV targets, private addresses, IDNA
    conversion...) are returned in RV(_raw[].warnings) and also shown as Ansible warnings.
  - With O(implementation), it returns instead what one homeserver implementation would connect
    to (Synapse, Dendrite, conduwuit, tuwunel, continuwuity, Conduit), at a cold cache, and why
    that differs from the specification's answer.
options:
  _terms:
    description:
      - Server names, as in user IDs (V(example.com), V(example.com:8448), V([2001:db8::1])).
      - A Unicode name is converted to its IDNA A-label form, with a warning.
    type: list
    elements: str
    required: true
  concurrency:
    description:
      - How many server names are resolved in parallel, from 1 to 256.
      - The default, 64, is chosen from measurement (C(docs/performance.md) in the collection's
        source) - below it, a many-name lookup waits on the network; above it, on 2 cores, the
        CPU is the limit and more threads add nothing.
      - Each name in flight holds at most one socket at a time; the run's threads (and so its
        file descriptors) are O(concurrency) + 64, lowered when needed to fit under the
        process's open-file limit (C(ulimit -n)) minus 64.
    type: int
    default: 64
  implementation:
    description:
      - Whose resolution to return. V(spec) (the default) follows the specification, as this
        lookup always did.
      - Any other value returns what that homeserver implementation would connect to, read from
        its source code (C(docs/implementations.md) in the collection's source lists the rules,
        the versions read and where they differ), I(at a cold cache) - an implementation that
        has contacted the name before may still use an earlier answer.
      - V(synapse) is Synapse; V(dendrite) is Dendrite with its default configuration
        (gomatrixserverlib; it dials IPv4 only); V(conduwuit) is the final conduwuit and
        continuwuity up to v0.5.6; V(continuwuity-0.5) is continuwuity v0.5.7 to v0.5.11;
        V(tuwunel) is tuwunel from v1.5; V(tuwunel-1.0) is tuwunel v1.0 to v1.4;
        V(continuwuity) is continuwuity from v26.6 (the resolvematrix crate); V(conduit) is Conduit.
      - The network is asked once per name whatever the implementation; the specification's
        answer is resolved alongside, to name the rules that make the implementation differ
        (RV(_raw[].differs_from_spec)).
      - Set it as a keyword or for a whole play through the variable
        C(matrixops_resolve_implementation).
    type: str
    choices: [spec, synapse, dendrite, conduwuit, continuwuity-0.5, tuwunel, tuwunel-1.0, continuwuity, conduit]
    default: spec
    vars:
      - name: matrixops_resolve_implementation
    version_added: 0.2.0
  on_error:
    description:
      - What a server name that cannot be resolved does to the lookup.
      - V(strict) fails the whole lookup, naming the server name, the step, the reason and the code
        (see the notes).
      - V(report) puts C({server_name, error, step, code}) in that name's place (RV(_raw[].error))
        and resolves the other names, so that one customer's SERVFAIL does not hide the others.
        Invalid names are reported the same way.
      - Set it as a keyword (C(lookup('matrixops.delegation.resolve', names, on_error='report')))
        or for a whole play through the variable C(matrixops_resolve_on_error).
      - It is not called C(errors) because Ansible's C(lookup()) takes the C(errors) keyword for
        itself (V(strict), V(warn) or V(ignore), what a failing lookup does to the task) and removes
        it before any plugin sees it.
    type: str
    choices: [strict, report]
    default: strict
    vars:
      - name: matrixops_resolve_on_error
    version_added: 0.2.0
extends_documentation_fragment:
  - matrixops.delegation.resolve
notes:
  - With O(on_error=strict) (the default), the lookup raises an error naming the server name, the step and the reason when a server
    name is invalid, when its SRV records say the service is disabled (target V(.)), when an SRV
    query fails (SERVFAIL, REFUSED, time-out), or when no address at all is found. The message
    ends with the problem's code, such as C((code no-address)), which the collection's
    C(docs/troubleshooting.md) explains.
  - A failed well-known fetch is not an error; it means "no delegation" and resolution goes on
    with SRV records, as the specification says. Its reason is in RV(_raw[].well_known.error).
seealso:
  - name: Matrix server-server API, resolving server names
    description: The specification of the steps this lookup follows.
    link: https://spec.matrix.org/latest/server-server-api/#resolving-server-names
"""

EXAMPLES = r"""
- name: Show where other homeservers connect for example.com
  ansible.builtin.debug:
    msg: "{{ lookup('matrixops.delegation.resolve', 'example.com') }}"

- name: Resolve through a lab DNS server, trusting a lab CA
  ansible.builtin.set_fact:
    resolution: >-
      {{ lookup('matrixops.delegation.resolve', 'example.test',
                nameservers=['127.0.0.1:5353'], ca_path='/etc/lab/ca.pem',
                allow_private_addresses=true) }}

- name: Fail unless example.com is delegated to matrix.example.com:443
  ansible.builtin.assert:
    that:
      - resolution.method == 'well_known_explicit_port'
      - resolution.targets[0].host == 'matrix.example.com'
      - resolution.targets[0].port == 443
    fail_msg: "example.com resolves by {{ resolution.method }} to {{ resolution.targets }}"
  vars:
    resolution: "{{ lookup('matrixops.delegation.resolve', 'example.com') }}"

- name: Resolve many names; a name that cannot be resolved yields its error instead of failing the task
  ansible.builtin.debug:
    msg: "{{ item.server_name }}: {{ item.error if item.error is defined else item.targets }}"
  loop: "{{ query('matrixops.delegation.resolve', 'example.com', 'broken.example', on_error='report') }}"

- name: Where would Dendrite connect for example.com, and why does it differ from the spec?
  ansible.builtin.debug:
    msg: >-
      {{ dendrite.targets }} with Host {{ dendrite.host_header }};
      differs: {{ dendrite.differs_from_spec | map(attribute='reason') | list }}
  vars:
    dendrite: "{{ lookup('matrixops.delegation.resolve', 'example.com', implementation='dendrite') }}"

- name: Resolve many names at once (one result per name, in order)
  ansible.builtin.debug:
    msg: "{{ item.server_name }} -> {{ item.targets | map(attribute='host') | list }}"
  loop: "{{ query('matrixops.delegation.resolve', 'example.com', 'example.org', 'example.net') }}"
"""

RETURN = r"""
_raw:
  description: One resolution per server name, in the order of the terms.
  type: list
  elements: dict
  contains:
    server_name:
      description: The normalised server name (IDNA A-labels, port and case kept).
      type: str
      sample: example.com
    method:
      description:
        - How the name resolved, one of V(ip_literal), V(explicit_port), V(well_known_ip_literal),
          V(well_known_explicit_port), V(well_known_srv), V(well_known_srv_legacy),
          V(well_known_default_port), V(srv), V(srv_legacy), V(default_port).
      type: str
      sample: well_known_srv
    delegated_server:
      description: The valid C(m.server) value of the well-known file, else V(null).
      type: str
      sample: matrix.example.com
    host_header:
      description: The C(Host) header a homeserver sends.
      type: str
      sample: matrix.example.com
    tls_server_name:
      description: The name (or IP address) the certificate must be valid for.
      type: str
      sample: matrix.example.com
    sni:
      description: The TLS SNI sent, V(null) for IP literals.
      type: str
      sample: matrix.example.com
    targets:
      description: Where to connect, in connection order.
      type: list
      elements: dict
      contains:
        host:
          description: Host name or bare IP address.
          type: str
          sample: matrix.example.com
        port:
          description: TCP port.
          type: int
          sample: 443
        addresses:
          description: IPv6 (AAAA) then IPv4 (A) addresses of the host.
          type: list
          elements: str
          sample: ["2001:db8::7", "198.51.100.7"]
    well_known:
      description: The well-known fetch, V(null) when step 3 was not attempted.
      type: dict
      contains:
        url:
          description: The URL fetched first.
          type: str
          sample: https://example.com/.well-known/matrix/server
        status:
          description: HTTP status of the last response, V(null) when there was none.
          type: int
          sample: 200
        m_server:
          description: The C(m.server) value as sent (any JSON type), V(null) when absent.
          type: raw
          sample: matrix.example.com
        error:
          description: Why the file gave no delegation, V(null) when it did.
          type: str
          sample: "HTTP status 404 from https://example.com/.well-known/matrix/server (expected 200)"
        redirects:
          description: Each URL requested because of a redirect, in order.
          type: list
          elements: str
          sample: []
        cache_seconds:
          description:
            - How long Synapse would cache this answer - the caching headers' value clamped to
              300..172800 seconds (3600 after a failure, 86400 without caching headers). The
              specification only recommends a 24-hour default and a 48-hour maximum.
          type: int
          sample: 86400
    srv:
      description: Every SRV name queried, in order.
      type: list
      elements: dict
      contains:
        name:
          description: The SRV name queried.
          type: str
          sample: _matrix-fed._tcp.matrix.example.com
        records:
          description: The records, as published (priority, weight, port, target).
          type: list
          elements: dict
          sample: [{priority: 10, weight: 5, port: 443, target: host.example.net}]
        error:
          description: Why the query failed, V(null) when it was answered (NXDOMAIN and no data are answers).
          type: str
          sample: null
    warnings:
      description: Resolution warnings.
      type: list
      elements: str
      sample: []
    implementation:
      description:
        - The implementation whose view this is; only when O(implementation) is not V(spec).
      type: str
      sample: dendrite
      version_added: 0.2.0
    versions:
      description: The versions of that implementation the view holds for (the source read); only when O(implementation) is not V(spec).
      type: str
      sample: "gomatrixserverlib@ffcbbd38 (fclient/ identical to 6697d93, pinned by element-hq/dendrite@08cac1cc)"
      version_added: 0.2.0
    differs_from_spec:
      description:
        - Only when O(implementation) is not V(spec). Empty when the implementation would connect
          where the specification says, with the same C(Host) and SNI (or fail the same way);
          otherwise the rules that make it differ.
      type: list
      elements: dict
      version_added: 0.2.0
      contains:
        rule:
          description: The rule, such as V(srv_selection), V(host_header), V(well_known_body_max), V(address_family).
          type: str
          sample: srv_error
        reason:
          description: What the implementation does instead, with the source lines it was read from.
          type: str
          sample: "goes straight to port 8448 when _matrix-fed._tcp.example.com fails (SERVFAIL) (...)"
        versions:
          description: The versions of the implementation this holds for.
          type: str
          sample: "gomatrixserverlib@ffcbbd38"
    unobserved:
      description:
        - Only when O(implementation) is not V(spec). Where the implementation would have gone
          further than this lookup did (a redirect to plain C(http), a body larger than was
          read); the view then assumes no delegation.
      type: list
      elements: str
      sample: []
      version_added: 0.2.0
    caveats:
      description:
        - Only when O(implementation) is not V(spec). What this view cannot see and that could
          change it, each only where it applies - the peer's cache (always, the view being at a cold
          cache), the implementation's notes on the rules that made it differ, a default address
          deny list that refuses a target address (Synapse's C(ip_range_blacklist), Dendrite's
          C(deny_networks), the C(ip_range_denylist) of the conduwuit family and continuwuity for
          IP literals), and a route cache keyed by the delegated host name (conduwuit family,
          continuwuity).
      type: list
      elements: str
      sample:
        - "at a cold cache: a peer that resolved this name before may still use its earlier answer until its
          cache expires (federation_check's notice_seconds says for how long at most)"
      version_added: 0.2.0
    error:
      description:
        - With O(on_error=report), for a name that could not be resolved, the reason (the message
          O(on_error=strict) fails with). Such an entry has only C(server_name), C(error), C(step)
          and C(code).
      type: str
      sample: "cannot resolve server name example.net: SRV _matrix-fed._tcp.example.net: SERVFAIL"
      version_added: 0.2.0
    step:
      description: With O(on_error=report), for a name that could not be resolved, the step that failed.
      type: str
      sample: SRV _matrix-fed._tcp.example.net
      version_added: 0.2.0
    code:
      description:
        - With O(on_error=report), for a name that could not be resolved, the problem's code
          (C(docs/troubleshooting.md) in the collection's source explains each).
      type: str
      sample: dns-failure
      version_added: 0.2.0
"""

from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.matrixops.delegation.plugins.module_utils._dns import (
    DNSPYTHON_IMPORT_ERROR,
    HAS_DNSPYTHON,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._model import ConfigError, ResolutionError
from ansible_collections.matrixops.delegation.plugins.module_utils._profiles import (
    PROFILE_NAMES,
    SPEC,
    ProfileError,
    profile_named,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import ResolveOptions, Resolver

display = Display()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        try:
            self.set_options(var_options=variables, direct=kwargs)
        except AnsibleError as exc:
            if "'implementation'" in str(exc):
                given = kwargs.get("implementation", (variables or {}).get("matrixops_resolve_implementation"))
                raise AnsibleLookupError(
                    f"matrixops.delegation.resolve: unknown implementation {given!r}: expected one of "
                    f"{', '.join(PROFILE_NAMES)} (the keyword implementation or the variable "
                    "matrixops_resolve_implementation)"
                ) from exc
            if "'on_error'" not in str(exc):
                raise
            given = kwargs.get("on_error", (variables or {}).get("matrixops_resolve_on_error"))
            raise AnsibleLookupError(
                "matrixops.delegation.resolve: on_error must be 'strict' (fail on the first name that cannot be "
                f"resolved) or 'report' (that name's error in its place); got {given!r} "
                "(the keyword on_error or the variable matrixops_resolve_on_error)"
            ) from exc
        try:
            profile = profile_named(self.get_option("implementation"))
        except ProfileError as exc:
            raise AnsibleLookupError(f"matrixops.delegation.resolve: {exc}") from exc
        if not HAS_DNSPYTHON:
            raise AnsibleLookupError(
                "matrixops.delegation.resolve needs the Python library dnspython on the controller "
                f"(pip install dnspython): {DNSPYTHON_IMPORT_ERROR}"
            )
        options = ResolveOptions(
            nameservers=self.get_option("nameservers"),
            timeout=self.get_option("timeout"),
            ca_path=self.get_option("ca_path"),
            validate_certs=self.get_option("validate_certs"),
            allow_private_addresses=self.get_option("allow_private_addresses"),
            concurrency=self.get_option("concurrency"),
        )
        try:
            with Resolver(options) as resolver:
                if profile is SPEC:
                    outcomes = resolver.resolve_all(list(terms))
                    views: list = [None] * len(outcomes)
                else:
                    views = [found[0] for found in resolver.resolve_all_implementations(list(terms), [profile])]
                    outcomes = [view.resolution or view.error for view in views]
        except ConfigError as exc:
            raise AnsibleLookupError(f"matrixops.delegation.resolve: {exc}") from exc
        report = self.get_option("on_error") == "report"
        results = []
        for outcome, view in zip(outcomes, views, strict=True):
            if isinstance(outcome, ResolutionError):
                if not report:
                    raise AnsibleLookupError(f"matrixops.delegation.resolve: {outcome} (code {outcome.code})")
                results.append(
                    {
                        "server_name": str.__str__(str(outcome.server_name)),
                        "error": str(outcome),
                        "step": str.__str__(str(outcome.step)),
                        "code": outcome.code,
                    }
                )
                continue
            for message in outcome.warnings:
                display.warning(f"matrixops.delegation.resolve: {outcome.server_name}: {message}")
            result = outcome.to_dict()
            if view is not None:
                result["implementation"] = profile.name
                result["versions"] = profile.versions
                result["differs_from_spec"] = [divergence.to_dict() for divergence in view.differs_from_spec]
                result["unobserved"] = list(view.unobserved)
                result["caveats"] = view.caveats()
            results.append(result)
        return results

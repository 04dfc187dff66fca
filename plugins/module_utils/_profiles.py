# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Implementation profiles: how each homeserver implementation resolves a server name, as data.

Private module: not part of the collection's public API. It imports only ``_model``.

A ``Profile`` is one frozen record of rule values (the SRV services asked, what a failed SRV
query does, which SRV records are used, the well-known limits, the ``m.server`` checks, the
``Host`` form, the address families, the cache periods) with, per rule, the source lines it was
read from (``repo@commit path#Lstart-Lend``). The one resolution core (``_resolution``, and
``_wellknown`` for step 3) applies a profile; there is no copy of the algorithm per
implementation. ``SPEC`` is the collection's own behaviour, unchanged: the default everywhere.

The network is asked once (the well-known file fetched with the most permissive limits of the
profiles asked for, see ``ObservationLimits``; SRV and address answers through one memo), and
each profile's result is judged from those observations. Every result is "at a cold cache":
what an implementation that has never contacted the name would do.

``notice_times()`` answers the migration question (how long a peer may keep an earlier answer)
from the cache headers and DNS TTLs a server publishes now, per profile.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field, replace
from datetime import timezone
from types import MappingProxyType
from typing import Mapping

__all__ = [
    "PROFILE_NAMES",
    "PROFILES",
    "SPEC",
    "AddressDenylist",
    "CachePolicy",
    "CacheHeaders",
    "Divergence",
    "NoticeTime",
    "ObservationLimits",
    "Profile",
    "ProfileError",
    "notice_times",
    "observation_limits",
    "parse_cache_headers",
    "profile_named",
    "profiles_named",
]

HOUR = 3600
DAY = 24 * HOUR


class ProfileError(ValueError):
    """An unknown implementation name (the message lists the valid ones)."""


@dataclass(frozen=True)
class Divergence:
    """Why one implementation's result differs from the spec's: the rule, in words, and its versions."""

    rule: str
    reason: str
    versions: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "reason": self.reason, "versions": self.versions}


@dataclass(frozen=True)
class CachePolicy:
    """How long an implementation keeps a successful answer (the migration question).

    ``kind``:
      * ``headers``: the well-known's ``Cache-Control: max-age`` (and ``Expires`` when
        ``expires``), clamped to [``minimum``, ``maximum``]; ``default`` without either;
        ``no_store`` seconds for ``no-store`` (and ``no-cache`` when ``no_cache``);
        ``jitter`` is the largest random lengthening of the default (0.1 = +10 %).
      * ``fixed``: ``maximum`` seconds whatever the headers (``minimum`` the shortest).
      * ``until_failure``: kept until every destination fails at the transport level.
    ``dns_min_ttl``: the shortest time a positive DNS answer is kept, whatever its TTL.
    ``all_headers``: every response header's value is parsed as Cache-Control directives (Conduit).
    ``failure``: for ``headers``, the longest time "no usable well-known" is remembered.
    """

    kind: str
    default: int = DAY
    minimum: int = 0
    maximum: int | None = 2 * DAY
    no_store: int = 0
    no_cache: bool = False
    expires: bool = True
    jitter: float = 0.0
    persisted: bool = False
    dns_min_ttl: int = 0
    all_headers: bool = False
    failure: int = HOUR
    basis: str = ""


@dataclass(frozen=True)
class AddressDenylist:
    """A default refusal of destination addresses that are not public (a peer's own configuration).

    ``setting``: the configuration key; ``scope``: ``every`` resolved address, or only ``literals``
    (a server name or ``m.server`` written as an IP address); ``source``: where it was read.
    Not a rule: the profiles assume public addresses, and the refusal cannot be seen from outside,
    so it is reported as a caveat of a result (``ProfileOutcome.caveats``), never applied.
    """

    setting: str
    scope: str
    source: str


@dataclass(frozen=True)
class Profile:
    """One implementation (and version range): the rule values the resolution core applies.

    Rule values (their names are the ``rule`` of a ``Divergence``):

    * ``srv_services``: the SRV service names asked, in order.
    * ``srv_error`` / ``srv_timeout``: what a SRV query that fails (SERVFAIL, REFUSED...) or times
      out does: ``fail`` (no connection), ``next`` (as if it had no records: the next service
      name, then port 8448) or ``default_port`` (straight to port 8448, no further SRV query).
    * ``srv_selection``: ``rfc2782`` (priority and weight order, each target tried in turn) or
      ``first_in_answer`` (the first usable record of the DNS answer, no failover).
    * ``srv_target_addresses``: ``all`` or ``first`` (only the first address of the SRV target).
    * ``srv_target_without_address``: ``fail``, or ``host_addresses`` (the addresses of the name
      whose SRV record it was, on the SRV port).
    * ``srv_name_override``: the server name's own addresses are looked up before step 3 and,
      when there are any, used for the SRV route (the SRV target's addresses are never asked).
    * ``well_known_max_redirects``: redirects followed; ``well_known_http_redirects``: whether a
      redirect to plain ``http`` is followed.
    * ``well_known_statuses``: ``200``, ``2xx`` or ``any``.
    * ``well_known_body_max``: the largest body accepted, in bytes (None: no limit).
    * ``m_server_validation``: ``validate`` (an invalid value is ignored: no delegation),
      ``verbatim`` (used as written, so an invalid value leaves no usable destination),
      ``url_netloc`` (spliced into a URL whose authority is used: the text before the first '/')
      or ``error`` (an invalid value is a resolution error, no fallback).
      ``empty_m_server``: ``ignore`` (``""`` means no delegation) or ``fail``.
    * ``host_header``: ``authority`` (the server name or ``m.server`` as written, the spec's form)
      or ``url`` (the URL's authority: ``host:port`` with the port in use - 8448 when none was
      written - and the bare host when the port is 443).
    * ``address_family``: ``any`` (every AAAA and A address), ``ipv4_then_ipv6`` (AAAA only when
      there is no A record) or ``ipv4_only``.
    * ``ipv6_literal_default_port``: the port of a bracketed IPv6 literal without a port
      (8448 per the spec; 443 or None, a resolution error, where an implementation mis-parses it).
    * ``cache``: the migration-timing policy (``CachePolicy``); ``failure_cache``: in words, how
      long a failed well-known fetch (no delegation) is remembered.

    Not rules (never applied, reported as caveats of a result): ``default_denylist``, the
    ``AddressDenylist`` of a default configuration; ``host_keyed_cache``, whether the resolver
    caches routes under the delegated host name, so that a host name that is also a server name
    the peer resolved before may reuse that name's route (D16 in docs/implementations.md).
    """

    name: str
    title: str
    versions: str
    srv_services: tuple[str, ...] = ("_matrix-fed._tcp", "_matrix._tcp")
    srv_error: str = "fail"
    srv_timeout: str = "fail"
    srv_selection: str = "rfc2782"
    srv_target_addresses: str = "all"
    srv_target_without_address: str = "fail"
    srv_name_override: bool = False
    well_known_max_redirects: int = 10
    well_known_http_redirects: bool = False
    well_known_statuses: str = "200"
    well_known_body_max: int | None = 51199
    m_server_validation: str = "validate"
    empty_m_server: str = "ignore"
    host_header: str = "authority"
    address_family: str = "any"
    ipv6_literal_default_port: int | None = 8448
    cache: CachePolicy = field(default_factory=lambda: CachePolicy("headers"))
    failure_cache: str = ""
    default_denylist: AddressDenylist | None = None
    host_keyed_cache: bool = False
    sources: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Frozen all the way down: the mappings cannot be changed through a profile either.
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        object.__setattr__(self, "notes", MappingProxyType(dict(self.notes)))

    def divergence(self, rule: str, reason: str) -> Divergence:
        """A ``Divergence`` naming ``rule``, with this profile's versions and the rule's source."""
        source = self.sources.get(rule)
        return Divergence(rule, f"{reason} ({source})" if source else reason, self.versions)

    def to_dict(self) -> dict:
        """The rule values, for reports and ``docs/implementations.md``."""
        return {
            "name": self.name,
            "title": self.title,
            "versions": self.versions,
            "rules": {rule: _plain_value(getattr(self, rule)) for rule in RULES},
            "sources": dict(self.sources),
            "notes": dict(self.notes),
        }


#: The rule fields of a Profile, in the order of the table in docs/implementations.md.
RULES = (
    "srv_services",
    "srv_error",
    "srv_timeout",
    "srv_selection",
    "srv_target_addresses",
    "srv_target_without_address",
    "srv_name_override",
    "well_known_max_redirects",
    "well_known_http_redirects",
    "well_known_statuses",
    "well_known_body_max",
    "m_server_validation",
    "empty_m_server",
    "host_header",
    "address_family",
    "ipv6_literal_default_port",
    "cache",
)

#: The allowed values of the rules that are choices (checked by the unit tests for every profile).
CHOICES: Mapping[str, tuple] = MappingProxyType(
    {
        "srv_error": ("fail", "next", "default_port"),
        "srv_timeout": ("fail", "next", "default_port"),
        "srv_selection": ("rfc2782", "first_in_answer"),
        "srv_target_addresses": ("all", "first"),
        "srv_target_without_address": ("fail", "host_addresses"),
        "well_known_statuses": ("200", "2xx", "any"),
        "m_server_validation": ("validate", "verbatim", "url_netloc", "error"),
        "empty_m_server": ("ignore", "fail"),
        "host_header": ("authority", "url"),
        "address_family": ("any", "ipv4_then_ipv6", "ipv4_only"),
    }
)


def _plain_value(value: object) -> object:
    if isinstance(value, CachePolicy):
        return value.basis
    if isinstance(value, tuple):
        return list(value)
    return value


# -- the sources read ---------------------------------------------------------------------------------
_SYNAPSE = "element-hq/synapse@a58ad44e"
_GMSL = "matrix-org/gomatrixserverlib@ffcbbd38"
_DENDRITE = "element-hq/dendrite@08cac1cc"
_CONDUWUIT = "girlbossceo/conduwuit@d8311a5f"
_TUWUNEL = "matrix-construct/tuwunel@5b366914"
_RESOLVEMATRIX = "continuwuity/resolvematrix@1ad83bbf"
_CONDUIT = "timokoesters/conduit@d058dab7"

_S_AGENT = f"{_SYNAPSE} synapse/http/federation/matrix_federation_agent.py"
_S_WK = f"{_SYNAPSE} synapse/http/federation/well_known_resolver.py"
_S_SRV = f"{_SYNAPSE} synapse/http/federation/srv_resolver.py"
_G_RES = f"{_GMSL} fclient/resolve.go"
_G_WK = f"{_GMSL} fclient/well_known.go"
_G_CL = f"{_GMSL} fclient/client.go"
_C_ACT = f"{_CONDUWUIT} src/service/resolver/actual.rs"
_C_WK = f"{_CONDUWUIT} src/service/resolver/well_known.rs"
_C_CACHE = f"{_CONDUWUIT} src/service/resolver/cache.rs"
_C_DNS = f"{_CONDUWUIT} src/service/resolver/dns.rs"
_C_FED = f"{_CONDUWUIT} src/service/resolver/fed.rs"
_R_SRV = f"{_RESOLVEMATRIX} src/server.rs"
_R_RES = f"{_RESOLVEMATRIX} src/resolution.rs"
_K_SS = f"{_CONDUIT} src/api/server_server.rs"
_T_ACT = f"{_TUWUNEL} src/service/resolver/actual.rs"
_SPEC_TEXT = "matrix-org/matrix-spec@d0ba2aae content/server-server-api.md"

SPEC = Profile(
    name="spec",
    title="The Matrix specification (this collection's behaviour)",
    versions="Matrix server-server API (matrix-org/matrix-spec@d0ba2aae)",
    cache=CachePolicy(
        "headers",
        maximum=2 * DAY,
        basis="Cache-Control max-age or Expires, at most 48 h; 24 h without them (the spec's recommendation)",
    ),
    failure_cache="up to 1 h, with exponential back-off (the spec's recommendation)",
    sources={
        "srv_services": f"{_SPEC_TEXT}#L94-L215 (steps 3.3, 3.4, 4 and 5)",
        "srv_error": "not specified; this collection reports a failed SRV query as an error (code dns-failure)",
        "srv_timeout": "not specified; this collection reports a timed-out SRV query as an error (code dns-failure)",
        "well_known_max_redirects": f"{_SPEC_TEXT}#L94-L215 (30x 'should be followed'); this collection follows 10",
        "well_known_body_max": "not specified; this collection refuses 51 200 bytes or more, as Synapse",
        "m_server_validation": "matrix-org/matrix-spec@d0ba2aae data/api/server-server/wellknown.yaml#L23-L41",
        "cache": f"{_SPEC_TEXT}#L94-L215",
    },
)

SYNAPSE = Profile(
    name="synapse",
    title="Synapse",
    versions="Synapse (element-hq/synapse@a58ad44e, 2026-07; checked by running 1.163.2)",
    well_known_max_redirects=20,
    well_known_http_redirects=True,
    m_server_validation="url_netloc",
    cache=CachePolicy(
        "headers",
        default=DAY,
        minimum=5 * 60,
        maximum=2 * DAY,
        no_store=5 * 60,
        jitter=0.1,
        failure=int(1.1 * HOUR),
        basis="max-age or Expires clamped to [5 min, 48 h]; 24 h +10 % without them; no-store 5 min",
    ),
    failure_cache="1 h +-10 % (2 min when a valid well-known was seen within its TTL + 2 h)",
    sources={
        "srv_services": f"{_S_AGENT}#L434-L471",
        "srv_error": f"{_S_SRV}#L146-L167 (a stale cache entry is used if there is one)",
        "srv_timeout": f"{_S_SRV}#L140-L167; twisted/twisted@64661601 src/twisted/names/error.py#L13-L37",
        "srv_selection": f"{_S_SRV}#L61-L101; {_S_AGENT}#L358-L414",
        "well_known_max_redirects": "twisted/twisted@64661601 src/twisted/web/client.py#L1573-L1672",
        "well_known_http_redirects": f"{_S_AGENT}#L150-L166; {_SYNAPSE} synapse/http/proxyagent.py#L341-L356",
        "well_known_statuses": f"{_S_WK}#L283-L314",
        "well_known_body_max": f"{_SYNAPSE} synapse/http/client.py#L1208-L1218, #L1262-L1269",
        "m_server_validation": f"{_S_WK}#L214-L227; {_S_AGENT}#L207-L232",
        "empty_m_server": f"{_S_AGENT}#L207-L232",
        "host_header": f"{_S_AGENT}#L241-L242",
        "ipv6_literal_default_port": f"{_S_AGENT}#L431-L437",
        "cache": f"{_S_WK}#L44-L76, #L229-L242, #L322-L349",
    },
    default_denylist=AddressDenylist(
        "ip_range_blacklist",
        "every",
        f"{_SYNAPSE} synapse/config/server.py#L142-L175, #L682-L711; "
        "synapse/http/federation/matrix_federation_agent.py#L128-L130",
    ),
    notes={
        "m_server_validation": "an m.server with a trailing '/' still delegates (requests go to '//_matrix/...'); "
        "'https://host' makes the host 'https' (seen running Synapse 1.163.2)",
        "srv_error": "with an earlier answer in its cache, Synapse uses that instead of failing",
        "address_family": "Synapse's default ip_range_blacklist also refuses private and loopback targets",
    },
)

DENDRITE = Profile(
    name="dendrite",
    title="Dendrite (gomatrixserverlib) with its default configuration",
    versions="gomatrixserverlib@ffcbbd38 (fclient/ identical to 6697d93, pinned by element-hq/dendrite@08cac1cc)",
    srv_error="default_port",
    srv_timeout="default_port",
    well_known_max_redirects=9,
    well_known_http_redirects=True,
    well_known_body_max=51200,
    m_server_validation="error",
    address_family="ipv4_only",
    cache=CachePolicy(
        "until_failure",
        maximum=None,
        basis="kept until every destination fails at the transport level (cache headers are parsed, never used)",
    ),
    failure_cache="the fallback result is kept like a success",
    sources={
        "srv_services": f"{_G_RES}#L109-L112, #L146-L165",
        "srv_error": f"{_G_RES}#L111-L112, #L133-L141, #L150-L156",
        "srv_timeout": f"{_G_RES}#L111-L112, #L133-L141, #L150-L156",
        "srv_selection": f"{_G_CL}#L369-L381; {_G_RES}#L113-L129",
        "well_known_max_redirects": f"{_G_WK}#L45-L47; golang/go@076c3d7f src/net/http/client.go (10 requests)",
        "well_known_http_redirects": "golang/go@076c3d7f src/net/http/client.go (no scheme check)",
        "well_known_body_max": f"{_G_WK}#L21, #L58-L63, #L101-L117",
        "m_server_validation": f"{_G_RES}#L94-L105, #L48-L52; {_GMSL} spec/servername.go#L19-L104",
        "empty_m_server": f"{_G_WK}#L54-L56, #L110-L121",
        "host_header": f"{_G_RES}#L54-L92, #L123-L127",
        "address_family": f"{_G_CL}#L214-L264; {_DENDRITE} setup/config/config_federationapi.go#L55-L73",
        "cache": f"{_G_WK}#L65-L99; {_G_CL}#L338-L394",
    },
    default_denylist=AddressDenylist(
        "deny_networks", "every", f"{_DENDRITE} setup/config/config_federationapi.go#L55-L73"
    ),
    notes={
        "address_family": "Dendrite's default allow_networks is 0.0.0.0/0 only, and its default deny_networks "
        "also refuses private and loopback targets (a server's own configuration, not visible from outside)",
    },
)

CONDUWUIT = Profile(
    name="conduwuit",
    title="conduwuit (and continuwuity up to v0.5.6)",
    versions="conduwuit (final, girlbossceo/conduwuit@d8311a5f); continuwuity v0.5.0-v0.5.6 "
    "(which follow 4 redirects, and from v0.5.6 accept at most 8 192 bytes)",
    srv_error="next",
    srv_timeout="fail",
    srv_selection="first_in_answer",
    srv_target_without_address="host_addresses",
    srv_name_override=True,
    well_known_max_redirects=3,
    well_known_http_redirects=True,
    well_known_statuses="2xx",
    well_known_body_max=12287,
    host_header="url",
    address_family="ipv4_then_ipv6",
    ipv6_literal_default_port=None,
    cache=CachePolicy(
        "fixed",
        minimum=18 * HOUR,
        maximum=36 * HOUR,
        persisted=True,
        dns_min_ttl=3 * HOUR,
        basis="the whole destination cached 18-36 h (random) in the database, surviving restarts; headers ignored",
    ),
    failure_cache="the fallback cached 18-36 h; an NXDOMAIN with an SOA kept at least 3 days (dns_min_ttl_nxdomain)",
    sources={
        "srv_services": f"{_C_ACT}#L307-L334",
        "srv_error": f"{_C_ACT}#L336-L362; hickory-dns@v0.25.1 crates/proto/src/error.rs#L500-L539",
        "srv_timeout": f"{_C_ACT}#L336-L362",
        "srv_selection": f"{_C_ACT}#L319-L328",
        "srv_target_without_address": f"{_C_ACT}#L213-L239, #L336-L362",
        "srv_name_override": f"{_C_ACT}#L69-L76, #L260-L305",
        "well_known_max_redirects": f"{_CONDUWUIT} src/service/client/mod.rs#L58-L65; "
        "seanmonstar/reqwest@v0.12.15 src/redirect.rs#L127-L139",
        "well_known_http_redirects": "seanmonstar/reqwest@v0.12.15 src/async_impl/client.rs#L2781-L2790",
        "well_known_statuses": f"{_C_WK}#L22-L25",
        "well_known_body_max": f"{_C_WK}#L27-L32",
        "m_server_validation": f"{_C_WK}#L34-L45",
        "host_header": f"{_C_FED}#L21-L49; {_C_ACT}#L131-L239; girlbossceo/hyper-util@e4ae7628 "
        "src/client/legacy/client.rs#L297-L309",
        "address_family": f"{_C_DNS}#L65-L71; hickory-dns@v0.25.1 crates/resolver/src/lookup_ip.rs#L309-L334",
        "ipv6_literal_default_port": f"{_C_FED}#L21-L29; {_C_ACT}#L139-L175; "
        "hickory-dns@v0.25.1 crates/proto/src/rr/domain/label.rs#L50-L95 (the host '[2001' is refused)",
        "cache": f"{_C_CACHE}#L16-L19, #L125-L153; {_C_DNS}#L53-L58",
    },
    default_denylist=AddressDenylist(
        "ip_range_denylist", "literals", f"{_CONDUWUIT} src/core/config/mod.rs#L2180-L2202"
    ),
    host_keyed_cache=True,
    notes={
        "srv_name_override": "fixed in continuwuity v0.5.7 (8b762cf2); see the continuwuity-0.5 profile",
        "address_family": "the default ip_range_denylist refuses IP-literal destinations in private and "
        "documentation ranges (a server's own configuration)",
    },
)

CONTINUWUITY_05 = replace(
    CONDUWUIT,
    name="continuwuity-0.5",
    title="continuwuity v0.5.7 to v0.5.11",
    versions="continuwuity v0.5.7-v0.5.11 (the conduwuit resolver without the pre-query, fixed by 8b762cf2)",
    srv_name_override=False,
    well_known_max_redirects=4,
    well_known_body_max=8192,
    sources={
        **CONDUWUIT.sources,
        "srv_name_override": "continuwuity 8b762cf2 (changelog.d/1615.bugfix; first tag v0.5.7)",
        "well_known_max_redirects": "seanmonstar/reqwest@v0.13.4 src/redirect.rs#L131-L144 (reqwest 0.12.24)",
        "well_known_body_max": "continuwuity@v0.5.7 src/service/resolver/well_known.rs (limit_read_text(8192)); "
        "continuwuity@v0.5.6 src/core/utils/response.rs#L8-L35",
    },
    notes={},
)

TUWUNEL = replace(
    CONDUWUIT,
    name="tuwunel",
    title="tuwunel v1.5 and later",
    versions="tuwunel v1.5.0 and later (read at matrix-construct/tuwunel@5b366914 = v1.9.0; "
    "up to v1.7.0 the largest body accepted is 12 287 bytes)",
    well_known_max_redirects=4,
    well_known_body_max=12288,
    sources={
        **CONDUWUIT.sources,
        "srv_services": f"{_T_ACT}#L336-L364; {_TUWUNEL} 0b82fe27 (_matrix._tcp restored in v1.5.0)",
        "srv_error": f"{_T_ACT}#L374-L401; hickory-dns@v0.26.1 crates/net/src/error.rs#L252-L276",
        "srv_timeout": f"{_T_ACT}#L374-L401",
        "srv_selection": f"{_T_ACT}#L349-L358",
        "srv_name_override": f"{_T_ACT}#L107-L131, #L281-L300",
        "well_known_max_redirects": f"{_TUWUNEL} src/service/client/mod.rs#L129-L137 (reqwest 0.13: limited(4))",
        "well_known_body_max": f"{_TUWUNEL} src/service/client/mod.rs#L277-L306",
    },
    notes={
        "srv_name_override": "the pre-query of the server name's addresses is still in v1.9.0",
        "well_known_body_max": "12 288 from v1.7.1 (more is no delegation); 12 287 up to v1.7.0",
    },
)

TUWUNEL_10 = replace(
    TUWUNEL,
    name="tuwunel-1.0",
    title="tuwunel v1.0 to v1.4",
    versions="tuwunel v1.0.0-v1.4.x (only _matrix-fed._tcp; v1.0.0 follows 3 redirects, later tags 4)",
    srv_services=("_matrix-fed._tcp",),
    well_known_body_max=12287,
    sources={
        **TUWUNEL.sources,
        "srv_services": f"{_TUWUNEL} 258e2e3c (_matrix._tcp dropped, first tag v1.0.0; restored by 0b82fe27)",
        "well_known_body_max": f"{_TUWUNEL} v1.0.0-v1.4.8 src/service/resolver/well_known.rs (>= 12288 refused)",
    },
    notes={"srv_name_override": "the pre-query of the server name's addresses is in every v1.x tag"},
)

CONTINUWUITY = Profile(
    name="continuwuity",
    title="continuwuity v26.6 and later (the resolvematrix crate)",
    versions="continuwuity v26.6.0 and later (resolvematrix 1.1.0 in v26.6.0, 1.2.0 in v26.6.1-v26.7.3, "
    "1.3.0 from v26.8.0-alpha.1; read at continuwuity/resolvematrix@1ad83bbf)",
    srv_error="next",
    srv_timeout="next",
    srv_selection="first_in_answer",
    srv_target_without_address="host_addresses",
    well_known_max_redirects=4,
    well_known_http_redirects=True,
    well_known_body_max=256 * 1024,
    m_server_validation="verbatim",
    empty_m_server="fail",
    host_header="url",
    address_family="ipv4_then_ipv6",
    ipv6_literal_default_port=443,
    cache=CachePolicy(
        "fixed",
        minimum=DAY,
        maximum=DAY,
        dns_min_ttl=0,
        basis="the result cached 24 h in memory, headers ignored (after a connection error it is marked stale, "
        "and dropped when the server is next seen healthy)",
    ),
    failure_cache="the fallback cached 24 h; an NXDOMAIN with an SOA kept at least 3 days",
    sources={
        "srv_services": f"{_R_SRV}#L571-L606",
        "srv_error": f"{_R_SRV}#L581-L591",
        "srv_timeout": f"{_R_SRV}#L581-L591",
        "srv_selection": f"{_R_SRV}#L583-L600",
        "srv_target_without_address": f"{_R_SRV}#L53-L101",
        "well_known_max_redirects": "continuwuity@09073235 src/service/client/mod.rs#L38-L50 (reqwest 0.13)",
        "well_known_http_redirects": "seanmonstar/reqwest@v0.13.4 (redirects to http are followed unless https_only)",
        "well_known_statuses": f"{_R_SRV}#L498-L505",
        "well_known_body_max": f"{_R_SRV}#L507-L518, #L630-L673",
        "m_server_validation": f"{_R_SRV}#L482-L530, #L554-L563, #L687-L715",
        "empty_m_server": f"{_R_SRV}#L554-L563",
        "host_header": f"{_R_RES}#L143-L159; continuwuity@09073235 src/service/federation/execute.rs#L144, #L285",
        "address_family": "continuwuity@09073235 src/service/client/mod.rs#L298-L304 (hickory Ipv4thenIpv6)",
        "ipv6_literal_default_port": f"{_RESOLVEMATRIX} 1883740 (8448 from resolvematrix 1.3.0)",
        "cache": f"{_R_SRV}#L173-L180; continuwuity@09073235 src/service/federation/mod.rs#L114-L198",
    },
    default_denylist=AddressDenylist(
        "ip_range_denylist", "literals", "continuwuity/continuwuity@09073235 src/core/config/mod.rs#L3110-L3132"
    ),
    host_keyed_cache=True,
    notes={
        "ipv6_literal_default_port": "443 up to v26.7.3 (resolvematrix 1.1/1.2); 8448 from v26.8.0-alpha.1",
    },
)

CONDUIT = Profile(
    name="conduit",
    title="Conduit",
    versions="Conduit (timokoesters/conduit@d058dab7, 2026-02)",
    srv_error="next",
    srv_timeout="next",
    srv_selection="first_in_answer",
    srv_target_addresses="first",
    srv_target_without_address="host_addresses",
    well_known_max_redirects=9,
    well_known_http_redirects=True,
    well_known_statuses="any",
    well_known_body_max=None,
    m_server_validation="verbatim",
    empty_m_server="fail",
    host_header="url",
    ipv6_literal_default_port=443,
    cache=CachePolicy(
        "headers",
        default=DAY,
        minimum=0,
        maximum=2 * DAY,
        no_store=0,
        no_cache=True,
        expires=False,
        all_headers=True,
        basis="max-age capped at 48 h, no minimum; no-store and no-cache 0; 24 h without it; Expires ignored; "
        "every response header is read as Cache-Control (an HSTS max-age counts, a non-integer one gives 24 h)",
    ),
    failure_cache="retried after 1, 2, 4 ... 60 min",
    sources={
        "srv_services": f"{_K_SS}#L608-L637",
        "srv_error": f"{_K_SS}#L608-L626 (.unwrap_or(None))",
        "srv_timeout": f"{_K_SS}#L608-L626 (.unwrap_or(None))",
        "srv_selection": f"{_K_SS}#L608-L637",
        "srv_target_addresses": f"{_K_SS}#L556-L606; {_CONDUIT} src/service/globals/mod.rs#L124-L137",
        "srv_target_without_address": f"{_K_SS}#L576-L591",
        "well_known_max_redirects": f"{_CONDUIT} src/service/globals/mod.rs#L177, #L545-L556 (reqwest 0.12.4)",
        "well_known_http_redirects": "seanmonstar/reqwest 0.12.4 (redirects to http are followed unless https_only)",
        "well_known_statuses": f"{_K_SS}#L639-L681",
        "well_known_body_max": f"{_K_SS}#L639-L681 (text(), no limit)",
        "m_server_validation": f"{_K_SS}#L639-L681",
        "empty_m_server": f"{_K_SS}#L639-L681",
        "host_header": f"{_K_SS}#L458-L505, #L556-L606",
        "ipv6_literal_default_port": f"{_K_SS}#L372-L388, #L458-L505",
        "cache": f"{_K_SS}#L655-L670; hyperium/headers@headers-v0.4.1 src/common/cache_control.rs#L255-L312",
    },
    notes={
        "address_family": "without SRV records getaddrinfo with every address; with them the first address "
        "of the target, an IPv4 one when it has an A record",
    },
)

#: Every profile by name, ``spec`` first.
PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        profile.name: profile
        for profile in (SPEC, SYNAPSE, DENDRITE, CONDUWUIT, CONTINUWUITY_05, TUWUNEL, TUWUNEL_10, CONTINUWUITY, CONDUIT)
    }
)
PROFILE_NAMES = tuple(PROFILES)


def profile_named(name: object) -> Profile:
    """The profile called ``name``; ProfileError listing the valid names otherwise."""
    if isinstance(name, Profile):
        return name
    profile = PROFILES.get(name.strip().lower()) if isinstance(name, str) else None
    if profile is None:
        raise ProfileError(f"unknown implementation {name!r}: expected one of {', '.join(PROFILE_NAMES)}")
    return profile


def profiles_named(names: object) -> list[Profile]:
    """Profiles for a list of names, or ``all`` (a string or a one-item list): every profile, ``spec`` first."""
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not names:
        raise ProfileError(
            f"implementations must be a list of names or 'all', got {names!r}: names are {', '.join(PROFILE_NAMES)}"
        )
    if any(isinstance(name, str) and name.strip().lower() == "all" for name in names):
        if len(names) > 1:
            raise ProfileError(f"'all' cannot be combined with other implementation names, got {list(names)!r}")
        return list(PROFILES.values())
    return list({profile.name: profile for profile in map(profile_named, names)}.values())


# -- what the one network pass must allow -----------------------------------------------------------------
#: The most a body is read when some profile has no limit of its own (Conduit): larger bodies are
#: reported as "larger than this check reads" for those profiles.
UNLIMITED_BODY_READ = 1024 * 1024


@dataclass(frozen=True)
class ObservationLimits:
    """The limits of the one well-known fetch: the most permissive of the profiles asked for."""

    body_limit: int  # the HTTPS port's limit: a body of this many bytes or more is refused
    max_redirects: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.body_limit, self.max_redirects)


def observation_limits(profiles: list[Profile]) -> ObservationLimits:
    """The fetch limits that let every profile in ``profiles`` be judged from one fetch."""
    body = 0
    redirects = 0
    for profile in profiles:
        accepted = profile.well_known_body_max
        body = max(body, UNLIMITED_BODY_READ if accepted is None else accepted + 1)
        redirects = max(redirects, profile.well_known_max_redirects)
    return ObservationLimits(body_limit=body, max_redirects=redirects)


# -- the migration question -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CacheHeaders:
    """The cache headers of a well-known answer, as read: seconds, or None when absent."""

    max_age: int | None = None
    no_store: bool = False
    no_cache: bool = False
    expires_in: float | None = None  # seconds from now until Expires; 0 for an invalid date


def parse_cache_headers(headers: list[tuple[str, str]], *, now: float, all_headers: bool = False) -> CacheHeaders:
    """``Cache-Control`` (comma-separated directives) and ``Expires`` of ``(name, value)`` pairs.

    An unreadable ``max-age`` counts as absent. ``all_headers``: Conduit's reading - every
    header's value is parsed as directives (so an HSTS ``max-age`` counts), and one non-integer
    value of a numeric directive makes the whole parse fail (then no header counts at all).
    """
    directives: dict[str, str | None] = {}
    expires: str | None = None
    for name, value in headers:
        lowered = name.lower()
        if lowered == "cache-control" or all_headers:
            for directive in value.split(","):
                key, sep, text = directive.partition("=")
                key = key.strip().lower()
                argument = text.strip() if sep else None
                if all_headers and key in _NUMERIC_DIRECTIVES and not (argument or "").isdigit():
                    return CacheHeaders()
                directives[key] = argument
        if lowered == "expires":
            expires = value
    max_age: int | None = None
    raw = directives.get("max-age")
    if raw:
        try:
            max_age = int(raw)
        except ValueError:
            max_age = None
    return CacheHeaders(
        max_age=max_age,
        no_store="no-store" in directives,
        no_cache="no-cache" in directives,
        expires_in=None if expires is None else seconds_until(expires, now),
    )


_NUMERIC_DIRECTIVES = ("max-age", "s-maxage", "max-stale", "min-fresh")


def seconds_until(http_date: str, now: float) -> float:
    """Seconds from ``now`` until an HTTP date; 0 for an invalid one (RFC 9111: already expired)."""
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp() - now


@dataclass(frozen=True)
class NoticeTime:
    """The longest time a peer of one implementation may keep using an earlier answer."""

    implementation: str
    versions: str
    seconds: int | None  # None: no time bound (until a transport failure)
    basis: list[str]

    def to_dict(self) -> dict:
        return {
            "implementation": self.implementation,
            "versions": self.versions,
            "seconds": self.seconds,
            "basis": list(self.basis),
        }


def _headers_period(policy: CachePolicy, headers: CacheHeaders) -> tuple[float, str]:
    """The well-known cache period of a ``headers`` policy, and how it was reached."""
    if headers.no_store or (policy.no_cache and headers.no_cache):
        which = "no-store" if headers.no_store else "no-cache"
        return max(policy.no_store, policy.minimum), f"{which}: {_duration(max(policy.no_store, policy.minimum))}"
    if headers.max_age is not None:
        period: float = headers.max_age
        what = f"max-age={headers.max_age}"
    elif policy.expires and headers.expires_in is not None:
        period = max(headers.expires_in, 0)
        what = f"Expires in {_duration(period)}"
    else:
        longest = policy.default * (1 + policy.jitter)
        jitter = f" +{policy.jitter:.0%}" if policy.jitter else ""
        return longest, f"no cache headers: the default {_duration(policy.default)}{jitter}"
    clamped = max(policy.minimum, period)
    if policy.maximum is not None:
        clamped = min(clamped, policy.maximum)
    if clamped != period:
        bounds = f"[{_duration(policy.minimum)}, {_duration(policy.maximum) if policy.maximum else 'none'}]"
        return clamped, f"{what} clamped to {bounds}: {_duration(clamped)}"
    return clamped, f"{what}: {_duration(clamped)}"


def notice_times(
    profiles: list[Profile],
    *,
    well_known_headers: list[tuple[str, str]] | None,
    now: float,
    srv_ttl: int | None = None,
    address_ttl: int | None = None,
) -> list[NoticeTime]:
    """Per profile, the longest time a peer may keep an earlier answer (a peer may notice sooner).

    ``well_known_headers``: every ``(name, value)`` header of the well-known answer now served
    (None when no usable well-known is served: then the fallback is what is cached).
    ``srv_ttl`` and ``address_ttl``: the largest TTLs of the SRV and address records of the
    current route (None when not known). The longest of the layers that may hold an earlier
    answer wins: the well-known period, the SRV and the address TTLs (raised to the
    implementation's minimum TTL).
    """
    results = []
    for profile in profiles:
        policy = profile.cache
        basis: list[str] = [policy.basis]
        if policy.kind == "until_failure":
            results.append(NoticeTime(profile.name, profile.versions, None, basis))
            continue
        if policy.kind == "fixed":
            longest: float = policy.maximum or 0
            if policy.minimum != policy.maximum:
                basis.append(f"at most {_duration(longest)} ({_duration(policy.minimum)} at the earliest)")
        elif well_known_headers is None:
            longest = policy.failure
            basis.append(f"no usable well-known: that is remembered for up to {_duration(longest)}")
        else:
            headers = parse_cache_headers(well_known_headers, now=now, all_headers=policy.all_headers)
            longest, how = _headers_period(policy, headers)
            basis.append(f"well-known {how}")
        if policy.persisted:
            basis.append("kept across restarts")
        for label, ttl in (("SRV", srv_ttl), ("address", address_ttl)):
            if ttl is None:
                continue
            kept = max(ttl, policy.dns_min_ttl)
            if kept > longest:
                longest = kept
                raised = f" (raised to the minimum {_duration(policy.dns_min_ttl)})" if kept > ttl else ""
                basis.append(f"{label} TTL {_duration(ttl)}{raised} is longer: {_duration(kept)}")
        results.append(NoticeTime(profile.name, profile.versions, int(longest + 0.5), basis))
    return results


def _duration(seconds: float | None) -> str:
    """``90`` -> ``1 min 30 s``; ``172800`` -> ``48 h``."""
    if seconds is None:
        return "unbounded"
    whole = int(seconds + 0.5)
    if whole >= HOUR and whole % HOUR == 0:
        return f"{whole // HOUR} h"
    if whole >= HOUR:
        return f"{whole / HOUR:.1f} h"
    if whole >= 60:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    return f"{whole} s"

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The resolution algorithm of docs/architecture.md, "Resolution methods".

One test per method and per rule, with fakes at the ports.
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.matrixops.delegation.plugins.module_utils._address_policy import private_range
from ansible_collections.matrixops.delegation.plugins.module_utils._catalogue import CATALOGUE
from ansible_collections.matrixops.delegation.plugins.module_utils._memo import Memo
from ansible_collections.matrixops.delegation.plugins.module_utils._model import (
    METHODS,
    AddressAnswer,
    Clock,
    DnsError,
    HttpResponse,
    HttpsError,
    Method,
    ResolutionError,
    SrvAnswer,
    SrvRecord,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._resolution import (
    order_srv_records,
    resolve_server_name,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._resolver import ResolveOptions, Resolver
from ansible_collections.matrixops.delegation.plugins.module_utils._wellknown import cache_period

NOW = 1_800_000_000.0
WK_PATH = "/.well-known/matrix/server"

EXAMPLE = "example.com"
WK = (EXAMPLE, 443, WK_PATH)
WK_URL = f"https://{EXAMPLE}{WK_PATH}"
EX4, EX6 = "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
MATRIX = "matrix.example.com"
M4, M6 = "151.101.65.1", "2a04:4e42:200::1"
FED1 = "fed1.example.net"
F1_4, F1_6 = "185.199.108.1", "2a01:4f8:c2c:1::7"
FED2 = "fed2.example.net"
F2_4 = "185.199.109.2"
PUBLIC_V6 = "2a01:4f8:c2c:1::9"

FED = f"_matrix-fed._tcp.{EXAMPLE}"
LEGACY = f"_matrix._tcp.{EXAMPLE}"
M_FED = f"_matrix-fed._tcp.{MATRIX}"
M_LEGACY = f"_matrix._tcp.{MATRIX}"

ADDRESSES = {EXAMPLE: [EX6, EX4], MATRIX: [M6, M4], FED1: [F1_6, F1_4], FED2: [F2_4]}


# -- fakes at the ports ------------------------------------------------------------------------------
class FakeDns:
    """The DNS port. SRV: a list of records (empty = NODATA), absent = NXDOMAIN. Errors: DnsError."""

    def __init__(self, *, srv=None, addresses=None, cnames=None, address_warnings=None, errors=None, delay=0.0):
        self.srv_answers = dict(srv or {})
        self.address_answers = dict(ADDRESSES if addresses is None else addresses)
        self.cnames = dict(cnames or {})
        self.address_warnings = dict(address_warnings or {})
        self.errors = dict(errors or {})
        self.delay = delay
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _record(self, kind: str, name: str) -> None:
        with self._lock:
            self.calls.append((kind, name))
        if self.delay:
            time.sleep(self.delay)
        if (kind, name) in self.errors:
            raise self.errors[(kind, name)]

    def srv(self, name: str, deadline: float | None = None) -> SrvAnswer:
        self._record("srv", name)
        if name not in self.srv_answers:
            return SrvAnswer(name=name, records=[], status="NXDOMAIN")
        records = list(self.srv_answers[name])
        return SrvAnswer(name=name, records=records, status="NOERROR" if records else "NODATA")

    def addresses(self, name: str, deadline: float | None = None) -> AddressAnswer:
        self._record("addresses", name)
        return AddressAnswer(
            name=name,
            addresses=list(self.address_answers.get(name, [])),
            cnames=list(self.cnames.get(name, [])),
            warnings=list(self.address_warnings.get(name, [])),
        )

    def srv_queries(self) -> list[str]:
        return [name for kind, name in self.calls if kind == "srv"]

    def address_queries(self) -> list[str]:
        return [name for kind, name in self.calls if kind == "addresses"]


@dataclass
class HttpsCall:
    host: str
    port: int
    path: str
    addresses: list[str]
    body_limit: int
    deadline: float | None


class FakeHttps:
    """The HTTPS port: ``(host, port, path)`` -> HttpResponse or HttpsError; anything else is refused."""

    def __init__(self, routes=None, *, delay=0.0):
        self.routes = dict(routes or {})
        self.delay = delay
        self.calls: list[HttpsCall] = []
        self._lock = threading.Lock()

    def get(self, host, port, path, *, addresses, body_limit, deadline):
        with self._lock:
            self.calls.append(HttpsCall(host, port, path, list(addresses), body_limit, deadline))
        if self.delay:
            time.sleep(self.delay)
        answer = self.routes.get((host, port, path))
        if answer is None:
            raise HttpsError(f"{host}:{port}: cannot connect: Connection refused", kind="connect")
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def requested(self) -> list[tuple[str, int, str]]:
        return [(call.host, call.port, call.path) for call in self.calls]


def response(status=200, body=b"", headers=()) -> HttpResponse:
    return HttpResponse(status=status, reason="", headers=[(k.lower(), v) for k, v in headers], body=body)


def json_response(value, *, status=200, content_type="application/json", headers=()) -> HttpResponse:
    return response(status, json.dumps(value).encode(), [("Content-Type", content_type), *headers])


def delegation(m_server, **kwargs) -> HttpResponse:
    return json_response({"m.server": m_server}, **kwargs)


def redirect(location, status=302) -> HttpResponse:
    headers = [] if location is None else [("Location", location)]
    return response(status, b"", headers)


def resolve(name, dns, https, **kwargs) -> dict:
    return resolve_server_name(name, **_options(dns, https, kwargs)).to_dict()


def resolve_error(name, dns, https, **kwargs) -> ResolutionError:
    with pytest.raises(ResolutionError) as info:
        resolve_server_name(name, **_options(dns, https, kwargs))
    return info.value


def _options(dns, https, kwargs) -> dict:
    kwargs.setdefault("rng", random.Random(0))
    kwargs.setdefault("clock", Clock(wall=lambda: NOW))
    return {"dns": dns, "https": https, **kwargs}


# -- expected values ---------------------------------------------------------------------------------
class Contains(str):
    """Compares equal to any string that contains it (for messages worded by the core)."""

    __slots__ = ()

    def __eq__(self, other):
        return isinstance(other, str) and str(self) in other

    __hash__ = str.__hash__

    def __repr__(self):
        return f"Contains({str(self)!r})"


def target(target_host, port, *addresses) -> dict:
    return {"host": target_host, "port": port, "addresses": list(addresses)}


def srv_entry(name, *records, error=None) -> dict:
    return {"name": name, "records": [record.to_dict() for record in records], "error": error}


def well_known(*, status=200, m_server=None, error=None, redirects=(), cache_seconds=86400, url=WK_URL) -> dict:
    return {
        "url": url,
        "status": status,
        "m_server": m_server,
        "error": error,
        "redirects": list(redirects),
        "cache_seconds": cache_seconds,
    }


REFUSED_WELL_KNOWN = well_known(status=None, error=Contains("Connection refused"), cache_seconds=3600)


def assert_result(result: dict, *, warnings=(), **expected) -> None:
    """``result`` equals ``expected`` exactly; warnings match one to one, each containing its fragments."""
    got = dict(result)
    got_warnings = got.pop("warnings")
    assert got == expected
    assert_warnings(got_warnings, *warnings)


def assert_warnings(got: list, *expected) -> None:
    assert len(got) == len(expected), got
    for warning, fragments in zip(got, expected, strict=True):
        for fragment in [fragments] if isinstance(fragments, str) else fragments:
            assert fragment in warning, (fragment, warning)


# -- the ten methods ---------------------------------------------------------------------------------
def expected(name, method, *, certificate, targets, host_header=None, sni=True, delegated=None, wk=None, srv=()):
    """The whole result of one method: ``certificate`` is the TLS name, also the SNI unless ``sni`` is False."""
    return {
        "server_name": name,
        "method": method,
        "delegated_server": delegated,
        "host_header": host_header or certificate,
        "tls_server_name": certificate,
        "sni": certificate if sni else None,
        "targets": targets,
        "well_known": wk,
        "srv": list(srv),
    }


IP_LITERALS = [("1.2.3.4", "1.2.3.4"), (PUBLIC_V6, f"[{PUBLIC_V6}]")]


@pytest.mark.parametrize("port", [None, 8443])
@pytest.mark.parametrize(("host", "literal"), IP_LITERALS)
@pytest.mark.parametrize("delegated", [False, True], ids=["ip_literal", "well_known_ip_literal"])
def test_ip_literal_server_name_or_m_server(delegated, host, literal, port):
    name = literal if port is None else f"{literal}:{port}"
    https = FakeHttps({WK: delegation(name)})
    dns = FakeDns()
    common = {"certificate": host, "sni": False, "host_header": name, "targets": [target(host, port or 8448, host)]}
    if delegated:
        want = expected(EXAMPLE, "well_known_ip_literal", delegated=name, wk=well_known(m_server=name), **common)
    else:
        want = expected(name, "ip_literal", **common)
    assert_result(resolve(EXAMPLE if delegated else name, dns, https), **want)
    # an IP literal is never looked up; only the well-known's host is
    assert dns.calls == ([("addresses", EXAMPLE)] if delegated else [])
    assert len(https.calls) == int(delegated)


def test_explicit_port():
    dns, https = FakeDns(srv={FED: [SrvRecord(10, 0, 443, FED1)]}), FakeHttps({WK: delegation(MATRIX)})
    want = expected("example.com:8443", "explicit_port", certificate=EXAMPLE, host_header="example.com:8443",
                    targets=[target(EXAMPLE, 8443, EX6, EX4)])  # fmt: skip
    assert_result(resolve("example.com:8443", dns, https), **want)
    assert (dns.calls, https.calls) == ([("addresses", EXAMPLE)], [])


def test_well_known_explicit_port():
    m_server = "matrix.example.com:443"
    dns, https = FakeDns(srv={M_FED: [SrvRecord(10, 0, 8443, FED1)]}), FakeHttps({WK: delegation(m_server)})
    assert_result(
        resolve(EXAMPLE, dns, https),
        **expected(EXAMPLE, "well_known_explicit_port", certificate=MATRIX, host_header=m_server, delegated=m_server,
                   targets=[target(MATRIX, 443, M6, M4)], wk=well_known(m_server=m_server)),
    )  # fmt: skip
    assert not dns.srv_queries()


@pytest.mark.parametrize("legacy", [False, True], ids=["well_known_srv", "well_known_srv_legacy"])
def test_well_known_srv(legacy):
    records = [SrvRecord(10, 0, 8443, FED1)]
    srv_name = M_LEGACY if legacy else M_FED
    queried = [M_FED, M_LEGACY][: 1 + legacy]
    dns, https = FakeDns(srv={srv_name: records}), FakeHttps({WK: delegation(MATRIX)})
    lookups = [srv_entry(M_FED)] * legacy + [srv_entry(srv_name, *records)]
    assert_result(
        resolve(EXAMPLE, dns, https),
        **expected(EXAMPLE, "well_known_srv_legacy" if legacy else "well_known_srv", certificate=MATRIX,
                   delegated=MATRIX, targets=[target(FED1, 8443, F1_6, F1_4)], wk=well_known(m_server=MATRIX),
                   srv=lookups),
        warnings=[(M_LEGACY, "deprecated", M_FED)] * legacy,
    )  # fmt: skip
    assert dns.srv_queries() == queried


def test_well_known_default_port():
    dns, https = FakeDns(srv={FED: [SrvRecord(10, 0, 443, FED1)]}), FakeHttps({WK: delegation(MATRIX)})
    result = resolve(EXAMPLE, dns, https)
    assert_result(
        result,
        **expected(EXAMPLE, "well_known_default_port", certificate=MATRIX, delegated=MATRIX,
                   targets=[target(MATRIX, 8448, M6, M4)], wk=well_known(m_server=MATRIX),
                   srv=[srv_entry(M_FED), srv_entry(M_LEGACY)]),
    )  # fmt: skip
    assert dns.srv_queries() == [M_FED, M_LEGACY]


@pytest.mark.parametrize("legacy", [False, True], ids=["srv", "srv_legacy"])
def test_srv(legacy):
    records = [SrvRecord(10, 0, 443, FED1)]
    answers = {LEGACY: records} if legacy else {FED: records, LEGACY: [SrvRecord(1, 0, 1, FED2)]}
    dns, https = FakeDns(srv=answers), FakeHttps()
    lookups = [srv_entry(FED), srv_entry(LEGACY, *records)] if legacy else [srv_entry(FED, *records)]
    method = "srv_legacy" if legacy else "srv"
    assert_result(
        resolve(EXAMPLE, dns, https),
        **expected(EXAMPLE, method, certificate=EXAMPLE, targets=[target(FED1, 443, F1_6, F1_4)],
                   wk=REFUSED_WELL_KNOWN, srv=lookups),
        warnings=[(LEGACY, "deprecated", FED)] if legacy else [],
    )  # fmt: skip
    assert dns.srv_queries() == [FED, LEGACY][: 1 + legacy]


def test_default_port():
    dns, https = FakeDns(), FakeHttps()
    want = expected(EXAMPLE, "default_port", certificate=EXAMPLE, targets=[target(EXAMPLE, 8448, EX6, EX4)],
                    wk=REFUSED_WELL_KNOWN, srv=[srv_entry(FED), srv_entry(LEGACY)])  # fmt: skip
    assert_result(resolve(EXAMPLE, dns, https), **want)
    assert https.requested() == [WK]


# -- SRV rules ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("srv_name", "well_known_answer", "certificate_name"),
    [
        (FED, None, EXAMPLE),
        (M_FED, delegation(MATRIX), MATRIX),
        (LEGACY, None, EXAMPLE),
        (M_LEGACY, delegation(MATRIX), MATRIX),
    ],
)
def test_srv_certificate_name_is_never_the_srv_target(srv_name, well_known_answer, certificate_name):
    dns = FakeDns(srv={srv_name: [SrvRecord(10, 0, 8448, FED1), SrvRecord(20, 0, 8448, FED2)]})
    https = FakeHttps({WK: well_known_answer} if well_known_answer else {})
    result = resolve(EXAMPLE, dns, https)
    assert [t["host"] for t in result["targets"]] == [FED1, FED2]
    assert result["tls_server_name"] == certificate_name
    assert result["sni"] == certificate_name
    assert result["host_header"] == certificate_name


@pytest.mark.parametrize("fed_answer", ["NXDOMAIN", "NODATA"])
def test_legacy_srv_is_queried_only_when_matrix_fed_has_no_records(fed_answer):
    srv = {LEGACY: [SrvRecord(10, 0, 443, FED1)]}
    if fed_answer == "NODATA":
        srv[FED] = []
    dns = FakeDns(srv=srv)
    result = resolve(EXAMPLE, dns, FakeHttps())
    assert result["method"] == "srv_legacy"
    assert dns.srv_queries() == [FED, LEGACY]


def test_matrix_fed_records_mean_no_fallback_to_legacy_srv_or_default_port():
    dns = FakeDns(
        srv={FED: [SrvRecord(10, 0, 443, "dead.example.net")], LEGACY: [SrvRecord(10, 0, 443, FED1)]},
    )
    error = resolve_error(EXAMPLE, dns, FakeHttps())
    assert dns.srv_queries() == [FED]
    assert "dead.example.net" in str(error)
    assert "no IPv6 or IPv4 address" in str(error)
    assert error.partial.method == "srv"  # the path taken, reported with the error
    assert [t.host for t in error.partial.targets] == ["dead.example.net"]
    assert all(t.port != 8448 for t in error.partial.targets)


@pytest.mark.parametrize("srv_name", [FED, LEGACY])
def test_single_srv_target_dot_means_service_disabled(srv_name):
    dns = FakeDns(srv={srv_name: [SrvRecord(0, 0, 0, ".")]})
    error = resolve_error(EXAMPLE, dns, FakeHttps())
    message = str(error)
    assert f"'{EXAMPLE}'" in message
    assert f"SRV query {srv_name}" in message
    assert "disabled" in message
    assert error.step == f"SRV query {srv_name}"
    assert error.code == "srv-disabled"
    assert error.partial.srv[-1].name == srv_name
    assert error.partial.srv[-1].records == [{"priority": 0, "weight": 0, "port": 0, "target": "."}]
    assert dns.address_queries() == [EXAMPLE]  # only for the well-known fetch, never for "." or 8448


def test_srv_dot_target_next_to_usable_records_is_ignored_with_a_warning():
    dns = FakeDns(srv={FED: [SrvRecord(0, 0, 0, "."), SrvRecord(10, 0, 443, FED1)]})
    result = resolve(EXAMPLE, dns, FakeHttps())
    assert result["method"] == "srv"
    assert result["targets"] == [target(FED1, 443, F1_6, F1_4)]
    assert_warnings(result["warnings"], (FED, "'.'"))


def test_srv_order_is_ascending_priority():
    records = [SrvRecord(30, 0, 3, FED2), SrvRecord(10, 0, 1, FED1), SrvRecord(20, 0, 2, MATRIX)]
    dns = FakeDns(srv={FED: records})
    result = resolve(EXAMPLE, dns, FakeHttps())
    assert [(t["host"], t["port"]) for t in result["targets"]] == [(FED1, 1), (MATRIX, 2), (FED2, 3)]
    assert result["srv"] == [srv_entry(FED, *records)]  # the records as published, targets in order


class ScriptedRandom:
    """An rng whose ``randint`` returns scripted values and records its bounds."""

    def __init__(self, *values):
        self.values = list(values)
        self.bounds: list[tuple[int, int]] = []

    def randint(self, low, high):
        self.bounds.append((low, high))
        value = self.values.pop(0)
        assert low <= value <= high
        return value


def test_srv_order_uses_the_injected_rng():
    records = [SrvRecord(10, 10, 1, FED1), SrvRecord(10, 30, 2, FED2)]
    dns = FakeDns(srv={FED: records})
    rng = ScriptedRandom(11, 10)  # running sums 10, 40: 11 picks FED2 first
    result = resolve(EXAMPLE, dns, FakeHttps(), rng=rng)
    assert [t["host"] for t in result["targets"]] == [FED2, FED1]
    assert rng.bounds == [(0, 40), (0, 10)]


def test_srv_weighted_order_is_rfc_2782_running_sums():
    a, b, c = SrvRecord(1, 0, 1, "a"), SrvRecord(1, 5, 2, "b"), SrvRecord(1, 10, 3, "c")
    # zero-weight records first, then running sums 0, 5, 15; the first sum >= the number wins
    rng = ScriptedRandom(6, 0, 5)
    assert order_srv_records([b, c, a], rng) == [c, a, b]
    assert rng.bounds == [(0, 15), (0, 5), (0, 5)]
    rng = ScriptedRandom(5, 0, 0)
    assert order_srv_records([b, c, a], rng) == [b, a, c]
    rng = ScriptedRandom(0, 0, 0)
    assert order_srv_records([c, b, a], rng) == [a, c, b]


def test_srv_weighted_order_runs_per_priority():
    records = [
        SrvRecord(2, 50, 1, "p2a"),
        SrvRecord(1, 1, 1, "p1a"),
        SrvRecord(2, 50, 1, "p2b"),
        SrvRecord(1, 99, 1, "p1b"),
    ]
    for seed in range(200):
        ordered = order_srv_records(records, random.Random(seed))
        assert [r.priority for r in ordered] == [1, 1, 2, 2]
        assert sorted(r.target for r in ordered) == ["p1a", "p1b", "p2a", "p2b"]


def test_srv_all_zero_weights_keep_their_order():
    records = [SrvRecord(5, 0, port, f"t{port}") for port in range(1, 7)]
    for seed in range(100):
        assert order_srv_records(records, random.Random(seed)) == records


def test_srv_zero_weight_is_rarely_first():
    zero, heavy = SrvRecord(1, 0, 1, "zero"), SrvRecord(1, 10, 2, "heavy")
    rng = random.Random(2782)
    runs = 11000
    firsts = sum(order_srv_records([heavy, zero], rng)[0] is zero for _run in range(runs))
    # RFC 2782: the number is uniform in [0, 10]; only 0 picks the zero-weight record
    assert abs(firsts / runs - 1 / 11) < 0.015


def test_srv_statistical_weighting_within_tolerance():
    records = [SrvRecord(1, 10, 1, "w10"), SrvRecord(1, 30, 2, "w30"), SrvRecord(1, 60, 3, "w60")]
    rng = random.Random(20260101)
    runs = 20000
    counts = {"w10": 0, "w30": 0, "w60": 0}
    for _run in range(runs):
        counts[order_srv_records(records, rng)[0].target] += 1
    # RFC 2782 with the number uniform in [0, 100]: 11/101, 30/101, 60/101
    for name, expected in (("w10", 11 / 101), ("w30", 30 / 101), ("w60", 60 / 101)):
        assert abs(counts[name] / runs - expected) < 0.02, counts


def test_srv_target_that_is_a_cname_is_a_warning():
    dns = FakeDns(
        srv={FED: [SrvRecord(10, 0, 443, "alias.example.net")]},
        addresses={**ADDRESSES, "alias.example.net": [F1_4]},
        cnames={"alias.example.net": ["alias.example.net"]},
    )
    result = resolve(EXAMPLE, dns, FakeHttps())
    assert result["method"] == "srv"
    assert result["targets"] == [target("alias.example.net", 443, F1_4)]
    assert_warnings(result["warnings"], ("alias.example.net", "CNAME"))


def test_cname_of_a_non_srv_host_is_no_warning():
    dns = FakeDns(cnames={EXAMPLE: ["example.com"]})
    result = resolve("example.com:8448", dns, FakeHttps())
    assert result["warnings"] == []


@pytest.mark.parametrize(
    "reason", ["127.0.0.1:53 answered SERVFAIL", "127.0.0.1:53 answered REFUSED", "127.0.0.1:53 timed out after 5.0s"]
)
@pytest.mark.parametrize("failing", [FED, LEGACY, M_FED, M_LEGACY])
def test_srv_query_failure_is_a_resolution_error(failing, reason):
    https = FakeHttps({WK: delegation(MATRIX)} if failing.endswith(MATRIX) else {})
    dns = FakeDns(errors={("srv", failing): DnsError(f"{failing} SRV", reason)})
    error = resolve_error(EXAMPLE, dns, https)
    assert failing in str(error)
    assert reason in str(error)
    assert f"'{EXAMPLE}'" in str(error)
    assert error.code == "dns-failure"
    assert error.partial.srv[-1].name == failing
    assert error.partial.srv[-1].error == reason
    assert dns.srv_queries()[-1] == failing  # nothing is asked after the failed query
    assert error.partial.targets == []


@pytest.mark.parametrize("status", ["NXDOMAIN", "NODATA"])
def test_srv_nxdomain_and_nodata_continue(status):
    srv = {} if status == "NXDOMAIN" else {FED: [], LEGACY: []}
    dns = FakeDns(srv=srv)
    result = resolve(EXAMPLE, dns, FakeHttps())
    assert result["method"] == "default_port"
    assert result["srv"] == [srv_entry(FED), srv_entry(LEGACY)]
    assert result["targets"] == [target(EXAMPLE, 8448, EX6, EX4)]


# -- addresses ---------------------------------------------------------------------------------------
def test_all_addresses_are_reported_in_port_order():
    dns = FakeDns(srv={FED: [SrvRecord(10, 0, 443, FED1), SrvRecord(20, 0, 8448, FED2)]})
    result = resolve(EXAMPLE, dns, FakeHttps())
    assert result["targets"] == [target(FED1, 443, F1_6, F1_4), target(FED2, 8448, F2_4)]


def test_address_family_warning_of_the_port_is_reported():
    warning = "address lookup example.com A: 127.0.0.1:53 answered SERVFAIL (using the other address family)"
    dns = FakeDns(addresses={**ADDRESSES, EXAMPLE: [EX6]}, address_warnings={EXAMPLE: [warning]})
    result = resolve("example.com:8448", dns, FakeHttps())
    assert result["targets"] == [target(EXAMPLE, 8448, EX6)]
    assert result["warnings"] == [warning]


@pytest.mark.parametrize("name", ["example.com:8448", EXAMPLE])
def test_no_address_at_all_is_a_resolution_error(name):
    dns = FakeDns(addresses={})
    error = resolve_error(name, dns, FakeHttps())
    assert f"'{name}'" in str(error)
    assert "no IPv6 or IPv4 address found" in str(error)
    assert f"{EXAMPLE} has no AAAA or A records" in str(error)
    assert error.code == "no-address"


def test_address_lookup_failure_is_a_resolution_error_naming_the_reason():
    reason = "127.0.0.1:53 answered SERVFAIL"
    dns = FakeDns(errors={("addresses", MATRIX): DnsError(f"{MATRIX} AAAA/A", reason)})
    error = resolve_error(EXAMPLE, dns, FakeHttps({WK: delegation("matrix.example.com:443")}))
    assert reason in str(error)
    assert MATRIX in str(error)
    assert error.code == "no-address"
    assert error.partial.method == "well_known_explicit_port"


def test_one_srv_target_without_addresses_is_a_warning_when_another_has_some():
    dns = FakeDns(srv={FED: [SrvRecord(10, 0, 443, "dead.example.net"), SrvRecord(20, 0, 443, FED1)]})
    result = resolve(EXAMPLE, dns, FakeHttps())
    assert result["method"] == "srv"
    assert result["targets"] == [target("dead.example.net", 443), target(FED1, 443, F1_6, F1_4)]
    assert_warnings(result["warnings"], "dead.example.net")


# -- well-known --------------------------------------------------------------------------------------
def test_well_known_is_fetched_on_port_443_from_the_hostname_addresses_with_the_body_limit():
    dns, https = FakeDns(), FakeHttps({WK: delegation("matrix.example.com:443")})
    resolve(EXAMPLE, dns, https)
    assert https.calls == [HttpsCall(EXAMPLE, 443, WK_PATH, [EX6, EX4], 51200, None)]


def test_well_known_budget_is_one_deadline_for_the_whole_redirect_chain():
    routes = {
        WK: redirect("https://other.example.com/one"),
        ("other.example.com", 443, "/one"): redirect("/two"),
        ("other.example.com", 443, "/two"): delegation("matrix.example.com:443"),
    }
    dns = FakeDns(addresses={**ADDRESSES, "other.example.com": [M4]})
    https = FakeHttps(routes)
    before = time.monotonic()
    resolve(EXAMPLE, dns, https, well_known_budget=30)
    after = time.monotonic()
    deadlines = {call.deadline for call in https.calls}
    assert len(https.calls) == 3
    assert len(deadlines) == 1
    (deadline,) = deadlines
    assert before + 30 <= deadline <= after + 30


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_well_known_follows_redirects(status):
    routes = {
        WK: redirect("https://www.example.com/.well-known/matrix/server", status),
        ("www.example.com", 443, WK_PATH): redirect("https://www.example.com:8443/delegation.json", status),
        ("www.example.com", 8443, "/delegation.json"): delegation("matrix.example.com:443"),
    }
    dns = FakeDns(addresses={**ADDRESSES, "www.example.com": [M4]})
    https = FakeHttps(routes)
    result = resolve(EXAMPLE, dns, https)
    assert result["method"] == "well_known_explicit_port"
    assert result["well_known"] == well_known(
        m_server="matrix.example.com:443",
        redirects=["https://www.example.com/.well-known/matrix/server", "https://www.example.com:8443/delegation.json"],
    )
    assert https.requested() == list(routes)
    assert https.calls[1].addresses == [M4]


def _redirect_chain(hops: int) -> dict:
    routes = {}
    url_path = WK_PATH
    for hop in range(1, hops + 1):
        routes[(EXAMPLE, 443, url_path)] = redirect(f"/hop{hop}", 307)
        url_path = f"/hop{hop}"
    routes[(EXAMPLE, 443, url_path)] = delegation("matrix.example.com:443")
    return routes


def test_well_known_ten_redirects_are_followed():
    result = resolve(EXAMPLE, FakeDns(), FakeHttps(_redirect_chain(10)))
    assert result["method"] == "well_known_explicit_port"
    assert result["well_known"]["redirects"] == [f"https://example.com/hop{hop}" for hop in range(1, 11)]
    assert result["well_known"]["error"] is None


def test_well_known_eleven_redirects_fail():
    https = FakeHttps(_redirect_chain(11))
    result = resolve(EXAMPLE, FakeDns(), https)
    assert result["method"] == "default_port"
    assert result["well_known"] == well_known(
        status=307,
        error=Contains("more than 10 redirects"),
        redirects=[f"https://example.com/hop{hop}" for hop in range(1, 11)],
        cache_seconds=3600,
    )
    assert len(https.calls) == 11  # the eleventh redirect is not followed


def test_well_known_redirect_loop_is_detected():
    routes = {WK: redirect("/a"), (EXAMPLE, 443, "/a"): redirect("/b"), (EXAMPLE, 443, "/b"): redirect(WK_URL)}
    https = FakeHttps(routes)
    result = resolve(EXAMPLE, FakeDns(), https)
    assert result["method"] == "default_port"
    assert result["well_known"] == well_known(
        status=302,
        error=Contains("loop"),
        redirects=["https://example.com/a", "https://example.com/b"],
        cache_seconds=3600,
    )
    assert len(https.calls) == 3


def test_well_known_redirect_to_plain_http_is_refused():
    https = FakeHttps({WK: redirect("http://example.com/.well-known/matrix/server", 301)})
    result = resolve(EXAMPLE, FakeDns(), https)
    assert result["method"] == "default_port"
    assert result["well_known"] == well_known(status=301, error=Contains("plain http"), cache_seconds=3600)
    assert len(https.calls) == 1


def test_well_known_relative_location_is_resolved_against_the_current_url():
    routes = {
        WK: redirect("delegation"),
        (EXAMPLE, 443, "/.well-known/matrix/delegation"): redirect("../../srv?x=1"),
        (EXAMPLE, 443, "/srv?x=1"): delegation("matrix.example.com:443"),
    }
    result = resolve(EXAMPLE, FakeDns(), FakeHttps(routes))
    assert result["well_known"]["redirects"] == [
        "https://example.com/.well-known/matrix/delegation",
        "https://example.com/srv?x=1",
    ]
    assert result["method"] == "well_known_explicit_port"


def test_well_known_redirect_without_location_fails():
    result = resolve(EXAMPLE, FakeDns(), FakeHttps({WK: redirect(None, 302)}))
    assert result["method"] == "default_port"
    assert result["well_known"] == well_known(status=302, error=Contains("without a Location"), cache_seconds=3600)


@pytest.mark.parametrize(
    "location", ["https://[::1/x", "https://[not-an-ip]/x", "https://exa mple.com/x", "https://example.com:99999/x"]
)
def test_well_known_malformed_redirect_location_is_a_failure_not_a_crash(location):
    result = resolve(EXAMPLE, FakeDns(), FakeHttps({WK: redirect(location, 302)}))
    assert result["method"] == "default_port"
    assert result["well_known"]["error"]
    assert result["well_known"]["cache_seconds"] == 3600


@pytest.mark.parametrize("status", [404, 403, 500, 204, 304])
def test_well_known_non_200_is_no_delegation(status):
    answer = json_response(
        {"m.server": "matrix.example.com:443"}, status=status, headers=[("Cache-Control", "max-age=9000")]
    )
    result = resolve(EXAMPLE, FakeDns(), FakeHttps({WK: answer}))
    assert result["method"] == "default_port"
    assert result["delegated_server"] is None
    assert result["well_known"] == well_known(
        status=status, error=Contains(f"HTTP status {status}"), cache_seconds=3600
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"m.server": "matrix.example.com\xff"}', "not valid UTF-8"),
        (b'{"m.server": "matrix.example.com:443"', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"m.server": "a"} trailing', "not valid JSON"),
        (b"[" * 200000 + b"]" * 200000, "nested too deeply"),
        (b'{"a":' * 200000 + b"1" + b"}" * 200000, "nested too deeply"),
        (b'["matrix.example.com:443"]', "an array"),
        (b'"matrix.example.com:443"', "a string"),
        (b"443", "a number"),
        (b"null", "null"),
        (b"true", "a boolean"),
    ],
    ids=[
        "invalid-utf8",
        "truncated",
        "empty",
        "trailing",
        "deep-list",
        "deep-object",
        "list",
        "string",
        "number",
        "null",
        "boolean",
    ],
)
def test_well_known_body_that_is_not_a_json_object_is_no_delegation(body, reason):
    answer = response(200, body, [("Content-Type", "application/json"), ("Cache-Control", "max-age=9000")])
    result = resolve(EXAMPLE, FakeDns(), FakeHttps({WK: answer}))
    assert result["method"] == "default_port"
    assert result["well_known"] == well_known(error=Contains(reason), cache_seconds=3600)


def test_well_known_missing_m_server_is_no_delegation():
    answer = json_response({"m.homeserver": {"base_url": "https://matrix.example.com"}})
    result = resolve(EXAMPLE, FakeDns(), FakeHttps({WK: answer}))
    assert result["method"] == "default_port"
    assert result["well_known"] == well_known(m_server=None, error=Contains("no 'm.server'"), cache_seconds=3600)


@pytest.mark.parametrize("value", [443, 1.5, None, True, ["matrix.example.com"], {"host": "matrix.example.com"}])
def test_well_known_m_server_of_wrong_type_is_reported_as_sent(value):
    result = resolve(EXAMPLE, FakeDns(), FakeHttps({WK: delegation(value)}))
    assert result["method"] == "default_port"
    assert result["delegated_server"] is None
    assert result["well_known"] == well_known(m_server=value, error=Contains("'m.server' is"), cache_seconds=3600)


@pytest.mark.parametrize(
    "value",
    [
        "https://matrix.example.com",
        "matrix.example.com/path",
        "matrix.example.com:0",
        "",
        "matrix.example.com.",
        "bücher.example",
        "[::1",
    ],
)
def test_well_known_m_server_breaking_the_grammar_falls_through_with_error_and_warning(value):
    dns = FakeDns(srv={FED: [SrvRecord(10, 0, 443, FED1)]})
    resolution = resolve_server_name(EXAMPLE, **_options(dns, FakeHttps({WK: delegation(value)}), {}))
    assert resolution.well_known.error_code == "invalid-m-server"  # federation_check reports it with this code
    result = resolution.to_dict()
    assert result["method"] == "srv"
    assert result["delegated_server"] is None
    assert result["host_header"] == EXAMPLE
    assert result["well_known"] == well_known(
        m_server=value, error=Contains("not a valid server name"), cache_seconds=3600
    )
    assert_warnings(result["warnings"], (WK_URL, "not a valid server name"))


@pytest.mark.parametrize("content_type", [None, "text/plain", "text/html; charset=utf-8", "application/octet-stream"])
def test_well_known_non_json_content_type_is_a_warning_but_works(content_type):
    headers = [] if content_type is None else [("Content-Type", content_type)]
    answer = response(200, b'{"m.server": "matrix.example.com:443"}', headers)
    result = resolve(EXAMPLE, FakeDns(), FakeHttps({WK: answer}))
    assert result["method"] == "well_known_explicit_port"
    assert result["well_known"] == well_known(m_server="matrix.example.com:443")
    assert_warnings(result["warnings"], ("Content-Type", (content_type or "none").split(";")[0]))


def test_well_known_json_content_type_with_parameters_is_no_warning():
    answer = delegation("matrix.example.com:443", content_type="Application/JSON; charset=utf-8")
    result = resolve(EXAMPLE, FakeDns(), FakeHttps({WK: answer}))
    assert result["warnings"] == []


def test_well_known_oversize_body_is_an_error():
    error = HttpsError("example.com:443: response body is 51200 bytes, the limit is 51199", kind="too_large")
    result = resolve(EXAMPLE, FakeDns(), FakeHttps({WK: error}))
    assert result["method"] == "default_port"
    assert result["well_known"] == well_known(status=None, error=Contains("51200 bytes or more"), cache_seconds=3600)


@pytest.mark.parametrize("kind", ["certificate", "tls", "timeout", "connect", "http"])
def test_well_known_connection_or_tls_failure_falls_through(kind):
    message = f"example.com:443: failure of kind {kind}"
    dns = FakeDns(srv={FED: [SrvRecord(10, 0, 443, FED1)]})
    result = resolve(EXAMPLE, dns, FakeHttps({WK: HttpsError(message, kind=kind)}))
    assert result["method"] == "srv"
    assert result["well_known"] == well_known(status=None, error=Contains(message), cache_seconds=3600)


def test_well_known_host_without_address_falls_through():
    dns = FakeDns(addresses={**ADDRESSES, EXAMPLE: []}, srv={FED: [SrvRecord(10, 0, 443, FED1)]})
    https = FakeHttps({WK: delegation(MATRIX)})
    result = resolve(EXAMPLE, dns, https)
    assert result["method"] == "srv"
    assert result["well_known"] == well_known(status=None, error=Contains("no AAAA or A"), cache_seconds=3600)
    assert https.calls == []


def test_well_known_success_reports_the_cache_period_of_its_headers():
    answer = delegation("matrix.example.com:443", headers=[("Cache-Control", "public, max-age=7200")])
    result = resolve(EXAMPLE, FakeDns(), FakeHttps({WK: answer}))
    assert result["well_known"]["cache_seconds"] == 7200


def test_well_known_cache_period_of_a_redirected_answer_is_from_the_final_response():
    routes = {
        WK: response(301, b"", [("Location", "/final"), ("Cache-Control", "max-age=100000")]),
        (EXAMPLE, 443, "/final"): delegation("matrix.example.com:443", headers=[("Cache-Control", "max-age=4000")]),
    }
    result = resolve(EXAMPLE, FakeDns(), FakeHttps(routes))
    assert result["well_known"]["cache_seconds"] == 4000


# -- cache period ------------------------------------------------------------------------------------
def http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def cached(*headers) -> int:
    return cache_period(response(200, b"{}", headers), now=NOW)


def test_cache_period_without_headers_is_exactly_one_day():
    assert cached() == 86400
    assert cached(("Content-Type", "application/json")) == 86400


def test_cache_period_of_a_failure_is_one_hour():
    assert cache_period(None, now=NOW) == 3600


def test_cache_period_max_age():
    assert cached(("Cache-Control", "max-age=7200")) == 7200
    assert cached(("Cache-Control", "public, Max-Age=7201")) == 7201


def test_cache_period_expires():
    assert cached(("Expires", http_date(NOW + 7200))) == 7200


def test_cache_period_max_age_beats_expires():
    assert cached(("Cache-Control", "max-age=600"), ("Expires", http_date(NOW + 7200))) == 600
    assert cached(("Expires", http_date(NOW + 600)), ("Cache-Control", "max-age=7200")) == 7200


@pytest.mark.parametrize("value", ["no-store", "no-store, max-age=7200", "max-age=7200, no-store", "private, no-store"])
def test_cache_period_no_store_is_300_after_clamping(value):
    assert cached(("Cache-Control", value), ("Expires", http_date(NOW + 7200))) == 300


def test_cache_period_private_semicolon_max_age_zero_is_not_a_max_age():
    assert cached(("Cache-Control", "private; max-age=0")) == 86400
    assert cached(("Cache-Control", "private; max-age=0"), ("Expires", http_date(NOW + 5000))) == 5000


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ([("Cache-Control", "max-age=0")], 300),
        ([("Cache-Control", "max-age=299")], 300),
        ([("Cache-Control", "max-age=300")], 300),
        ([("Cache-Control", "max-age=172800")], 172800),
        ([("Cache-Control", "max-age=172801")], 172800),
        ([("Cache-Control", "max-age=99999999999999999999")], 172800),
        ([("Expires", http_date(NOW + 10))], 300),
        ([("Expires", http_date(NOW + 10**7))], 172800),
    ],
)
def test_cache_period_is_clamped_at_both_ends(headers, seconds):
    assert cached(*headers) == seconds


@pytest.mark.parametrize("value", [http_date(NOW - 3600), "0", "-1", "garbage", "", "Mon, 32 Foo 2026 99:99:99 GMT"])
def test_cache_period_expires_in_the_past_or_unparsable_is_300(value):
    assert cached(("Expires", value)) == 300


@pytest.mark.parametrize("value", ["max-age=abc", "max-age=", "max-age", "max-age=1.5", 'max-age="7200"'])
def test_cache_period_non_numeric_max_age_falls_to_expires(value):
    assert cached(("Cache-Control", value), ("Expires", http_date(NOW + 5000))) == 5000
    assert cached(("Cache-Control", value)) == 86400


def test_cache_period_merges_several_cache_control_headers():
    assert cached(("Cache-Control", "public"), ("Cache-Control", "max-age=1000")) == 1000
    assert cached(("Cache-Control", "max-age=1000"), ("Cache-Control", "no-store")) == 300
    assert (
        cached(("Cache-Control", "no-store"), ("Expires", http_date(NOW + 5000)), ("Cache-Control", "max-age=1000"))
        == 300
    )


def test_cache_period_uses_the_injected_clock():
    answer = response(200, b"{}", [("Expires", http_date(NOW + 7200))])
    assert cache_period(answer, now=NOW + 3600) == 3600


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["cache-control", "expires", "age", "date"]), st.text(max_size=60)), max_size=5)
)
def test_cache_period_is_always_a_clamped_integer(headers):
    seconds = cache_period(response(200, b"", headers), now=NOW)
    assert isinstance(seconds, int) and not isinstance(seconds, bool)
    assert 300 <= seconds <= 172800


# -- memo: each name and target once per call ---------------------------------------------------------
def _shared_world(*, delay=0.0):
    routes = {
        ("a.example", 443, WK_PATH): delegation(MATRIX),
        ("b.example", 443, WK_PATH): delegation(MATRIX),
        ("e.example", 443, WK_PATH): delegation("matrix.example.com:8448"),
    }
    addresses = {**ADDRESSES, **{f"{letter}.example": [EX4] for letter in "abcde"}}
    srv = {
        M_FED: [SrvRecord(10, 0, 443, FED1)],
        "_matrix-fed._tcp.c.example": [SrvRecord(10, 0, 443, FED1), SrvRecord(20, 0, 443, FED2)],
        "_matrix-fed._tcp.d.example": [SrvRecord(10, 0, 443, FED2)],
    }
    return FakeDns(srv=srv, addresses=addresses, delay=delay), FakeHttps(routes, delay=delay)


SHARED_NAMES = ["a.example", "b.example", "c.example", "d.example", "e.example", "matrix.example.com:8448", "a.example"]


def test_memo_resolves_and_fetches_each_name_and_target_once():
    dns, https = _shared_world()
    memo = Memo()
    results = [resolve(name, dns, https, memo=memo) for name in SHARED_NAMES]
    assert [r["method"] for r in results] == [
        "well_known_srv",
        "well_known_srv",
        "srv",
        "srv",
        "well_known_explicit_port",
        "explicit_port",
        "well_known_srv",
    ]
    assert results[0] == results[-1]
    assert len(dns.calls) == len(set(dns.calls))
    assert len(https.calls) == len(set(https.requested()))
    assert sorted(dns.address_queries()) == sorted([*(f"{x}.example" for x in "abcde"), MATRIX, FED1, FED2])
    assert sorted(https.requested()) == sorted((f"{x}.example", 443, WK_PATH) for x in "abcde")


def test_memo_is_not_shared_between_calls():
    dns, https = _shared_world()
    resolve("a.example", dns, https, memo=Memo())
    resolve("a.example", dns, https, memo=Memo())
    assert https.requested() == [("a.example", 443, WK_PATH)] * 2


def test_memo_remembers_errors():
    reason = "127.0.0.1:53 answered SERVFAIL"
    dns = FakeDns(errors={("srv", FED): DnsError(f"{FED} SRV", reason)})
    https = FakeHttps({WK: HttpsError("example.com:443: certificate expired", kind="certificate")})
    memo = Memo()
    first = resolve_error(EXAMPLE, dns, https, memo=memo)
    second = resolve_error(EXAMPLE, dns, https, memo=memo)
    assert str(first) == str(second)
    assert reason in str(second)
    assert dns.srv_queries() == [FED]
    assert len(https.calls) == 1


def test_memo_is_single_flight_across_threads():
    memo = Memo()
    calls = []
    gate = threading.Barrier(8)

    def compute():
        calls.append(1)
        time.sleep(0.05)
        return object()

    results = []

    def worker():
        gate.wait()
        results.append(memo.get("key", compute))

    threads = [threading.Thread(target=worker) for _index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len({id(result) for result in results}) == 1


def _resolver_with_fakes(dns, https, **options) -> Resolver:
    resolver = Resolver(ResolveOptions(nameservers=["127.0.0.1:5353"], allow_private_addresses=True, **options))
    resolver.dns, resolver.https = dns, https
    return resolver


def test_resolver_resolves_duplicate_names_and_shared_targets_once_concurrently(closing):
    dns, https = _shared_world(delay=0.02)
    names = SHARED_NAMES * 3 + ["bad name", 42]
    resolver = closing(_resolver_with_fakes(dns, https, concurrency=16))
    results = resolver.resolve_all(names)
    assert len(results) == len(names)
    for name, result in zip(names, results, strict=True):
        if name in ("bad name", 42):
            assert isinstance(result, ResolutionError)
        else:
            assert result.server_name == name
    assert results[0] is results[len(SHARED_NAMES)]
    assert len(dns.calls) == len(set(dns.calls))
    assert len(https.calls) == len(set(https.requested())) == 5


# -- private addresses --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("127.0.0.1", "127.0.0.0/8"),
        ("10.1.2.3", "10.0.0.0/8"),
        ("172.16.0.1", "172.16.0.0/12"),
        ("192.168.1.1", "192.168.0.0/16"),
        ("100.64.0.1", "100.64.0.0/10"),
        ("169.254.1.1", "169.254.0.0/16"),
        ("198.51.100.7", "198.51.100.0/24"),
        ("0.0.0.0", "0.0.0.0/8"),
        ("::1", "::1/128"),
        ("fe80::1", "fe80::/10"),
        ("fd00::1", "fc00::/7"),
        ("2001:db8::7", "2001:db8::/32"),
        ("::ffff:127.0.0.1", "127.0.0.0/8"),
        ("::ffff:10.0.0.1", "10.0.0.0/8"),
        ("::", "::/128"),
        ("1.2.3.4", None),
        ("172.32.0.1", None),
        (EX4, None),
        (EX6, None),
        ("::ffff:1.2.3.4", None),
    ],
)
def test_private_range(address, network):
    assert private_range(address) == network


def test_private_address_of_an_ip_literal_is_a_warning():
    result = resolve("10.0.0.1:8448", FakeDns(), FakeHttps())
    assert_warnings(result["warnings"], ("10.0.0.1", "10.0.0.0/8", "refuses"))


def test_private_address_of_a_target_is_a_warning():
    dns = FakeDns(addresses={**ADDRESSES, MATRIX: ["fd00::7", "192.168.1.5", M4]})
    result = resolve("matrix.example.com:443", dns, FakeHttps())
    assert result["targets"] == [target(MATRIX, 443, "fd00::7", "192.168.1.5", M4)]
    assert_warnings(
        result["warnings"],
        (MATRIX, "fd00::7", "fc00::/7"),
        (MATRIX, "192.168.1.5", "192.168.0.0/16"),
    )


@pytest.mark.parametrize("name", ["10.0.0.1:8448", "[::1]", "matrix.example.com:443", EXAMPLE])
def test_private_addresses_are_no_warning_when_allowed(name):
    dns = FakeDns(addresses={**ADDRESSES, MATRIX: ["127.0.0.3", "::1"], EXAMPLE: ["127.0.0.2"]})
    https = FakeHttps({WK: delegation("matrix.example.com:443")})
    result = resolve(name, dns, https, allow_private_addresses=True)
    assert result["warnings"] == []
    result = resolve(name, dns, https, allow_private_addresses=False)
    assert result["warnings"] != []
    assert all("ip_range_blacklist" in warning for warning in result["warnings"])


# -- normalisation -------------------------------------------------------------------------------------
def test_ipv6_is_bracketed_in_server_name_and_host_header_and_bare_elsewhere():
    result = resolve("[2a01:4F8:c2c:1::9]:8448", FakeDns(), FakeHttps())
    assert result["server_name"] == "[2a01:4F8:c2c:1::9]:8448"
    assert result["host_header"] == "[2a01:4F8:c2c:1::9]:8448"
    assert result["tls_server_name"] == "2a01:4F8:c2c:1::9"
    assert result["targets"] == [target("2a01:4F8:c2c:1::9", 8448, "2a01:4F8:c2c:1::9")]
    assert result["sni"] is None


def test_server_name_keeps_its_case_and_port():
    dns = FakeDns(addresses={"Example.COM": [EX4]})
    result = resolve("Example.COM:8448", dns, FakeHttps())
    assert result["server_name"] == "Example.COM:8448"
    assert result["host_header"] == "Example.COM:8448"
    assert result["method"] == "explicit_port"
    assert_warnings(result["warnings"], ("Example.COM", "upper-case"))


def test_server_name_keeps_its_case_without_port():
    dns = FakeDns(addresses={**ADDRESSES, "Example.COM": [EX4]})
    https = FakeHttps({("Example.COM", 443, WK_PATH): delegation("matrix.example.com:443")})
    result = resolve("Example.COM", dns, https)
    assert result["server_name"] == "Example.COM"
    assert result["well_known"]["url"] == "https://Example.COM/.well-known/matrix/server"
    assert result["method"] == "well_known_explicit_port"


def test_unicode_server_name_is_converted_to_a_label_with_a_warning():
    dns = FakeDns(addresses={**ADDRESSES, "xn--bcher-kva.example": [EX4]})
    https = FakeHttps({("xn--bcher-kva.example", 443, WK_PATH): delegation("matrix.example.com:443")})
    result = resolve("bücher.example", dns, https)
    assert result["server_name"] == "xn--bcher-kva.example"
    assert result["method"] == "well_known_explicit_port"
    assert result["well_known"]["url"] == "https://xn--bcher-kva.example/.well-known/matrix/server"
    assert_warnings(result["warnings"], ("bücher.example", "xn--bcher-kva.example"))


@pytest.mark.parametrize("name", ["example.com.", "example.com.:8448"])
def test_trailing_dot_makes_a_server_name_invalid(name):
    dns, https = FakeDns(), FakeHttps()
    error = resolve_error(name, dns, https)
    assert f"'{name}'" in str(error)
    assert "trailing dot" in str(error)
    assert error.step == "parsing the server name"
    assert error.code == "invalid-server-name"
    assert dns.calls == [] and https.calls == []


@pytest.mark.parametrize("name", [None, 42, b"example.com", ["example.com"], "", "host:0", "a b"])
def test_invalid_server_name_is_a_resolution_error_naming_it(name):
    error = resolve_error(name, FakeDns(), FakeHttps())
    assert str(error).startswith("cannot resolve server name ")
    assert error.step == "parsing the server name"
    assert error.code == "invalid-server-name"
    assert repr(name) in str(error) if not isinstance(name, str) else f"'{name}'" in str(error)


# -- bad input never escapes as anything but ResolutionError ------------------------------------------
NAME_ALPHABET = st.sampled_from(list("abcXYZ019.-:[]_/ %@\u00fc\u3002\u0000"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(NAME_ALPHABET, max_size=30),
        st.text(max_size=30),
        st.sampled_from(["example.com", "1.2.3.4", "[::1]:8448"]),
    )
)
def test_any_server_name_gives_a_result_or_a_resolution_error(name):
    try:
        result = resolve_server_name(
            name, dns=FakeDns(), https=FakeHttps(), rng=random.Random(0), clock=Clock(wall=lambda: NOW)
        )
    except ResolutionError as exc:
        assert str(exc).startswith("cannot resolve server name ")
        assert exc.code in CATALOGUE
    else:
        assert result.method in METHODS


LOCATIONS = st.one_of(
    st.sampled_from(
        [
            "/next",
            "https://[::1]/x",
            "https://[::1/x",
            "//other.example/x",
            "https://other.example:0/",
            "ftp://x/",
            "https://x@y/",
        ]
    ),
    st.text(max_size=40),
)
HEADER_VALUES = st.one_of(
    st.text(max_size=40), st.sampled_from(["max-age=100000", "no-store", "0", "application/json"])
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.sampled_from([200, 200, 301, 302, 307, 404, 500]),
    body=st.one_of(
        st.binary(max_size=80),
        st.builds(
            lambda v: json.dumps({"m.server": v}).encode(), st.one_of(st.text(max_size=30), st.integers(), st.none())
        ),
    ),
    location=LOCATIONS,
    headers=st.lists(
        st.tuples(st.sampled_from(["content-type", "cache-control", "expires"]), HEADER_VALUES), max_size=3
    ),
)
def test_any_well_known_answer_gives_a_result_or_a_resolution_error(status, body, location, headers):
    answer = response(status, body, [*headers, ("location", location)])
    routes = {WK: answer, (EXAMPLE, 443, "/next"): answer}
    try:
        result = resolve_server_name(
            EXAMPLE, dns=FakeDns(), https=FakeHttps(routes), rng=random.Random(0), clock=Clock(wall=lambda: NOW)
        )
    except ResolutionError:
        return
    wk = result.well_known
    assert wk is not None
    if result.delegated_server is None:
        assert wk.error
        assert wk.cache_seconds == 3600
    else:
        assert wk.error is None
        assert 300 <= wk.cache_seconds <= 172800


# -- a failure under a short deadline is not replayed to a caller with more time -------------------------
class DeadlineDns(FakeDns):
    """Address lookups made with a deadline time out (as in a short well-known budget); others answer."""

    def addresses(self, name: str, deadline: float | None = None) -> AddressAnswer:
        if deadline is not None:
            self._record("addresses", name)
            raise DnsError(f"{name} AAAA/A", "127.0.0.1:53 timed out after 0.1s")
        return super().addresses(name)


def test_address_failure_under_the_well_known_budget_is_not_replayed_for_an_srv_target():
    dns = DeadlineDns(srv={FED: [SrvRecord(10, 0, 443, EXAMPLE)]})
    result = resolve(EXAMPLE, dns, FakeHttps({WK: delegation(MATRIX)}), well_known_budget=0.5)
    assert result["method"] == "srv"
    assert result["well_known"]["error"] == Contains("timed out")
    assert result["targets"] == [target(EXAMPLE, 443, EX6, EX4)]
    assert dns.address_queries() == [EXAMPLE, EXAMPLE]


def test_memo_recomputes_a_failure_only_for_a_caller_with_a_later_deadline():
    memo, calls = Memo(), []

    def failing():
        calls.append(1)
        raise DnsError("x AAAA/A", "timed out")

    for deadline in (10.0, 5.0, 10.0):
        with pytest.raises(DnsError):
            memo.get("key", failing, deadline=deadline)
    assert len(calls) == 1
    for deadline in (20.0, None, None):
        with pytest.raises(DnsError):
            memo.get("key", failing, deadline=deadline)
    assert len(calls) == 3
    assert memo.get("other", lambda: 1, deadline=1.0) == memo.get("other", lambda: 2) == 1


def test_a_result_holds_the_method_enum_and_its_dict_the_plain_name():
    result = resolve_server_name("1.2.3.4", dns=FakeDns(), https=FakeHttps())
    assert result.method is Method.IP_LITERAL
    assert result.to_dict()["method"] == "ip_literal"
    assert not isinstance(result.to_dict()["method"], Method)
    assert f"{result.method}" == str(result.method) == "ip_literal"


def test_srv_targets_that_failed_in_the_parallel_round_are_not_asked_again():
    dns = DeadlineDns(srv={FED: [SrvRecord(10, 0, 443, FED1), SrvRecord(20, 0, 443, FED2)]})
    error = resolve_error(EXAMPLE, dns, FakeHttps(), step_timeout=5)
    assert "timed out" in str(error)
    assert sorted(dns.address_queries()) == sorted([EXAMPLE, FED1, FED2])  # one round within one timeout

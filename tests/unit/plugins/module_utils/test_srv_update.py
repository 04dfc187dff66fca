# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SRV records for Matrix SRV delegation: validation, rendering, the update core and the RFC 2136 port.

The core (``synchronise``) runs against a fake port; the real port (``Rfc2136Client``) against a
fake DNS server on loopback that answers what each test tells it (REFUSED, NOTAUTH with a TSIG
error, nothing at all...). The real knot server is exercised by the integration tests and the
molecule scenario.
"""

from __future__ import annotations

import base64
import socket
import struct
import threading
from types import SimpleNamespace

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.zone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.loopback import bound_socket, daemon

from ansible_collections.matrixops.delegation.plugins.module_utils._rfc2136 import Rfc2136Client, Tsig
from ansible_collections.matrixops.delegation.plugins.module_utils._srv_update import (
    Plan,
    Record,
    RecordSet,
    SrvConfigError,
    SrvUpdateError,
    legacy_mode,
    plan_records,
    render_zonefile,
    synchronise,
    target_findings,
    well_known_findings,
)

SECRET = base64.b64encode(b"unit-test-secret-unit-test-secre").decode()
OTHER_SECRET = base64.b64encode(b"another-secret-another-secret-12").decode()
FED = "_matrix-fed._tcp.example.com"
LEGACY = "_matrix._tcp.example.com"


def plan(targets=None, **kwargs):
    options = {"ttl": 3600, "legacy": False, "state": "present"}
    options.update(kwargs)
    return plan_records(
        options.pop("server_name", "example.com"), targets or [{"host": "matrix.example.com"}], **options
    )


# -- plan_records: the names ------------------------------------------------------------------------
def test_records_are_published_at_matrix_fed_tcp_of_the_server_name():
    result = plan([{"host": "matrix.example.com", "port": 8448, "priority": 10, "weight": 5}])
    assert result.names == [FED, LEGACY]
    assert result.desired[0] == RecordSet(FED, 3600, (Record(10, 5, 8448, "matrix.example.com"),))
    assert result.desired[1] == RecordSet(LEGACY, None, ())


def test_legacy_publishes_the_same_records_at_matrix_tcp():
    result = plan([{"host": "a.example.com"}, {"host": "b.example.com", "port": 443}], legacy=True)
    assert result.desired[1].records == result.desired[0].records
    assert result.desired[1].ttl == 3600


@pytest.mark.parametrize("legacy", ["absent", False])
def test_legacy_absent_manages_the_matrix_tcp_name_empty_so_old_records_are_removed(legacy):
    assert plan(legacy=legacy).desired[1] == RecordSet(LEGACY, None, ())


@pytest.mark.parametrize("legacy", ["publish", True, " Publish "])
def test_legacy_publish_and_0_1_0s_true_are_the_same(legacy):
    assert plan(legacy=legacy).desired == plan(legacy="publish").desired
    assert plan(legacy=legacy).desired[1].records == plan(legacy=legacy).desired[0].records


@pytest.mark.parametrize("state", ["present", "absent"])
def test_legacy_keep_leaves_the_matrix_tcp_name_out_of_the_plan(state):
    result = plan_records("example.com", [{"host": "matrix.example.com"}], ttl=3600, legacy="keep", state=state)
    assert result.names == [FED]


@pytest.mark.parametrize("value", ["both", "", None, 1, "yes"])
def test_an_unknown_legacy_mode_is_refused(value):
    with pytest.raises(SrvConfigError, match="legacy must be one of publish, keep, absent"):
        legacy_mode(value)


def test_omitted_target_keys_default_to_port_8448_priority_10_weight_5():
    assert plan([{"host": "matrix.example.com"}]).targets == [Record(10, 5, 8448, "matrix.example.com")]


def test_state_absent_wants_no_record_at_either_name_and_needs_no_targets():
    result = plan_records("example.com", None, ttl=3600, legacy=False, state="absent")
    assert [(r.name, r.records) for r in result.desired] == [(FED, ()), (LEGACY, ())]


def test_state_present_needs_a_target():
    with pytest.raises(SrvConfigError, match="at least one target is required"):
        plan_records("example.com", [], ttl=3600, legacy=False, state="present")


# -- plan_records: the server name ------------------------------------------------------------------
def test_a_server_name_with_a_port_never_uses_srv():
    with pytest.raises(SrvConfigError, match="explicit port.*never read SRV records"):
        plan(server_name="example.com:8448")


@pytest.mark.parametrize("name", ["192.0.2.1", "[2001:db8::1]"])
def test_an_ip_literal_server_name_never_uses_srv(name):
    with pytest.raises(SrvConfigError, match="IP literal"):
        plan(server_name=name)


@pytest.mark.parametrize(
    ("name", "message"),
    [("example.com.", "trailing dot"), ("", "empty"), ("exa mple.com", "space"), ("https://x", "port")],
)
def test_an_invalid_server_name_is_refused_by_the_grammar(name, message):
    with pytest.raises(SrvConfigError, match=message):
        plan(server_name=name)


def test_a_unicode_server_name_is_converted_to_a_labels_with_a_warning():
    result = plan(server_name="bücher.example")
    assert result.names[0] == "_matrix-fed._tcp.xn--bcher-kva.example"
    assert any("xn--bcher-kva.example" in warning for warning in result.warnings)


# -- plan_records: the targets ----------------------------------------------------------------------
def test_a_target_host_may_end_with_a_dot_and_is_written_in_lower_case():
    assert plan([{"host": "Matrix.Example.COM."}]).targets[0].target == "matrix.example.com"


def test_a_unicode_target_is_converted_to_a_labels_with_a_warning():
    result = plan([{"host": "bücher.example"}])
    assert result.targets[0].target == "xn--bcher-kva.example"
    assert any("SRV target" in warning for warning in result.warnings)


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("192.0.2.7", "is an IP address, but an SRV target must be a host name"),
        ("[2001:db8::7]", "is an IP address"),
        ("matrix.example.com:8448", "contains a port; give the host name alone and the port as port: 8448"),
        (":8448", "contains a port; give the host name alone and the port as port: 8448"),
        ("matrix..example.com", "empty label"),
        ("matrix_example.com", "only letters, digits"),
        ("", "host is required"),
        (None, "host is required"),
        ("a" * 256, "the limit is 255"),
    ],
)
def test_an_invalid_target_host_is_refused_naming_the_target(host, message):
    with pytest.raises(SrvConfigError) as info:
        plan([{"host": "ok.example.com"}, {"host": host}])
    assert str(info.value).startswith("targets[1]: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("port", 0, "port must be from 1 to 65535, got 0"),
        ("port", 65536, "port must be from 1 to 65535, got 65536"),
        ("port", -1, "port must be from 1 to 65535, got -1"),
        ("priority", -1, "priority must be from 0 to 65535, got -1"),
        ("priority", 65536, "priority must be from 0 to 65535"),
        ("weight", 65536, "weight must be from 0 to 65535"),
        ("weight", "heavy", "weight must be a whole number"),
        ("weight", "\u00b2", "weight must be a whole number"),
        ("port", True, "port must be a whole number"),
        ("port", 8448.5, "port must be a whole number"),
    ],
)
def test_ports_priorities_and_weights_are_range_checked(key, value, message):
    with pytest.raises(SrvConfigError, match=message):
        plan([{"host": "matrix.example.com", key: value}])


def test_a_number_written_as_text_is_a_number():
    assert plan([{"host": "matrix.example.com", "port": "443", "weight": " 7 "}]).targets == [
        Record(10, 7, 443, "matrix.example.com")
    ]


@pytest.mark.parametrize(("key", "value"), [("port", 1), ("port", 65535), ("priority", 0), ("weight", 65535)])
def test_the_range_limits_themselves_are_accepted(key, value):
    assert getattr(plan([{"host": "matrix.example.com", key: value}]).targets[0], key) == value


def test_an_unknown_target_key_is_refused():
    with pytest.raises(SrvConfigError, match=r"targets\[0\]: unknown key\(s\) target"):
        plan([{"host": "matrix.example.com", "target": "x"}])


def test_a_repeated_target_is_refused():
    with pytest.raises(SrvConfigError, match=r"targets\[1\] repeats targets\[0\]"):
        plan([{"host": "matrix.example.com"}, {"host": "MATRIX.example.com."}])


def test_the_same_host_on_two_ports_is_two_records():
    assert len(plan([{"host": "m.example.com", "port": 443}, {"host": "m.example.com", "port": 8448}]).targets) == 2


def test_a_sole_dot_target_disables_federation_with_a_warning():
    result = plan([{"host": ".", "port": 0, "priority": 0, "weight": 0}])
    assert result.targets == [Record(0, 0, 0, ".")]
    assert any("DISABLES federation for example.com" in warning for warning in result.warnings)
    assert render_zonefile(result.desired) == "_matrix-fed._tcp.example.com. 3600 IN SRV 0 0 0 .\n"


def test_a_dot_target_defaults_to_srv_0_0_0():
    assert plan([{"host": "."}]).targets == [Record(0, 0, 0, ".")]


def test_a_dot_target_next_to_real_targets_is_refused():
    with pytest.raises(SrvConfigError, match="'.' means 'no service here'.*must be the only target"):
        plan([{"host": "."}, {"host": "matrix.example.com"}])


def test_port_0_is_only_for_the_dot_target():
    with pytest.raises(SrvConfigError, match="port must be from 1 to 65535"):
        plan([{"host": "matrix.example.com", "port": 0}])


@pytest.mark.parametrize("ttl", [-1, 2147483648, "3600", True])
def test_ttl_is_range_checked(ttl):
    with pytest.raises(SrvConfigError, match="ttl must be"):
        plan(ttl=ttl)


# -- rendering ----------------------------------------------------------------------------------------
def test_the_zonefile_lines_use_absolute_names():
    result = plan([{"host": "matrix.example.com", "port": 443, "priority": 10, "weight": 60}], legacy=True, ttl=300)
    assert render_zonefile(result.desired) == (
        "_matrix-fed._tcp.example.com. 300 IN SRV 10 60 443 matrix.example.com.\n"
        "_matrix._tcp.example.com. 300 IN SRV 10 60 443 matrix.example.com.\n"
    )


def test_records_are_rendered_in_a_stable_order():
    one = plan([{"host": "b.example.com", "priority": 20}, {"host": "a.example.com"}])
    two = plan([{"host": "a.example.com"}, {"host": "b.example.com", "priority": 20}])
    assert render_zonefile(one.desired) == render_zonefile(two.desired)
    assert render_zonefile(one.desired).splitlines()[0].endswith("10 5 8448 a.example.com.")


def test_state_absent_renders_nothing():
    assert render_zonefile(plan_records("example.com", None, ttl=60, legacy=True, state="absent").desired) == ""


labels = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z")
# Host names under .test: a name of digits and dots only would be an IPv4 literal, not a host name.
hosts = st.lists(labels, min_size=1, max_size=3).map(lambda parts: ".".join([*parts, "test"]))
targets = st.lists(
    st.fixed_dictionaries(
        {
            "host": hosts,
            "port": st.integers(1, 65535),
            "priority": st.integers(0, 65535),
            "weight": st.integers(0, 65535),
        }
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda t: (t["host"], t["port"], t["priority"], t["weight"]),
)


@settings(max_examples=200, deadline=None)
@given(targets=targets, ttl=st.integers(0, 2147483647), legacy=st.booleans())
def test_property_the_rendered_snippet_is_a_valid_zone_with_exactly_the_records(targets, ttl, legacy):
    result = plan(targets, ttl=ttl, legacy=legacy)
    text = "$ORIGIN example.com.\n@ 300 IN SOA ns hostmaster 1 3600 600 86400 300\n@ 300 IN NS ns\n"
    zone = dns.zone.from_text(text + render_zonefile(result.desired), relativize=False, check_origin=True)
    for name, wanted in ((FED, True), (LEGACY, legacy)):
        rdataset = zone.get_rdataset(name + ".", dns.rdatatype.SRV)
        if not wanted:
            assert rdataset is None
            continue
        assert rdataset.ttl == ttl
        got = sorted((r.priority, r.weight, r.port, r.target.to_text(omit_final_dot=True)) for r in rdataset)
        assert got == sorted((t["priority"], t["weight"], t["port"], t["host"]) for t in targets)


# -- RecordSet comparison -------------------------------------------------------------------------------
def test_record_sets_compare_as_sets_case_insensitively():
    one = RecordSet.make(FED, 60, [Record(10, 5, 8448, "a.example.com"), Record(10, 5, 443, "B.example.com")])
    two = RecordSet.make(FED, 60, [Record(10, 5, 443, "b.example.com"), Record(10, 5, 8448, "a.example.com")])
    assert one.same_as(two)


def test_a_different_ttl_is_a_difference():
    records = [Record(10, 5, 8448, "a.example.com")]
    assert not RecordSet.make(FED, 60, records).same_as(RecordSet.make(FED, 3600, records))


def test_empty_record_sets_are_equal_whatever_their_ttl():
    assert RecordSet.make(FED, 60, []).same_as(RecordSet.make(FED, None, []))


# -- synchronise, with a fake port --------------------------------------------------------------------
class FakePort:
    server = "192.0.2.53:53"

    def __init__(self, records=None, *, zone="example.com", apply=True):
        self.records = dict(records or {})
        self.zone = zone
        self.apply = apply
        self.updates = []
        self.zone_queries = []

    def find_zone(self, name):
        self.zone_queries.append(name)
        return self.zone

    def read(self, name, zone):
        ttl, records = self.records.get(name, (None, []))
        return RecordSet.make(name, ttl, records)

    def update(self, zone, changes):
        self.updates.append((zone, changes))
        if self.apply:
            for _current, wanted in changes:
                self.records[wanted.name] = (wanted.ttl, list(wanted.records))


MATRIX = Record(10, 5, 8448, "matrix.example.com")


def test_nothing_is_sent_when_the_records_are_already_right():
    port = FakePort({FED: (3600, [MATRIX])})
    outcome = synchronise(plan(), port, zone=None, check_mode=False)
    assert outcome.changed is False
    assert port.updates == []
    assert outcome.zone == "example.com"


def test_all_names_that_differ_go_into_one_update():
    port = FakePort({LEGACY: (60, [Record(0, 0, 8448, "old.example.com")])})
    outcome = synchronise(plan(), port, zone=None, check_mode=False)
    assert outcome.changed is True
    assert len(port.updates) == 1
    zone, changes = port.updates[0]
    assert zone == "example.com"
    assert [(current.name, wanted.records) for current, wanted in changes] == [(FED, (MATRIX,)), (LEGACY, ())]
    assert changes[1][0].records == (Record(0, 0, 8448, "old.example.com"),)  # the prerequisite


def test_only_the_names_that_differ_are_in_the_update():
    port = FakePort({FED: (60, [MATRIX])})
    synchronise(plan(ttl=120), port, zone=None, check_mode=False)
    assert [current.name for current, _wanted in port.updates[0][1]] == [FED]


def test_check_mode_reads_and_reports_but_sends_nothing():
    port = FakePort()
    outcome = synchronise(plan(), port, zone=None, check_mode=True)
    assert outcome.changed is True
    assert port.updates == []
    assert render_zonefile(outcome.before) == ""
    assert render_zonefile(outcome.after) == "_matrix-fed._tcp.example.com. 3600 IN SRV 10 5 8448 matrix.example.com.\n"


def test_keep_neither_reads_nor_changes_the_legacy_name():
    old = (60, [Record(0, 0, 443, "old.example.com")])
    port = FakePort({LEGACY: old})
    outcome = synchronise(plan(legacy="keep"), port, zone=None, check_mode=False)
    assert outcome.changed is True
    assert [record_set.name for record_set in outcome.before + outcome.after] == [FED, FED]
    assert port.records[LEGACY] == old
    assert [[wanted.name for _current, wanted in changes] for _zone, changes in port.updates] == [[FED]]


def test_state_absent_removes_both_names():
    port = FakePort({FED: (60, [MATRIX]), LEGACY: (60, [MATRIX])})
    absent = plan_records("example.com", None, ttl=3600, legacy=False, state="absent")
    assert synchronise(absent, port, zone=None, check_mode=False).changed is True
    assert port.records == {FED: (None, []), LEGACY: (None, [])}
    assert synchronise(absent, port, zone=None, check_mode=False).changed is False


def test_a_given_zone_is_used_without_asking_the_server():
    port = FakePort()
    outcome = synchronise(plan(), port, zone="example.com.", check_mode=True)
    assert port.zone_queries == []
    assert outcome.zone == "example.com"


def test_a_zone_that_does_not_hold_the_names_is_refused_before_anything_is_sent():
    port = FakePort()
    with pytest.raises(SrvConfigError, match=r"_matrix-fed._tcp.example.com is not inside zone example.org"):
        synchronise(plan(), port, zone="example.org", check_mode=False)
    assert port.updates == []


def test_an_update_the_server_accepted_but_did_not_apply_is_an_error():
    port = FakePort(apply=False)
    with pytest.raises(SrvUpdateError, match="was accepted, but _matrix-fed._tcp.example.com now has no records"):
        synchronise(plan(), port, zone=None, check_mode=False)


# -- the checks -------------------------------------------------------------------------------------------
def answer(addresses=("192.0.2.7",), cnames=()):
    return SimpleNamespace(addresses=list(addresses), cnames=list(cnames))


def test_a_cname_target_is_a_warning():
    findings = target_findings(plan(), {"matrix.example.com": answer(cnames=["matrix.example.com"])}.__getitem__)
    assert findings == [
        "SRV target matrix.example.com is an alias (CNAME): RFC 2782 forbids that and some homeservers "
        "refuse it; point the SRV record at the canonical host name instead"
    ]


def test_a_target_without_addresses_is_a_warning():
    findings = target_findings(plan(), {"matrix.example.com": answer(addresses=())}.__getitem__)
    assert findings == ["SRV target matrix.example.com has no AAAA or A record: homeservers cannot connect to it"]


def test_a_target_that_cannot_be_checked_is_reported_not_fatal():
    def broken(host):
        raise OSError("SERVFAIL")

    assert target_findings(plan(), broken) == ["could not check SRV target matrix.example.com: SERVFAIL"]


def test_each_target_host_is_checked_once_and_the_dot_target_never():
    asked = []

    def lookup(host):
        asked.append(host)
        return answer()

    two_ports = [{"host": "m.example.com", "port": 443}, {"host": "m.example.com", "port": 8448}]
    assert target_findings(plan(two_ports), lookup) == []
    assert target_findings(plan([{"host": "."}]), lookup) == []
    assert asked == ["m.example.com"]


def resolution(m_server="matrix.example.com:443", *, targets=(("matrix.example.com", 443),), error=None, status=200):
    return {
        "delegated_server": None if error else m_server,
        "targets": [{"host": host, "port": port, "addresses": ["192.0.2.7"]} for host, port in targets],
        "well_known": {
            "url": "https://example.com/.well-known/matrix/server",
            "status": status,
            "m_server": m_server,
            "error": error,
        },
    }


def test_srv_and_a_well_known_file_that_disagree_is_a_warning():
    findings = well_known_findings(plan(), resolution(), state="present")
    assert len(findings) == 1
    assert findings[0].startswith(
        "SRV and well-known disagree: https://example.com/.well-known/matrix/server delegates example.com to "
        "matrix.example.com:443 (homeservers connect to matrix.example.com:443)"
    )
    assert "never use _matrix-fed._tcp.example.com (which points to matrix.example.com:8448)" in findings[0]


def test_srv_and_a_well_known_file_that_agree_is_fine():
    agreeing = resolution("matrix.example.com:8448", targets=[("matrix.example.com", 8448)])
    assert well_known_findings(plan(), agreeing, state="present") == []


def test_a_well_known_file_makes_a_dot_target_useless():
    findings = well_known_findings(plan([{"host": "."}]), resolution(), state="present")
    assert "does NOT disable federation" in findings[0]


def test_an_unusable_well_known_file_that_is_served_is_a_warning():
    broken = resolution("https://matrix.example.com", error="m.server is not a valid server name", targets=())
    findings = well_known_findings(plan(), broken, state="present")
    assert findings == [
        "https://example.com/.well-known/matrix/server is served (HTTP 200) but homeservers cannot use it "
        "(m.server is not a valid server name), so they fall back to the SRV records; remove the file or fix it"
    ]


@pytest.mark.parametrize(
    "seen",
    [
        None,
        {"well_known": None},
        resolution(error="HTTP status 404", status=404, targets=()),
        resolution(None, error="connection refused", status=None),
    ],
)
def test_no_well_known_file_is_no_warning(seen):
    assert well_known_findings(plan(), seen, state="present") == []


def test_removing_srv_records_next_to_a_well_known_file_is_no_warning():
    absent = plan_records("example.com", None, ttl=60, legacy=False, state="absent")
    assert well_known_findings(absent, resolution(), state="absent") == []


# -- TSIG -----------------------------------------------------------------------------------------------
def test_a_tsig_secret_that_is_not_base64_is_refused_without_showing_it():
    with pytest.raises(SrvConfigError) as info:
        Tsig("update-key", "hmac-sha256", "not base64!").check()
    assert "tsig_secret of key 'update-key' is not valid base64" in str(info.value)
    assert "not base64!" not in str(info.value)


def test_the_tsig_secret_never_appears_in_repr():
    assert SECRET not in repr(Tsig("k", "hmac-sha256", SECRET))


def test_an_unknown_tsig_algorithm_is_refused():
    with pytest.raises(SrvConfigError, match="tsig_algorithm must be one of"):
        Tsig("k", "hmac-sha3", SECRET).check()


# -- Rfc2136Client, against a fake DNS server ---------------------------------------------------------------
class FakeDnsServer:
    """A TCP DNS server on 127.0.0.1 that answers each request with ``handler(request) -> response``.

    The handler gets the parsed request (TSIG verified with ``keyring``) and returns a
    dns.message.Message, raw bytes, or None to answer nothing (the client times out).
    """

    def __init__(self, handler, *, keyring=None):
        self.handler = handler
        self.keyring = keyring
        self.requests = []
        self.sock = bound_socket(socket.SOCK_STREAM, timeout=0.1)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = daemon(self.serve)

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(2)
                try:
                    (length,) = struct.unpack("!H", conn.recv(2))
                    wire = b""
                    while len(wire) < length:
                        wire += conn.recv(length - len(wire))
                    request = dns.message.from_wire(wire, keyring=self.keyring or False)
                    self.requests.append(request)
                    response = self.handler(request)
                    if response is None:
                        self.stop.wait(3)
                        continue
                    data = response if isinstance(response, bytes) else response.to_wire()
                    conn.sendall(struct.pack("!H", len(data)) + data)
                except OSError:
                    continue

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def dns_server(closing):
    """``dns_server(handler, secret=...)`` starts a FakeDnsServer (verifying TSIG with ``secret``,
    if given); every server is closed after the test."""

    def start(handler, *, secret=None):
        keyring = {dns.name.from_text("update-key."): dns.tsig.Key("update-key.", secret)} if secret else None
        return closing(FakeDnsServer(handler, keyring=keyring))

    return start


def port_for(server, *, secret=SECRET, timeout=2.0):
    tsig = Tsig("update-key", "hmac-sha256", secret) if secret else None
    return Rfc2136Client("127.0.0.1", server.port, timeout=timeout, tsig=tsig)


def authoritative(request, rcode=dns.rcode.NOERROR, *, answer=(), authority=()):
    response = dns.message.make_response(request)
    response.flags |= dns.flags.AA
    response.set_rcode(rcode)
    response.answer.extend(answer)
    response.authority.extend(authority)
    return response


def srv_rrset(name, *rdatas, ttl=3600):
    return dns.rrset.from_text(name + ".", ttl, "IN", "SRV", *rdatas)


SOA = dns.rrset.from_text(
    "example.com.", 300, "IN", "SOA", "ns.example.com. hostmaster.example.com. 1 3600 600 86400 300"
)


def test_the_zone_is_found_from_the_soa_of_the_authoritative_answer(dns_server):
    server = dns_server(lambda r: authoritative(r, dns.rcode.NXDOMAIN, authority=[SOA]), secret=SECRET)
    assert port_for(server).find_zone(FED) == "example.com"
    assert server.requests[0].had_tsig  # queries are signed too: a wrong secret shows in check mode


def test_reading_returns_the_srv_records_at_the_name(dns_server):
    def handler(request):
        return authoritative(request, answer=[srv_rrset(FED, "10 5 8448 matrix.example.com.", ttl=60)])

    server = dns_server(handler, secret=SECRET)
    assert port_for(server).read(FED, "example.com") == RecordSet(FED, 60, (MATRIX,))


def test_an_nxdomain_name_has_no_records(dns_server):
    server = dns_server(lambda r: authoritative(r, dns.rcode.NXDOMAIN, authority=[SOA]), secret=SECRET)
    assert port_for(server).read(FED, "example.com") == RecordSet(FED, None, ())


def test_a_non_authoritative_answer_is_refused(dns_server):
    server = dns_server(dns.message.make_response, secret=SECRET)
    with pytest.raises(SrvUpdateError, match=r"not authoritative \(no AA flag\): dns_server must be the primary"):
        port_for(server).read(FED, "example.com")


def test_a_cname_at_the_srv_name_is_an_error(dns_server):
    cname = dns.rrset.from_text(FED + ".", 60, "IN", "CNAME", "elsewhere.example.net.")
    server = dns_server(lambda r: authoritative(r, answer=[cname]), secret=SECRET)
    with pytest.raises(SrvUpdateError, match="is a CNAME; SRV records cannot be added beside it"):
        port_for(server).read(FED, "example.com")


def test_a_query_refused_says_the_server_does_not_serve_the_zone(dns_server):
    server = dns_server(lambda r: _rcode(r, dns.rcode.REFUSED))
    with pytest.raises(SrvUpdateError) as info:
        port_for(server, secret=None).find_zone(FED)
    assert str(info.value).startswith(f"DNS server 127.0.0.1:{server.port}: query {FED} SOA: REFUSED")
    assert info.value.rcode == "REFUSED"


def _rcode(request, rcode):
    response = dns.message.make_response(request)
    response.set_rcode(rcode)
    return response


CHANGE = [(RecordSet.make(FED, None, []), RecordSet.make(FED, 3600, [MATRIX]))]


def test_the_update_carries_the_read_records_as_prerequisites_and_replaces_the_set(dns_server):
    old = Record(20, 0, 443, "old.example.com")
    server = dns_server(authoritative, secret=SECRET)
    port_for(server).update(
        "example.com",
        [
            (RecordSet.make(FED, 60, [old]), RecordSet.make(FED, 3600, [MATRIX])),
            (RecordSet.make(LEGACY, None, []), RecordSet.make(LEGACY, None, [])),
        ],
    )
    (request,) = server.requests
    assert request.had_tsig
    text = request.to_text()
    assert "_matrix-fed._tcp.example.com. 0 IN SRV 20 0 443 old.example.com." in text  # value-dependent prerequisite
    assert "_matrix._tcp.example.com. NONE SRV" in text  # "RRset does not exist"
    assert "_matrix-fed._tcp.example.com. ANY SRV" in text  # delete the set ...
    assert "_matrix-fed._tcp.example.com. 3600 IN SRV 10 5 8448 matrix.example.com." in text  # ... and add


@pytest.mark.parametrize(
    ("rcode", "message"),
    [
        (dns.rcode.REFUSED, "REFUSED: the server does not allow this update"),
        (dns.rcode.SERVFAIL, "SERVFAIL: the server failed"),
        (dns.rcode.NOTZONE, "NOTZONE"),
        (
            dns.rcode.YXRRSET,
            "prerequisite failed (YXRRSET): the SRV records changed on the server after they were read",
        ),
        (dns.rcode.NXRRSET, "prerequisite failed (NXRRSET)"),
    ],
)
def test_a_failed_update_names_the_server_and_the_response_code_and_changes_nothing(rcode, message, dns_server):
    server = dns_server(lambda r: authoritative(r, rcode), secret=SECRET)
    with pytest.raises(SrvUpdateError) as info:
        port_for(server).update("example.com", CHANGE)
    text = str(info.value)
    assert text.startswith(f"DNS server 127.0.0.1:{server.port}: update of zone example.com: ")
    assert message in text
    assert "nothing was changed" in text
    assert info.value.rcode == dns.rcode.to_text(rcode)


def test_a_wrong_tsig_secret_is_notauth_badsig(dns_server):
    def handler(request):
        # The server cannot verify the request, and answers NOTAUTH with TSIG error BADSIG, unsigned.
        response = dns.message.make_response(request)
        response.set_rcode(dns.rcode.NOTAUTH)
        response.use_tsig(dns.tsig.Key("update-key.", SECRET), tsig_error=dns.rcode.BADSIG, original_id=request.id)
        return response

    server = dns_server(handler)  # does not verify what it receives
    with pytest.raises(SrvUpdateError) as info:
        port_for(server, secret=OTHER_SECRET).update("example.com", CHANGE)
    assert "NOTAUTH (TSIG error BADSIG)" in str(info.value)
    assert "tsig_secret (or tsig_algorithm) is wrong" in str(info.value)
    assert "nothing was changed" in str(info.value)
    assert (info.value.rcode, info.value.tsig_error) == ("NOTAUTH", "BADSIG")
    assert OTHER_SECRET not in str(info.value)


def test_an_unsigned_update_to_a_server_that_wants_a_key_suggests_tsig(dns_server):
    server = dns_server(lambda r: _rcode(r, dns.rcode.NOTAUTH))
    with pytest.raises(SrvUpdateError, match=r"NOTAUTH: .*requires a signed update \(set tsig_key_name"):
        port_for(server, secret=None).update("example.com", CHANGE)


def test_an_unsigned_error_answer_to_a_signed_request_still_reports_the_rcode(dns_server):
    server = dns_server(lambda r: _rcode(r, dns.rcode.NOTAUTH))  # answers without TSIG
    with pytest.raises(SrvUpdateError) as info:
        port_for(server).update("example.com", CHANGE)
    assert info.value.rcode == "NOTAUTH"
    assert "does not accept this key" in str(info.value)


def test_a_success_answer_signed_with_another_key_is_not_trusted(dns_server):
    def handler(request):
        response = dns.message.make_response(request)
        response.flags |= dns.flags.AA
        response.use_tsig(dns.tsig.Key("update-key.", OTHER_SECRET), original_id=request.id)
        return response

    server = dns_server(handler)
    with pytest.raises(SrvUpdateError, match="does not verify|BADSIG"):
        port_for(server).update("example.com", CHANGE)


def test_an_unreachable_server_times_out_after_timeout(dns_server):
    server = dns_server(lambda r: None, secret=SECRET)
    with pytest.raises(SrvUpdateError) as info:
        port_for(server, timeout=0.3).update("example.com", CHANGE)
    assert str(info.value) == (
        f"DNS server 127.0.0.1:{server.port}: update of zone example.com: no answer within 0.3s (timeout)"
    )


def test_a_closed_port_is_connection_refused():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with pytest.raises(SrvUpdateError, match=rf"127.0.0.1:{free}: query {FED} SOA: connection refused"):
        Rfc2136Client("127.0.0.1", free, timeout=1).find_zone(FED)


def test_an_answer_to_another_request_is_refused(dns_server):
    def handler(request):
        other = dns.message.make_query("example.org.", "SOA")
        return dns.message.make_response(other)

    server = dns_server(handler)
    with pytest.raises(SrvUpdateError, match="does not match the request"):
        port_for(server, secret=None).find_zone(FED)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": ""}, "dns_server is empty"),
        ({"port": 0}, "dns_port must be from 1 to 65535"),
        ({"timeout": 0}, "timeout must be a positive number"),
    ],
)
def test_bad_port_options_are_refused(kwargs, message):
    options = {"host": "127.0.0.1", "port": 53, "timeout": 1.0}
    options.update(kwargs)
    with pytest.raises(SrvConfigError, match=message):
        Rfc2136Client(**options)


def test_an_ipv6_server_is_labelled_with_brackets():
    assert Rfc2136Client("[::1]", 5353).server == "[::1]:5353"


def test_synchronise_end_to_end_through_the_port(dns_server):
    published = {}

    def handler(request):
        if request.opcode() == dns.opcode.UPDATE:
            for rrset in request.update:
                if rrset.rdclass == dns.rdataclass.IN:
                    published[rrset.name.to_text(omit_final_dot=True)] = rrset
            return authoritative(request)
        qname = request.question[0].name
        rdtype = request.question[0].rdtype
        if rdtype == dns.rdatatype.SOA:
            return authoritative(request, dns.rcode.NXDOMAIN, authority=[SOA])
        rrset = published.get(qname.to_text(omit_final_dot=True))
        if rrset is None:
            return authoritative(request, dns.rcode.NXDOMAIN, authority=[SOA])
        return authoritative(request, answer=[rrset])

    server = dns_server(handler, secret=SECRET)
    port = port_for(server)
    first = synchronise(plan(), port, zone=None, check_mode=False)
    second = synchronise(plan(), port, zone=None, check_mode=False)
    assert (first.changed, second.changed) == (True, False)
    assert sum(1 for r in server.requests if r.opcode() == dns.opcode.UPDATE) == 1


def test_plan_is_a_dataclass_with_names_and_targets():
    result = Plan(
        server_name="example.com", desired=[RecordSet.make(FED, 60, [MATRIX]), RecordSet.make(LEGACY, None, [])]
    )
    assert result.names == [FED, LEGACY]
    assert result.targets == [MATRIX]

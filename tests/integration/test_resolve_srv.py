"""SRV rules and DNS failures, against knot."""

from __future__ import annotations

from it_expect import Text, assert_result, no_srv, record, srv_query, target, well_known_failed
from it_world import WK_IP, ip, n


def test_srv_targets_in_ascending_priority(resolve):
    host = n("srv-priority")
    got = resolve(host)
    assert_result(
        got,
        {
            "method": "srv",
            "tls_server_name": host,
            "targets": [
                target("prio-a.it.test", 8461, ip(31)),
                target("prio-b.it.test", 8462, ip(32)),
                target("prio-c.it.test", 8463, ip(33)),
            ],
            "srv": [
                srv_query(
                    host,
                    record(10, 0, 8461, "prio-a.it.test"),
                    record(20, 0, 8462, "prio-b.it.test"),
                    record(30, 0, 8463, "prio-c.it.test"),
                )
            ],
        },
    )


def test_matrix_fed_records_mean_no_fallback_to_legacy_matrix(resolve):
    host = n("srv-fed-and-legacy")
    assert_result(
        resolve(host),
        {
            "method": "srv",
            "targets": [target("srv-host.it.test", 8464, ip(29))],
            "srv": [srv_query(host, record(10, 5, 8464, "srv-host.it.test"))],
            "warnings": [],
        },
    )


def test_matrix_fed_records_without_address_are_an_error_not_a_fallback(lookup_error):
    assert lookup_error(n("srv-fed-no-address"), code="no-address") == Text(n("srv-fed-no-address"), "address")


def test_srv_target_dot_means_service_disabled(lookup_error):
    assert lookup_error(n("srv-disabled"), code="srv-disabled") == Text(n("srv-disabled"), "disabled")


def test_srv_target_that_is_a_cname_is_a_warning(resolve):
    host = n("srv-cname")
    assert_result(
        resolve(host),
        {
            "method": "srv",
            "tls_server_name": host,
            "targets": [target("srv-alias.it.test", 8466, ip(34))],
            "srv": [srv_query(host, record(10, 5, 8466, "srv-alias.it.test"))],
            "warnings": [Text("srv-alias.it.test", "CNAME")],
        },
    )


def test_servfail_on_matrix_fed_srv_query_is_an_error_naming_query_and_rcode(lookup_error):
    assert lookup_error(n("srv-servfail"), code="dns-failure") == Text(
        "_matrix-fed._tcp.srv-servfail.it.test", "SERVFAIL"
    )


def test_servfail_on_legacy_srv_query_is_an_error_naming_query_and_rcode(lookup_error):
    assert lookup_error(n("srv-servfail-legacy"), code="dns-failure") == Text(
        "_matrix._tcp.srv-servfail-legacy.it.test", "SERVFAIL"
    )


def falls_through_to_default_port(resolve, label: str, **expected) -> None:
    """``label`` has no SRV records: the hostname itself on port 8448, no warnings."""
    host = n(label)
    assert_result(
        resolve(host),
        {
            "method": "default_port",
            "targets": [target(host, 8448, WK_IP)],
            "srv": no_srv(host),
            "warnings": [],
            **expected,
        },
    )


def test_nxdomain_on_srv_queries_falls_through_to_default_port(resolve):
    host = n("srv-nxdomain")
    falls_through_to_default_port(resolve, "srv-nxdomain", well_known=well_known_failed(host, Text("404"), status=404))


def test_nodata_on_srv_queries_falls_through_to_default_port(resolve):
    falls_through_to_default_port(resolve, "srv-nodata")


def test_no_address_at_all_is_an_error(lookup_error):
    assert lookup_error(n("nothing"), code="no-address") == Text(n("nothing"), "address")

"""The ten resolution methods (docs/architecture.md, "Resolution methods"), each through real DNS and real HTTPS."""

from __future__ import annotations

from it_expect import (
    Text,
    assert_result,
    delegated_by_well_known,
    fell_through_to_default_port,
    fell_through_to_srv,
    no_srv,
    not_delegated,
    record,
    srv_query,
    target,
    well_known_failed,
    well_known_ok,
)
from it_world import DELEGATED, WK_IP, ip


def test_ip_literal_ipv4_defaults_to_port_8448(resolve):
    name = ip(20)
    assert_result(
        resolve(name),
        {
            "server_name": name,
            "method": "ip_literal",
            "delegated_server": None,
            "host_header": name,
            "tls_server_name": name,
            "sni": None,
            "targets": [target(name, 8448, name)],
            "well_known": None,
            "srv": [],
            "warnings": [],
        },
    )


def test_ip_literal_ipv4_with_port_keeps_port_in_host_header(resolve):
    name = f"{ip(20)}:8449"
    assert_result(
        resolve(name),
        {
            "server_name": name,
            "method": "ip_literal",
            "host_header": name,
            "tls_server_name": ip(20),
            "sni": None,
            "targets": [target(ip(20), 8449, ip(20))],
            "well_known": None,
            "srv": [],
        },
    )


def test_ip_literal_ipv6_is_bracketed_in_host_header_and_bare_elsewhere(resolve):
    assert_result(
        resolve("[::1]"),
        {
            "server_name": "[::1]",
            "method": "ip_literal",
            "delegated_server": None,
            "host_header": "[::1]",
            "tls_server_name": "::1",
            "sni": None,
            "targets": [target("::1", 8448, "::1")],
            "well_known": None,
            "srv": [],
            "warnings": [],
        },
    )


def test_ip_literal_ipv6_with_port(resolve):
    assert_result(
        resolve("[::1]:8449"),
        {
            "server_name": "[::1]:8449",
            "method": "ip_literal",
            "host_header": "[::1]:8449",
            "tls_server_name": "::1",
            "sni": None,
            "targets": [target("::1", 8449, "::1")],
        },
    )


def test_explicit_port_uses_addresses_of_hostname_and_no_well_known_or_srv(resolve):
    assert_result(
        resolve("explicit.it.test:8449"),
        {
            "server_name": "explicit.it.test:8449",
            "method": "explicit_port",
            "delegated_server": None,
            "host_header": "explicit.it.test:8449",
            "tls_server_name": "explicit.it.test",
            "sni": "explicit.it.test",
            "targets": [target("explicit.it.test", 8449, ip(21))],
            "well_known": None,
            "srv": [],
            "warnings": [],
        },
    )


def test_well_known_ip_literal(resolve):
    m_server = f"{ip(22)}:8450"
    assert_result(
        resolve("wk-ip.it.test"),
        {
            "server_name": "wk-ip.it.test",
            "method": "well_known_ip_literal",
            "delegated_server": m_server,
            "host_header": m_server,
            "tls_server_name": ip(22),
            "sni": None,
            "targets": [target(ip(22), 8450, ip(22))],
            "well_known": well_known_ok("wk-ip.it.test", m_server),
            "srv": [],
            "warnings": [],
        },
    )


def test_well_known_ip_literal_ipv6_without_port_goes_to_8448(resolve):
    assert_result(
        resolve("wk-ip6.it.test"),
        {
            "method": "well_known_ip_literal",
            "delegated_server": "[::1]",
            "host_header": "[::1]",
            "tls_server_name": "::1",
            "sni": None,
            "targets": [target("::1", 8448, "::1")],
            "well_known": well_known_ok("wk-ip6.it.test", "[::1]"),
            "srv": [],
        },
    )


def test_well_known_explicit_port(resolve):
    assert_result(
        resolve("wk-port.it.test"),
        delegated_by_well_known("wk-port.it.test", well_known_ok("wk-port.it.test", DELEGATED)),
    )


def test_well_known_srv_certificate_name_is_delegated_server_not_srv_target(resolve):
    delegated = "wk-srv-target.it.test"
    assert_result(
        resolve("wk-srv.it.test"),
        {
            "server_name": "wk-srv.it.test",
            "method": "well_known_srv",
            "delegated_server": delegated,
            "host_header": delegated,
            "tls_server_name": delegated,
            "sni": delegated,
            "targets": [target("wk-srv-host.it.test", 8452, ip(24))],
            "well_known": well_known_ok("wk-srv.it.test", delegated),
            "srv": [srv_query(delegated, record(10, 5, 8452, "wk-srv-host.it.test"))],
            "warnings": [],
        },
    )


def test_well_known_srv_legacy_is_used_with_a_deprecation_warning(resolve):
    delegated = "wk-legacy-target.it.test"
    assert_result(
        resolve("wk-legacy.it.test"),
        {
            "server_name": "wk-legacy.it.test",
            "method": "well_known_srv_legacy",
            "delegated_server": delegated,
            "host_header": delegated,
            "tls_server_name": delegated,
            "sni": delegated,
            "targets": [target("wk-legacy-host.it.test", 8453, ip(26))],
            "well_known": well_known_ok("wk-legacy.it.test", delegated),
            "srv": [
                srv_query(delegated),
                srv_query(delegated, record(10, 5, 8453, "wk-legacy-host.it.test"), legacy=True),
            ],
            "warnings": [Text("_matrix._tcp", "deprecated")],
        },
    )


def test_well_known_default_port(resolve):
    delegated = "wk-default-target.it.test"
    assert_result(
        resolve("wk-default.it.test"),
        {
            "server_name": "wk-default.it.test",
            "method": "well_known_default_port",
            "delegated_server": delegated,
            "host_header": delegated,
            "tls_server_name": delegated,
            "sni": delegated,
            "targets": [target(delegated, 8448, ip(28))],
            "well_known": well_known_ok("wk-default.it.test", delegated),
            "srv": no_srv(delegated),
            "warnings": [],
        },
    )


def test_srv_after_failed_well_known_certificate_name_is_hostname(resolve):
    host = "srv.it.test"
    assert_result(
        resolve(host),
        fell_through_to_srv(host, well_known_failed(host, Text("404"), status=404), "srv-host.it.test", 8454, ip(29)),
    )


def test_srv_legacy_is_used_with_a_deprecation_warning(resolve):
    host = "srv-legacy.it.test"
    assert_result(
        resolve(host),
        not_delegated(
            host,
            "srv_legacy",
            [target("srv-legacy-host.it.test", 8455, ip(30))],
            well_known_failed(host, Text("404"), status=404),
            [srv_query(host), srv_query(host, record(10, 5, 8455, "srv-legacy-host.it.test"), legacy=True)],
            warnings=[Text("_matrix._tcp", "deprecated")],
        ),
    )


def test_default_port_when_nothing_else(resolve):
    host = "default.it.test"
    assert_result(
        resolve(host), fell_through_to_default_port(host, WK_IP, well_known_failed(host, Text("404"), status=404))
    )

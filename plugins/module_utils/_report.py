# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Machine-readable federation reports, pure functions of ``federation_check`` results (issue #19).

:func:`build_report` turns what ``federation_check`` returned on each vantage host into one JSON
report (``REPORT_VERSION``); :func:`junit_xml` and :func:`prometheus_text` render that report as
JUnit XML (one test case per server name and vantage point) and in the Prometheus
textfile-collector format. Nothing here reads a clock, a file or the network: ``now`` is given.

What a vantage host's result may be (``build_report`` accepts each):

* the ``federation_check`` result of ``server_names`` (``results``: one entry per name);
* a single-name result (it has ``server_name``);
* a registered loop over single-name results (``results``, each entry a single-name result);
* a list of single-name results;
* a task that failed without results (``failed`` and ``msg``) or a host that was unreachable:
  the vantage point then has an ``error`` and no names.
"""

from __future__ import annotations

import datetime as _dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._check_policy import days_left, expiry_problem, is_no_route, on_platform, parse_time
from ._check_policy import family_of as family
from ._check_policy import parse_networks as _parse_networks

REPORT_VERSION = 1
METRIC_PREFIX = "matrix_federation"

__all__ = [
    "REPORT_SCHEMA",
    "REPORT_VERSION",
    "Policy",
    "ReportError",
    "build_report",
    "is_no_route",
    "junit_xml",
    "parse_networks",
    "prometheus_text",
]


class ReportError(ValueError):
    """The input is not federation_check results (or not a report)."""


def parse_networks(values: Any) -> list:
    """``["192.0.2.0/24", "2001:db8::7"]`` → networks; ReportError names a value that is neither."""
    try:
        return _parse_networks(values)
    except ValueError as exc:
        raise ReportError(str(exc)) from exc


# -- what the report judges on top of the module's results ---------------------------------------------
@dataclass(frozen=True)
class Policy:
    """What the report judges beyond the module: certificate expiry and "still on our platform".

    ``expiry_days``: a certificate with fewer whole days left is *expiring* (a warning, or an error
    that fails the name with ``expiry_error``); None: no threshold. ``networks``: when given, every
    resolved address must be inside one of them, else the name fails (``off-platform``).
    """

    expiry_days: int | None = None
    expiry_error: bool = False
    networks: list = field(default_factory=list)


# -- the JSON report --------------------------------------------------------------------------------
def _timestamp(seconds: float) -> str:
    return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _name_results(value: Any) -> tuple[list[Mapping], str | None]:
    """The per-name results of one vantage host, and its error when it has none."""
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)], None
    if not isinstance(value, Mapping):
        raise ReportError(f"expected a federation_check result (a dict) or a list of them, got {type(value).__name__}")
    if isinstance(value.get("results"), list):
        return [item for item in value["results"] if isinstance(item, Mapping)], None
    if value.get("server_name") is not None:
        return [dict(value)], None
    if value.get("unreachable"):
        return [], f"host unreachable: {value.get('msg') or 'no message'}"
    if value.get("skipped"):
        return [], "the check was skipped on this host"
    if value.get("failed") or value.get("msg"):
        return [], str(value.get("msg") or "the check failed without a message")
    raise ReportError(
        "expected a federation_check result: one with 'results' (server_names), one with 'server_name', "
        f"or a failed task; got the keys {sorted(value)}"
    )


def _address_entry(connection: Mapping, now: float) -> dict:
    tls = connection.get("tls") if isinstance(connection.get("tls"), Mapping) else None
    certificate = tls.get("certificate") if tls and isinstance(tls.get("certificate"), Mapping) else None
    not_after = certificate.get("not_after") if certificate else None
    entry = {
        "address": connection.get("address"),
        "port": connection.get("port"),
        "family": family(connection.get("address")),
        "ok": bool(connection.get("ok")),
        "state": connection.get("state")
        or ("ok" if connection.get("ok") else "no-route" if is_no_route(connection.get("error")) else "error"),
        "error": connection.get("error"),
        "tls_version": tls.get("version") if tls else None,
        "certificate_not_after": not_after,
        "certificate_days_left": days_left(not_after, now),
    }
    for key in ("warnings", "expiring"):
        if key in connection:
            entry[key] = connection[key]
    return entry


def _families(addresses: list[dict]) -> dict:
    families: dict[str, dict] = {}
    for entry in addresses:
        summary = families.setdefault(entry["family"], {"ok": True, "addresses": 0, "failed": 0, "no_route": 0})
        summary["addresses"] += 1
        if entry["state"] == "no-route":
            summary["no_route"] += 1
        elif not entry["ok"]:
            summary["ok"] = False
            summary["failed"] += 1
    return families


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return round(float(value), 3)


def _judge(entry: dict, codes: list[str], policy: Policy, well_known_no_route: bool, stated: bool) -> None:
    """Expiry and platform problems into ``entry``; then its ``state`` and ``ok``.

    ``well_known_no_route``: the well-known file could not be fetched for want of a route, so the
    resolution fell back (spec step 4 onwards) and a target other than the expected one says
    nothing about the delegation. ``stated``: the module gave each connection its ``state`` (0.2
    on), and it alone knows whether this host had a route: an error whose text reads "Network is
    unreachable" is then a failure (a router on the way said it), and only the code ``no-route``
    says "no route from here". Results without states are judged by the error text.
    """
    errors, warnings = entry["errors"], entry["warnings"]
    if policy.expiry_days is not None:
        for address in entry["addresses"]:
            days = address["certificate_days_left"]
            address["expiring"] = days is not None and days < policy.expiry_days
            if days is not None and address["expiring"]:
                message = expiry_problem(
                    _endpoint(address), days, address["certificate_not_after"], f"{policy.expiry_days} days"
                )
                if policy.expiry_error:
                    errors.append(message)
                    codes.append("certificate-expiring")
                else:
                    warnings.append(message)
    if policy.networks:
        shown = ", ".join(str(network) for network in policy.networks)
        for target in entry["targets"]:
            for address in target["addresses"]:
                if not on_platform(address, policy.networks):
                    errors.append(
                        f"{address} (target {target['host']}:{target['port']}) is not on the platform ({shown}): "
                        "the name is served elsewhere, or the platform networks need this address"
                    )
                    codes.append("off-platform")
        for address in entry["addresses"]:
            address["on_platform"] = on_platform(address["address"], policy.networks)
    # Lines that only say "no route from here" (a connection's, or the well-known fetch's) are not
    # known problems of the server.
    # (federation_check 0.2 reports these itself: connection state no-route, and the no-route code)
    said = [code == "no-route" or (not stated and is_no_route(error)) for error, code in zip(errors, codes)]
    no_route = [error for error, no_route_error in zip(errors, said) if no_route_error]
    consequences = {"no-address"} | ({"delegation-elsewhere"} if well_known_no_route else set())
    rest = [code for code, no_route_error in zip(codes, said) if not no_route_error]
    unreached = [a for a in entry["addresses"] if a["state"] == "no-route"]
    reached = [a for a in entry["addresses"] if a["state"] != "no-route"]
    if not no_route and not well_known_no_route:
        entry["state"] = "ok" if entry["module_ok"] and not rest else "failed"
    elif any(code not in consequences for code in rest):
        entry["state"] = "failed"  # a problem of its own besides what this host cannot reach
    elif well_known_no_route or not reached:
        entry["state"] = "no-route"  # not known to be broken: it could not be checked from here
    else:
        entry["state"] = "ok" if all(a["ok"] for a in reached) else "failed"
    entry["ok"] = entry["state"] == "ok"
    if unreached:
        families = "/".join(sorted({a["family"].replace("ipv", "IPv") for a in unreached}))
        warnings.append(f"no {families} route from this vantage point: {len(unreached)} address(es) not checked")
    if well_known_no_route:
        warnings.append(
            "no route from this vantage point to the server name's well-known file: "
            "the resolution fell back to the next step, so its targets say nothing about the delegation"
        )


def _endpoint(address: Mapping) -> str:
    host = address["address"]
    return f"[{host}]:{address['port']}" if ":" in str(host) else f"{host}:{address['port']}"


def _targets(value: Any) -> list[dict]:
    """The ``targets`` of a resolution (or of an implementation's view): host, port, addresses."""
    return [
        {"host": t.get("host"), "port": t.get("port"), "addresses": list(t.get("addresses") or [])}
        for t in value or []
        if isinstance(t, Mapping)
    ]


def name_entry(result: Mapping, now: float, policy: Policy | None = None) -> dict:
    """One server name's part of the report, from its federation_check result."""
    resolution: Mapping = result["resolution"] if isinstance(result.get("resolution"), Mapping) else {}
    connections: list = result["connections"] if isinstance(result.get("connections"), list) else []
    addresses = [_address_entry(c, now) for c in connections if isinstance(c, Mapping)]
    days = [a["certificate_days_left"] for a in addresses if a["certificate_days_left"] is not None]
    warnings = result.get("warnings")
    if not isinstance(warnings, list):
        warnings = list(resolution.get("warnings") or [])
    errors = [str(e) for e in result.get("errors") or []]
    if not errors and result.get("error"):
        errors = [str(result["error"])]
    codes = [str(c) for c in result.get("error_codes") or []]
    codes += ["unknown"] * (len(errors) - len(codes))
    entry = {
        "server_name": str(result.get("server_name")),
        "ok": bool(result.get("ok")),
        "state": "ok",
        "module_ok": bool(result.get("ok")),
        "method": resolution.get("method"),
        "delegated_server": resolution.get("delegated_server"),
        "expected_target": result.get("expected_target"),
        "targets": _targets(resolution.get("targets")),
        "addresses": addresses,
        "families": _families(addresses),
        "errors": errors,
        "error_codes": codes,
        "warnings": [str(w) for w in warnings],
        "certificate_days_left": min(days) if days else None,
        "seconds": _seconds(result.get("seconds")),
    }
    well_known: Mapping = resolution["well_known"] if isinstance(resolution.get("well_known"), Mapping) else {}
    stated = any(isinstance(c, Mapping) and c.get("state") for c in connections)
    _judge(entry, codes, policy or Policy(), is_no_route(well_known.get("error")), stated)
    if isinstance(result.get("implementations"), Mapping):  # federation_check's implementations option
        entry["implementations"] = {
            str(name): _implementation_entry(view)
            for name, view in result["implementations"].items()
            if isinstance(view, Mapping)
        }
        entry["divergent"] = [
            _divergent_entry(item) for item in result.get("divergent") or [] if isinstance(item, Mapping)
        ]
    return entry


def _optional_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _implementation_entry(view: Mapping) -> dict:
    """One implementation's view of a name (federation_check ``implementations``), as the report keeps it."""
    checks = [check for check in view.get("checks") or [] if isinstance(check, Mapping)]
    return {
        "versions": view.get("versions"),
        "method": view.get("method"),
        "targets": _targets(view.get("targets")),
        "host_header": view.get("host_header"),
        "sni": view.get("sni"),
        "error": view.get("error"),
        "code": view.get("code"),
        "connections_ok": _optional_bool(view.get("connections_ok")),
        "checks": [
            {
                "address": check.get("address"),
                "port": check.get("port"),
                "family": family(check.get("address")),
                "ok": bool(check.get("ok")),
                "state": check.get("state") or ("ok" if check.get("ok") else "error"),
                "error": check.get("error"),
                "shared_with_spec": bool(check.get("shared_with_spec")),
            }
            for check in checks
        ],
        "differs_from_spec": [
            {"rule": d.get("rule"), "reason": d.get("reason"), "versions": d.get("versions")}
            for d in view.get("differs_from_spec") or []
            if isinstance(d, Mapping)
        ],
        "notice_seconds": view.get("notice_seconds"),
        "notice_basis": [str(line) for line in view.get("notice_basis") or []],
        "unobserved": [str(line) for line in view.get("unobserved") or []],
        "caveats": [str(line) for line in view.get("caveats") or []],
    }


def _divergent_entry(item: Mapping) -> dict:
    keys = ("implementation", "versions", "spec_ok", "implementation_ok", "rule", "reason", "fix")
    return {key: item.get(key) for key in keys}


def build_report(checks: Any, *, now: float, policy: Policy | None = None) -> dict:
    """The JSON report of ``checks`` (vantage host → what federation_check returned there).

    ``checks`` may also be one result (of any form above): its vantage point is then ``localhost``.
    ``policy`` adds the certificate-expiry and platform judgements (:class:`Policy`).
    """
    if not isinstance(checks, Mapping) or _looks_like_result(checks):
        checks = {"localhost": checks}
    vantage_points: dict[str, dict] = {}
    for vantage in sorted(checks, key=str):
        results, error = _name_results(checks[vantage])
        names: dict[str, dict] = {}
        for result in results:
            entry = name_entry(result, now, policy)
            names[entry["server_name"]] = entry
        failed = sorted(n for n, entry in names.items() if entry["state"] == "failed")
        vantage_points[str(vantage)] = {
            "ok": error is None and not failed,
            "error": error,
            "checked": len(names),
            "failed_names": failed,
            "no_route_names": sorted(n for n, entry in names.items() if entry["state"] == "no-route"),
            "names": names,
        }
    return {
        "version": REPORT_VERSION,
        "generated": _timestamp(now),
        "ok": bool(vantage_points) and all(point["ok"] for point in vantage_points.values()),
        "failed_names": sorted({n for point in vantage_points.values() for n in point["failed_names"]}),
        "no_route_names": sorted({n for point in vantage_points.values() for n in point["no_route_names"]}),
        "failed_vantage_points": sorted(v for v, point in vantage_points.items() if point["error"]),
        "vantage_points": vantage_points,
    }


def _looks_like_result(value: Mapping) -> bool:
    return any(key in value for key in ("results", "server_name", "failed", "unreachable", "skipped", "connections"))


def _require_report(report: Any) -> Mapping:
    """``report`` if it has the shape the renderers read; ReportError says what was expected and found."""
    if not isinstance(report, Mapping) or not isinstance(report.get("vantage_points"), Mapping):
        found = type(report).__name__
        if isinstance(report, Mapping):
            found = f"a dict whose 'vantage_points' is {type(report.get('vantage_points')).__name__}"
        raise ReportError(f"expected the report of federation_report (a dict with 'vantage_points'), got {found}")
    for vantage, point in report["vantage_points"].items():
        if not isinstance(point, Mapping):
            raise ReportError(
                f"expected vantage point {vantage!r} of the report to be a dict (with 'ok', 'error' and 'names'), "
                f"got {type(point).__name__}"
            )
        names = point.get("names")
        if names is None:
            continue
        if not isinstance(names, Mapping):
            raise ReportError(
                f"expected the 'names' of vantage point {vantage!r} to be a dict (server name -> its entry), "
                f"got {type(names).__name__}"
            )
        for server_name, entry in names.items():
            if not isinstance(entry, Mapping):
                raise ReportError(
                    f"expected the entry of {server_name!r} at vantage point {vantage!r} to be a dict, "
                    f"got {type(entry).__name__}"
                )
    return report


# -- JUnit XML ------------------------------------------------------------------------------------------
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(value: Any) -> str:
    """Text XML 1.0 can carry: control characters (a hostile server's bytes) become ``\\xNN``."""
    return _XML_INVALID.sub(lambda match: f"\\x{ord(match.group()):02x}", str(value))


def junit_xml(report: Any) -> str:
    """JUnit XML: one ``testsuite`` per vantage point, one ``testcase`` per server name; a failing
    name has a ``failure`` whose message is its first error (the text: every error)."""
    report = _require_report(report)
    suites = ET.Element("testsuites", {"name": "matrix federation"})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for vantage, point in report["vantage_points"].items():
        names = point.get("names") or {}
        suite = ET.SubElement(
            suites, "testsuite", {"name": _xml(f"federation from {vantage}"), "hostname": _xml(vantage)}
        )
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        suite_time = 0.0
        if point.get("error"):
            case = ET.SubElement(
                suite, "testcase", {"classname": _xml(f"federation.{vantage}"), "name": "(vantage point)"}
            )
            ET.SubElement(case, "error", {"message": _xml(point["error"])}).text = _xml(point["error"])
            counts["tests"] += 1
            counts["errors"] += 1
        for server_name, entry in names.items():
            seconds = entry.get("seconds") or 0.0
            suite_time += seconds
            case = ET.SubElement(
                suite,
                "testcase",
                {"classname": _xml(f"federation.{vantage}"), "name": _xml(server_name), "time": f"{seconds:.3f}"},
            )
            counts["tests"] += 1
            if entry.get("state") == "no-route":
                reason = next((w for w in entry.get("warnings") or [] if str(w).startswith("no ")), "no route")
                ET.SubElement(case, "skipped", {"message": _xml(reason)})
                counts["skipped"] += 1
            elif not entry.get("ok"):
                errors = entry.get("errors") or ["not ok (no error given)"]
                failure = ET.SubElement(case, "failure", {"message": _xml(errors[0]), "type": _xml(_first_code(entry))})
                failure.text = _xml("\n".join(str(e) for e in errors))
                counts["failures"] += 1
            if entry.get("warnings"):
                ET.SubElement(case, "system-out").text = _xml("\n".join(f"warning: {w}" for w in entry["warnings"]))
        suite.set("tests", str(counts["tests"]))
        suite.set("failures", str(counts["failures"]))
        suite.set("errors", str(counts["errors"]))
        suite.set("skipped", str(counts["skipped"]))
        suite.set("time", f"{suite_time:.3f}")
        for key, value in counts.items():
            totals[key] += value
    for key, value in totals.items():
        suites.set(key, str(value))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _first_code(entry: Mapping) -> str:
    codes = entry.get("error_codes") or []
    return str(codes[0]) if codes else "federation"


# -- Prometheus textfile format ---------------------------------------------------------------------------
def _label_value(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: Any) -> str:
    return "{" + ",".join(f'{key}="{_label_value(value)}"' for key, value in labels.items()) + "}"


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


METRICS = (
    ("ok", "1 when the server name federates from this vantage point, else 0 (method: its resolution method)"),
    ("certificate_days_left", "Whole days until the soonest-expiring certificate of the server name's targets"),
    ("check_seconds", "Seconds the check of the server name took"),
    ("errors", "Number of problems found for the server name"),
    ("no_route", "1 when this vantage point has no route to the name's addresses of this family"),
    ("vantage_ok", "1 when the check ran on this vantage point and every name federated, else 0"),
    ("last_run_timestamp_seconds", "When the report was made (Unix time)"),
)


def prometheus_text(report: Any) -> str:
    """The Prometheus text exposition format (node_exporter's textfile collector reads it).

    Metrics (all gauges, prefix ``matrix_federation_``): ``ok{server_name,vantage,method}`` (none
    for a name that had no route from the vantage point), ``no_route{server_name,vantage,family}``,
    ``certificate_days_left{server_name,vantage}``, ``check_seconds{server_name,vantage}``,
    ``errors{server_name,vantage}``, ``vantage_ok{vantage}`` and ``last_run_timestamp_seconds``.
    """
    report = _require_report(report)
    samples: dict[str, list[str]] = {metric: [] for metric, _help in METRICS}
    for vantage, point in report["vantage_points"].items():
        samples["vantage_ok"].append(f"{_labels(vantage=vantage)} {_number(bool(point.get('ok')))}")
        for server_name, entry in (point.get("names") or {}).items():
            labels = {"server_name": server_name, "vantage": vantage}
            method = entry.get("method") or "none"
            if entry.get("state") != "no-route":  # unknown from here: no ok sample rather than a false 0
                samples["ok"].append(f"{_labels(**labels, method=method)} {_number(bool(entry.get('ok')))}")
            for name_family, summary in sorted((entry.get("families") or {}).items()):
                if summary.get("no_route"):
                    samples["no_route"].append(f"{_labels(**labels, family=name_family)} 1")
            if entry.get("certificate_days_left") is not None:
                samples["certificate_days_left"].append(
                    f"{_labels(**labels)} {_number(entry['certificate_days_left'])}"
                )
            if entry.get("seconds") is not None:
                samples["check_seconds"].append(f"{_labels(**labels)} {_number(entry['seconds'])}")
            samples["errors"].append(f"{_labels(**labels)} {_number(len(entry.get('errors') or []))}")
    generated = parse_time(report.get("generated"))
    if generated is not None:
        samples["last_run_timestamp_seconds"].append(f" {_number(generated)}")
    lines: list[str] = []
    for metric, help_text in METRICS:
        if not samples[metric]:
            continue
        full = f"{METRIC_PREFIX}_{metric}"
        lines += [f"# HELP {full} {help_text}", f"# TYPE {full} gauge"]
        lines += [f"{full}{sample}" for sample in samples[metric]]
    return "\n".join(lines) + "\n"


# -- the report's JSON schema (docs/monitoring.md; the tests validate reports against it) ------------------
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}
_ADDRESS_SCHEMA = {
    "type": "object",
    "required": [
        "address",
        "port",
        "family",
        "ok",
        "state",
        "error",
        "tls_version",
        "certificate_not_after",
        "certificate_days_left",
    ],
    "properties": {
        "address": {"type": "string"},
        "port": {"type": "integer"},
        "family": {"enum": ["ipv4", "ipv6"]},
        "ok": {"type": "boolean"},
        "state": {"type": "string"},
        "error": _NULLABLE_STR,
        "tls_version": _NULLABLE_STR,
        "certificate_not_after": _NULLABLE_STR,
        "certificate_days_left": _NULLABLE_INT,
        "expiring": {"type": "boolean"},
        "on_platform": {"type": "boolean"},
    },
}
_NULLABLE_BOOL = {"type": ["boolean", "null"]}


def _objects(properties: dict) -> dict:
    """The schema of an array of objects that have every one of ``properties``."""
    return {"type": "array", "items": {"type": "object", "required": list(properties), "properties": properties}}


_TARGETS_SCHEMA = _objects(
    {
        "host": {"type": "string"},
        "port": {"type": "integer"},
        "addresses": {"type": "array", "items": {"type": "string"}},
    }
)
_STRINGS = {"type": "array", "items": {"type": "string"}}
# federation_check's implementations option: per implementation profile, its view of the name.
_IMPLEMENTATION_SCHEMA = {
    "type": "object",
    "required": [
        "versions",
        "method",
        "targets",
        "host_header",
        "sni",
        "error",
        "code",
        "connections_ok",
        "checks",
        "differs_from_spec",
        "notice_seconds",
        "notice_basis",
        "unobserved",
        "caveats",
    ],
    "properties": {
        "versions": {"type": "string"},
        "method": _NULLABLE_STR,
        "targets": _TARGETS_SCHEMA,
        "host_header": _NULLABLE_STR,
        "sni": _NULLABLE_STR,
        "error": _NULLABLE_STR,
        "code": _NULLABLE_STR,
        "connections_ok": _NULLABLE_BOOL,
        "checks": _objects(
            {
                "address": {"type": "string"},
                "port": {"type": "integer"},
                "family": {"enum": ["ipv4", "ipv6"]},
                "ok": {"type": "boolean"},
                "state": {"enum": ["ok", "error", "no-route"]},
                "error": _NULLABLE_STR,
                "shared_with_spec": {"type": "boolean"},
            }
        ),
        "differs_from_spec": _objects(
            {"rule": {"type": "string"}, "reason": {"type": "string"}, "versions": {"type": "string"}}
        ),
        "notice_seconds": _NULLABLE_INT,
        "notice_basis": _STRINGS,
        "unobserved": _STRINGS,
        "caveats": _STRINGS,
    },
}
_DIVERGENT_SCHEMA = {
    "type": "object",
    "required": ["implementation", "versions", "spec_ok", "implementation_ok", "rule", "reason", "fix"],
    "properties": {
        "implementation": {"type": "string"},
        "versions": {"type": "string"},
        "spec_ok": {"type": "boolean"},
        "implementation_ok": {"type": "boolean"},
        "rule": {"type": "string"},
        "reason": {"type": "string"},
        "fix": {"type": "string"},
    },
}
_NAME_SCHEMA = {
    "type": "object",
    "required": [
        "server_name",
        "ok",
        "state",
        "module_ok",
        "method",
        "targets",
        "addresses",
        "families",
        "errors",
        "error_codes",
        "warnings",
        "certificate_days_left",
        "seconds",
    ],
    "properties": {
        "server_name": {"type": "string"},
        "ok": {"type": "boolean"},
        "state": {"enum": ["ok", "failed", "no-route"]},
        "module_ok": {"type": "boolean"},
        "method": _NULLABLE_STR,
        "delegated_server": _NULLABLE_STR,
        "expected_target": _NULLABLE_STR,
        "targets": _TARGETS_SCHEMA,
        "addresses": {"type": "array", "items": _ADDRESS_SCHEMA},
        "families": {
            "type": "object",
            "propertyNames": {"enum": ["ipv4", "ipv6"]},
            "additionalProperties": {
                "type": "object",
                "required": ["ok", "addresses", "failed", "no_route"],
                "properties": {
                    "ok": {"type": "boolean"},
                    "addresses": {"type": "integer"},
                    "failed": {"type": "integer"},
                    "no_route": {"type": "integer"},
                },
            },
        },
        "errors": {"type": "array", "items": {"type": "string"}},
        "error_codes": {"type": "array", "items": {"type": "string"}},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "certificate_days_left": _NULLABLE_INT,
        "seconds": {"type": ["number", "null"]},
        "implementations": {"type": "object", "additionalProperties": _IMPLEMENTATION_SCHEMA},
        "divergent": {"type": "array", "items": _DIVERGENT_SCHEMA},
    },
}
REPORT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "matrixops.delegation federation report",
    "type": "object",
    "required": [
        "version",
        "generated",
        "ok",
        "failed_names",
        "no_route_names",
        "failed_vantage_points",
        "vantage_points",
    ],
    "properties": {
        "version": {"const": REPORT_VERSION},
        "generated": {"type": "string"},
        "ok": {"type": "boolean"},
        "failed_names": {"type": "array", "items": {"type": "string"}},
        "no_route_names": {"type": "array", "items": {"type": "string"}},
        "failed_vantage_points": {"type": "array", "items": {"type": "string"}},
        "vantage_points": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["ok", "error", "checked", "failed_names", "no_route_names", "names"],
                "properties": {
                    "ok": {"type": "boolean"},
                    "error": _NULLABLE_STR,
                    "checked": {"type": "integer"},
                    "failed_names": {"type": "array", "items": {"type": "string"}},
                    "no_route_names": {"type": "array", "items": {"type": "string"}},
                    "names": {"type": "object", "additionalProperties": _NAME_SCHEMA},
                },
            },
        },
    },
}

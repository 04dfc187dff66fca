# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Matrix SRV records: validation, zone-file rendering, the update plan and the checks.

Private module: not part of the collection's public API. Used by the ``srv_record`` module
(and through it by the ``srv_records`` role).

Functional core, thin shells:

* ``plan_records`` validates the user's input and computes the wanted record sets (pure);
* ``synchronise`` compares them with what the primary server publishes and applies the
  difference through an injected port (``_rfc2136.Rfc2136Client``, a fake in the unit tests): every
  managed name in ONE update message whose prerequisites are the records just read, so the
  server applies all of it or nothing (RFC 2136, section 3.2 and 3.4);
* ``target_findings`` and ``well_known_findings`` turn DNS answers and a resolution into the
  warnings the Matrix specification calls for (CNAME targets, a well-known file that overrides
  the SRV records).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

from ._dns import HAS_DNSPYTHON
from ._server_name import ServerNameError, parse_host, parse_server_name

if HAS_DNSPYTHON:
    import dns.name

__all__ = [
    "FED_SERVICE",
    "LEGACY_MODES",
    "LEGACY_SERVICE",
    "Plan",
    "Record",
    "RecordSet",
    "UpdatePort",
    "absolute_name",
    "legacy_mode",
    "SrvConfigError",
    "SrvUpdateError",
    "SyncResult",
    "plan_records",
    "render_zonefile",
    "synchronise",
    "target_findings",
    "well_known_findings",
]

FED_SERVICE = "_matrix-fed._tcp"
LEGACY_SERVICE = "_matrix._tcp"
DEFAULT_PORT = 8448
DEFAULT_PRIORITY = 10
DEFAULT_WEIGHT = 5
MAX_TTL = 2147483647  # RFC 2181, section 8
# What happens at the deprecated _matrix._tcp name: the same records as _matrix-fed._tcp (homeservers
# before Matrix 1.8 read only that name), left untouched, or no records. 0.1.0's booleans: True is
# "publish", False "absent".
LEGACY_MODES = ("publish", "keep", "absent")


class SrvConfigError(ValueError):
    """The input is unusable; raised before anything is sent."""


class SrvUpdateError(Exception):
    """A DNS exchange with the primary server failed. The message names the server and the reason."""

    def __init__(self, server: str, message: str, *, rcode: str | None = None, tsig_error: str | None = None) -> None:
        super().__init__(f"DNS server {server}: {message}")
        self.server = server
        self.rcode = rcode
        self.tsig_error = tsig_error


# -- records ---------------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Record:
    """One SRV record. ``target`` is an A-label host name without the trailing dot, or ``.``."""

    priority: int
    weight: int
    port: int
    target: str

    def to_dict(self) -> dict:
        return {"priority": self.priority, "weight": self.weight, "port": self.port, "target": self.target}

    def rdata_text(self) -> str:
        target = "." if self.target == "." else self.target + "."
        return f"{self.priority} {self.weight} {self.port} {target}"

    def key(self) -> tuple:
        """Identity as DNS compares it (names are case-insensitive)."""
        return (self.priority, self.weight, self.port, self.target.lower())


@dataclass(frozen=True)
class RecordSet:
    """The SRV records at one name. ``ttl`` is None when there are none."""

    name: str  # without the trailing dot
    ttl: int | None
    records: tuple[Record, ...] = ()

    @classmethod
    def make(cls, name: str, ttl: int | None, records) -> RecordSet:
        unique = {record.key(): record for record in records}
        ordered = tuple(sorted(unique.values(), key=Record.key))
        return cls(name=name, ttl=ttl if ordered else None, records=ordered)

    def same_as(self, other: RecordSet) -> bool:
        """Equal records and, when there are records, equal TTL."""
        mine = sorted(record.key() for record in self.records)
        theirs = sorted(record.key() for record in other.records)
        return mine == theirs and (not mine or self.ttl == other.ttl)

    def to_dict(self) -> dict:
        return {"ttl": self.ttl, "records": [record.to_dict() for record in self.records]}

    def zone_lines(self) -> list[str]:
        return [f"{self.name}. {self.ttl} IN SRV {record.rdata_text()}" for record in self.records]


@dataclass
class Plan:
    """What the user wants: the normalised server name and the record set of every managed name."""

    server_name: str
    desired: list[RecordSet]
    warnings: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [record_set.name for record_set in self.desired]

    @property
    def targets(self) -> list[Record]:
        """The wanted records of ``_matrix-fed._tcp`` (a published legacy name gets the same ones)."""
        return list(self.desired[0].records)


def _int_field(target: dict, key: str, default: int, low: int, high: int, where: str) -> int:
    value = target.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        text = str(value).strip()
        if not (text.isascii() and text.isdigit()):
            raise SrvConfigError(f"{where}: {key} must be a whole number from {low} to {high}, got {value!r}")
        value = int(text)
    if not low <= value <= high:
        raise SrvConfigError(f"{where}: {key} must be from {low} to {high}, got {value}")
    return value


def _refuse_port(bare: str, value: object, where: str) -> None:
    """A target written ``host:port`` is refused with the port it meant (a bare IPv6 is no such case)."""
    host, sep, port = bare.rpartition(":")
    if sep and not bare.startswith("[") and port.isdigit() and ":" not in host:
        raise SrvConfigError(
            f"{where}: host '{value}' contains a port; give the host name alone and the port as port: {port}"
        )


def _target_host(value: object, where: str, warnings: list[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SrvConfigError(f"{where}: host is required (the name of the host that serves federation, or '.')")
    text = value.strip()
    if text == ".":
        return "."
    # A trailing dot is how DNS people write absolute names; the record gets one anyway.
    bare = text[:-1] if text.endswith(".") and not text.endswith("..") else text
    _refuse_port(bare, value, where)
    try:
        host, kind, host_warnings = parse_host(bare, original=text)
    except ServerNameError as exc:
        raise SrvConfigError(f"{where}: host {exc}") from exc
    if kind != "dns":
        raise SrvConfigError(
            f"{where}: host '{value}' is an IP address, but an SRV target must be a host name "
            "(RFC 2782); give a name whose A/AAAA record holds that address"
        )
    for message in host_warnings:
        warnings.append(message.replace("server name", "SRV target", 1))
    return host.lower()  # DNS names are case-insensitive; records are written in canonical lower case


def legacy_mode(value: object) -> str:
    """``publish``, ``keep`` or ``absent`` from one of them or 0.1.0's boolean. Raises SrvConfigError."""
    if value is True:
        return "publish"
    if value is False:
        return "absent"
    if isinstance(value, str) and value.strip().lower() in LEGACY_MODES:
        return value.strip().lower()
    raise SrvConfigError(
        f"legacy must be one of {', '.join(LEGACY_MODES)} (or true/false, which mean publish/absent), got {value!r}"
    )


def plan_records(
    server_name: object,
    targets: list | None,
    *,
    ttl: int,
    legacy: object,
    state: str,
) -> Plan:
    """Validate the input and compute the wanted record sets. Raises SrvConfigError.

    ``legacy`` (see ``legacy_mode``): ``publish`` manages ``_matrix._tcp`` with the same records,
    ``absent`` manages it empty, ``keep`` leaves it out of the plan (never read nor changed).
    """
    mode = legacy_mode(legacy)
    try:
        server, warnings = parse_server_name(server_name)
    except ServerNameError as exc:
        raise SrvConfigError(f"server_name: {exc}") from exc
    if server.port is not None:
        raise SrvConfigError(
            f"server_name '{server_name}' has an explicit port: homeservers then connect to that port "
            "directly and never read SRV records (resolution step 2); give the server name without the port"
        )
    if server.is_ip_literal:
        raise SrvConfigError(
            f"server_name '{server_name}' is an IP literal: homeservers connect to it directly and never "
            "read SRV records (resolution step 1)"
        )
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_TTL:
        raise SrvConfigError(f"ttl must be a whole number of seconds from 0 to {MAX_TTL}, got {ttl!r}")
    if state not in ("present", "absent"):
        raise SrvConfigError(f"state must be 'present' or 'absent', got {state!r}")
    host = server.host
    names = [f"{FED_SERVICE}.{host}"] + ([] if mode == "keep" else [f"{LEGACY_SERVICE}.{host}"])
    if state == "absent":
        return Plan(server_name=host, desired=[RecordSet.make(name, None, ()) for name in names], warnings=warnings)

    if not targets:
        raise SrvConfigError(
            "targets: at least one target is required with state=present (use state=absent to remove the records)"
        )
    if not isinstance(targets, list):
        raise SrvConfigError(f"targets must be a list of {{host, port, priority, weight}}, got {targets!r}")
    records: list[Record] = []
    seen: dict[tuple, int] = {}
    for index, target in enumerate(targets):
        where = f"targets[{index}]"
        if not isinstance(target, dict):
            raise SrvConfigError(f"{where} must be a dictionary with host, port, priority and weight, got {target!r}")
        unknown = sorted(set(target) - {"host", "port", "priority", "weight"})
        if unknown:
            raise SrvConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; expected host, port, priority, weight")
        target_host = _target_host(target.get("host"), where, warnings)
        disabled = target_host == "."  # "no service": conventionally SRV 0 0 0 .
        record = Record(
            priority=_int_field(target, "priority", 0 if disabled else DEFAULT_PRIORITY, 0, 65535, where),
            weight=_int_field(target, "weight", 0 if disabled else DEFAULT_WEIGHT, 0, 65535, where),
            port=_int_field(target, "port", 0 if disabled else DEFAULT_PORT, 0 if disabled else 1, 65535, where),
            target=target_host,
        )
        if record.key() in seen:
            raise SrvConfigError(f"{where} repeats targets[{seen[record.key()]}] ({record.rdata_text()})")
        seen[record.key()] = index
        records.append(record)
    if any(record.target == "." for record in records):
        if len(records) > 1:
            raise SrvConfigError(
                "targets: '.' means 'no service here' (RFC 2782) and must be the only target; "
                "remove it or the other targets"
            )
        warnings.append(
            f"the only SRV target of {host} is '.', which means the service is decidedly not available: "
            f"this DISABLES federation for {host} (homeservers refuse to connect)"
        )
    desired = [RecordSet.make(names[0], ttl, records)]
    if mode != "keep":
        desired.append(RecordSet.make(names[1], ttl, records if mode == "publish" else ()))
    return Plan(server_name=host, desired=desired, warnings=warnings)


def render_zonefile(record_sets: list[RecordSet]) -> str:
    """Record sets as zone-file lines with absolute names (valid under any $ORIGIN)."""
    lines = [line for record_set in record_sets for line in record_set.zone_lines()]
    return "".join(line + "\n" for line in lines)


# -- the update port -------------------------------------------------------------------------------
class UpdatePort(Protocol):
    server: str

    def find_zone(self, name: str) -> str: ...

    def read(self, name: str, zone: str) -> RecordSet: ...

    def update(self, zone: str, changes: list[tuple[RecordSet, RecordSet]]) -> None: ...


def absolute_name(name: str) -> str:
    """``name`` with the trailing dot of an absolute DNS name."""
    return name if name.endswith(".") else name + "."


# -- the core ------------------------------------------------------------------------------------------
@dataclass
class SyncResult:
    zone: str
    before: list[RecordSet]
    after: list[RecordSet]
    changed: bool


def _check_in_zone(names: list[str], zone: str, server: str) -> None:
    zone_name = dns.name.from_text(absolute_name(zone))
    for name in names:
        if not dns.name.from_text(absolute_name(name)).is_subdomain(zone_name):
            raise SrvConfigError(f"{name} is not inside zone {zone} (on {server}); set zone to the zone that holds it")


def synchronise(plan: Plan, port: UpdatePort, *, zone: str | None, check_mode: bool) -> SyncResult:
    """Read the managed names, and update those that differ in one atomic message."""
    if zone:
        zone = zone.strip().rstrip(".")
        if not zone:
            raise SrvConfigError("zone is empty")
    else:
        zone = port.find_zone(plan.names[0])
    _check_in_zone(plan.names, zone, port.server)
    before = [port.read(name, zone) for name in plan.names]
    changes = [(current, wanted) for current, wanted in zip(before, plan.desired) if not current.same_as(wanted)]
    if changes and not check_mode:
        port.update(zone, changes)
        now = [port.read(name, zone) for name in plan.names]
        for current, wanted in zip(now, plan.desired):
            if not current.same_as(wanted):
                raise SrvUpdateError(
                    port.server,
                    f"the update of zone {zone} was accepted, but {wanted.name} now has "
                    f"{[record.rdata_text() for record in current.records] or 'no records'} (TTL {current.ttl}) "
                    f"instead of {[record.rdata_text() for record in wanted.records] or 'no records'} (TTL {wanted.ttl})",
                )
    return SyncResult(zone=zone, before=before, after=list(plan.desired), changed=bool(changes))


# -- checks (warnings) -------------------------------------------------------------------------------
def target_findings(plan: Plan, addresses: Callable[[str], object]) -> list[str]:
    """Warnings about the targets' own DNS: a CNAME (RFC 2782 forbids it), no address.

    ``addresses(host)`` is the DNS port's lookup (``_dns.DnsClient.addresses``): it returns an
    answer with ``addresses`` and ``cnames`` (the aliases followed) or raises.
    """
    findings = []
    for host in dict.fromkeys(record.target for record in plan.targets if record.target != "."):
        try:
            answer = addresses(host)
        except Exception as exc:  # noqa: BLE001 - a check that cannot run is reported, not fatal
            findings.append(f"could not check SRV target {host}: {exc}")
            continue
        cnames = list(getattr(answer, "cnames", []) or [])
        if cnames:
            findings.append(
                f"SRV target {host} is an alias (CNAME): RFC 2782 forbids that and some homeservers "
                "refuse it; point the SRV record at the canonical host name instead"
            )
        if not getattr(answer, "addresses", None):
            findings.append(f"SRV target {host} has no AAAA or A record: homeservers cannot connect to it")
    return findings


def _described(targets: list[tuple[str, int]]) -> str:
    return ", ".join(f"{host}:{port}" for host, port in targets) or "nothing"


def well_known_findings(plan: Plan, resolution: dict | None, *, state: str) -> list[str]:
    """Warnings when a ``/.well-known/matrix/server`` file exists next to SRV records.

    ``resolution`` is the resolve lookup's dict for the server name (possibly partial). A valid
    well-known file wins over the server name's SRV records (resolution step 3 before step 4),
    so SRV records that say otherwise are never used.
    """
    if not resolution or not resolution.get("well_known"):
        return []
    well_known = resolution["well_known"]
    url = well_known.get("url") or f"https://{plan.server_name}/.well-known/matrix/server"
    srv_name = plan.names[0]
    if well_known.get("error") is None and resolution.get("delegated_server"):
        if state != "present":
            return []
        wanted = sorted(dict.fromkeys((r.target.lower(), r.port) for r in plan.targets if r.target != "."))
        found = sorted(
            dict.fromkeys(
                (str(t.get("host", "")).lower(), int(t.get("port", 0))) for t in resolution.get("targets") or []
            )
        )
        delegated = resolution["delegated_server"]
        if not wanted:
            return [
                f"{url} delegates {plan.server_name} to {delegated}, and homeservers read it before SRV "
                f"records: the '.' record at {srv_name} does NOT disable federation; remove the well-known "
                "file to disable it"
            ]
        if found and found == wanted:
            return []
        where = _described(found) if found else delegated
        return [
            f"SRV and well-known disagree: {url} delegates {plan.server_name} to {delegated} (homeservers "
            f"connect to {where}), and homeservers read it before SRV records, so they never use "
            f"{srv_name} (which points to {_described(wanted)}); remove the well-known file or make "
            "both point to the same host and port"
        ]
    if well_known.get("status") == 200 and well_known.get("error"):
        return [
            f"{url} is served (HTTP 200) but homeservers cannot use it ({well_known['error']}), so they "
            f"fall back to the SRV records; remove the file or fix it"
        ]
    return []

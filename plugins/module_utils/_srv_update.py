# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Matrix SRV records: validation, zone-file rendering and RFC 2136 dynamic updates with TSIG.

Private module: not part of the collection's public API. Used by the ``srv_record`` module
(and through it by the ``srv_records`` role).

Functional core, thin shells:

* ``plan_records`` validates the user's input and computes the wanted record sets (pure);
* ``synchronise`` compares them with what the primary server publishes and applies the
  difference through an injected port (``Rfc2136Port`` here, a fake in the unit tests): every
  managed name in ONE update message whose prerequisites are the records just read, so the
  server applies all of it or nothing (RFC 2136, section 3.2 and 3.4);
* ``target_findings`` and ``well_known_findings`` turn DNS answers and a resolution into the
  warnings the Matrix specification calls for (CNAME targets, a well-known file that overrides
  the SRV records).
"""

from __future__ import annotations

import base64
import binascii
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from ._dns import DNSPYTHON_IMPORT_ERROR, HAS_DNSPYTHON, srv_fields
from ._server_name import ServerNameError, parse_host, parse_server_name

if HAS_DNSPYTHON:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.opcode
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.rdtypes.IN.SRV
    import dns.tsig
    import dns.update

__all__ = [
    "DNSPYTHON_IMPORT_ERROR",
    "FED_SERVICE",
    "HAS_DNSPYTHON",
    "LEGACY_SERVICE",
    "TSIG_ALGORITHMS",
    "Plan",
    "Record",
    "RecordSet",
    "Rfc2136Port",
    "SrvConfigError",
    "SrvUpdateError",
    "SyncResult",
    "Tsig",
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
TSIG_ALGORITHMS = ("hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512")
#: TSIG error codes (RFC 8945), which share numbers with other extended RCODEs.
TSIG_ERRORS = {16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 22: "BADTRUNC"}


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
        """The wanted records of ``_matrix-fed._tcp`` (the legacy name gets the same ones)."""
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
    host, _sep, port = bare.rpartition(":")
    if host and not bare.startswith("[") and port.isdigit() and ":" not in host:
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


def plan_records(
    server_name: object,
    targets: list | None,
    *,
    ttl: int,
    legacy: bool,
    state: str,
) -> Plan:
    """Validate the input and compute the wanted record sets. Raises SrvConfigError."""
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
    names = [f"{FED_SERVICE}.{host}", f"{LEGACY_SERVICE}.{host}"]
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
    wanted = RecordSet.make(names[0], ttl, records)
    legacy_set = RecordSet.make(names[1], ttl, records if legacy else ())
    return Plan(server_name=host, desired=[wanted, legacy_set], warnings=warnings)


def render_zonefile(record_sets: list[RecordSet]) -> str:
    """Record sets as zone-file lines with absolute names (valid under any $ORIGIN)."""
    lines = [line for record_set in record_sets for line in record_set.zone_lines()]
    return "".join(line + "\n" for line in lines)


# -- TSIG --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tsig:
    name: str
    algorithm: str
    secret: str

    def __repr__(self) -> str:  # never show the secret
        return f"Tsig(name={self.name!r}, algorithm={self.algorithm!r}, secret=<hidden>)"

    def check(self) -> None:
        if not self.name or not self.name.strip():
            raise SrvConfigError("tsig_key_name is empty")
        if self.algorithm not in TSIG_ALGORITHMS:
            raise SrvConfigError(f"tsig_algorithm must be one of {', '.join(TSIG_ALGORITHMS)}, got {self.algorithm!r}")
        try:
            decoded = base64.b64decode("".join(self.secret.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SrvConfigError(
                f"tsig_secret of key '{self.name}' is not valid base64 (the 'secret' of the key file)"
            ) from exc
        if not decoded:
            raise SrvConfigError(f"tsig_secret of key '{self.name}' is empty")

    def key(self):
        algorithm = {
            "hmac-md5": dns.tsig.HMAC_MD5,
            "hmac-sha1": dns.tsig.HMAC_SHA1,
            "hmac-sha224": dns.tsig.HMAC_SHA224,
            "hmac-sha256": dns.tsig.HMAC_SHA256,
            "hmac-sha384": dns.tsig.HMAC_SHA384,
            "hmac-sha512": dns.tsig.HMAC_SHA512,
        }[self.algorithm]
        return dns.tsig.Key(self.name.strip(), "".join(self.secret.split()), algorithm)


# -- the DNS port ------------------------------------------------------------------------------------
class UpdatePort(Protocol):
    server: str

    def find_zone(self, name: str) -> str: ...

    def read(self, name: str, zone: str) -> RecordSet: ...

    def update(self, zone: str, changes: list[tuple[RecordSet, RecordSet]]) -> None: ...


def _server_label(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _absolute(name: str) -> str:
    return name if name.endswith(".") else name + "."


class Rfc2136Port:
    """Queries and RFC 2136 updates to one primary server, over TCP, signed with TSIG when given.

    Every exchange (connect, send, whole answer) is bounded by ``timeout`` seconds.
    """

    def __init__(self, host: str, port: int = 53, *, timeout: float = 10.0, tsig: Tsig | None = None) -> None:
        if not HAS_DNSPYTHON:
            raise SrvConfigError(f"the dnspython library is required: {DNSPYTHON_IMPORT_ERROR}")
        host = host.strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host:
            raise SrvConfigError("dns_server is empty")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise SrvConfigError(f"dns_port must be from 1 to 65535, got {port!r}")
        if not timeout or timeout <= 0:
            raise SrvConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if tsig is not None:
            tsig.check()
        self.host = host
        self.port = port
        self.timeout = float(timeout)
        self.tsig = tsig
        self.server = _server_label(host, port)

    # -- one exchange --------------------------------------------------------------------------
    def _sign(self, message) -> None:
        if self.tsig is not None:
            key = self.tsig.key()
            message.use_tsig(key, keyname=key.name, algorithm=key.algorithm)

    def _transfer(self, wire: bytes, what: str) -> bytes:
        deadline = time.monotonic() + self.timeout
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except socket.timeout as exc:
            raise SrvUpdateError(
                self.server, f"{what}: no connection within {self.timeout:g}s (timeout): is the server reachable?"
            ) from exc
        except ConnectionRefusedError as exc:
            raise SrvUpdateError(
                self.server, f"{what}: connection refused: nothing listens on TCP port {self.port}"
            ) from exc
        except OSError as exc:
            raise SrvUpdateError(self.server, f"{what}: cannot connect: {exc.strerror or exc}") from exc
        try:
            with sock:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                sock.sendall(struct.pack("!H", len(wire)) + wire)
                (length,) = struct.unpack("!H", self._receive(sock, 2, deadline))
                return self._receive(sock, length, deadline)
        except socket.timeout as exc:
            raise SrvUpdateError(self.server, f"{what}: no answer within {self.timeout:g}s (timeout)") from exc
        except OSError as exc:
            raise SrvUpdateError(self.server, f"{what}: connection failed: {exc.strerror or exc}") from exc

    @staticmethod
    def _receive(sock: socket.socket, count: int, deadline: float) -> bytes:
        data = b""
        while len(data) < count:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise OSError("the server closed the connection without a complete answer")
            data += chunk
        return data

    def _exchange(self, request, what: str, *, update: bool = False):
        """Send ``request``; return the (verified) response. TSIG failures raise SrvUpdateError."""
        wire = request.to_wire()
        data = self._transfer(wire, what)
        try:
            unverified = dns.message.from_wire(data, keyring=False)
        except dns.exception.DNSException as exc:
            raise SrvUpdateError(self.server, f"{what}: malformed answer ({exc})") from exc
        if not request.is_response(unverified):
            raise SrvUpdateError(self.server, f"{what}: the answer does not match the request")
        if self.tsig is None:
            return unverified
        rcode = dns.rcode.to_text(unverified.rcode())
        tsig_error = TSIG_ERRORS.get(unverified.tsig_error or 0) if unverified.had_tsig else None
        tail = "; nothing was changed" if update else ""
        try:
            return dns.message.from_wire(data, keyring=request.keyring, request_mac=request.mac)
        except dns.exception.DNSException as exc:  # dns.tsig.PeerError included
            peer = isinstance(exc, dns.tsig.PeerError)
            if peer:
                tsig_error = tsig_error or _peer_error_name(exc)
            if peer or unverified.rcode() != dns.rcode.NOERROR:
                # Errors about the request's key come back unsigned (RFC 8945, 5.3.2).
                reason = f"{self.explain(rcode, tsig_error, update=update)}{tail}"
            else:
                tsig_error = None
                reason = (
                    f"the answer's TSIG signature does not verify ({exc}); is key "
                    f"'{self.tsig.name}' the one the server knows?"
                )
            raise SrvUpdateError(self.server, f"{what}: {reason}", rcode=rcode, tsig_error=tsig_error) from exc

    def explain(self, rcode: str, tsig_error: str | None, *, update: bool) -> str:
        """The response code, the TSIG error and what to change, in one phrase."""
        key = f"key '{self.tsig.name}' ({self.tsig.algorithm})" if self.tsig else "no TSIG key"
        if tsig_error == "BADSIG":
            return (
                f"NOTAUTH (TSIG error BADSIG): the server rejected the signature made with {key}; "
                "tsig_secret (or tsig_algorithm) is wrong"
            )
        if tsig_error == "BADKEY":
            return (
                f"NOTAUTH (TSIG error BADKEY): the server does not know {key} or does not allow it here; "
                "check tsig_key_name and tsig_algorithm against the server's key and update policy"
            )
        if tsig_error == "BADTIME":
            return "NOTAUTH (TSIG error BADTIME): the clocks of this host and the server differ by more than 5 minutes"
        if tsig_error:
            return f"{rcode} (TSIG error {tsig_error})"
        if rcode == "NOTAUTH":
            if self.tsig:
                return "NOTAUTH: the server is not authoritative for the zone or does not accept this key for it"
            return (
                "NOTAUTH: the server is not authoritative for the zone or requires a signed update "
                "(set tsig_key_name and tsig_secret)"
            )
        if rcode == "REFUSED" and update:
            return (
                "REFUSED: the server does not allow this update; check that it is the zone's primary and "
                f"that its update policy allows {key} to change SRV records at these names"
            )
        if rcode == "REFUSED":
            return (
                "REFUSED: the server does not serve a zone that holds this name; dns_server must be the "
                "primary server of the zone"
            )
        if rcode == "SERVFAIL":
            return "SERVFAIL: the server failed to answer (see its log; is the zone loaded?)"
        if rcode == "NOTZONE":
            return "NOTZONE: a name is not inside the zone; check zone"
        return rcode

    def _query(self, name: str, rdtype):
        request = dns.message.make_query(_absolute(name), rdtype)
        request.flags &= ~dns.flags.RD
        self._sign(request)
        what = f"query {name} {dns.rdatatype.to_text(rdtype)}"
        response = self._exchange(request, what)
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            text = dns.rcode.to_text(rcode)
            raise SrvUpdateError(self.server, f"{what}: {self.explain(text, None, update=False)}", rcode=text)
        if not response.flags & dns.flags.AA:
            raise SrvUpdateError(
                self.server,
                f"{what}: the answer is not authoritative (no AA flag): dns_server must be the primary "
                "server of the zone, not a resolver or a server that delegates the name elsewhere",
                rcode=dns.rcode.to_text(rcode),
            )
        return response, what

    # -- the port ----------------------------------------------------------------------------------
    def find_zone(self, name: str) -> str:
        """The zone that holds ``name``, from the SOA record of the server's authoritative answer."""
        response, what = self._query(name, dns.rdatatype.SOA)
        for section in (response.answer, response.authority):
            for rrset in section:
                if rrset.rdtype == dns.rdatatype.SOA:
                    return rrset.name.to_text(omit_final_dot=True)
        raise SrvUpdateError(self.server, f"{what}: no SOA record in the answer; set zone explicitly")

    def read(self, name: str, zone: str) -> RecordSet:
        response, what = self._query(name, dns.rdatatype.SRV)
        qname = dns.name.from_text(_absolute(name))
        for rrset in response.answer:
            if rrset.name == qname and rrset.rdtype == dns.rdatatype.CNAME:
                raise SrvUpdateError(
                    self.server, f"{what}: {name} is a CNAME; SRV records cannot be added beside it (remove the CNAME)"
                )
        records = []
        ttl = None
        for rrset in response.answer:
            if rrset.name == qname and rrset.rdtype == dns.rdatatype.SRV:
                ttl = rrset.ttl
                records = [Record(*srv_fields(rdata)) for rdata in rrset]
        return RecordSet.make(name, ttl, records)

    def update(self, zone: str, changes: list[tuple[RecordSet, RecordSet]]) -> None:
        """Apply every (current, wanted) pair in one update message, conditional on ``current``."""
        message = dns.update.UpdateMessage(_absolute(zone))
        for current, wanted in changes:
            name = _absolute(current.name)
            if current.records:
                message.present(name, *[_rdata(record) for record in current.records])
            else:
                message.absent(name, dns.rdatatype.SRV)
            message.delete(name, dns.rdatatype.SRV)
            for record in wanted.records:
                message.add(name, wanted.ttl, _rdata(record))
        self._sign(message)
        what = f"update of zone {zone}"
        response = self._exchange(message, what, update=True)
        rcode = dns.rcode.to_text(response.rcode())
        if rcode in ("YXRRSET", "NXRRSET", "YXDOMAIN", "NXDOMAIN"):
            raise SrvUpdateError(
                self.server,
                f"{what}: prerequisite failed ({rcode}): the SRV records changed on the server after they were "
                "read; nothing was changed, run again",
                rcode=rcode,
            )
        if rcode != "NOERROR":
            raise SrvUpdateError(
                self.server, f"{what}: {self.explain(rcode, None, update=True)}; nothing was changed", rcode=rcode
            )


def _peer_error_name(exc: Exception) -> str:
    for cls, name in (
        (dns.tsig.PeerBadSignature, "BADSIG"),
        (dns.tsig.PeerBadKey, "BADKEY"),
        (dns.tsig.PeerBadTime, "BADTIME"),
        (dns.tsig.PeerBadTruncation, "BADTRUNC"),
    ):
        if isinstance(exc, cls):
            return name
    return type(exc).__name__


def _rdata(record: Record):
    return dns.rdtypes.IN.SRV.SRV(
        dns.rdataclass.IN,
        dns.rdatatype.SRV,
        record.priority,
        record.weight,
        record.port,
        dns.name.root if record.target == "." else dns.name.from_text(_absolute(record.target)),
    )


# -- the core ------------------------------------------------------------------------------------------
@dataclass
class SyncResult:
    zone: str
    before: list[RecordSet]
    after: list[RecordSet]
    changed: bool


def _check_in_zone(names: list[str], zone: str, server: str) -> None:
    zone_name = dns.name.from_text(_absolute(zone))
    for name in names:
        if not dns.name.from_text(_absolute(name)).is_subdomain(zone_name):
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

    ``addresses(host)`` is the DNS port's lookup (``_dns.DnsPythonPort.addresses``): it returns an
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

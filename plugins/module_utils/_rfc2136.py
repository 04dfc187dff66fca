# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The RFC 2136 adapter of ``srv_record``: queries and dynamic updates to one primary, signed with TSIG.

Private module: not part of the collection's public API. It is the UpdatePort of
``_srv_update`` (whose ``synchronise`` decides what to change) over dnspython: its messages, its
TCP framing (``dns.query.send_tcp`` / ``receive_tcp``) and its TSIG signing and verification.
"""

from __future__ import annotations

import base64
import binascii
import socket
import time
from dataclasses import dataclass
from typing import Any

from ._dns import DNSPYTHON_IMPORT_ERROR, HAS_DNSPYTHON, srv_fields
from ._srv_update import Record, RecordSet, SrvConfigError, SrvUpdateError, absolute_name

if HAS_DNSPYTHON:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.rdtypes.IN.SRV
    import dns.tsig
    import dns.update

__all__ = ["TSIG_ALGORITHMS", "Rfc2136Client", "Tsig"]

TSIG_ALGORITHMS = ("hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512")
#: TSIG error codes (RFC 8945), which share numbers with other extended RCODEs.
TSIG_ERRORS = {16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 22: "BADTRUNC"}


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
def _server_label(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


#: receive_tcp's keyring for "parse, do not verify" (dnspython's from_wire takes False).
_UNVERIFIED: Any = False


class _Recording:
    """The socket for receive_tcp, keeping what it reads; each read waits until ``deadline`` at most."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.data = b""

    def recv(self, count: int) -> bytes:
        self.sock.settimeout(max(self.deadline - time.monotonic(), 0.001))
        chunk = self.sock.recv(count)
        self.data += chunk
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class Rfc2136Client:
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

    def _transfer(self, request: Any, what: str) -> bytes:
        """Send ``request`` over TCP and return the answer's wire (dnspython's send_tcp and receive_tcp).

        The answer is read unverified: a TSIG failure must still show the answer's RCODE.
        """
        deadline = time.monotonic() + self.timeout
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise SrvUpdateError(self.server, f"{what}: {self._no_connection(exc)}") from exc
        try:
            with sock:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                expiration = time.time() + max(deadline - time.monotonic(), 0.001)
                dns.query.send_tcp(sock, request, expiration)
                recording = _Recording(sock, deadline)
                dns.query.receive_tcp(recording, expiration, keyring=_UNVERIFIED)
                return recording.data[2:]  # after the two-byte length
        except (socket.timeout, dns.exception.Timeout) as exc:
            raise SrvUpdateError(self.server, f"{what}: no answer within {self.timeout:g}s (timeout)") from exc
        except EOFError as exc:
            raise SrvUpdateError(
                self.server, f"{what}: connection failed: the server closed the connection without a complete answer"
            ) from exc
        except OSError as exc:
            raise SrvUpdateError(self.server, f"{what}: connection failed: {exc.strerror or exc}") from exc
        except dns.exception.DNSException as exc:
            raise SrvUpdateError(self.server, f"{what}: malformed answer ({exc})") from exc

    def _no_connection(self, exc: OSError) -> str:
        if isinstance(exc, socket.timeout):
            return f"no connection within {self.timeout:g}s (timeout): is the server reachable?"
        if isinstance(exc, ConnectionRefusedError):
            return f"connection refused: nothing listens on TCP port {self.port}"
        return f"cannot connect: {exc.strerror or exc}"

    def _exchange(self, request, what: str, *, update: bool = False):
        """Send ``request``; return the (verified) response. TSIG failures raise SrvUpdateError."""
        data = self._transfer(request, what)
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
        request = dns.message.make_query(absolute_name(name), rdtype)
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
        qname = dns.name.from_text(absolute_name(name))
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
        message = dns.update.UpdateMessage(absolute_name(zone))
        for current, wanted in changes:
            name = absolute_name(current.name)
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
        dns.name.root if record.target == "." else dns.name.from_text(absolute_name(record.target)),
    )

"""The matrixops lab: a lab CA, its certificates, and Knot DNS for ``example.test.``.

    python tests/lab/lab.py up       # create CA + certificates (kept if present), start knot
    python tests/lab/lab.py up --tsig  # the same, and example.test. accepts TSIG-signed updates
    python tests/lab/lab.py up --acme  # the same, and pebble (ACME) on 127.0.0.4:14000
    python tests/lab/lab.py status   # exit 0 when knot runs, 3 when it does not
    python tests/lab/lab.py down     # stop knot (add --purge to delete the state directory)

State lives in ``--state-dir`` (default: ``$MATRIXOPS_LAB_DIR``, else ``<repo>/.lab``):

    ca.pem / ca.key                      the lab CA (trust ca.pem: ``ca_path=<state>/ca.pem``)
    certs/<name>.pem / certs/<name>.key  leaf certificates for the names of the address plan
    knot/                                knot's config, zone file, database, pid file and log
    tsig.key                             with ``--tsig``: the update key (BIND key syntax, 0600)
    pebble/                              with ``--acme``: pebble's HTTPS CA (ca.pem), its roots.pem, config, log
    lab.json                             the above as data (also printed by ``--json``)

Address plan (docs/architecture.md, "The lab"): knot authoritative for ``example.test.`` on
127.0.0.1:5353; ``example.test`` A 127.0.0.2 (server-name host); ``matrix.example.test`` A
127.0.0.3 (delegated host); Synapse on 127.0.0.1:8008.

With ``--tsig`` (``Lab(..., tsig=True)``) knot also accepts RFC 2136 dynamic updates of
``example.test.`` signed with the TSIG key ``lab-update`` (hmac-sha256, a fixed lab secret, see
``TSIG_*``); unsigned or wrongly signed updates get NOTAUTH.  Updates are written back to the
zone file at once, so a later ``up`` finds the zone changed and restarts knot with the fresh
zone: ``up`` always starts from the zone of the address plan.

With ``--acme`` (``Lab(..., acme=True)``) pebble, the ACME test server, also runs: directory
``https://127.0.0.4:14000/dir`` (management 127.0.0.4:15000), challenge lookups through the lab's
knot, HTTP-01 validation on port 80.  ``lab.json`` then has ``"acme": {"directory", "ca_bundle",
"roots"}``: ``ca_bundle`` trusts pebble's HTTPS (certbot's ``REQUESTS_CA_BUNDLE``), ``roots`` the
certificates pebble issues (refetched at each start: pebble makes a new root every time).
``down`` stops pebble too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path

import knot
import pebble
import pki
import proc
from cryptography import x509

REPO_ROOT = Path(__file__).resolve().parents[2]

ZONE = "example.test."
DNS_ADDRESS = "127.0.0.1"
DNS_PORT = 5353
SERVER_NAME = "example.test"
SERVER_NAME_ADDRESS = "127.0.0.2"
DELEGATED_HOST = "matrix.example.test"
DELEGATED_HOST_ADDRESS = "127.0.0.3"
SYNAPSE_LISTEN = "127.0.0.1:8008"
PEBBLE_ADDRESS = "127.0.0.4"
PEBBLE_PORT = 14000
PEBBLE_MANAGEMENT_PORT = 15000

#: name → addresses (A records; also put in the certificate's IP SANs)
HOSTS: dict[str, list[str]] = {
    SERVER_NAME: [SERVER_NAME_ADDRESS],
    DELEGATED_HOST: [DELEGATED_HOST_ADDRESS],
}

#: The lab's dynamic-update key (``up --tsig``). A fixed, public test secret: never use it elsewhere.
TSIG_KEY_NAME = "lab-update"
TSIG_ALGORITHM = "hmac-sha256"
TSIG_SECRET = "bWF0cml4b3BzLWxhYi11cGRhdGUtdHNpZy1zZWNyZXQ="  # base64("matrixops-lab-update-tsig-secret")

#: A certificate closer to expiry than this is reissued by ``up``.
RENEW_BEFORE = dt.timedelta(days=30)


def default_state_dir() -> Path:
    return Path(os.environ.get("MATRIXOPS_LAB_DIR") or REPO_ROOT / ".lab")


def zone_text(extra_records: list[str] | None = None, *, serial: int = 1) -> str:
    """The ``example.test.`` zone.  ``extra_records`` are zone-file lines (e.g. SRV records)."""
    lines = [
        f"$ORIGIN {ZONE}",
        "$TTL 300",
        f"@ SOA ns.{ZONE} hostmaster.{ZONE} {serial} 3600 600 86400 300",
        f"@ NS ns.{ZONE}",
        f"ns A {DNS_ADDRESS}",
    ]
    for name, addresses in HOSTS.items():
        owner = "@" if name == SERVER_NAME else name.removesuffix("." + SERVER_NAME)
        lines += [f"{owner} {'AAAA' if ':' in a else 'A'} {a}" for a in addresses]
    lines += list(extra_records or [])
    return "\n".join(lines) + "\n"


class Lab:
    """The lab's parts, addressed from one state directory."""

    def __init__(
        self,
        state_dir: Path,
        *,
        dns_address: str = DNS_ADDRESS,
        dns_port: int = DNS_PORT,
        tsig: bool = False,
        acme: bool = False,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.ca_base = self.state_dir / "ca"
        self.ca_path = self.state_dir / "ca.pem"
        self.tsig_key_path = self.state_dir / "tsig.key"
        self.tsig = tsig
        updates = (
            {"tsig_keys": {TSIG_KEY_NAME: (TSIG_ALGORITHM, TSIG_SECRET)}, "updatable_zones": {ZONE: TSIG_KEY_NAME}}
            if tsig
            else {}
        )
        self.dns = knot.KnotServer(self.state_dir / "knot", dns_address, dns_port, {ZONE: zone_text()}, **updates)
        self.acme = acme
        self.pebble_stopped = False
        self.pebble = pebble.PebbleServer(
            self.state_dir / "pebble",
            address=PEBBLE_ADDRESS,
            dns_server=self.dns.nameserver,
            port=PEBBLE_PORT,
            management_port=PEBBLE_MANAGEMENT_PORT,
        )

    def write_tsig_key(self) -> None:
        """``<state>/tsig.key`` (BIND key syntax, 0600) when updates are on; removed when they are off."""
        path = self.tsig_key_path
        if not self.tsig:
            path.unlink(missing_ok=True)
            return
        text = f'key "{TSIG_KEY_NAME}" {{\n    algorithm {TSIG_ALGORITHM};\n    secret "{TSIG_SECRET}";\n}};\n'
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(path, 0o600)

    def tsig_info(self) -> dict | None:
        """The update key as data, or None when this lab's knot takes no updates."""
        if not self.tsig:
            try:  # ``status`` without --tsig: report what the running configuration says
                if f"id: {TSIG_KEY_NAME}" not in self.dns.conf_path.read_text():
                    return None
            except OSError:
                return None
        return {
            "name": TSIG_KEY_NAME,
            "algorithm": TSIG_ALGORITHM,
            "secret": TSIG_SECRET,
            "path": str(self.tsig_key_path),
            "zone": ZONE,
        }

    def cert_base(self, name: str) -> Path:
        return self.state_dir / "certs" / name

    # -- certificates ---------------------------------------------------------------------
    def _cert_is_usable(self, ca: pki.CertificateAuthority, base: Path, names: list[str]) -> bool:
        cert_path, key_path = base.with_name(base.name + ".pem"), base.with_name(base.name + ".key")
        if not (cert_path.exists() and key_path.exists()):
            return False
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            cert.verify_directly_issued_by(ca.certificate)
        except Exception:  # noqa: BLE001 - anything unreadable or foreign gets reissued
            return False
        if cert.not_valid_after_utc - pki.utcnow() < RENEW_BEFORE:
            return False
        return set(names) <= set(pki.cert_names(cert_path))

    def ensure_pki(self) -> dict[str, dict[str, str]]:
        """Create the CA and the certificates unless usable ones exist; return their paths."""
        ca = pki.load_or_create_ca(self.ca_base)
        certs = {}
        for name, addresses in HOSTS.items():
            base = self.cert_base(name)
            names = [name, *addresses]
            if not self._cert_is_usable(ca, base, names):
                pki.issue_cert(ca, base, names)
            certs[name] = {"cert": str(base) + ".pem", "key": str(base) + ".key"}
        return certs

    # -- DNS ----------------------------------------------------------------------------------
    def dns_up_to_date(self) -> bool:
        try:
            return (
                self.dns.conf_path.read_text() == self.dns.config_text()
                and self.dns.zone_path(ZONE).read_text() == self.dns.zones[ZONE]
            )
        except OSError:
            return False

    def up(self) -> dict:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        certs = self.ensure_pki()
        self.write_tsig_key()
        pid = self.dns.running_pid()
        if pid is not None and self.dns_up_to_date():
            self.dns.wait_ready(timeout=10)
            dns_action = "already running"
        else:
            self.dns.start(detach=True)  # stops an outdated instance first
            dns_action = "restarted" if pid is not None else "started"
        acme_action = None
        if self.acme:
            if self.pebble.up_to_date():
                self.pebble.fetch_roots()  # a root fetched by an earlier start may have been replaced
                acme_action = "already running"
            else:
                self.pebble.start()
                acme_action = "started"
        info = self.info(certs)
        info["dns"]["action"] = dns_action
        if acme_action:
            # "started": a new issuing root and no accounts: earlier pebble certificates and
            # certbot accounts are useless now.
            info["acme"]["action"] = acme_action
        (self.state_dir / "lab.json").write_text(json.dumps(info, indent=2) + "\n")
        return info

    def down(self, *, purge: bool = False) -> bool:
        self.pebble_stopped = self.pebble.stop()
        stopped = self.dns.stop()
        if purge and self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        return stopped

    def info(self, certs: dict | None = None) -> dict:
        if certs is None:
            certs = {
                name: {"cert": str(self.cert_base(name)) + ".pem", "key": str(self.cert_base(name)) + ".key"}
                for name in HOSTS
            }
        info: dict = {
            "state_dir": str(self.state_dir),
            "ca_path": str(self.ca_path),
            "certificates": certs,
            "dns": {
                "nameserver": self.dns.nameserver,
                "zone": ZONE,
                "pid": self.dns.running_pid(),
                "log": str(self.dns.log_path),
                "tsig": self.tsig_info(),
            },
            "hosts": HOSTS,
            "synapse": SYNAPSE_LISTEN,
        }
        if self.acme or self.pebble.running_pid() is not None:
            info["acme"] = {
                "directory": self.pebble.directory,
                "ca_bundle": str(self.pebble.ca_bundle),
                "roots": str(self.pebble.roots_path),
            }
        return info


def _print_info(info: dict, headline: str) -> None:
    print(headline)
    print(f"  state dir:   {info['state_dir']}")
    print(f"  CA bundle:   {info['ca_path']}")
    for name, paths in info["certificates"].items():
        print(f"  certificate: {name}: {paths['cert']} (key {paths['key']})")
    dns = info["dns"]
    running = f"pid {dns['pid']}" if dns["pid"] else "not running"
    print(f"  DNS:         knot for {dns['zone']} on {dns['nameserver']} ({running}; log {dns['log']})")
    if dns.get("tsig"):
        tsig = dns["tsig"]
        print(f"  updates:     TSIG key {tsig['name']} ({tsig['algorithm']}), key file {tsig['path']}")
    for name, addresses in info["hosts"].items():
        print(f"  host:        {name} -> {', '.join(addresses)}")
    if info.get("acme"):
        acme = info["acme"]
        print(
            f"  ACME:        pebble {acme['directory']} (trust its HTTPS: {acme['ca_bundle']}; its roots: {acme['roots']})"
        )
    print(f"  use:         nameservers=['{dns['nameserver']}'], ca_path='{info['ca_path']}'")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start, stop or show the matrixops lab (CA + knot DNS).")
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--state-dir", type=Path, default=None, help="default: $MATRIXOPS_LAB_DIR or <repo>/.lab")
    parser.add_argument(
        "--dns",
        default=f"{DNS_ADDRESS}@{DNS_PORT}",
        metavar="IP@PORT",
        help=f"where knot listens (default {DNS_ADDRESS}@{DNS_PORT}, the address plan's; other values for tests)",
    )
    parser.add_argument(
        "--tsig",
        action="store_true",
        help=f"up: let knot accept dynamic updates of {ZONE} signed with the TSIG key {TSIG_KEY_NAME} "
        "(written to <state>/tsig.key); status: report that key",
    )
    parser.add_argument(
        "--acme",
        action="store_true",
        help=f"up: also run pebble (ACME) on {PEBBLE_ADDRESS}:{PEBBLE_PORT}, resolving through the lab's knot",
    )
    parser.add_argument("--purge", action="store_true", help="down: also delete the state directory")
    parser.add_argument("--json", action="store_true", help="print the lab description as JSON")
    args = parser.parse_args(argv)
    dns_address, sep, dns_port = args.dns.rpartition("@")
    if not sep:
        dns_address, dns_port = args.dns, str(DNS_PORT)
    lab = Lab(
        args.state_dir or default_state_dir(),
        dns_address=dns_address,
        dns_port=int(dns_port),
        tsig=args.tsig,
        acme=args.acme,
    )
    try:
        if args.action == "up":
            info = lab.up()
            headline = f"lab up (knot {info['dns']['action']})"
        elif args.action == "down":
            stopped = lab.down(purge=args.purge)
            print(
                f"lab down: knot {'stopped' if stopped else 'was not running'}"
                + ("; pebble stopped" if lab.pebble_stopped else "")
                + (f"; removed {lab.state_dir}" if args.purge else "")
            )
            return 0
        else:
            info = lab.info()
            headline = "lab status: " + ("up" if info["dns"]["pid"] else "down")
    except (knot.KnotError, pebble.PebbleError) as exc:
        return proc.cli_failure(f"lab {args.action}", exc)
    proc.print_info(info, headline, as_json=args.json, human=_print_info)
    if args.action == "status" and not info["dns"]["pid"]:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

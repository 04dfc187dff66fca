# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The acme scenario's services: knot for acme.test. (TSIG updates), pebble, Synapse for acme.test.

Every subcommand prints one JSON object (the playbooks assert on its fields). The lab library
(tests/lab: knot, pebble, Synapse from PyPI) does the work:

    up       knot on 127.0.0.20:5353 (zone acme.test., updates with the scenario's TSIG key),
             pebble on 127.0.0.20:14000 resolving through that knot (blocklist: blocked-acme.test),
             Synapse (server name acme.test) on 127.0.0.1:8028; prints the directory, CA bundle,
             pebble's roots and the TSIG key
    down     stop them
    probe    one TLS handshake with SNI: the served certificate's serial, issuer, names, and
             whether it verifies against a CA file
    renew    run the renewal entry point of a cron file (its environment lines and command),
             with extra arguments (--force-renewal), as cron would run it
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shlex
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "lab"))

import knot  # noqa: E402  (tests/lab, put on sys.path above)
import pebble  # noqa: E402
import synapse as lab_synapse  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

ZONE = "acme.test."
ADDRESS = "127.0.0.20"
DNS_PORT = 5353
RECORDS = {
    "@": "127.0.0.21",
    "matrix": "127.0.0.22",
    "tsig": "127.0.0.22",
    "unreachable": "127.0.0.23",
}
TSIG_NAME = "acme-update"
TSIG_ALGORITHM = "hmac-sha256"
#: pebble 2.4.0 panics (index out of range) when a blocklist entry has more labels than an ordered
#: name: the entry has two labels, as few as any name of the scenario.
BLOCKLIST = ("blocked-acme.test",)
SYNAPSE_LISTEN = "127.0.0.1:8028"


def _tsig_secret(state: Path) -> str:
    path = state / "tsig.secret"
    if not path.exists():
        state.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    return path.read_text().strip()


def _knot(state: Path) -> knot.KnotServer:
    lines = [
        f"$ORIGIN {ZONE}",
        "$TTL 60",
        f"@ SOA ns.{ZONE} hostmaster.{ZONE} 1 3600 600 86400 60",
        f"@ NS ns.{ZONE}",
        f"ns A {ADDRESS}",
        *[f"{name} A {address}" for name, address in RECORDS.items()],
    ]
    return knot.KnotServer(
        state / "knot",
        ADDRESS,
        DNS_PORT,
        {ZONE: "\n".join(lines) + "\n"},
        tsig_keys={TSIG_NAME: (TSIG_ALGORITHM, _tsig_secret(state))},
        updatable_zones={ZONE: TSIG_NAME},
    )


def _pebble(state: Path) -> pebble.PebbleServer:
    return pebble.PebbleServer(
        state / "pebble", address=ADDRESS, dns_server=f"{ADDRESS}:{DNS_PORT}", blocklist=BLOCKLIST
    )


def up(args: argparse.Namespace) -> dict[str, Any]:
    state = Path(args.state_dir)
    changed = False
    dns = _knot(state)
    if dns.running_pid() is None:
        dns.start(detach=True)
        changed = True
    acme = _pebble(state)
    if acme.up_to_date():
        acme.fetch_roots()
    else:
        acme.start()
        changed = True
    lab_synapse.SERVER_NAME = "acme.test"
    lab_synapse.PUBLIC_BASEURL = "https://matrix.acme.test/"
    lab_synapse.ensure_venv(Path(args.lab_dir))
    paths = lab_synapse.paths(state / "synapse")
    paths.root.mkdir(parents=True, exist_ok=True)
    if not paths.venv.is_symlink():
        paths.venv.symlink_to(lab_synapse.paths(Path(args.lab_dir)).venv)
    info = lab_synapse.start(state / "synapse", listen=SYNAPSE_LISTEN, timeout=args.timeout)
    changed = changed or info["action"] != "already running"
    return {
        "changed": changed,
        "nameserver": dns.nameserver,
        "acme": acme.info(),
        "tsig": {"name": TSIG_NAME, "algorithm": TSIG_ALGORITHM, "secret": _tsig_secret(state)},
        "synapse": SYNAPSE_LISTEN,
    }


def down(args: argparse.Namespace) -> dict[str, Any]:
    state = Path(args.state_dir)
    if not state.exists():
        return {"changed": False}
    stopped = [lab_synapse.stop(state / "synapse"), _pebble(state).stop(), _knot(state).stop()]
    return {"changed": any(stopped)}


def probe(args: argparse.Namespace) -> dict[str, Any]:
    host, _sep, port = args.connect.rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    answer: dict[str, Any] = {"changed": False, "connect": args.connect, "error": None}
    try:
        with (
            socket.create_connection((host, int(port)), timeout=args.timeout) as raw,
            context.wrap_socket(raw, server_hostname=args.server_name) as sock,
        ):
            der = sock.getpeercert(binary_form=True) or b""
    except OSError as exc:
        answer["error"] = f"{type(exc).__name__}: {exc}"
        return answer
    cert = x509.load_der_x509_certificate(der)
    try:
        names = [str(n.value) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]
    except x509.ExtensionNotFound:
        names = []
    issuer = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    answer.update(
        serial=format(cert.serial_number, "x"),
        issuer=str(issuer[0].value) if issuer else cert.issuer.rfc4514_string(),
        names=names,
        verified=_verifies(args, host, int(port)) if args.ca else None,
    )
    return answer


def _verifies(args: argparse.Namespace, host: str, port: int) -> str:
    """ "ok", or why the chain does not verify against args.ca for args.server_name."""
    context = ssl.create_default_context(cafile=args.ca)
    try:
        with (
            socket.create_connection((host, port), timeout=args.timeout) as raw,
            context.wrap_socket(raw, server_hostname=args.server_name),
        ):
            return "ok"
    except (OSError, ssl.SSLError) as exc:
        return f"{type(exc).__name__}: {exc}"


def renew(args: argparse.Namespace) -> dict[str, Any]:
    """Run the cron file's command with its environment lines, as cron does (sh -c)."""
    env = {"HOME": "/root", "LOGNAME": "root", "PATH": "/usr/bin:/bin"}
    command = None
    for line in Path(args.cron).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if sep and " " not in name:
            env[name.strip()] = value.strip()
            continue
        fields = line.split(None, 6)
        command = fields[6]
    if command is None:
        raise ValueError(f"{args.cron}: no command line")
    full = command + "".join(" " + shlex.quote(extra) for extra in args.extra)
    result = subprocess.run(
        [env.get("SHELL", "/bin/sh"), "-c", full], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    return {
        "changed": True,
        "command": full,
        "env": sorted(env),
        "rc": result.returncode,
        "output": (result.stdout + result.stderr)[-3000:],
        "failed": result.returncode != 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down"):
        command = sub.add_parser(name)
        command.add_argument("--state-dir", required=True)
        command.add_argument("--lab-dir", required=True)
        command.add_argument("--timeout", type=float, default=120.0)
    command = sub.add_parser("probe")
    command.add_argument("--connect", required=True, metavar="IP:PORT")
    command.add_argument("--server-name", required=True)
    command.add_argument("--ca")
    command.add_argument("--timeout", type=float, default=5.0)
    command = sub.add_parser("renew")
    command.add_argument("--cron", required=True)
    command.add_argument("extra", nargs="*")
    args = parser.parse_args()
    handlers = {"up": up, "down": down, "probe": probe, "renew": renew}
    try:
        result = handlers[args.command](args)
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
        print(json.dumps({"changed": False, "failed": True, "msg": f"{args.command}: {exc}"}))
        return 1
    print(json.dumps(result))
    return 1 if result.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())

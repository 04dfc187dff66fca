# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The brownfield scenario's machine, as an operator would have it before the roles run.

Every subcommand prints one JSON object (the playbooks assert on its fields) and exits 0 unless
the step itself failed. The lab library (tests/lab: the lab CA, knot, Synapse from PyPI) does
the work; this script only arranges it the way a real machine looks:

    certbot-issue   a certbot tree: archive/<lineage>/{cert,privkey,chain,fullchain}N.pem and
                    live/<lineage>/*.pem as relative symlinks to them, issued by the lab CA;
                    with --renew: the next N, the live/ symlinks repointed (as certbot renews)
    certbot-hooks   run renewal-hooks/deploy/* as certbot does after a renewal (RENEWED_LINEAGE set)
    certbot-remove  remove the lineage, or the whole tree when this script created it
    serial          the serial number of a PEM certificate file (hex)
    hold            start|stop|status a process holding a TCP port (the "busy port")
    synapse         up|restart|down|status: the lab's Synapse with a Debian-package-style config
                    (homeserver.yaml + conf.d/, the 8018 listener on ::1 and 127.0.0.1 with a tag,
                    a metrics listener), server name brownfield.test
    dns             up|down: knot authoritative for brownfield.test.
    probe           one HTTP(S) request to an explicit address (SNI, Host), with the certificate seen
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

LAB_DIR_OF_REPO = Path(__file__).resolve().parents[3] / "tests" / "lab"
sys.path.insert(0, str(LAB_DIR_OF_REPO))

import knot  # noqa: E402  (tests/lab, put on sys.path above)
import pki  # noqa: E402
import proc  # noqa: E402
import synapse as lab_synapse  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

#: Written into a certbot config dir this script created: only then does certbot-remove delete it all.
CREATED_MARKER = ".matrixops-brownfield-created"
ARCHIVE_FILES = ("cert", "privkey", "chain", "fullchain")


# -- certbot ---------------------------------------------------------------------------------------
def _serial(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def _versions(archive: Path) -> list[int]:
    found = []
    for path in archive.glob("cert*.pem"):
        number = path.stem[len("cert") :]
        if number.isdigit():
            found.append(int(number))
    return sorted(found)


def _symlink(target: str, link: Path) -> None:
    """Point ``link`` at ``target`` with one rename (certbot's live/ links never dangle)."""
    temp = link.with_name(f".{link.name}.new")
    temp.unlink(missing_ok=True)
    os.symlink(target, temp)
    os.replace(temp, link)


def certbot_issue(args: argparse.Namespace) -> dict[str, Any]:
    config_dir = Path(args.config_dir)
    created = False
    if not config_dir.exists():
        config_dir.mkdir(mode=0o755, parents=True)
        (config_dir / CREATED_MARKER).write_text("created by molecule/brownfield (destroy removes this tree)\n")
        created = True
    archive = config_dir / "archive" / args.lineage
    live = config_dir / "live" / args.lineage
    versions = _versions(archive)
    if versions and not args.renew:
        cert = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
        return {"changed": False, "version": versions[-1], "serial": _serial(cert), "live": str(live)}
    for sub in ("renewal-hooks/deploy", "renewal-hooks/pre", "renewal-hooks/post", "renewal"):
        (config_dir / sub).mkdir(mode=0o755, parents=True, exist_ok=True)
    archive.mkdir(mode=0o700, parents=True, exist_ok=True)  # certbot keeps archive/ and live/ 0700
    live.mkdir(mode=0o700, parents=True, exist_ok=True)
    version = (versions[-1] if versions else 0) + 1
    ca = pki.load_ca(Path(args.ca))
    issued = pki.issue_cert(ca, archive / f"issued{version}", args.name)
    leaf_pem = issued.cert_path.read_bytes()
    key_pem = issued.key_path.read_bytes()
    ca_pem = ca.certificate.public_bytes(serialization.Encoding.PEM)
    issued.cert_path.unlink()
    issued.key_path.unlink()
    contents = {"cert": leaf_pem, "privkey": key_pem, "chain": ca_pem, "fullchain": leaf_pem + ca_pem}
    for name in ARCHIVE_FILES:
        path = archive / f"{name}{version}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if name == "privkey" else 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(contents[name])
    for name in ARCHIVE_FILES:  # relative, as certbot makes them
        _symlink(f"../../archive/{args.lineage}/{name}{version}.pem", live / f"{name}.pem")
    renewal = config_dir / "renewal" / f"{args.lineage}.conf"
    renewal.write_text(
        "# renew_before_expiry = 30 days\n"
        "version = 2.1.0\n"
        f"archive_dir = {archive}\n"
        + "".join(f"{name} = {live / (name + '.pem')}\n" for name in ARCHIVE_FILES)
        + "\n[renewalparams]\nauthenticator = webroot\n"
    )
    cert = x509.load_pem_x509_certificate(leaf_pem)
    return {
        "changed": True,
        "created_config_dir": created,
        "version": version,
        "serial": _serial(cert),
        "names": list(args.name),
        "live": str(live),
    }


def certbot_hooks(args: argparse.Namespace) -> dict[str, Any]:
    """What certbot does after a successful renewal: each executable file in
    renewal-hooks/deploy, in name order, through the shell, with RENEWED_LINEAGE and RENEWED_DOMAINS."""
    config_dir = Path(args.config_dir)
    hooks_dir = config_dir / "renewal-hooks" / "deploy"
    env = {
        **os.environ,
        "RENEWED_LINEAGE": str(config_dir / "live" / args.lineage),
        "RENEWED_DOMAINS": " ".join(args.name),
    }
    ran = []
    failed = False
    for hook in sorted(hooks_dir.iterdir()) if hooks_dir.is_dir() else []:
        if not (hook.is_file() and os.access(hook, os.X_OK)):
            continue
        result = subprocess.run(
            [str(hook)], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False
        )
        ran.append({"hook": str(hook), "rc": result.returncode, "output": result.stdout + result.stderr})
        failed = failed or result.returncode != 0
    return {"changed": bool(ran), "failed": failed, "hooks": ran}


def certbot_remove(args: argparse.Namespace) -> dict[str, Any]:
    config_dir = Path(args.config_dir)
    if not config_dir.exists():
        return {"changed": False, "removed": []}
    if (config_dir / CREATED_MARKER).exists():
        shutil.rmtree(config_dir)
        return {"changed": True, "removed": [str(config_dir)]}
    removed = []
    for path in (
        config_dir / "archive" / args.lineage,
        config_dir / "live" / args.lineage,
        config_dir / "renewal" / f"{args.lineage}.conf",
    ):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
            removed.append(str(path))
        elif path.exists() or path.is_symlink():
            path.unlink()
            removed.append(str(path))
    return {"changed": bool(removed), "removed": removed}


def serial(args: argparse.Namespace) -> dict[str, Any]:
    cert = x509.load_pem_x509_certificate(Path(args.file).read_bytes())
    return {"changed": False, "file": args.file, "serial": _serial(cert)}


# -- a process holding a port ----------------------------------------------------------------------
class Holder(proc.Daemon):
    def __init__(self, workdir: Path, listen: str) -> None:
        super().__init__(workdir, pidfile="holder.pid", log="holder.log", state="holder.json")
        self.listen = listen

    def is_ours(self, argv: list[bytes]) -> bool:
        return b"hold-serve" in argv and self.listen.encode() in argv


def _split(listen: str) -> tuple[str, int]:
    host, _sep, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def hold_serve(args: argparse.Namespace) -> dict[str, Any]:
    """Hold the port: accept, answer 503 in plain HTTP, close (as a foreign service would)."""
    host, port = _split(args.listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, port))
        server.listen(16)
        body = b"held by the brownfield scenario's port holder\n"
        while True:
            conn, _peer = server.accept()
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    conn.sendall(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                        + body
                    )
                except OSError:
                    pass


def hold(args: argparse.Namespace) -> dict[str, Any]:
    holder = Holder(Path(args.workdir), args.listen)
    pid = holder.running_pid()
    if args.action == "status":
        return {"changed": False, "running": pid is not None, "pid": pid, "listen": args.listen}
    if args.action == "stop":
        if pid is not None:
            proc.terminate(pid, timeout=10)
        holder.forget()
        return {"changed": pid is not None, "running": False, "pid": None, "listen": args.listen}
    if pid is not None:
        return {"changed": False, "running": True, "pid": pid, "listen": args.listen}
    host, port = _split(args.listen)
    busy = proc.bind_error(host, port, reuse_address=True)
    if busy:
        raise RuntimeError(f"cannot hold {args.listen}: already in use ({busy})")
    holder.workdir.mkdir(parents=True, exist_ok=True)
    process = proc.spawn(
        [sys.executable, str(Path(__file__).resolve()), "hold-serve", "--listen", args.listen],
        holder.log_path,
        detach=True,
    )
    holder.pidfile.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the port holder did not listen on {args.listen}: {holder.log_tail()}") from None
            time.sleep(0.1)
    process.returncode = 0  # it outlives this script (stop reaps it by pid)
    return {"changed": True, "running": True, "pid": process.pid, "listen": args.listen}


# -- Synapse, configured as Debian's package configures it -------------------------------------------
#: Not the lab's 8008: `make demo` leaves the lab's own Synapse running there.
SYNAPSE_PORT = 8018


def synapse_config(args: argparse.Namespace) -> dict[str, Any]:
    """homeserver.yaml's differences from the lab's: Debian's listener on ::1 and 127.0.0.1 (with
    a tag and without x_forwarded) and a metrics listener."""
    listeners: list[dict[str, Any]] = [
        {
            "port": SYNAPSE_PORT,
            "tls": False,
            "type": "http",
            "bind_addresses": ["::1", "127.0.0.1"],
            "tag": args.tag,
            "resources": [{"names": ["client", "federation"], "compress": False}],
        },
        {"port": args.metrics_port, "type": "metrics", "bind_addresses": ["127.0.0.1"]},
    ]
    return {
        "server_name": args.server_name,
        "public_baseurl": f"https://matrix.{args.server_name}/",
        "listeners": listeners,
        "enable_metrics": True,
    }


def synapse(args: argparse.Namespace) -> dict[str, Any]:
    # The lab module's server name is a module constant: the scenario's Synapse is brownfield.test.
    lab_synapse.SERVER_NAME = args.server_name
    lab_synapse.PUBLIC_BASEURL = f"https://matrix.{args.server_name}/"
    state_dir = Path(args.workdir)
    paths = lab_synapse.paths(state_dir)
    if args.action == "down":
        stopped = lab_synapse.stop(state_dir)
        return {"changed": stopped, "running": False}
    if args.action == "status":
        return {"changed": False, **lab_synapse.status(state_dir)}
    # One virtualenv for the lab and this scenario: the lab's (installed from PyPI the first time).
    lab_venv = lab_synapse.paths(Path(args.lab_dir)).venv
    lab_synapse.ensure_venv(Path(args.lab_dir))
    paths.root.mkdir(parents=True, exist_ok=True)
    if not paths.venv.is_symlink():
        if paths.venv.exists():
            shutil.rmtree(paths.venv)
        paths.venv.symlink_to(lab_venv)
    # Debian's package keeps the server name in conf.d/ (conf.d/server_name.yaml, report_stats.yaml).
    paths.conf_d.mkdir(parents=True, exist_ok=True)
    for name, text in (
        (
            "server_name.yaml",
            f"# This file is autogenerated, and will be recreated on upgrade.\nserver_name: {args.server_name}\n",
        ),
        ("report_stats.yaml", "# This file is autogenerated, and will be recreated on upgrade.\nreport_stats: false\n"),
    ):
        path = paths.conf_d / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    info = lab_synapse.start(
        state_dir,
        extra_config=synapse_config(args),
        listen=f"127.0.0.1:{SYNAPSE_PORT}",
        restart=args.action == "restart",
        timeout=args.timeout,
    )
    return {"changed": info["action"] != "already running", **info}


# -- DNS -------------------------------------------------------------------------------------------
def dns(args: argparse.Namespace) -> dict[str, Any]:
    address, _sep, port = args.listen.partition("@")
    zone = f"{args.zone.rstrip('.')}."
    lines = [
        f"$ORIGIN {zone}",
        "$TTL 300",
        f"@ SOA ns.{zone} hostmaster.{zone} 1 3600 600 86400 300",
        f"@ NS ns.{zone}",
        f"ns A {address}",
        *[f"{record.replace('=', ' A ', 1)}" for record in args.record],
    ]
    server = knot.KnotServer(Path(args.workdir), address, int(port), {zone: "\n".join(lines) + "\n"})
    if args.action == "down":
        return {"changed": server.stop(), "running": False}
    pid = server.running_pid()
    try:
        current = server.conf_path.read_text() == server.config_text() and server.zone_path(zone).read_text() == (
            "\n".join(lines) + "\n"
        )
    except OSError:
        current = False
    if pid is not None and current:
        return {"changed": False, "running": True, "pid": pid, "nameserver": server.nameserver}
    server.start(detach=True)
    return {"changed": True, "running": True, "pid": server.running_pid(), "nameserver": server.nameserver}


# -- a request from outside --------------------------------------------------------------------------
class _SNIConnection(http.client.HTTPSConnection):
    """HTTPS to an explicit address with another name for SNI (and the certificate check)."""

    def __init__(self, address: str, port: int, *, sni: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(address, port, context=context, timeout=timeout)
        self.sni = sni
        self.tls_context = context

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self.tls_context.wrap_socket(raw, server_hostname=self.sni)


def _certificate_info(conn: http.client.HTTPConnection) -> dict[str, Any] | None:
    sock = conn.sock
    if not isinstance(sock, ssl.SSLSocket):
        return None
    cert = x509.load_der_x509_certificate(sock.getpeercert(binary_form=True) or b"")
    try:
        names = [str(name.value) for name in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]
    except x509.ExtensionNotFound:
        names = []
    return {"version": sock.version(), "serial": _serial(cert), "subject_alt_names": names}


def probe(args: argparse.Namespace) -> dict[str, Any]:
    """GET args.path from args.connect (Host and SNI: args.server_name); a failure is data, not an error."""
    host, port = _split(args.connect)
    conn: http.client.HTTPConnection
    if args.tls:
        context = ssl.create_default_context(cafile=args.ca)
        conn = _SNIConnection(host, port, sni=args.server_name, context=context, timeout=args.timeout)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=args.timeout)
    answer: dict[str, Any] = {"changed": False, "connect": args.connect, "error": None, "tls": None}
    answer.update(status=None, headers={}, body=None, json=None)
    try:
        conn.connect()
        answer["tls"] = _certificate_info(conn)
        conn.request("GET", args.path, headers={"Host": args.server_name or host, "User-Agent": "matrixops-brownfield"})
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        answer.update(status=response.status, headers=dict(response.getheaders()), body=text)
        with contextlib.suppress(ValueError):
            answer["json"] = json.loads(text)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        answer["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    return answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    for name in ("certbot-issue", "certbot-hooks", "certbot-remove"):
        command = sub.add_parser(name)
        command.add_argument("--config-dir", default="/etc/letsencrypt")
        command.add_argument("--lineage", required=True)
        command.add_argument("--name", action="append", default=[], help="a DNS name of the certificate")
        if name == "certbot-issue":
            command.add_argument("--ca", required=True, help="the CA's base path (BASE.pem, BASE.key)")
            command.add_argument("--renew", action="store_true")

    command = sub.add_parser("serial")
    command.add_argument("--file", required=True)

    command = sub.add_parser("hold")
    command.add_argument("action", choices=["start", "stop", "status"])
    command.add_argument("--workdir", required=True)
    command.add_argument("--listen", required=True, metavar="IP:PORT")
    command = sub.add_parser("hold-serve")
    command.add_argument("--listen", required=True, metavar="IP:PORT")

    command = sub.add_parser("synapse")
    command.add_argument("action", choices=["up", "restart", "down", "status"])
    command.add_argument("--workdir", required=True, help="state dir: Synapse's files are in <workdir>/synapse")
    command.add_argument("--lab-dir", required=True, help="the lab's state dir (its Synapse virtualenv is shared)")
    command.add_argument("--server-name", default="brownfield.test")
    command.add_argument("--tag", default="debian-main")
    command.add_argument("--metrics-port", type=int, default=9000)
    command.add_argument("--timeout", type=float, default=90.0)

    command = sub.add_parser("dns")
    command.add_argument("action", choices=["up", "down"])
    command.add_argument("--workdir", required=True)
    command.add_argument("--listen", required=True, metavar="IP@PORT")
    command.add_argument("--zone", required=True)
    command.add_argument("--record", action="append", default=[], metavar="NAME=IPV4")

    command = sub.add_parser("probe")
    command.add_argument("--connect", required=True, metavar="IP:PORT")
    command.add_argument("--tls", action="store_true")
    command.add_argument("--server-name")
    command.add_argument("--ca")
    command.add_argument("--path", default="/")
    command.add_argument("--timeout", type=float, default=10.0)

    args = parser.parse_args()
    handlers = {
        "certbot-issue": certbot_issue,
        "certbot-hooks": certbot_hooks,
        "certbot-remove": certbot_remove,
        "serial": serial,
        "hold": hold,
        "hold-serve": hold_serve,
        "synapse": synapse,
        "dns": dns,
        "probe": probe,
    }
    try:
        result = handlers[args.command](args)
    except (OSError, RuntimeError, ValueError, knot.KnotError, lab_synapse.SynapseError) as exc:
        print(json.dumps({"changed": False, "failed": True, "msg": f"{args.command}: {exc}"}))
        return 1
    print(json.dumps(result))
    if result.get("failed"):
        return 1
    # `synapse status` and `hold status` answer like an init script's status: 3 when not running.
    return 3 if getattr(args, "action", None) == "status" and not result.get("running") else 0


if __name__ == "__main__":
    sys.exit(main())

"""A private test nginx: TLS server blocks in front of the lab's Synapse, or static answers.

Test scaffolding only (the real reverse proxy is the ``reverse_proxy`` role).  Each instance
lives in its own working directory, with its own config, pid file, logs and temp dirs, and
runs as ``nginx -c <workdir>/nginx.conf -p <workdir>/ -e <workdir>/logs/error.log`` (root
master and workers, ``daemon on``).  It listens only on the ``IP:port`` pairs of its server
blocks, never on a wildcard address, so several instances can run side by side.  The
Debian ``nginx`` package is installed when missing, without starting the system's nginx.

    import nginx                                   # tests/lab on sys.path
    servers = [
        nginx.Server(listen="127.0.0.3:443", server_name="matrix.example.test",
                     certificate=cert, key=key, proxy_pass="http://127.0.0.1:8008"),
        nginx.Server(listen="127.0.0.2:443", server_name="example.test", certificate=c2, key=k2,
                     locations={"= /.well-known/matrix/server":
                                nginx.json_return({"m.server": "matrix.example.test:443"})}),
    ]
    nginx.start(workdir, servers)      # starts, or rewrites the config and reloads
    nginx.reload(workdir, servers)     # new config (validated with nginx -t first)
    nginx.stop(workdir)

From the command line::

    python tests/lab/nginx.py start --workdir DIR \\
        --server 'listen=127.0.0.3:443,server_name=matrix.example.test,certificate=C,key=K,proxy_pass=http://127.0.0.1:8008'
    python tests/lab/nginx.py status --workdir DIR
    python tests/lab/nginx.py stop --workdir DIR
    python tests/lab/nginx.py selfcheck [--workdir DIR]   # throwaway CA, start/reload/stop checks
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import proc

__all__ = [
    "NginxError",
    "Server",
    "ensure_apt_packages",
    "ensure_nginx",
    "find_nginx",
    "https_get",
    "json_return",
    "reload",
    "render_config",
    "running_pid",
    "start",
    "status",
    "stop",
]

#: Where a proxied location is sent by default (the lab's Synapse).
SYNAPSE_UPSTREAM = "http://127.0.0.1:8008"
PROXIED_PATHS = ("/_matrix", "/_synapse")


class NginxError(RuntimeError):
    """nginx could not be installed, configured, started, reloaded or stopped."""


# -- installation ----------------------------------------------------------------------------
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


@contextlib.contextmanager
def _no_service_starts() -> Iterator[None]:
    """A temporary policy-rc.d exiting 101, so package installs start no service.

    An existing policy-rc.d (someone else's) is left in place and untouched.
    """
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\n# temporary, by tests/lab/nginx.py: start no service\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)


def _dpkg_installed(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False)
    return result.returncode == 0 and result.stdout.strip() == "install ok installed"


def ensure_apt_packages(*packages: str) -> list[str]:
    """``apt-get install`` those of ``packages`` not installed yet; return what was installed.

    Runs ``apt-get update`` only when the first install attempt fails (no or stale lists).
    No service is started by the install (temporary policy-rc.d exiting 101).
    """
    missing = [p for p in packages if not _dpkg_installed(p)]
    if not missing:
        return []
    if os.geteuid() != 0:
        raise NginxError(f"need root to install {' '.join(missing)} (apt-get install {' '.join(missing)})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-q", "-y", "-o", "DPkg::Lock::Timeout=300"]
    install = [
        *apt,
        "-o",
        "Dpkg::Options::=--force-confdef",
        "-o",
        "Dpkg::Options::=--force-confold",
        "install",
        "--no-install-recommends",
        *missing,
    ]
    with _no_service_starts():
        first = subprocess.run(install, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        if first.returncode != 0:
            update = subprocess.run(
                [*apt, "update"], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
            )
            if update.returncode != 0:
                raise NginxError(f"apt-get update failed:\n{update.stdout[-2000:]}{update.stderr[-2000:]}")
            second = subprocess.run(
                install, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
            )
            if second.returncode != 0:
                raise NginxError(
                    f"apt-get install {' '.join(missing)} failed:\n{second.stdout[-2000:]}{second.stderr[-2000:]}"
                )
    return missing


def find_nginx() -> str | None:
    return proc.find_executable("nginx")


def ensure_nginx() -> str:
    """Path of the nginx binary, installing Debian's ``nginx`` package when there is none."""
    binary = find_nginx()
    if binary is None:
        ensure_apt_packages("nginx")
        binary = find_nginx()
    if binary is None:
        raise NginxError("nginx is still missing after apt-get install nginx")
    return binary


# -- configuration ---------------------------------------------------------------------------
def _quote(value: str) -> str:
    """An nginx string literal (single-quoted, backslash escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def json_return(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None, content_type: str = "application/json"
) -> str:
    """Location directives answering ``data`` (JSON-encoded unless already ``str``/``bytes``)."""
    body = data if isinstance(data, str) else data.decode() if isinstance(data, bytes) else json.dumps(data)
    lines = [f"default_type {_quote(content_type)};"]
    lines += [f"add_header {_quote(k)} {_quote(v)} always;" for k, v in (headers or {}).items()]
    lines.append(f"return {int(status)} {_quote(body)};")
    return "\n".join(lines)


def _split_listen(listen: str) -> tuple[str, int]:
    address, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise NginxError(f"listen {listen!r}: expected IP:port")
    address = address.strip("[]")
    if address in ("", "0.0.0.0", "::", "*") or address.startswith("0."):
        raise NginxError(f"refusing to listen on the wildcard address in {listen!r}: use a specific loopback address")
    return address, int(port)


@dataclass
class Server:
    """One nginx ``server {}`` block.

    ``listen``: ``IP:port`` or a list of them (``ssl`` is added when ``certificate`` is set).
    ``proxy_pass``: an upstream URL; ``/_matrix`` and ``/_synapse`` (``proxy_paths``) go to it
    with Host, X-Forwarded-For and X-Forwarded-Proto set.  ``locations`` maps a location
    argument (``"/x"``, ``"= /x"``, ``"~ re"``) to raw directives (see :func:`json_return`).
    ``root``: a directory served as the document root.  ``extra``: raw directives for the
    server block.  ``default_server`` marks the block default for its listen addresses.
    """

    listen: str | Sequence[str]
    server_name: str | Sequence[str] = "_"
    certificate: str | Path | None = None
    key: str | Path | None = None
    proxy_pass: str | None = None
    proxy_paths: Sequence[str] = PROXIED_PATHS
    locations: Mapping[str, str] = field(default_factory=dict)
    root: str | Path | None = None
    extra: str = ""
    default_server: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.listen, str):
            self.listen = [self.listen]
        if isinstance(self.server_name, str):
            self.server_name = [self.server_name]
        for item in self.listen:
            _split_listen(item)
        if (self.certificate is None) != (self.key is None):
            raise NginxError("a Server needs both certificate and key, or neither")

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [_split_listen(item) for item in self.listen]

    def render(self) -> str:
        tls = self.certificate is not None
        out = ["    server {"]
        for address, port in self.addresses:
            host = f"[{address}]" if ":" in address else address
            flags = (" ssl" if tls else "") + (" default_server" if self.default_server else "")
            out.append(f"        listen {host}:{port}{flags};")
        out.append("        server_name " + " ".join(self.server_name) + ";")
        if tls:
            out += [
                f"        ssl_certificate {_quote(str(Path(self.certificate).resolve()))};",
                f"        ssl_certificate_key {_quote(str(Path(self.key).resolve()))};",
                "        ssl_protocols TLSv1.2 TLSv1.3;",
            ]
        if self.root is not None:
            out.append(f"        root {_quote(str(Path(self.root).resolve()))};")
        for line in self.extra.splitlines():
            out.append("        " + line)
        if self.proxy_pass:
            for path in self.proxy_paths:
                out += [
                    f"        location {path} {{",
                    f"            proxy_pass {self.proxy_pass};",
                    "            proxy_set_header Host $host;",
                    "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
                    "            proxy_set_header X-Forwarded-Proto $scheme;",
                    "            proxy_http_version 1.1;",
                    "            client_max_body_size 50M;",
                    "        }",
                ]
        for where, directives in self.locations.items():
            out.append(f"        location {where} {{")
            out += ["            " + line for line in directives.splitlines()]
            out.append("        }")
        out.append("    }")
        return "\n".join(out)


def _servers(servers: Iterable[Server | Mapping[str, Any]]) -> list[Server]:
    result = [s if isinstance(s, Server) else Server(**s) for s in servers]
    if not result:
        raise NginxError("nginx needs at least one server block")
    return result


class _Paths(proc.Daemon):
    """An instance's files; its log is the error log, its state the addresses it listens on."""

    def __init__(self, workdir: Path | str) -> None:
        super().__init__(workdir, pidfile="nginx.pid", log="logs/error.log", state="nginx-state.json")
        self.conf = self.workdir / "nginx.conf"
        self.logs = self.log_path.parent
        self.access_log = self.logs / "access.log"
        self.temp = self.workdir / "temp"

    def is_ours(self, argv: list[bytes]) -> bool:
        """The nginx master started with this instance's config."""
        command = b" ".join(argv)
        return command.startswith(b"nginx: master process") and str(self.conf).encode() in command


def render_config(workdir: Path | str, servers: Iterable[Server | Mapping[str, Any]]) -> str:
    p = _Paths(workdir)
    q = _quote
    temp = {name: q(str(p.temp / name)) for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    lines = [
        "# Written by tests/lab/nginx.py.",
        "daemon on;",
        "user root;",
        "worker_processes 1;",
        f"pid {q(str(p.pidfile))};",
        f"error_log {q(str(p.log_path))} info;",
        "worker_shutdown_timeout 5s;",
        "events {",
        "    worker_connections 256;",
        "}",
        "http {",
        "    include /etc/nginx/mime.types;",
        "    default_type application/octet-stream;",
        f"    access_log {q(str(p.access_log))};",
        f"    client_body_temp_path {temp['client_body']};",
        f"    proxy_temp_path {temp['proxy']};",
        f"    fastcgi_temp_path {temp['fastcgi']};",
        f"    uwsgi_temp_path {temp['uwsgi']};",
        f"    scgi_temp_path {temp['scgi']};",
        "    server_tokens off;",
        "    keepalive_timeout 5s;",
        "    proxy_read_timeout 60s;",
    ]
    lines += [s.render() for s in _servers(servers)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _nginx_cmd(p: _Paths, binary: str, *args: str) -> list[str]:
    return [binary, "-c", str(p.conf), "-p", str(p.workdir) + "/", "-e", str(p.log_path), *args]


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)


def _write(p: _Paths, servers: list[Server], binary: str) -> list[tuple[str, int]]:
    """Write the config to a candidate file, ``nginx -t`` it, then put it in place."""
    for directory in (p.workdir, p.logs, p.temp):
        directory.mkdir(parents=True, exist_ok=True)
    candidate = p.conf.with_name("nginx.conf.new")
    candidate.write_text(render_config(p.workdir, servers))
    check = _run([binary, "-t", "-q", "-c", str(candidate), "-p", str(p.workdir) + "/", "-e", str(p.log_path)])
    if check.returncode != 0:
        raise NginxError(f"nginx -t rejected the config ({candidate}):\n{check.stderr.strip()}")
    candidate.replace(p.conf)
    return sorted({a for s in servers for a in s.addresses})


# -- process ---------------------------------------------------------------------------------
def _workers(pid: int) -> set[int]:
    children = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, ValueError):
            children |= {int(c) for c in (task / "children").read_text().split()}
    return children


def running_pid(workdir: Path | str) -> int | None:
    """PID of the nginx master started from ``workdir``, if it runs."""
    return _Paths(workdir).running_pid()


def _wait_listening(addresses: list[tuple[str, int]], timeout: float, p: _Paths) -> None:
    deadline = time.monotonic() + timeout
    for address, port in addresses:
        while True:
            try:
                with socket.create_connection((address, port), timeout=1):
                    break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise NginxError(
                        f"nginx ({p.workdir}) does not accept connections on {address}:{port} ({exc}); "
                        f"error log:\n{p.log_tail()}"
                    ) from None
                time.sleep(0.05)


def _state_addresses(p: _Paths) -> list[tuple[str, int]]:
    return [_split_listen(x) for x in p.read_state().get("listen", [])]


def start(workdir: Path | str, servers: Iterable[Server | Mapping[str, Any]], *, timeout: float = 15.0) -> dict:
    """Start nginx from ``workdir`` with these server blocks; when it already runs from
    there, rewrite the config and reload instead.  Returns :func:`status`."""
    p = _Paths(workdir)
    servers = _servers(servers)
    if running_pid(p.workdir) is not None:
        return reload(p.workdir, servers, timeout=timeout)
    binary = ensure_nginx()
    addresses = _write(p, servers, binary)
    p.pidfile.unlink(missing_ok=True)
    result = _run(_nginx_cmd(p, binary))
    if result.returncode != 0:
        raise NginxError(
            f"nginx ({p.conf}) failed to start (status {result.returncode}):\n{result.stderr.strip()}\n"
            f"error log:\n{p.log_tail()}"
        )
    deadline = time.monotonic() + timeout
    while running_pid(p.workdir) is None:
        if time.monotonic() > deadline:
            raise NginxError(f"nginx ({p.conf}) wrote no pid file; error log:\n{p.log_tail()}")
        time.sleep(0.05)
    try:
        _wait_listening(addresses, max(1.0, deadline - time.monotonic()), p)
    except NginxError:
        stop(p.workdir)
        raise
    p.write_state({"listen": [f"{a}:{port}" for a, port in addresses]})
    return {**status(p.workdir), "action": "started"}


def reload(
    workdir: Path | str, servers: Iterable[Server | Mapping[str, Any]] | None = None, *, timeout: float = 15.0
) -> dict:
    """Validate and install a new config (when ``servers`` is given) and reload nginx.

    Returns once new workers serve it (old ones got QUIT and no longer accept connections).
    A config that ``nginx -t`` rejects raises :class:`NginxError` and leaves nginx untouched.
    """
    p = _Paths(workdir)
    pid = running_pid(p.workdir)
    if pid is None:
        raise NginxError(f"no nginx runs from {p.workdir}")
    binary = ensure_nginx()
    addresses = _write(p, _servers(servers), binary) if servers is not None else _state_addresses(p)
    before = _workers(pid)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while True:
        now = _workers(pid)
        if now - before and not (now & before):
            break
        if not proc.pid_alive(pid):
            raise NginxError(f"nginx ({p.workdir}) died while reloading; error log:\n{p.log_tail()}")
        if time.monotonic() > deadline:
            if now - before:  # new workers run; old ones still finish requests
                break
            raise NginxError(f"nginx ({p.workdir}) did not reload; error log:\n{p.log_tail()}")
        time.sleep(0.05)
    _wait_listening(addresses, max(1.0, deadline - time.monotonic()), p)
    p.write_state({"listen": [f"{a}:{port}" for a, port in addresses]})
    return {**status(p.workdir), "action": "reloaded"}


def stop(workdir: Path | str, *, timeout: float = 15.0) -> bool:
    """Stop nginx (SIGTERM to the master, SIGKILL after ``timeout``); wait for its workers.

    True when it was running.  Idempotent."""
    p = _Paths(workdir)
    pid = running_pid(p.workdir)
    if pid is None:
        return False
    proc.terminate(pid, timeout=timeout, also=_workers(pid))
    p.forget()
    return True


def status(workdir: Path | str) -> dict:
    p = _Paths(workdir)
    pid = running_pid(p.workdir)
    return {
        "running": pid is not None,
        "pid": pid,
        "workers": sorted(_workers(pid)) if pid else [],
        "listen": p.read_state().get("listen", []),
        "config": str(p.conf),
        "error_log": str(p.log_path),
        "access_log": str(p.access_log),
    }


# -- self-check and command line ---------------------------------------------------------------
def https_get(
    address: str, port: int, host: str, path: str, cafile: Path | str, *, timeout: float = 10.0
) -> tuple[str, dict[str, str], bytes]:
    """HTTPS GET to ``address:port`` with SNI and Host ``host``, trusting only ``cafile``.

    Returns ``("HTTP/1.1 200 OK", {lower-case header: value}, body)``."""
    import http.client
    import ssl

    context = ssl.create_default_context(cafile=str(cafile))

    class Connection(http.client.HTTPSConnection):
        def connect(self) -> None:
            raw = socket.create_connection((address, port), self.timeout)
            self.sock = context.wrap_socket(raw, server_hostname=host)

    connection = Connection(host, port, context=context, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host if port == 443 else f"{host}:{port}"})
        response = connection.getresponse()
        body = response.read()
        status_line = f"HTTP/{response.version / 10:.1f} {response.status} {response.reason}"
        return status_line, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


def selfcheck(workdir: Path, address: str = "127.0.0.9", port: int = 8443) -> None:
    """Throwaway CA and certificate; start, answer, reload with new content, stop."""
    import pki

    workdir = Path(workdir).resolve()
    ca = pki.create_ca(workdir / "ca")
    leaf = pki.issue_cert(ca, workdir / "certs" / "selfcheck.example.test", ["selfcheck.example.test"])
    (workdir / "www" / ".well-known" / "matrix").mkdir(parents=True, exist_ok=True)
    (workdir / "www" / ".well-known" / "matrix" / "client").write_text('{"m.homeserver": {"base_url": "x"}}')

    def server(body: dict) -> Server:
        return Server(
            listen=f"{address}:{port}",
            server_name="selfcheck.example.test",
            certificate=leaf.cert_path,
            key=leaf.key_path,
            root=workdir / "www",
            proxy_pass=SYNAPSE_UPSTREAM,
            locations={"= /.well-known/matrix/server": json_return(body, headers={"Access-Control-Allow-Origin": "*"})},
        )

    info = start(workdir, [server({"m.server": "a.example.test:443"})])
    print(f"nginx started: pid {info['pid']}, workers {info['workers']}, listen {info['listen']}")
    status_line, headers, body = https_get(
        address, port, "selfcheck.example.test", "/.well-known/matrix/server", ca.cert_path
    )
    assert status_line.endswith("200 OK") and json.loads(body) == {"m.server": "a.example.test:443"}, (
        status_line,
        body,
    )
    assert headers["content-type"] == "application/json" and headers["access-control-allow-origin"] == "*", headers
    body = https_get(address, port, "selfcheck.example.test", "/.well-known/matrix/client", ca.cert_path)[2]
    assert json.loads(body)["m.homeserver"]["base_url"] == "x", body
    old_workers = set(info["workers"])
    info = start(workdir, [server({"m.server": "b.example.test:443"})])  # running: reload
    assert info["action"] == "reloaded" and not old_workers & set(info["workers"]), info
    body = https_get(address, port, "selfcheck.example.test", "/.well-known/matrix/server", ca.cert_path)[2]
    assert json.loads(body) == {"m.server": "b.example.test:443"}, body
    print(f"reloaded: workers {info['workers']}, new content served")
    try:
        reload(workdir, [Server(listen=f"{address}:{port}", extra="this_is_not_a_directive;")])
    except NginxError as exc:
        print(f"bad config refused: {str(exc).splitlines()[1][:100]}")
    else:  # pragma: no cover
        raise AssertionError("a bad config was accepted")
    body = https_get(address, port, "selfcheck.example.test", "/.well-known/matrix/server", ca.cert_path)[2]
    assert json.loads(body) == {"m.server": "b.example.test:443"}, body
    procs = {info["pid"], *info["workers"]}
    assert stop(workdir) is True and stop(workdir) is False
    assert not any(proc.pid_alive(x) for x in procs), procs
    assert proc.bind_error(address, port, reuse_address=True) is None, f"{address}:{port} still in use"
    print("selfcheck passed: nginx stopped, no process left")


def _parse_server(spec: str) -> Server:
    fields: dict[str, Any] = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"--server: expected key=value, got {item!r}")
        if key == "listen":
            fields.setdefault("listen", []).append(value)
        else:
            fields[key] = value
    return Server(**fields)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start, reload, stop or check a private test nginx.")
    parser.add_argument("action", choices=["start", "reload", "stop", "status", "selfcheck", "install"])
    parser.add_argument("--workdir", type=Path)
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        type=_parse_server,
        help="listen=IP:PORT,server_name=N,certificate=PEM,key=KEY,proxy_pass=URL,root=DIR (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "install":
            print(ensure_nginx())
            return 0
        if args.action == "selfcheck":
            if args.workdir:
                selfcheck(args.workdir)
            else:
                with tempfile.TemporaryDirectory(prefix="nginx-selfcheck.") as tmp:
                    selfcheck(Path(tmp))
            return 0
        if args.workdir is None:
            parser.error("--workdir is required")
        if args.action in ("start", "reload"):
            if args.action == "start" and not args.server:
                parser.error("start needs at least one --server")
            info = (start if args.action == "start" else reload)(args.workdir, args.server or None)
        elif args.action == "stop":
            print("nginx stopped" if stop(args.workdir) else "nginx was not running")
            return 0
        else:
            info = status(args.workdir)
    except NginxError as exc:
        return proc.cli_failure(f"nginx {args.action}", exc)
    print(json.dumps(info, indent=2))
    return 0 if info["running"] else 3


if __name__ == "__main__":
    sys.exit(main())

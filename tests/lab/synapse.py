"""The lab's Synapse: ``matrix-synapse`` from PyPI in its own virtualenv, SQLite, server name
``example.test``, HTTP on 127.0.0.1:8008.

    python tests/lab/synapse.py up        # venv (if needed), config, start, wait until it answers
    python tests/lab/synapse.py status    # exit 0 when it runs, 3 when it does not
    python tests/lab/synapse.py down      # stop it (add --purge to delete <state>/synapse)
    python tests/lab/synapse.py venv      # only create/refresh the virtualenv
    python tests/lab/synapse.py selfcheck # up, check both endpoints (and through a test nginx
                                          # with lab-CA TLS on 127.0.0.3:443), down

State lives in ``--state-dir`` (default: ``$MATRIXOPS_LAB_DIR``, else ``<repo>/.lab``); this
module keeps everything under ``<state>/synapse/``:

    venv/                         virtualenv from requirements/synapse.txt (+ .requirements.sha256 stamp)
    homeserver.yaml               main config, rewritten by every start/up
    conf.d/                       fragments (``*.yaml``) read after homeserver.yaml (second -c);
                                  Synapse merges top-level keys, later files win
    secrets.json                  macaroon/form/registration secrets, made once (0600)
    example.test.signing.key      the Ed25519 signing key, made once
    log.config, homeserver.log    logging; console.log holds the process' stdout/stderr
    homeserver.db, media_store/   SQLite database and media
    synapse.pid, started.json     the running process and what it was started with

As a library::

    import synapse as lab_synapse               # tests/lab on sys.path
    info = lab_synapse.start(state_dir)         # idempotent; returns status dict
    info = lab_synapse.start(state_dir,         # + a legacy TLS listener on 127.0.0.1:8448
        extra_config={"tls_certificate_path": cert, "tls_private_key_path": key},
        extra_listeners=[lab_synapse.tls_listener()])
    lab_synapse.stop(state_dir)

Synapse is started with ``subprocess.Popen`` in its own session (it outlives the caller),
stdout/stderr to ``console.log`` and its pid in ``synapse.pid``.  Only the lab addresses are
bound (never a wildcard address).  It is tuned for a small machine: no presence, URL previews,
metrics or user directory; smaller caches.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import proc
import yaml

__all__ = [
    "LISTEN",
    "LISTEN_ADDRESS",
    "LISTEN_PORT",
    "PUBLIC_BASEURL",
    "REQUIREMENTS",
    "SERVER_NAME",
    "SynapseError",
    "base_url",
    "build_config",
    "conf_d",
    "default_state_dir",
    "effective_config",
    "ensure_venv",
    "fetch_json",
    "paths",
    "running_pid",
    "signing_key_path",
    "start",
    "status",
    "stop",
    "tls_listener",
    "verify_key",
    "wait_ready",
    "write_config",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO_ROOT / "requirements" / "synapse.txt"

SERVER_NAME = "example.test"
LISTEN_ADDRESS = "127.0.0.1"
LISTEN_PORT = 8008
LISTEN = f"{LISTEN_ADDRESS}:{LISTEN_PORT}"
#: Where clients are told the homeserver is (the delegated host of the lab's address plan).
PUBLIC_BASEURL = "https://matrix.example.test/"
#: Endpoints that must answer before :func:`start` returns.
READY_PATHS = ("/_matrix/federation/v1/version", "/_matrix/key/v2/server")

MIN_PYTHON = (3, 10)  # matrix-synapse 1.163 needs Python >= 3.10
PREFERRED_PYTHON = (3, 11)  # requirements/synapse.txt is frozen on 3.11


class SynapseError(RuntimeError):
    """Synapse could not be installed, configured, started or stopped."""


def default_state_dir() -> Path:
    return Path(os.environ.get("MATRIXOPS_LAB_DIR") or REPO_ROOT / ".lab")


class Paths(proc.Daemon):
    """Every path this module uses, from the lab state directory.  As a :class:`proc.Daemon`:
    the working directory ``<state>/synapse`` (also ``root``), the log homeserver.log (Synapse's
    own; its stdout and stderr go to console.log), the state file started.json."""

    def __init__(self, state_dir: Path | str) -> None:
        self.state_dir = Path(state_dir).resolve()
        super().__init__(self.state_dir / "synapse", pidfile="synapse.pid", log="homeserver.log", state="started.json")
        self.root = self.workdir
        self.venv = self.root / "venv"
        self.python = self.venv / "bin" / "python"
        self.stamp = self.venv / ".requirements.sha256"
        self.config = self.root / "homeserver.yaml"
        self.conf_d = self.root / "conf.d"
        self.secrets = self.root / "secrets.json"
        self.signing_key = self.root / f"{SERVER_NAME}.signing.key"
        self.log_config = self.root / "log.config"
        self.console_log = self.root / "console.log"
        self.database = self.root / "homeserver.db"
        self.media_store = self.root / "media_store"
        self.lock = self.root / ".lock"
        self.pip_log = self.root / "pip.log"

    def is_ours(self, argv: list[bytes]) -> bool:
        """A Synapse started with this state directory's config."""
        return b"synapse.app.homeserver" in argv and str(self.config).encode() in argv


def paths(state_dir: Path | str | None = None) -> Paths:
    return Paths(state_dir if state_dir is not None else default_state_dir())


def signing_key_path(state_dir: Path | str | None = None) -> Path:
    return paths(state_dir).signing_key


def conf_d(state_dir: Path | str | None = None) -> Path:
    """The ``conf.d`` directory Synapse reads after homeserver.yaml (reverse_proxy fragments)."""
    return paths(state_dir).conf_d


def base_url(listen: str = LISTEN) -> str:
    return f"http://{listen}"


@contextlib.contextmanager
def _locked(p: Paths) -> Iterator[None]:
    """Serialise venv/config/start/stop between processes (e.g. pytest-xdist workers)."""
    p.root.mkdir(parents=True, exist_ok=True)
    with open(p.lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- virtualenv ------------------------------------------------------------------------------
def _python_version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys, venv, ensurepip; print('%d %d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def find_python() -> str:
    """A Python (3.11 preferred, >= 3.10) able to make a venv: $MATRIXOPS_SYNAPSE_PYTHON first."""
    candidates = [os.environ.get("MATRIXOPS_SYNAPSE_PYTHON"), "python3.11", sys.executable, "python3"]
    fallback = None
    for candidate in candidates:
        if not candidate:
            continue
        path = shutil.which(candidate) or (candidate if os.path.isabs(candidate) else None)
        if not path:
            continue
        version = _python_version(path)
        if version == PREFERRED_PYTHON:
            return path
        if version and version >= MIN_PYTHON and fallback is None:
            fallback = path
    if fallback:
        return fallback
    raise SynapseError("no Python >= 3.10 with the venv module found (set MATRIXOPS_SYNAPSE_PYTHON)")


def _requirements_hash(requirements: Path) -> str:
    return hashlib.sha256(requirements.read_bytes()).hexdigest()


def ensure_venv(
    state_dir: Path | str | None = None, *, requirements: Path | str = REQUIREMENTS, python: str | None = None
) -> Path:
    """Create ``<state>/synapse/venv`` and install ``requirements`` into it; return its python.

    Skipped when the venv's stamp holds the requirements file's sha256.  When the file
    changed, the venv is made again from scratch (no stale packages).  Installs from the
    package index as pip is configured; about 25 s on a 2-core machine with an empty cache.
    """
    p = paths(state_dir)
    requirements = Path(requirements)
    wanted = _requirements_hash(requirements)
    with _locked(p):
        if p.python.exists() and p.stamp.exists() and p.stamp.read_text().strip() == wanted:
            return p.python
        python = python or find_python()
        if p.venv.exists():
            shutil.rmtree(p.venv)
        with open(p.pip_log, "w") as log:
            for cmd in (
                [python, "-m", "venv", str(p.venv)],
                [
                    str(p.python),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "-r",
                    str(requirements),
                ],
            ):
                log.write("$ " + " ".join(cmd) + "\n")
                log.flush()
                result = subprocess.run(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, check=False
                )
                if result.returncode != 0:
                    raise SynapseError(
                        f"{' '.join(cmd[:4])} ... failed with status {result.returncode}; "
                        f"{p.pip_log}:\n{proc.tail(p.pip_log, 30)}"
                    )
        p.stamp.write_text(wanted + "\n")
        return p.python


# -- configuration ---------------------------------------------------------------------------
def tls_listener(address: str = LISTEN_ADDRESS, port: int = 8448, resources: Sequence[str] = ("federation",)) -> dict:
    """A legacy Synapse TLS listener.  Synapse also needs ``tls_certificate_path`` and
    ``tls_private_key_path`` in ``extra_config``."""
    return {
        "port": int(port),
        "bind_addresses": [address],
        "type": "http",
        "tls": True,
        "x_forwarded": False,
        "resources": [{"names": list(resources), "compress": False}],
    }


def _main_listener(address: str, port: int) -> dict:
    return {
        "port": port,
        "bind_addresses": [address],
        "type": "http",
        "tls": False,
        "x_forwarded": True,
        "resources": [{"names": ["client", "federation"], "compress": False}],
    }


def _merge(base: dict, extra: Mapping[str, Any]) -> dict:
    """Recursive dict merge: dicts merge, anything else replaces, ``None`` deletes the key."""
    for key, value in extra.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _secrets(p: Paths) -> dict[str, str]:
    try:
        data = json.loads(p.secrets.read_text())
        if all(
            isinstance(data.get(k), str) for k in ("macaroon_secret_key", "form_secret", "registration_shared_secret")
        ):
            return data
    except (OSError, ValueError):
        pass
    data = {k: secrets.token_urlsafe(32) for k in ("macaroon_secret_key", "form_secret", "registration_shared_secret")}
    p.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(p.secrets, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    return data


def _log_config(p: Paths) -> dict:
    return {
        "version": 1,
        "formatters": {
            "precise": {"format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"}
        },
        # Unbuffered, so that a failed start's reason is in the log at once.
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filename": str(p.log_path),
                "encoding": "utf8",
            }
        },
        "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
        "root": {"level": "INFO", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


def build_config(
    state_dir: Path | str | None = None,
    *,
    extra_config: Mapping[str, Any] | None = None,
    extra_listeners: Sequence[Mapping[str, Any]] = (),
    listen: str = LISTEN,
) -> dict:
    """The homeserver.yaml content as a dict (:func:`write_config` writes it).

    ``extra_config`` is merged into the generated config (dicts recursively, other values
    replace, ``None`` deletes a key; ``{"listeners": [...]}`` replaces all listeners);
    ``extra_listeners`` are appended after the HTTP listener on ``listen``.
    """
    p = paths(state_dir)
    address, _sep, port = listen.rpartition(":")
    address = address.strip("[]")
    if address in ("", "0.0.0.0", "::") or address.startswith("0."):
        raise SynapseError(f"refusing to listen on the wildcard address {address!r}")
    config: dict[str, Any] = {
        "server_name": SERVER_NAME,
        "public_baseurl": PUBLIC_BASEURL,
        "pid_file": str(p.pidfile),
        "report_stats": False,
        "listeners": [_main_listener(address, int(port)), *[copy.deepcopy(dict(x)) for x in extra_listeners]],
        "database": {"name": "sqlite3", "args": {"database": str(p.database)}},
        "log_config": str(p.log_config),
        "media_store_path": str(p.media_store),
        "signing_key_path": str(p.signing_key),
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "enable_registration": False,
        "serve_server_wellknown": False,
        # a small machine: nothing that costs CPU or memory without being needed
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        "enable_metrics": False,
        "user_directory": {"enabled": False},
        "caches": {"global_factor": 0.1},
        **_secrets(p),
    }
    return _merge(config, extra_config or {})


def write_config(state_dir: Path | str | None = None, **options: Any) -> Path:
    """Write homeserver.yaml, log.config and conf.d/, and make the signing key when missing.

    ``options`` are those of :func:`build_config` (``extra_config``, ``extra_listeners``,
    ``listen``), which makes homeserver.yaml.  The venv must exist (the signing key is made
    with Synapse's own ``--generate-keys``).
    """
    p = paths(state_dir)
    config = build_config(p.state_dir, **options)
    for directory in (p.root, p.conf_d, p.media_store):
        directory.mkdir(parents=True, exist_ok=True)
    p.log_config.write_text(yaml.safe_dump(_log_config(p), sort_keys=False))
    text = "# Written by tests/lab/synapse.py; rewritten at every start.\n" + yaml.safe_dump(config, sort_keys=False)
    fd = os.open(p.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds secrets
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    if not p.signing_key.exists():
        if not p.python.exists():
            raise SynapseError(f"no Synapse venv at {p.venv}: call ensure_venv() first")
        result = subprocess.run(
            [str(p.python), "-m", "synapse.app.homeserver", "-c", str(p.config), "--generate-keys"],
            cwd=p.root,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if result.returncode != 0 or not p.signing_key.exists():
            raise SynapseError(f"generating the signing key failed:\n{result.stdout}{result.stderr}")
    return p.config


def verify_key(state_dir: Path | str | None = None) -> tuple[str, str]:
    """``("ed25519:<version>", unpadded base64 seed)`` of the signing key file."""
    algorithm, version, seed = signing_key_path(state_dir).read_text().split()[:3]
    return f"{algorithm}:{version}", seed


# -- process -------------------------------------------------------------------------------
def running_pid(state_dir: Path | str | None = None) -> int | None:
    """PID of a Synapse started from this state directory, if it runs."""
    return paths(state_dir).running_pid()


def _port_busy(address: str, port: int) -> str | None:
    error = proc.bind_error(address, port, reuse_address=True)  # SO_REUSEADDR, as Twisted does
    return f"{address}:{port} is already in use ({error})" if error else None


def effective_config(state_dir: Path | str | None = None) -> dict:
    """homeserver.yaml with the conf.d fragments merged over it, as Synapse reads them
    (top-level keys of later files replace earlier ones; fragments in sorted order)."""
    p = paths(state_dir)
    config: dict = {}
    for path in [p.config, *sorted(p.conf_d.glob("*.yaml"))]:
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict):
            config.update(data)
    return config


def _listen_addresses(config: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The addresses Synapse will bind (``no_tls`` drops the TLS listeners, as Synapse does)."""
    listeners = [x for x in config.get("listeners", []) if not (config.get("no_tls") and x.get("tls"))]
    return [(a, int(x["port"])) for x in listeners for a in x.get("bind_addresses", [])]


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch_json(path: str, *, listen: str = LISTEN, timeout: float = 5.0) -> Any:
    """GET ``http://<listen><path>`` straight from Synapse (no proxy) and decode the JSON."""
    with _NO_PROXY.open(base_url(listen) + path, timeout=timeout) as response:
        return json.loads(response.read())


def wait_ready(
    state_dir: Path | str | None = None, *, timeout: float = 60.0, listen: str = LISTEN, pid: int | None = None
) -> dict:
    """Poll the READY_PATHS until both answer with JSON; return the version answer."""
    p = paths(state_dir)
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        if pid is not None:
            proc.reap(pid)
            if not proc.pid_alive(pid):
                raise SynapseError(
                    f"Synapse (pid {pid}) exited while starting; {p.console_log}:\n{proc.tail(p.console_log, 15)}\n"
                    f"{p.log_path}:\n{p.log_tail(30)}"
                )
        try:
            answers = [fetch_json(path, listen=listen, timeout=2) for path in READY_PATHS]
            if answers[1].get("server_name") == SERVER_NAME:
                return answers[0]
            last = f"unexpected key answer {answers[1]!r}"
        except (OSError, ValueError, urllib.error.URLError) as exc:
            last = f"{exc}"
        if time.monotonic() > deadline:
            raise SynapseError(
                f"Synapse on {listen} not ready after {timeout:.0f}s ({last}); {p.log_path}:\n{p.log_tail(30)}\n"
                f"{p.console_log}:\n{proc.tail(p.console_log, 10)}"
            )
        time.sleep(0.2)


def _fingerprint(p: Paths) -> str:
    digest = hashlib.sha256()
    for path in [p.config, p.stamp, *sorted(p.conf_d.glob("*.yaml"))]:
        digest.update(str(path).encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def start(
    state_dir: Path | str | None = None,
    *,
    extra_config: Mapping[str, Any] | None = None,
    extra_listeners: Sequence[Mapping[str, Any]] = (),
    listen: str = LISTEN,
    timeout: float = 60.0,
    restart: bool = False,
) -> dict:
    """Make sure Synapse runs with this configuration; return :func:`status`.

    Installs the venv when needed and writes the config.  A Synapse already running from
    this state directory with the same config, conf.d fragments and venv is left alone
    (``action: "already running"``); otherwise (or with ``restart``) it is stopped and
    started again.  Waits until the federation version and server key endpoints answer,
    raising :class:`SynapseError` with the log's tail after ``timeout`` seconds.
    """
    p = paths(state_dir)
    ensure_venv(p.state_dir)
    with _locked(p):
        write_config(p.state_dir, extra_config=extra_config, extra_listeners=extra_listeners, listen=listen)
        fingerprint = _fingerprint(p)
        pid = running_pid(p.state_dir)
        action = "started"
        if pid is not None:
            if p.read_state().get("fingerprint") == fingerprint and not restart:
                wait_ready(p.state_dir, timeout=timeout, listen=listen, pid=pid)
                return {**status(p.state_dir), "action": "already running"}
            _stop(p)
            action = "restarted"
        config = effective_config(p.state_dir)
        for address, port in _listen_addresses(config):
            busy = _port_busy(address, port)
            if busy:
                raise SynapseError(f"cannot start Synapse from {p.root}: {busy}")
        p.log_path.write_text("")
        began = time.monotonic()
        process = proc.spawn(
            [str(p.python), "-m", "synapse.app.homeserver", "-c", str(p.config), "-c", str(p.conf_d)],
            p.console_log,
            cwd=p.root,
            # Synapse reports `git describe` of the directory it runs from; the lab sits in
            # this checkout, whose commits are not Synapse's.
            env={**os.environ, "GIT_CEILING_DIRECTORIES": str(p.root.parent)},
            detach=True,  # outlives the caller (CLI `up`); not killed by its Ctrl-C
        )
        p.pidfile.write_text(f"{process.pid}\n")
        try:
            wait_ready(p.state_dir, timeout=timeout, listen=listen, pid=process.pid)
        except BaseException:
            _stop(p)
            process.poll()  # already reaped: lets Popen know, so it does not warn
            raise
        p.write_state(
            {
                "pid": process.pid,
                "fingerprint": fingerprint,
                "startup_seconds": round(time.monotonic() - began, 2),
                "listen": listen,
                "listeners": [f"{a}:{port}" for a, port in _listen_addresses(config)],
            }
        )
        # Synapse is meant to outlive this Popen object: keep Popen from warning about a child
        # still running when it is collected (stop() reaps it by pid).
        process.returncode = 0
        return {**status(p.state_dir), "action": action}


def _stop(p: Paths, timeout: float = 30.0) -> bool:
    pid = p.running_pid()
    if pid is not None:
        proc.terminate(pid, timeout=timeout, grace=10.0)
    p.forget()
    return pid is not None


def stop(state_dir: Path | str | None = None, *, timeout: float = 30.0) -> bool:
    """Stop the Synapse of this state directory (SIGTERM, SIGKILL after ``timeout``).

    True when one was running.  Idempotent."""
    p = paths(state_dir)
    if not p.root.exists():
        return False
    with _locked(p):
        return _stop(p, timeout)


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def status(state_dir: Path | str | None = None) -> dict:
    """What runs: ``running``, ``pid``, ``version`` (None unless it answers), paths."""
    p = paths(state_dir)
    pid = running_pid(p.state_dir)
    started = p.read_state()
    listen = started.get("listen", LISTEN)
    version = None
    if pid is not None:
        with contextlib.suppress(OSError, ValueError, urllib.error.URLError):
            version = fetch_json(READY_PATHS[0], listen=listen, timeout=2).get("server", {}).get("version")
    key_id = None
    with contextlib.suppress(OSError, ValueError):
        key_id = verify_key(p.state_dir)[0]
    return {
        "running": pid is not None,
        "pid": pid,
        "server_name": SERVER_NAME,
        "listen": listen,
        "base_url": base_url(listen),
        "listeners": started.get("listeners", []),
        "version": version,
        "startup_seconds": started.get("startup_seconds"),
        "rss_kib": _rss_kib(pid) if pid else None,
        "config": str(p.config),
        "conf_d": str(p.conf_d),
        "signing_key": str(p.signing_key),
        "verify_key_id": key_id,
        "log": str(p.log_path),
        "venv": str(p.venv),
    }


# -- self-check ------------------------------------------------------------------------------
def _check_keys(keys: dict, state_dir: Path) -> str:
    """Check a /_matrix/key/v2/server answer against our signing key: name, expiry, signature."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    def unb64(value: str) -> bytes:
        return base64.b64decode(value + "=" * (-len(value) % 4))

    key_id, seed = verify_key(state_dir)
    public = Ed25519PrivateKey.from_private_bytes(unb64(seed)).public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert keys["server_name"] == SERVER_NAME, keys
    assert keys["valid_until_ts"] > time.time() * 1000, keys
    assert unb64(keys["verify_keys"][key_id]["key"]) == raw, (keys, key_id)
    signed = {k: v for k, v in keys.items() if k not in ("signatures", "unsigned")}
    canonical = json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    public.verify(unb64(keys["signatures"][SERVER_NAME][key_id]), canonical)  # raises if bad
    return key_id


def selfcheck(state_dir: Path, *, with_nginx: bool = True) -> None:
    """Start Synapse, check it directly and through a lab-CA TLS nginx, stop everything."""
    t0 = time.monotonic()
    ensure_venv(state_dir)
    print(f"venv ready in {time.monotonic() - t0:.1f}s")
    info = start(state_dir, restart=True)
    pid = info["pid"]
    try:
        print(
            f"Synapse {info['version']} {info['action']} (pid {info['pid']}) in {info['startup_seconds']}s, "
            f"RSS {info['rss_kib'] // 1024} MiB"
        )
        again = start(state_dir)
        assert again["action"] == "already running" and again["pid"] == info["pid"], again
        key_id = _check_keys(fetch_json("/_matrix/key/v2/server"), state_dir)
        print(f"direct: key {key_id} of {SERVER_NAME} verifies; version {fetch_json(READY_PATHS[0])}")
        if with_nginx:
            import lab as lab_mod
            import nginx

            certs = lab_mod.Lab(state_dir).ensure_pki()
            host = lab_mod.DELEGATED_HOST
            workdir = Path(state_dir) / "nginx-selfcheck"
            server = nginx.Server(
                listen=f"{lab_mod.DELEGATED_HOST_ADDRESS}:443",
                server_name=host,
                certificate=certs[host]["cert"],
                key=certs[host]["key"],
                proxy_pass=base_url(),
            )
            nginx.start(workdir, [server])
            try:
                for path in READY_PATHS:
                    status_line, _headers, body = nginx.https_get(
                        lab_mod.DELEGATED_HOST_ADDRESS, 443, host, path, Path(state_dir) / "ca.pem"
                    )
                    assert status_line.startswith("HTTP/1.1 200"), status_line
                    answer = json.loads(body)
                    if path.startswith("/_matrix/key"):
                        _check_keys(answer, state_dir)
                    print(f"via nginx https://{host}{path}: {json.dumps(answer)[:100]}...")
            finally:
                nginx.stop(workdir)
            assert nginx.running_pid(workdir) is None
    finally:
        stopped = stop(state_dir)
    assert stopped is True
    assert stop(state_dir) is False
    assert not proc.pid_alive(pid) and running_pid(state_dir) is None
    assert _port_busy(LISTEN_ADDRESS, LISTEN_PORT) is None
    print("selfcheck passed: everything stopped")


# -- command line ----------------------------------------------------------------------------
def _print_status(info: dict, headline: str) -> None:
    print(headline)
    for key in (
        "pid",
        "version",
        "base_url",
        "listeners",
        "startup_seconds",
        "rss_kib",
        "config",
        "conf_d",
        "signing_key",
        "verify_key_id",
        "log",
    ):
        print(f"  {key + ':':17}{info.get(key)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Start, stop or show the lab's Synapse (example.test on 127.0.0.1:8008)."
    )
    parser.add_argument("action", choices=["up", "down", "status", "venv", "selfcheck"])
    parser.add_argument("--state-dir", type=Path, default=None, help="default: $MATRIXOPS_LAB_DIR or <repo>/.lab")
    parser.add_argument("--extra-config", type=Path, help="up: a YAML file merged into homeserver.yaml")
    parser.add_argument(
        "--tls-listen", metavar="IP:PORT", help="up: add a legacy TLS listener (with --tls-cert/--tls-key)"
    )
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    parser.add_argument("--restart", action="store_true", help="up: restart even when the config is unchanged")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--purge", action="store_true", help="down: also delete <state>/synapse")
    parser.add_argument("--no-nginx", action="store_true", help="selfcheck: skip the TLS nginx part")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    state_dir = (args.state_dir or default_state_dir()).resolve()
    try:
        if args.action == "venv":
            print(ensure_venv(state_dir))
            return 0
        if args.action == "selfcheck":
            selfcheck(state_dir, with_nginx=not args.no_nginx)
            return 0
        if args.action == "down":
            stopped = stop(state_dir)
            if args.purge:
                shutil.rmtree(paths(state_dir).root, ignore_errors=True)
            print(
                f"synapse down: {'stopped' if stopped else 'was not running'}"
                + (f"; removed {paths(state_dir).root}" if args.purge else "")
            )
            return 0
        if args.action == "up":
            extra = yaml.safe_load(args.extra_config.read_text()) if args.extra_config else {}
            listeners = []
            if args.tls_listen:
                if not (args.tls_cert and args.tls_key):
                    parser.error("--tls-listen needs --tls-cert and --tls-key")
                address, _sep, port = args.tls_listen.rpartition(":")
                listeners.append(tls_listener(address.strip("[]"), int(port)))
                extra = {
                    **extra,
                    "tls_certificate_path": str(args.tls_cert.resolve()),
                    "tls_private_key_path": str(args.tls_key.resolve()),
                }
            info = start(
                state_dir, extra_config=extra, extra_listeners=listeners, timeout=args.timeout, restart=args.restart
            )
            headline = f"synapse up ({info['action']})"
        else:
            info = status(state_dir)
            headline = "synapse status: " + ("running" if info["running"] else "not running")
    except SynapseError as exc:
        return proc.cli_failure(f"synapse {args.action}", exc)
    proc.print_info(info, headline, as_json=args.json, human=_print_status)
    return 0 if info["running"] else 3


if __name__ == "__main__":
    sys.exit(main())

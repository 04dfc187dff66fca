# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters behind the ``matrixops.delegation.reverse_proxy`` role: its input checks and the
Synapse listener list. Pure functions (no host access); the role reads files from the host
and passes their content in. Documented in the ``reverse_proxy_*.yml`` files beside this one.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.matrixops.delegation.plugins.module_utils._server_name import (
    ServerNameError,
    parse_host,
    parse_server_name,
)

try:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
except ImportError as exc:  # pragma: no cover - cryptography is a dependency of ansible-core
    CRYPTOGRAPHY_ERROR: ImportError | None = exc
else:
    CRYPTOGRAPHY_ERROR = None

_UPSTREAM = re.compile(
    r"\A(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>\[[^\]]*\]|[^:/?#\[\]]*)(?::(?P<port>[^/?#]*))?(?P<rest>.*)\Z"
)
_PORT_DIGITS = re.compile(r"\A[0-9]{1,5}\Z")
_NGINX_SIZE = re.compile(r"\A[0-9]+[kKmMgG]?\Z")
#: The resources the HTTP listener behind the proxy serves (Synapse's reverse-proxy docs).
LISTENER_RESOURCES = ("client", "federation")


# -- upstream ------------------------------------------------------------------------------------
def parse_upstream(url: object) -> dict[str, Any]:
    """Split ``http(s)://host:port`` into its parts; ValueError names what is wrong."""
    example = "like http://127.0.0.1:8008"
    if not isinstance(url, str) or not url:
        raise ValueError(f"reverse_proxy_upstream must be a URL http(s)://host:port, {example}; got {url!r}")
    match = _UPSTREAM.match(url)
    if not match:
        raise ValueError(f"reverse_proxy_upstream must be http(s)://host:port, {example}; got '{url}'")
    scheme, host_text, port_text, rest = match.group("scheme", "host", "port", "rest")
    if scheme not in ("http", "https"):
        raise ValueError(f"reverse_proxy_upstream must start with http:// or https://, {example}; got '{url}'")
    if rest:
        raise ValueError(
            f"reverse_proxy_upstream must not have a path, query or fragment ('{rest}'): nginx would rewrite "
            f"the request URI (encoded slashes in room aliases break); use only http(s)://host:port, {example}"
        )
    if port_text and ":" in port_text:
        raise ValueError(f"reverse_proxy_upstream: write an IPv6 host in brackets, like http://[::1]:8008; got '{url}'")
    if port_text is None or port_text == "":
        raise ValueError(f"reverse_proxy_upstream needs an explicit port, {example}; got '{url}'")
    if not _PORT_DIGITS.match(port_text) or not 1 <= int(port_text) <= 65535:
        raise ValueError(
            f"reverse_proxy_upstream: the port must be a number from 1 to 65535; got '{port_text}' in '{url}'"
        )
    try:
        host, kind, _warnings = parse_host(host_text, allow_unicode=False)
    except ServerNameError as exc:
        raise ValueError(f"reverse_proxy_upstream: invalid host in '{url}': {exc}") from exc
    return {
        "url": url,
        "scheme": scheme,
        "host": host,
        "host_kind": kind,
        "host_for_url": f"[{host}]" if kind == "ipv6" else host,
        "port": int(port_text),
    }


def reverse_proxy_upstream(url: object) -> dict[str, Any]:
    try:
        return parse_upstream(url)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


# -- settings ------------------------------------------------------------------------------------
def _port_problem(name: str, value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value), 10)
        except ValueError:
            return f"{name} must be a port number from 1 to 65535; got {value!r}"
    if not 1 <= value <= 65535:
        return f"{name} must be a port number from 1 to 65535; got {value}"
    return None


def _is_set(value: object) -> bool:
    return value not in (None, "", False)


def settings_problems(settings: Mapping[str, Any]) -> list[str]:
    """Every problem with the role's variables (names without the ``reverse_proxy_`` prefix).

    Content variables (``*_content``) are passed as booleans: set or not. Returns messages that
    say what was expected, what was found and what to change; empty when all is well.
    """
    problems: list[str] = []
    get = settings.get

    server_name = get("server_name")
    try:
        parse_server_name(server_name, allow_unicode=False)
    except ServerNameError as exc:
        problems.append(f"reverse_proxy_server_name must be the Matrix server name, like example.com: {exc}")

    hostname = get("hostname")
    if not isinstance(hostname, str) or not hostname:
        problems.append(
            f"reverse_proxy_hostname must be the delegated host name, like matrix.example.com; got {hostname!r}"
        )
    elif ":" in hostname or "/" in hostname:
        problems.append(
            f"reverse_proxy_hostname must be a host name only, without scheme, port or path, like matrix.example.com; "
            f"got '{hostname}' (the ports are reverse_proxy_client_port and reverse_proxy_federation_ports)"
        )
    else:
        try:
            _host, kind, _warnings = parse_host(hostname, allow_unicode=False)
            if kind != "dns":
                problems.append(
                    f"reverse_proxy_hostname must be a DNS name (it is nginx's server_name and the name on the "
                    f"certificate); got the IP address '{hostname}'"
                )
        except ServerNameError as exc:
            problems.append(f"reverse_proxy_hostname must be a host name without port, like matrix.example.com: {exc}")

    federation_ports = get("federation_ports")
    if not (isinstance(federation_ports, list) and federation_ports):
        problems.append(
            f"reverse_proxy_federation_ports must be a non-empty list of ports, like [8448] or [443]; got {federation_ports!r}"
        )
        federation_ports = []
    for port in federation_ports:
        problem = _port_problem("every entry of reverse_proxy_federation_ports", port)
        if problem:
            problems.append(problem)
    client_port = get("client_port")
    problem = _port_problem("reverse_proxy_client_port", client_port)
    if problem:
        problems.append(problem)

    upstream = None
    try:
        upstream = parse_upstream(get("upstream"))
    except ValueError as exc:
        problems.append(str(exc))

    bind_addresses = get("bind_addresses")
    if not isinstance(bind_addresses, list):
        problems.append(f"reverse_proxy_bind_addresses must be a list of IP addresses (or []); got {bind_addresses!r}")
        bind_addresses = []
    for address in bind_addresses:
        try:
            ipaddress.ip_address(str(address))
        except ValueError:
            problems.append(
                f"reverse_proxy_bind_addresses: '{address}' is not an IP address (write IPv6 addresses "
                "without brackets, like 2001:db8::7)"
            )

    problems += _tls_settings_problems(settings, client_port, federation_ports)

    size = get("max_body_size")
    if not isinstance(size, str) or not _NGINX_SIZE.match(size):
        problems.append(
            f"reverse_proxy_max_body_size must be an nginx size, a number with an optional k, m or g suffix "
            f"(like 50M); got {size!r}"
        )

    config_dir = get("synapse_config_dir")
    if _is_set(config_dir):
        if not str(config_dir).startswith("/"):
            problems.append(
                f"reverse_proxy_synapse_config_dir must be an absolute path (or '' to leave Synapse alone); got '{config_dir}'"
            )
        main_config = get("synapse_main_config")
        if _is_set(main_config) and not str(main_config).startswith("/"):
            problems.append(f"reverse_proxy_synapse_main_config must be an absolute path (or ''); got '{main_config}'")
        if upstream and upstream["scheme"] != "http":
            problems.append(
                f"reverse_proxy_upstream is '{upstream['url']}', but the Synapse listener the role writes is plain "
                "HTTP on loopback: use an http:// upstream, or set reverse_proxy_synapse_config_dir: '' when Synapse "
                "(and its listener) is managed elsewhere"
            )
        elif upstream and upstream["host_kind"] == "dns":
            problems.append(
                f"reverse_proxy_upstream host '{upstream['host']}' is a name, but Synapse binds its listener to the "
                "upstream host, which must be an IP address: use e.g. http://127.0.0.1:8008"
            )
    python = get("synapse_python")
    if _is_set(python) and not str(python).startswith("/"):
        problems.append(f"reverse_proxy_synapse_python must be an absolute path (or ''); got '{python}'")
    return problems


def _tls_settings_problems(settings: Mapping[str, Any], client_port: object, federation_ports: list) -> list[str]:
    problems = []
    get = settings.get
    for prefix, required in (("tls_certificate", True), ("federation_tls_certificate", False)):
        names = {
            "certificate": f"reverse_proxy_{prefix}",
            "key": f"reverse_proxy_{prefix}_key",
        }
        given = {
            "certificate": _is_set(get(prefix)) or _is_set(get(f"{prefix}_content")),
            "key": _is_set(get(f"{prefix}_key")) or _is_set(get(f"{prefix}_key_content")),
        }
        for path_var in (prefix, f"{prefix}_key"):
            value = get(path_var)
            if _is_set(value) and not str(value).startswith("/"):
                problems.append(f"reverse_proxy_{path_var} must be an absolute path on the host; got '{value}'")
        if required:
            for part in ("certificate", "key"):
                if not given[part]:
                    problems.append(
                        f"{names[part]} (a path on the host) or {names[part]}_content (PEM text) is required: "
                        f"nginx needs the {'certificate' if part == 'certificate' else 'private key'} for reverse_proxy_hostname"
                    )
        elif given["certificate"] != given["key"]:
            missing = "key" if given["certificate"] else "certificate"
            problems.append(
                f"{names[missing]} (or {names[missing]}_content) is missing: the federation certificate needs both "
                "a certificate and its key, or neither"
            )
        elif given["certificate"]:
            shared = [port for port in federation_ports if str(port) == str(client_port)]
            if shared:
                problems.append(
                    f"reverse_proxy_federation_tls_certificate is set, but federation port {shared[0]} is also "
                    "reverse_proxy_client_port, and one port presents one certificate: use a federation port of its own "
                    "(like 8448), or leave the federation certificate empty and give reverse_proxy_tls_certificate a "
                    "certificate valid for both names"
                )
    return problems


def reverse_proxy_settings_problems(settings: object) -> list[str]:
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError(f"reverse_proxy_settings_problems expects a dict, got {type(settings).__name__}")
    return settings_problems(settings)


# -- certificates --------------------------------------------------------------------------------
def _public_key_der(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def tls_problems(certificate: object, private_key: object, *, certificate_source: str, key_source: str) -> list[str]:
    """Problems with a PEM certificate (chain) and its private key: unreadable PEM, an encrypted
    key, or a key that does not belong to the (first) certificate. Never quotes the key."""
    if CRYPTOGRAPHY_ERROR is not None:
        raise AnsibleFilterError(f"the Python library cryptography is needed on the controller: {CRYPTOGRAPHY_ERROR}")
    problems = []
    cert = None
    try:
        certs = x509.load_pem_x509_certificates(str(certificate).encode())
        cert = certs[0]
    except ValueError:
        problems.append(
            f"{certificate_source} is not a PEM certificate (expected '-----BEGIN CERTIFICATE-----', "
            "the server certificate first, then any intermediates)"
        )
    key = None
    try:
        key = serialization.load_pem_private_key(str(private_key).encode(), password=None)
    except TypeError:
        problems.append(f"{key_source} is an encrypted private key: nginx needs it unencrypted")
    except (ValueError, UnsupportedAlgorithm):
        problems.append(f"{key_source} is not a PEM private key (expected '-----BEGIN ... PRIVATE KEY-----')")
    if cert is not None and key is not None and _public_key_der(cert.public_key()) != _public_key_der(key.public_key()):
        problems.append(
            f"{key_source} does not match the certificate {certificate_source} (their public keys differ): "
            "give the private key the certificate was issued for"
        )
    return problems


def reverse_proxy_tls_problems(
    certificate: object,
    private_key: object,
    certificate_source: str = "the certificate",
    key_source: str = "the private key",
) -> list[str]:
    return tls_problems(certificate, private_key, certificate_source=certificate_source, key_source=key_source)


# -- Synapse listeners -----------------------------------------------------------------------------
def synapse_listeners(main_config: object, *, host: str, port: int) -> list[dict[str, Any]]:
    """The ``listeners`` of the fragment: the HTTP listener behind the proxy on ``host:port``, then
    every listener of the main config that is not on ``port`` (metrics, replication, legacy TLS,
    UNIX sockets...), unchanged. Extra resource names of a replaced listener on ``port`` are kept.
    Raises ValueError when the main config's shape is wrong."""
    if main_config is None:
        main_config = {}
    if not isinstance(main_config, Mapping):
        raise ValueError(f"it must be a YAML mapping, got {type(main_config).__name__}")
    listeners = main_config.get("listeners") or []
    if not isinstance(listeners, list):
        raise ValueError(f"its 'listeners' must be a list, got {type(listeners).__name__}")
    kept: list[dict[str, Any]] = []
    extra_names: list[str] = []
    for index, listener in enumerate(listeners):
        if not isinstance(listener, Mapping):
            raise ValueError(f"listeners[{index}] must be a mapping, got {type(listener).__name__}")
        if str(listener.get("port", "")) == str(port):
            for resource in listener.get("resources") or []:
                names = resource.get("names") if isinstance(resource, Mapping) else None
                for name in names or []:
                    if name not in LISTENER_RESOURCES and name not in extra_names:
                        extra_names.append(name)
            continue
        kept.append(copy.deepcopy(dict(listener)))
    proxied = {
        "port": int(port),
        "bind_addresses": [host],
        "type": "http",
        "tls": False,
        "x_forwarded": True,
        "resources": [{"names": [*LISTENER_RESOURCES, *extra_names], "compress": False}],
    }
    return [proxied, *kept]


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Only the position: the file holds secrets, and a YAML error quotes the line.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ValueError(f"it is not valid YAML ({problem}{where})") from None


def reverse_proxy_synapse_listeners(
    main_config: object, host: str, port: int, source: str = "Synapse's main config"
) -> list[dict[str, Any]]:
    try:
        config = _load_yaml(main_config, source) if isinstance(main_config, str) else main_config
        return synapse_listeners(config, host=host, port=int(port))
    except ValueError as exc:
        raise AnsibleFilterError(
            f"cannot take the listeners from {source}: {exc}; fix that file (Synapse cannot start with it either)"
        ) from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "reverse_proxy_settings_problems": reverse_proxy_settings_problems,
            "reverse_proxy_upstream": reverse_proxy_upstream,
            "reverse_proxy_tls_problems": reverse_proxy_tls_problems,
            "reverse_proxy_synapse_listeners": reverse_proxy_synapse_listeners,
        }

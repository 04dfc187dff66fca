# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The input check of the ``reverse_proxy`` role: its variables and its upstream URL.

Private module: not part of the collection's public API. Pure functions (no host access); the
role passes its variables without the ``reverse_proxy_`` prefix (``*_content`` only as "set or
not", so no PEM text reaches a message). The filters ``reverse_proxy_settings_problems`` and
``reverse_proxy_upstream`` are thin wrappers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.matrixops.delegation.plugins.module_utils._server_name import (
    ServerNameError,
    parse_host,
    parse_server_name,
)

__all__ = ["parse_upstream", "settings_problems"]

_UPSTREAM = re.compile(
    r"\A(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>\[[^\]]*\]|[^:/?#\[\]]*)(?::(?P<port>[^/?#]*))?(?P<rest>.*)\Z"
)
_PORT_DIGITS = re.compile(r"\A[0-9]{1,5}\Z")
_NGINX_SIZE = re.compile(r"\A[0-9]+[kKmMgG]?\Z")


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
    problems += _other_problems(settings)
    return problems


def _number_problem(name: str, value: object, minimum: float, *, integer: bool) -> str | None:
    kind = "a whole number" if integer else "a number"
    if value is None or isinstance(value, bool):
        return f"{name} must be {kind} of at least {minimum:g}; got {value!r}"
    try:
        number = int(str(value), 10) if integer else float(str(value))
    except ValueError:
        return f"{name} must be {kind} of at least {minimum:g}; got {value!r}"
    if number < minimum:
        return f"{name} must be {kind} of at least {minimum:g}; got {value!r}"
    return None


def _other_problems(settings: Mapping[str, Any]) -> list[str]:
    """Days, timeouts and the certbot tree (only when the role was given them)."""
    problems = []
    get = settings.get
    if "tls_warn_days" in settings:
        problem = _number_problem("reverse_proxy_tls_warn_days", get("tls_warn_days"), 0, integer=True)
        if problem:
            problems.append(problem)
    if "verify_timeout" in settings:
        problem = _number_problem("reverse_proxy_verify_timeout", get("verify_timeout"), 1, integer=False)
        if problem:
            problems.append(problem + " (seconds)")
    certbot_dir = get("certbot_dir")
    if "certbot_dir" in settings and not (isinstance(certbot_dir, str) and certbot_dir.startswith("/")):
        problems.append(
            f"reverse_proxy_certbot_dir must be an absolute path (certbot's config directory, like /etc/letsencrypt); "
            f"got {certbot_dir!r}"
        )
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

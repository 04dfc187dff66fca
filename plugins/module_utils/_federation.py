# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The federation tester behind ``matrixops.delegation.federation_check``.

Private module: not part of the collection's public API.

It resolves a server name once (the shared resolution core), then connects to every address of
every target with the SNI and Host header the spec requires and checks TLS, the server's signing
keys (``/_matrix/key/v2/server``, canonical JSON + Ed25519) and its version; optionally the client
and support well-known files. The checks of data are ``_federation_checks``'s; the network is
behind the FederationProbe port (``_federation_probe.HttpsProbe``, a fake in the unit tests).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

from ._catalogue import Problem, code_of
from ._check_policy import CheckPolicy, days_left, expiry_problem, family_of, is_no_route, on_platform
from ._federation_checks import (
    CLIENT_PATH,
    JSON_BODY_LIMIT,
    KEYS_PATH,
    SUPPORT_PATH,
    VERSION_PATH,
    certificate_details,
    certificate_error,
    check_keys,
    check_support_file,
    check_versions,
    summarise,
)
from ._federation_implementations import (
    connection_key,
    divergent_entries,
    implementation_entry,
    needed_endpoints,
    with_spec,
)
from ._federation_probe import HttpsProbe, has_local_route
from ._model import (
    PARSE_STEP,
    Closing,
    FederationProbe,
    FetchFailure,
    HttpResponse,
    HttpsError,
    Parallel,
    Resolution,
    ResolutionError,
    Sequential,
    TlsSession,
)
from ._profiles import Profile
from ._resolution import ProfileOutcome
from ._resolver import ResolveOptions, Resolver
from ._server_name import ServerNameError, parse_server_name
from ._wellknown import parse_json_object

__all__ = ["FederationChecker", "ResolutionPort"]


class ResolutionPort(Protocol):
    """What the checker needs of the resolution: ``resolve(name)``, raising ResolutionError.

    With ``implementations``, also ``resolve_implementations(name, profiles)``: one outcome per
    profile, in the order given, from one network pass (``_resolution.resolve_implementations``).
    """

    def resolve(self, name: object) -> Resolution: ...

    def resolve_implementations(self, name: object, profiles: list[Profile]) -> list[ProfileOutcome]: ...

    def close(self) -> None: ...


class FederationChecker(Closing):
    """One run of the federation check (one resolver, one memo; nothing kept afterwards).

    ``resolver`` and ``probe`` default to the real ones (``_resolver.Resolver``, ``HttpsProbe``);
    ``parallel`` runs the connection checks (the resolver's pool by default). ``has_route(address,
    port)`` says whether this host has a route to an address (``has_local_route``, a local route
    lookup, by default): a connection error that reads "no route from here" is only called so
    (state ``no-route``) when there is none, since a router on the way can answer "Network is
    unreachable" as well.
    """

    def __init__(
        self,
        options: ResolveOptions,
        *,
        now: Callable[[], float] = time.time,
        resolver: ResolutionPort | None = None,
        probe: FederationProbe | None = None,
        parallel: Parallel | None = None,
        policy: CheckPolicy | None = None,
        has_route: Callable[[str, int], bool] = has_local_route,
    ) -> None:
        self.options = options
        self.has_route = has_route
        self.policy = policy or CheckPolicy()
        self.now = now
        self.warnings: list[str] = []
        if resolver is None:
            real = Resolver(options)
            resolver, parallel = real, parallel or real.pool
            try:
                probe = probe or HttpsProbe(real)
            except BaseException:
                real.close()
                raise
        self.resolver = resolver
        self.parallel: Parallel = parallel or Sequential()
        if probe is None:
            raise ValueError("a FederationChecker with its own resolver needs its own probe")
        self.probe = probe

    def close(self) -> None:
        self.resolver.close()

    # -- connections --------------------------------------------------------------------------------
    def check_connection(
        self, resolution: Resolution, address: str, port: int, warnings: list[str] | None = None
    ) -> dict:
        endpoint = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        result: dict[str, Any] = {
            "address": address,
            "port": port,
            "ok": False,
            "state": "error",
            "error": None,
            "tls": None,
            "checks": {
                "valid_certificate": False,
                "matching_server_name": None,
                "future_valid_until_ts": None,
                "has_ed25519_key": None,
                "all_ed25519_checks_ok": None,
            },
            "keys": None,
        }
        errors: list[str] = []
        session: TlsSession | None = None
        try:
            session = self.probe.connect(address, port, server_hostname=str(resolution.tls_server_name))
            details = certificate_details(session.certificate)
            problem = session.certificate_problem
            result["tls"] = {
                "version": session.version,
                "cipher": session.cipher,
                "certificate_valid": problem is None,
                "certificate": details,
            }
            result["checks"]["valid_certificate"] = problem is None
            if self.policy.expiry_days is not None:
                self._check_expiry(endpoint, details, result, errors, self.warnings if warnings is None else warnings)
            if problem is not None:
                message = certificate_error(endpoint, problem, details, resolution)
                if self.options.validate_certs:
                    result["error"] = message
                    return result
                (self.warnings if warnings is None else warnings).append(
                    f"{message} (ignored: validate_certs is false)"
                )
            host_header = str(resolution.host_header)
            errors.extend(self._check_keys(session, resolution, host_header, endpoint, result))
            version = self._get_json(session, VERSION_PATH, host_header, endpoint, errors)
            if version is not None:
                server = version.get("server")
                if isinstance(server, dict):
                    result["version"] = {"name": server.get("name"), "version": server.get("version")}
                else:
                    errors.append(Problem("not-a-homeserver", f"{VERSION_PATH} on {endpoint} has no 'server' object"))
        except HttpsError as exc:
            reason = str(exc)
            if reason.startswith(endpoint + ": "):
                reason = reason[len(endpoint) + 2 :]
            if is_no_route(reason):
                if self.has_route(address, port):  # the error came from further away: the server's problem
                    reason += (
                        f" (this host has a route to {address}: a router on the way reported the network unreachable)"
                    )
                else:
                    result["state"] = "no-route"
            errors.append(Problem(exc.code, f"cannot check {endpoint}: {reason}"))
        finally:
            if session is not None:
                session.close()
        if errors:
            result["error"] = Problem(code_of(errors[0]), "; ".join(errors))
        required = dict(result["checks"])
        if not self.options.validate_certs:
            required.pop("valid_certificate")  # reported as a warning above
        result["ok"] = not errors and all(value is not False for value in required.values())
        if result["state"] != "no-route":
            result["state"] = "ok" if result["ok"] else "error"
        return result

    def _check_expiry(self, endpoint: str, details: dict | None, result: dict, errors: list, warnings: list) -> None:
        """``expiring`` on the connection; a warning, or an error with ``expiry_error``."""
        threshold = self.policy.expiry_days
        not_after = details.get("not_after") if details else None
        days = days_left(not_after, self.now())
        result["expiring"] = days is not None and threshold is not None and days < threshold
        if days is None or not result["expiring"]:
            return
        message = expiry_problem(endpoint, days, not_after, f"{threshold} days (certificate_expiry_days)")
        if self.policy.expiry_error:
            errors.append(Problem("certificate-expiring", message))
        else:
            warnings.append(message)

    def _platform_problems(self, resolution: Resolution) -> list[str]:
        """An ``off-platform`` problem for each resolved address outside ``platform_networks``."""
        networks = list(self.policy.networks)
        if not networks:
            return []
        shown = ", ".join(str(network) for network in networks)
        return [
            Problem(
                "off-platform",
                f"{address} (target {target.host}:{target.port} of {resolution.server_name}) is not on the platform "
                f"({shown}, platform_networks): the name is served elsewhere, or platform_networks needs this address",
            )
            for target in resolution.targets
            for address in target.addresses
            if not on_platform(address, networks)
        ]

    def _get_json(
        self, session: TlsSession, path: str, host_header: str, endpoint: str, errors: list[str]
    ) -> dict | None:
        response = session.get(path, host_header=host_header, body_limit=JSON_BODY_LIMIT)
        if response.status != 200:
            errors.append(
                Problem("not-a-homeserver", f"GET {path} on {endpoint} answered HTTP {response.status} (expected 200)")
            )
            return None
        try:
            return parse_json_object(response.body)
        except FetchFailure as exc:
            errors.append(Problem("not-a-homeserver", f"GET {path} on {endpoint}: {exc}"))
            return None

    def _check_keys(
        self, session: TlsSession, resolution: Resolution, host_header: str, endpoint: str, result: dict
    ) -> list[str]:
        errors: list[str] = []
        keys = self._get_json(session, KEYS_PATH, host_header, endpoint, errors)
        if keys is None:
            for name in ("matching_server_name", "future_valid_until_ts", "has_ed25519_key"):
                result["checks"][name] = False
            return errors
        checks, summary, key_errors = check_keys(
            keys, server_name=resolution.server_name, now_ms=int(self.now() * 1000), endpoint=endpoint
        )
        result["checks"].update(checks)
        result["keys"] = summary
        return errors + key_errors

    # -- well-known files ---------------------------------------------------------------------------
    def _fetch(self, url: str) -> list[tuple[str, HttpResponse]]:
        return self.probe.fetch(url, body_limit=JSON_BODY_LIMIT)

    def check_client(self, host: str) -> tuple[dict, list[str]]:
        url = f"https://{host}{CLIENT_PATH}"
        report: dict[str, Any] = {
            "url": url,
            "status": None,
            "base_url": None,
            "cors": None,
            "versions_ok": None,
            "error": None,
        }
        errors: list[str] = []
        fetched = True
        try:
            hops = self._fetch(url)
        except FetchFailure as exc:
            hops, fetched = exc.hops, False
            errors.append(Problem("client-well-known", f"client well-known: {exc}"))
        if hops:
            report["status"] = hops[-1][1].status
            missing = [hop_url for hop_url, response in hops if response.header("access-control-allow-origin") != "*"]
            report["cors"] = not missing
            errors.extend(
                Problem(
                    "client-cors",
                    f"{hop_url} is served without 'Access-Control-Allow-Origin: *': web clients cannot read it; "
                    "add the header",
                )
                for hop_url in missing
            )
        if fetched:
            errors.extend(self._check_client_body(hops[-1], report))
        report["error"] = str(errors[0]) if errors else None
        return report, errors

    def _check_client_body(self, hop: tuple, report: dict) -> list[str]:
        url, response = hop
        if response.status != 200:
            report["versions_ok"] = False
            return [
                Problem("client-well-known", f"client well-known {url} answered HTTP {response.status} (expected 200)")
            ]
        try:
            data = parse_json_object(response.body)
        except FetchFailure as exc:
            report["versions_ok"] = False
            return [Problem("client-well-known", f"client well-known {url}: {exc}")]
        homeserver = data.get("m.homeserver")
        base_url = homeserver.get("base_url") if isinstance(homeserver, dict) else None
        if not isinstance(base_url, str):
            report["versions_ok"] = False
            return [Problem("client-well-known", f"client well-known {url} has no m.homeserver.base_url string")]
        report["base_url"] = base_url
        errors = self._check_base_url(base_url, "/_matrix/client/versions", "m.homeserver.base_url", report)
        identity = data.get("m.identity_server")
        if identity is not None:
            is_url = identity.get("base_url") if isinstance(identity, dict) else None
            if not isinstance(is_url, str):
                errors.append(
                    Problem("client-well-known", f"client well-known {url}: m.identity_server has no base_url string")
                )
            else:
                errors.extend(self._check_base_url(is_url, "/_matrix/identity/v2", "m.identity_server.base_url", None))
        return errors

    def _check_base_url(self, base_url: str, path: str, label: str, report: dict | None) -> list[str]:
        parts = urlsplit(base_url)
        if parts.scheme != "https" or not parts.netloc:
            if report is not None:
                report["versions_ok"] = False
            return [Problem("client-well-known", f"{label} {base_url!r} must be an https:// URL")]
        url = base_url.rstrip("/") + path
        try:
            hops = self._fetch(url)
            final_url, response = hops[-1]
            if response.status != 200:
                raise FetchFailure(f"HTTP status {response.status} from {final_url} (expected 200)")
            data = parse_json_object(response.body)
        except FetchFailure as exc:
            if report is not None:
                report["versions_ok"] = False
            return [Problem("client-well-known", f"{label}: {url}: {exc}")]
        if report is None:
            return []
        errors = check_versions(url, data)
        report["versions_ok"] = not errors
        return errors

    def check_support(self, host: str) -> tuple[dict, list[str]]:
        url = f"https://{host}{SUPPORT_PATH}"
        report: dict[str, Any] = {"url": url, "status": None, "valid": False, "error": None}
        try:
            hops = self._fetch(url)
            final_url, response = hops[-1]
            report["status"] = response.status
            if response.status != 200:
                raise FetchFailure(f"HTTP status {response.status} from {final_url} (expected 200)")
            errors: list[str] = [
                Problem("support-file", f"support well-known {url}: {error}")
                for error in check_support_file(parse_json_object(response.body))
            ]
        except FetchFailure as exc:
            if exc.hops:
                report["status"] = exc.hops[-1][1].status
            errors = [Problem("support-file", f"support well-known: {exc}")]
        report["valid"] = not errors
        report["error"] = str(errors[0]) if errors else None
        return report, errors

    def run_many(
        self,
        server_names: dict[str, str | None],
        *,
        check_client: bool = False,
        check_support: bool = False,
        concurrency: int | None = None,
        implementations: list[Profile] | None = None,
    ) -> dict:
        """Check each name (mapped to its expected target or None), ``concurrency`` names at a time.

        Each name is isolated: an unexpected exception while one name is checked becomes that
        name's error (code ``check-crashed``), never the run's. Every name shares this run's
        resolver, memo and thread pool (a delegated host of several names is resolved once).
        Warnings go to ``self.warnings`` prefixed with their server name. Each result also has
        ``expected_target`` (as given) and ``seconds`` (how long its check took, queueing excluded).
        ``implementations``: as for ``run``.
        Returns ``{"results": [...] in the order given, "failed_names": [...], "ok": bool}``.
        """
        names = list(server_names)

        def one(name: str) -> dict:
            warnings: list[str] = []
            started = time.monotonic()
            try:
                result = self._run(
                    name,
                    expected_target=server_names[name],
                    check_client=check_client,
                    check_support=check_support,
                    warnings=warnings,
                    implementations=implementations,
                )
            except Exception as exc:  # noqa: BLE001 - one name's crash is that name's error
                result = _crashed(name, exc)
            result["expected_target"] = server_names[name]
            result["seconds"] = round(time.monotonic() - started, 3)
            self.warnings.extend(f"{name}: {message}" for message in dict.fromkeys(warnings))
            return result

        results = self.parallel.map(one, names, limit=concurrency or self.options.concurrency)
        failed = [name for name, result in zip(names, results) if not result["ok"]]
        return {"results": results, "failed_names": failed, "ok": not failed}

    def run(
        self,
        server_name: str,
        *,
        expected_target: str | None = None,
        check_client: bool = False,
        check_support: bool = False,
        implementations: list[Profile] | None = None,
    ) -> dict:
        """Check one name. ``implementations``: the profiles (``_profiles``) whose view of the name
        is also checked; the result then has ``implementations`` and ``divergent``, and the
        name's own checks use the spec's view from the same network pass."""
        return self._run(
            server_name,
            expected_target=expected_target,
            check_client=check_client,
            check_support=check_support,
            warnings=self.warnings,
            implementations=implementations,
        )

    def _run(
        self,
        server_name: str,
        *,
        expected_target: str | None,
        check_client: bool,
        check_support: bool,
        warnings: list[str],
        implementations: list[Profile] | None = None,
    ) -> dict:
        result = _failed_result(server_name)
        errors: list[str] = result["errors"]
        expected = None
        if expected_target is not None:
            try:
                expected = parse_server_name(expected_target)[0]
            except ServerNameError as exc:
                errors.append(Problem("invalid-expected-target", f"expected_target: {exc}"))
            else:
                if expected.port is None:
                    errors.append(
                        Problem(
                            "invalid-expected-target",
                            f"expected_target '{expected_target}' needs a port, like 'matrix.example.com:443'",
                        )
                    )
                    expected = None
        outcomes: list[ProfileOutcome] | None = None
        try:
            if implementations is None:
                resolution = self.resolver.resolve(server_name)
            else:
                outcomes = self.resolver.resolve_implementations(server_name, with_spec(implementations))
                resolution = _spec_resolution(outcomes[0])
        except ResolutionError as exc:
            resolution = None
            if exc.partial is not None and exc.step != PARSE_STEP:
                result["resolution"] = exc.partial.to_dict()
                result["server_name"] = exc.partial.server_name
            errors.append(Problem(exc.code, str(exc)))
        if resolution is not None:
            result["resolution"] = resolution.to_dict()
            result["server_name"] = resolution.server_name
            warnings.extend(resolution.warnings)
            well_known = resolution.well_known
            if well_known is not None and well_known.error_code is not None:
                errors.append(Problem(well_known.error_code, f"{well_known.url}: {well_known.error}"))
            endpoints = [
                (target.host, address, target.port)
                for target in resolution.targets
                for address in target.addresses
                if self.policy.wants(address)
            ]
            errors.extend(self._platform_problems(resolution))
            connections = self.parallel.map(
                lambda endpoint: self.check_connection(resolution, endpoint[1], endpoint[2], warnings),
                endpoints,
                limit=8,
            )
            for connection in connections:
                version = connection.pop("version", None)
                if version and result["version"] is None:
                    result["version"] = version
                if connection["state"] == "no-route":  # this host cannot reach that family: not the server's fault
                    warnings.append(
                        f"no {_family_name(connection['address'])} route from this host: {connection['error']}"
                    )
                elif connection["error"]:
                    errors.append(connection["error"])
            result["connections"] = connections
            result["families"] = _families(resolution, connections, self.policy)
            unreached = [c for c in connections if c["state"] == "no-route"]
            if unreached and len(unreached) == len(connections):
                shown = ", ".join(sorted({_family_name(c["address"]) for c in unreached}))
                errors.append(
                    Problem(
                        "no-route",
                        f"no {shown} route from this host to any address of {resolution.server_name}: it could not be "
                        "checked from here; check it from a host that has one, or set address_family",
                    )
                )
            elif not endpoints and self.policy.family != "any":
                errors.append(
                    Problem(
                        "no-address",
                        f"{resolution.server_name} has no {_family_name_of(self.policy.family)} address to check "
                        f"(address_family {self.policy.family})",
                    )
                )
            if expected is not None:
                reached = [(target.host, target.port) for target in resolution.targets]
                if (expected.host, expected.port) not in reached:
                    shown = ", ".join(f"{host}:{port}" for host, port in reached) or "nothing"
                    errors.append(
                        Problem(
                            "delegation-elsewhere",
                            f"expected_target {expected_target} is not where {resolution.server_name} resolves to "
                            f"({resolution.method} gives {shown}): fix the delegation or expected_target",
                        )
                    )
        try:
            host = parse_server_name(server_name)[0].host_for_url
        except ServerNameError:
            host = None
        if host is not None:
            if check_client:
                result["client"], client_errors = self.check_client(host)
                errors.extend(client_errors)
            if check_support:
                result["support"], support_errors = self.check_support(host)
                errors.extend(support_errors)
        checked = [c for c in result["connections"] if c["state"] != "no-route"]
        result["ok"] = not errors and bool(checked) and all(c["ok"] for c in checked)
        if not result["ok"] and not errors:
            errors.append(Problem("no-address", f"no connection to {result['server_name']} could be checked"))
        # Plain strings out (the codes apart, in the same order): Ansible returns them as given.
        result["error_codes"] = [code_of(error) for error in errors]
        result["errors"] = [str(error) for error in errors]
        for connection in result["connections"]:
            if connection["error"] is not None:
                connection["error"] = str(connection["error"])
        if outcomes is not None and implementations is not None:
            result["implementations"], result["divergent"] = self._implementations(
                str(result["server_name"]), outcomes, implementations, result["connections"]
            )
        result["summary"] = summarise(result)
        return result

    def _implementations(
        self, name: str, outcomes: list[ProfileOutcome], asked: list[Profile], spec_connections: list[dict]
    ) -> tuple[dict, list]:
        """Each asked implementation's entry, and ``divergent``.

        A connection is made once per address, port, TLS name and Host: the spec run's results are
        reused, and an endpoint that several other views share is checked once for all of them.
        """
        spec = outcomes[0]
        results: dict[tuple, dict] = {}
        if spec.resolution is not None:
            for connection in spec_connections:
                results[connection_key(spec.resolution, connection["address"], connection["port"])] = connection
        spec_keys = set(results)
        pending: dict[tuple, tuple] = {}
        endpoints = {}
        for outcome in outcomes:
            endpoints[outcome.profile.name] = needed_endpoints(outcome, self.policy.wants)
            for address, port in endpoints[outcome.profile.name]:
                key = connection_key(outcome.resolution, address, port)
                if key not in results:
                    pending.setdefault(key, (outcome.resolution, address, port))
        ignored: list[str] = []  # warnings of these extra connections: their checks carry the errors
        made = self.parallel.map(
            lambda item: self.check_connection(item[0], item[1], item[2], ignored), list(pending.values()), limit=8
        )
        for key, connection in zip(pending, made):
            connection.pop("version", None)
            results[key] = connection
        now = self.now()
        views = [
            (outcome, implementation_entry(outcome, endpoints[outcome.profile.name], results, spec_keys, now=now))
            for outcome in outcomes
        ]
        asked_names = {profile.name for profile in asked}
        entries = {outcome.profile.name: entry for outcome, entry in views if outcome.profile.name in asked_names}
        ordered = {profile.name: entries[profile.name] for profile in asked if profile.name in entries}
        spec_checks = views[0][1]["checks"]
        return ordered, divergent_entries(name, spec, spec_checks, views[1:])


def _spec_resolution(spec: ProfileOutcome) -> Resolution:
    """The spec's view of ``resolve_implementations``: its resolution, or its ResolutionError raised."""
    if spec.error is not None:
        raise spec.error
    if spec.resolution is None:  # pragma: no cover - an outcome has one or the other
        raise ValueError("an implementation outcome with neither a resolution nor an error")
    return spec.resolution


def _failed_result(server_name: str) -> dict[str, Any]:
    """A name's result before anything is known: not ok, nothing found, no errors yet."""
    return {
        "ok": False,
        "server_name": server_name,
        "resolution": None,
        "connections": [],
        "version": None,
        "client": None,
        "support": None,
        "errors": [],
    }


def _crashed(server_name: str, exc: Exception) -> dict:
    """The result of a name whose check raised ``exc``: that name failed, with the reason."""
    error = Problem(
        "check-crashed",
        f"the check of {server_name} stopped on an unexpected {type(exc).__name__}: {exc}; "
        "check this name alone (server_name) to see the traceback, and report it",
    )
    result: dict[str, Any] = {
        **_failed_result(server_name),
        "errors": [str(error)],
        "error_codes": [error.code],
    }
    result["summary"] = summarise(result)
    return result


def _family_name_of(family: str) -> str:
    return family.replace("ipv", "IPv")


def _family_name(address: str) -> str:
    return _family_name_of(family_of(address))


def _families(resolution: Resolution, connections: list[dict], policy: CheckPolicy) -> dict:
    """Per address family of the resolved addresses: how many, and the family's state."""
    families: dict[str, dict] = {}
    for target in resolution.targets:
        for address in target.addresses:
            entry = families.setdefault(family_of(address), {"addresses": 0, "state": "ok"})
            entry["addresses"] += 1
    for family, entry in families.items():
        mine = [c for c in connections if family_of(c["address"]) == family]
        if policy.family not in ("any", family):
            entry["state"] = "not-checked"
        elif mine and all(c["state"] == "no-route" for c in mine):
            entry["state"] = "no-route"
        elif any(c["state"] == "error" for c in mine):
            entry["state"] = "failed"
    return families

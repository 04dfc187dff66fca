"""The module calls of the federation tests: case name -> ``federation_check`` arguments."""

from __future__ import annotations

from fed_world import DELEGATED_HOST, SERVER_NAME, World, fed, n, server_name
from support.playbook import world_options

TIMEOUT = 5  # seconds, the module's ``timeout`` in most cases
SHORT_TIMEOUT = 2  # ... for the servers that drip or say nothing

#: Scenarios checked with ``fail_on_error: false`` and nothing else special (see fed_world).
PLAIN = (
    "good",
    "two-keys",
    "wrong-name",
    "expired-cert",
    "self-signed",
    "keys-other",
    "keys-expired",
    "keys-ancient",
    "bad-signature",
    "no-ed25519",
    "two-addresses",
    "srv-cert",
    "srv-good",
    "dead",
    "not-json",
    "keys-array",
    "keys-500",
    "oversize",
    "plain-http",
    "no-version",
)


def common(world: World) -> dict:
    return world_options(world, TIMEOUT)


def hostile_cases(world: World) -> dict[str, dict]:
    base = {**common(world), "fail_on_error": False}
    cases = {label: {**base, "server_name": server_name(label)} for label in PLAIN}
    cases.update(
        {
            "drip": {**base, "server_name": fed("drip"), "timeout": SHORT_TIMEOUT},
            "silent": {**base, "server_name": fed("silent"), "timeout": SHORT_TIMEOUT},
            "no-cors": {**base, "server_name": fed("no-cors"), "check_client": True},
            "cors-redirect": {**base, "server_name": fed("cors-redirect"), "check_client": True},
            "identity-down": {**base, "server_name": fed("identity-down"), "check_client": True},
            "bad-support": {**base, "server_name": fed("bad-support"), "check_support": True},
            "nowhere": {**base, "server_name": n("nowhere")},
            "invalid-name": {**base, "server_name": "bad name!"},
            "wrong-name-not-validated": {**base, "server_name": fed("wrong-name"), "validate_certs": False},
            "good-private-warning": {**base, "server_name": fed("good"), "allow_private_addresses": False},
            # fail_on_error left at its default (true): the task fails, msg is the first error
            "wrong-name-fatal": {**common(world), "server_name": fed("wrong-name")},
        }
    )
    return cases


def synapse_cases(world: World) -> dict[str, dict]:
    base = {**common(world), "server_name": SERVER_NAME}
    return {
        "synapse": {**base, "expected_target": f"{DELEGATED_HOST}:443"},
        "synapse-client-support": {**base, "check_client": True, "check_support": True},
        "synapse-expected-target-mismatch": {
            **base,
            "expected_target": f"{DELEGATED_HOST}:8448",
            "fail_on_error": False,
        },
    }


def check_mode_cases(world: World) -> dict[str, dict]:
    base = {**common(world), "fail_on_error": False}
    return {
        "good": {**base, "server_name": fed("good")},
        "wrong-name": {**base, "server_name": fed("wrong-name")},
    }

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Matrix as the worlds' homeservers speak it: the endpoints they serve, and the Ed25519 key signer.

``/_matrix/key/v2/server`` documents are signed with ``cryptography`` over canonical JSON, written
here independently of the collection's ``plugins/module_utils/_signing.py``, so that the tests
check the collection against a second implementation."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

WELL_KNOWN_PATH = "/.well-known/matrix/server"
CLIENT_PATH = "/.well-known/matrix/client"
SUPPORT_PATH = "/.well-known/matrix/support"
KEYS_PATH = "/_matrix/key/v2/server"
VERSION_PATH = "/_matrix/federation/v1/version"
CLIENT_VERSIONS_PATH = "/_matrix/client/versions"


def canonical_json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def unpadded_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class SigningKey:
    key_id: str  # "ed25519:<version>"
    seed: bytes  # the 32 bytes of the private key

    @property
    def public_b64(self) -> str:
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return unpadded_b64(public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, value: dict) -> str:
        """The signature of ``value`` without its ``signatures`` and ``unsigned``."""
        signable = {k: v for k, v in value.items() if k not in ("signatures", "unsigned")}
        return unpadded_b64(Ed25519PrivateKey.from_private_bytes(self.seed).sign(canonical_json(signable)))


def key_response(server_name: str, valid_until_ts: int, keys: Sequence[SigningKey]) -> dict:
    """A ``/_matrix/key/v2/server`` answer for ``server_name``, self-signed with every key of ``keys``."""
    body: dict = {
        "server_name": server_name,
        "valid_until_ts": valid_until_ts,
        "verify_keys": {key.key_id: {"key": key.public_b64} for key in keys},
        "old_verify_keys": {},
    }
    body["signatures"] = {server_name: {key.key_id: key.sign(body) for key in keys}}
    return body

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Signing Matrix JSON for the tests (the collection only verifies signatures)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ansible_collections.matrixops.delegation.plugins.module_utils._signing import (
    canonical_json,
    encode_base64,
    signable,
)


def sign_json(value: dict, *, signing_name: str, key_id: str, seed: bytes) -> dict:
    """Return a copy of ``value`` signed with the Ed25519 key whose 32-byte seed is ``seed``."""
    key = Ed25519PrivateKey.from_private_bytes(seed)
    signature = encode_base64(key.sign(canonical_json(signable(value))))
    signed = dict(value)
    signatures = {name: dict(sigs) for name, sigs in value.get("signatures", {}).items()}
    signatures.setdefault(signing_name, {})[key_id] = signature
    signed["signatures"] = signatures
    return signed

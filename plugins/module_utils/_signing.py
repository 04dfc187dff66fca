# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Matrix canonical JSON and signed-JSON verification (Ed25519).

Private module: not part of the collection's public API. Ed25519 comes from the ``cryptography``
library (which ansible-core itself requires on the controller).
"""

from __future__ import annotations

import base64
import binascii
import json

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError as exc:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR: Exception | None = exc
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

__all__ = [
    "CanonicalJsonError",
    "HAS_CRYPTOGRAPHY",
    "CRYPTOGRAPHY_IMPORT_ERROR",
    "canonical_json",
    "decode_base64",
    "encode_base64",
    "signable",
    "verify_signed_json",
]


class CanonicalJsonError(ValueError):
    """The value cannot be encoded as Matrix canonical JSON (floats, non-string keys...)."""


def _check(value: object, depth: int = 0) -> None:
    if depth > 100:
        raise CanonicalJsonError("nested more than 100 levels deep")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if not -(2**53) + 1 <= value <= 2**53 - 1:
            raise CanonicalJsonError(f"integer {value} is outside the canonical JSON range")
        return
    if isinstance(value, float):
        raise CanonicalJsonError(f"floating-point number {value!r} is not allowed in canonical JSON")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJsonError(f"object key {key!r} is not a string")
            _check(item, depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check(item, depth + 1)
        return
    raise CanonicalJsonError(f"{type(value).__name__} is not a JSON type")


def canonical_json(value: object) -> bytes:
    """Encode as the Matrix spec's canonical JSON: sorted keys, no spaces, UTF-8, integers only."""
    _check(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False).encode("utf-8")


def encode_base64(data: bytes) -> str:
    """Unpadded standard base64, as Matrix uses."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def decode_base64(text: str) -> bytes:
    """Decode unpadded (or padded) standard or URL-safe base64. Raises ValueError."""
    if not isinstance(text, str):
        raise ValueError(f"expected a base64 string, got {type(text).__name__}")
    stripped = text.rstrip("=")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        if "-" in padded or "_" in padded:
            return base64.urlsafe_b64decode(padded.encode("ascii"))
        return base64.b64decode(padded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"invalid base64: {exc}") from exc


def signable(value: dict) -> dict:
    """What a signature covers: the object without ``signatures`` and ``unsigned``."""
    return {key: item for key, item in value.items() if key not in ("signatures", "unsigned")}


def verify_signed_json(value: dict, *, signing_name: str, key_id: str, public_key: bytes) -> None:
    """Check the signature of ``signing_name`` with ``key_id`` on ``value``. Raises ValueError."""
    signatures = value.get("signatures")
    by_name = signatures.get(signing_name) if isinstance(signatures, dict) else None
    signature_text = by_name.get(key_id) if isinstance(by_name, dict) else None
    if signature_text is None:
        raise ValueError(f"no signature by {signing_name} with {key_id}")
    try:
        signature = decode_base64(signature_text)
        key = Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError as exc:
        raise ValueError(f"unusable signature or key for {key_id}: {exc}") from exc
    try:
        message = canonical_json(signable(value))
    except CanonicalJsonError as exc:
        raise ValueError(f"the signed object is not canonical JSON: {exc}") from exc
    try:
        key.verify(signature, message)
    except InvalidSignature as exc:
        raise ValueError(f"the signature by {signing_name} with {key_id} does not verify") from exc

# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Canonical JSON and signed JSON against the Matrix specification's appendix ("Signing JSON",
"Canonical JSON", "Unpadded Base64") and its cryptographic test vectors."""

from __future__ import annotations

import copy
import json
import math

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from signed_json import sign_json

from ansible_collections.matrixops.delegation.plugins.module_utils._signing import (
    CanonicalJsonError,
    canonical_json,
    decode_base64,
    encode_base64,
    verify_signed_json,
)

# -- the appendix's test vectors -------------------------------------------------------------------
SEED_B64 = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
KEY_ID = "ed25519:1"
SIGNER = "domain"
EMPTY_SIGNATURE = "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
SIMPLE_SIGNATURE = "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
SIGNED_EMPTY = '{"signatures": {"domain": {"ed25519:1": "' + EMPTY_SIGNATURE + '"}}}'
SIGNED_SIMPLE = '{"one": 1, "signatures": {"domain": {"ed25519:1": "' + SIMPLE_SIGNATURE + '"}}, "two": "Two"}'


def seed() -> bytes:
    return decode_base64(SEED_B64)


def public_key(seed_bytes: bytes | None = None) -> bytes:
    private = Ed25519PrivateKey.from_private_bytes(seed_bytes or seed())
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


OTHER_SEED = bytes(range(32))

# "Canonical JSON" examples: the JSON text given, the canonical JSON expected.
CANONICAL_EXAMPLES = [
    ("{}", "{}"),
    ('{\n    "one": 1,\n    "two": "Two"\n}', '{"one":1,"two":"Two"}'),
    ('{\n    "b": "2",\n    "a": "1"\n}', '{"a":"1","b":"2"}'),
    ('{"b":"2","a":"1"}', '{"a":"1","b":"2"}'),
    (
        """{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}""",
        '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":'
        '[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},'
        '"success":true}}',
    ),
    ('{\n    "a": "日本語"\n}', '{"a":"日本語"}'),
    ('{\n    "本": 2,\n    "日": 1\n}', '{"日":1,"本":2}'),
    ('{\n    "a": "\\u65E5"\n}', '{"a":"日"}'),
    ('{\n    "a": null\n}', '{"a":null}'),
]


# -- canonical JSON ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), CANONICAL_EXAMPLES, ids=[e[1] for e in CANONICAL_EXAMPLES])
def test_canonical_json_spec_examples(text, expected):
    assert canonical_json(json.loads(text)) == expected.encode("utf-8")


def test_canonical_json_spec_example_negative_zero_and_exponent_as_integers():
    """The spec's ``{"a": -0, "b": 1e10}`` → ``{"a":0,"b":10000000000}``, given as the integers they are.

    (Python's json parses the text ``1e10`` as a float, which canonical JSON refuses: see below.)
    """
    assert canonical_json({"a": -0, "b": 10000000000}) == b'{"a":0,"b":10000000000}'
    with pytest.raises(CanonicalJsonError, match="floating-point"):
        canonical_json(json.loads('{"a": -0, "b": 1e10}'))


def test_canonical_json_is_utf8_without_escaping_non_ascii():
    assert canonical_json({"a": "é\u2028😀"}) == '{"a":"é\u2028😀"}'.encode()


def test_canonical_json_escapes_only_what_the_grammar_requires():
    # quotation mark, reverse solidus, the short escapes, other control characters as lower-case \u00XX;
    # "/" and DEL are not escaped
    value = {"a": '"\\\b\f\n\r\t\x00\x0b\x1f/\x7f'}
    assert canonical_json(value) == b'{"a":"\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u000b\\u001f/\x7f"}'


def test_canonical_json_sorts_keys_by_code_point_not_utf16():
    # U+FFFD < U+1F600 by code point; in UTF-16 the surrogate 0xD83D would sort first
    assert canonical_json({"\U0001f600": 1, "\ufffd": 2, "a": 3}) == '{"a":3,"\ufffd":2,"\U0001f600":1}'.encode()


def test_canonical_json_booleans_are_not_integers():
    assert (
        canonical_json({"t": True, "f": False, "n": None, "l": [1, "x"]})
        == b'{"f":false,"l":[1,"x"],"n":null,"t":true}'
    )


@pytest.mark.parametrize("value", [2**53 - 1, -(2**53) + 1, 0])
def test_canonical_json_accepts_integers_in_range(value):
    assert canonical_json({"v": value}) == f'{{"v":{value}}}'.encode()


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**20])
def test_canonical_json_refuses_integers_out_of_range(value):
    with pytest.raises(CanonicalJsonError, match="range"):
        canonical_json({"v": value})


@pytest.mark.parametrize(
    "value",
    [1.0, 1.5, -0.0, 1e10, math.nan, math.inf, {"nested": [1, 2.5]}, [{"deep": {"x": 0.1}}]],
    ids=repr,
)
def test_canonical_json_refuses_floats(value):
    with pytest.raises(CanonicalJsonError):
        canonical_json({"v": value})


@pytest.mark.parametrize("value", [{1: "a"}, {("a",): 1}, {"s": {1, 2}}, {"b": b"bytes"}, {"o": object()}], ids=repr)
def test_canonical_json_refuses_what_is_not_json(value):
    with pytest.raises(CanonicalJsonError):
        canonical_json(value)


def test_canonical_json_refuses_absurd_nesting():
    value: object = "x"
    for _level in range(150):
        value = [value]
    with pytest.raises(CanonicalJsonError, match="nested"):
        canonical_json(value)


def test_canonical_json_error_is_a_value_error():
    assert issubclass(CanonicalJsonError, ValueError)


# -- unpadded base64 ---------------------------------------------------------------------------------------

BASE64_EXAMPLES = [  # the spec's "Unpadded Base64" examples (RFC 4648's vectors without padding)
    (b"", ""),
    (b"f", "Zg"),
    (b"fo", "Zm8"),
    (b"foo", "Zm9v"),
    (b"foob", "Zm9vYg"),
    (b"fooba", "Zm9vYmE"),
    (b"foobar", "Zm9vYmFy"),
]


@pytest.mark.parametrize(("data", "text"), BASE64_EXAMPLES)
def test_unpadded_base64_spec_examples(data, text):
    assert encode_base64(data) == text
    assert decode_base64(text) == data


def test_decode_base64_accepts_padding_and_url_safe_alphabet():
    assert decode_base64("Zm8=") == b"fo"
    assert decode_base64("-_8") == b"\xfb\xff"
    assert decode_base64("+/8") == b"\xfb\xff"


@pytest.mark.parametrize("text", ["Z", "Zm9v!", "Zm 9v", "é", 42, None])
def test_decode_base64_refuses_garbage(text):
    with pytest.raises(ValueError):
        decode_base64(text)


def test_seed_decodes_to_an_ed25519_seed():
    assert len(seed()) == 32


# -- signing: the appendix's vectors -------------------------------------------------------------------


def test_sign_empty_object_gives_the_spec_signature():
    assert sign_json({}, signing_name=SIGNER, key_id=KEY_ID, seed=seed()) == json.loads(SIGNED_EMPTY)


def test_sign_simple_object_gives_the_spec_signature():
    signed = sign_json({"one": 1, "two": "Two"}, signing_name=SIGNER, key_id=KEY_ID, seed=seed())
    assert signed == json.loads(SIGNED_SIMPLE)


@pytest.mark.parametrize("text", [SIGNED_EMPTY, SIGNED_SIMPLE], ids=["empty", "simple"])
def test_spec_signed_objects_verify(text):
    assert verify_signed_json(json.loads(text), signing_name=SIGNER, key_id=KEY_ID, public_key=public_key()) is None


def test_sign_json_does_not_modify_its_argument_and_keeps_other_signatures():
    value = {"one": 1, "two": "Two", "signatures": {"other.example": {"ed25519:x": "c2ln"}}}
    before = copy.deepcopy(value)
    signed = sign_json(value, signing_name=SIGNER, key_id=KEY_ID, seed=seed())
    assert value == before
    assert signed["signatures"] == {"other.example": {"ed25519:x": "c2ln"}, SIGNER: {KEY_ID: SIMPLE_SIGNATURE}}


def test_signatures_and_unsigned_are_not_signed():
    value = {"one": 1, "two": "Two", "unsigned": {"age_ts": 922834800000}}
    signed = sign_json(value, signing_name=SIGNER, key_id=KEY_ID, seed=seed())
    assert signed["signatures"][SIGNER][KEY_ID] == SIMPLE_SIGNATURE
    signed["unsigned"] = {"age_ts": 1}  # intermediate servers may change it
    verify_signed_json(signed, signing_name=SIGNER, key_id=KEY_ID, public_key=public_key())


# -- verification: tampering and malformed signatures -----------------------------------------------------


def signed_simple() -> dict:
    return json.loads(SIGNED_SIMPLE)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v.update(one=2),
        lambda v: v.update(two="two"),
        lambda v: v.update(three=3),
        lambda v: v.pop("one"),
        lambda v: v["signatures"][SIGNER].update({KEY_ID: EMPTY_SIGNATURE}),
        lambda v: v["signatures"][SIGNER].update({KEY_ID: "A" + SIMPLE_SIGNATURE[1:]}),
    ],
    ids=["value changed", "case changed", "key added", "key removed", "other signature", "signature byte"],
)
def test_tampering_is_detected(tamper):
    value = signed_simple()
    tamper(value)
    with pytest.raises(ValueError, match=f"the signature by {SIGNER} with {KEY_ID} does not verify"):
        verify_signed_json(value, signing_name=SIGNER, key_id=KEY_ID, public_key=public_key())


def test_another_key_does_not_verify():
    with pytest.raises(ValueError, match="does not verify"):
        verify_signed_json(signed_simple(), signing_name=SIGNER, key_id=KEY_ID, public_key=public_key(OTHER_SEED))


@pytest.mark.parametrize(
    ("signing_name", "key_id", "signatures"),
    [
        ("other.example", KEY_ID, None),
        (SIGNER, "ed25519:2", None),
        (SIGNER, KEY_ID, "not an object"),
        (SIGNER, KEY_ID, {SIGNER: "not an object"}),
        (SIGNER, KEY_ID, {}),
    ],
)
def test_missing_signature_is_reported(signing_name, key_id, signatures):
    value = signed_simple()
    if signatures is not None:
        value["signatures"] = signatures
    with pytest.raises(ValueError, match=f"no signature by {signing_name} with {key_id}"):
        verify_signed_json(value, signing_name=signing_name, key_id=key_id, public_key=public_key())


@pytest.mark.parametrize("signature", ["not base64!", 12345, "Zg"], ids=["garbage", "a number", "too short"])
def test_malformed_signature_is_a_value_error(signature):
    value = signed_simple()
    value["signatures"][SIGNER][KEY_ID] = signature
    with pytest.raises(ValueError):
        verify_signed_json(value, signing_name=SIGNER, key_id=KEY_ID, public_key=public_key())


@pytest.mark.parametrize("key", [b"", b"\x00" * 31, b"\x00" * 33])
def test_public_key_of_the_wrong_length_is_a_value_error(key):
    with pytest.raises(ValueError, match="unusable signature or key"):
        verify_signed_json(signed_simple(), signing_name=SIGNER, key_id=KEY_ID, public_key=key)


def test_float_in_the_signed_object_is_reported_not_raised_as_something_else():
    value = signed_simple()
    value["one"] = 1.0
    with pytest.raises(ValueError, match="not canonical JSON"):
        verify_signed_json(value, signing_name=SIGNER, key_id=KEY_ID, public_key=public_key())


# -- properties ----------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
keys = st.text(st.characters(exclude_categories=("Cs",)), max_size=8).filter(
    lambda k: k not in ("signatures", "unsigned")
)
objects = st.dictionaries(keys, json_values, max_size=6)


@settings(max_examples=300, deadline=None)
@given(objects)
def test_canonical_json_round_trips_and_is_a_fixed_point(value):
    encoded = canonical_json(value)
    assert json.loads(encoded.decode("utf-8")) == value
    assert canonical_json(json.loads(encoded)) == encoded


@settings(max_examples=150, deadline=None)
@given(objects, st.binary(min_size=32, max_size=32))
def test_what_is_signed_verifies(value, key_seed):
    signed = sign_json(value, signing_name="example.org", key_id="ed25519:k", seed=key_seed)
    verify_signed_json(signed, signing_name="example.org", key_id="ed25519:k", public_key=public_key(key_seed))


@settings(max_examples=150, deadline=None)
@given(objects, json_values, keys)
def test_any_change_to_a_signed_member_breaks_the_signature(value, new_value, key):
    signed = sign_json(value, signing_name="example.org", key_id="ed25519:k", seed=OTHER_SEED)
    if key in value and value[key] == new_value and type(value[key]) is type(new_value):
        new_value = [new_value]  # make it a real change
    tampered = {**signed, key: new_value}
    with pytest.raises(ValueError):
        verify_signed_json(tampered, signing_name="example.org", key_id="ed25519:k", public_key=public_key(OTHER_SEED))

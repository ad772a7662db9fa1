"""Signed client-held state: HMAC-SHA256, key rotation, tampering refused."""

from __future__ import annotations

import base64

import pytest

from stableprefix import PromptConfig, SignatureError, dumps, functional, loads, new_state
from stableprefix._signing import _tag, key_id

OLD = "old-key-0123456789abcdef-rotated"
NEW = "new-key-fedcba9876543210-current"


def a_state() -> dict:
    return functional.append_messages(  # type: ignore[return-value]
        new_state(), [{"role": "user", "content": "Transfer 10 EUR"}], PromptConfig()
    )


def test_the_tag_is_hmac_sha256_rfc_4231_case_1() -> None:
    # RFC 4231, test case 1: key = 0x0b * 20, data = "Hi There"
    expected = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    tag = _tag(b"\x0b" * 20, "", "Hi There")
    assert base64.urlsafe_b64decode(tag + "=").hex() == expected


def test_round_trip_and_rotation() -> None:
    state = a_state()
    signed_old = dumps(state, key=OLD)
    assert loads(dumps(state, key=NEW), keys=[NEW, OLD]) == state
    assert loads(signed_old, keys=[NEW, OLD]) == state  # rotated out, still accepted
    with pytest.raises(SignatureError) as info:
        loads(signed_old, keys=[NEW])  # ... until the old key is dropped
    assert info.value.key_id == key_id(OLD) and key_id(OLD) in str(info.value)
    assert OLD not in str(info.value)  # the error names the key id, never the key
    assert loads(signed_old.encode(), keys=[OLD]) == state  # bytes work too


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("10 EUR", "9999 EUR"),
        lambda t: t[:-2] + " }",
        lambda t: t.replace(t.split(".")[3], "A" * 43, 1),
    ],
)
def test_tampered_documents_are_refused(tamper: object) -> None:
    signed = dumps(a_state(), key=NEW)
    changed = tamper(signed)  # type: ignore[operator]
    assert changed != signed
    with pytest.raises(SignatureError, match="does not match"):
        loads(changed, keys=[NEW])


def test_unsigned_and_unexpectedly_signed_documents() -> None:
    plain = dumps(a_state())
    with pytest.raises(SignatureError, match="not signed"):
        loads(plain, keys=[NEW])
    with pytest.raises(SignatureError, match="pass keys="):
        loads(dumps(a_state(), key=NEW))
    with pytest.raises(SignatureError, match="malformed"):
        loads("sp-signed.v1.short.x.{}", keys=[NEW])
    assert loads(plain) == a_state()


def test_bad_keys() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        dumps(new_state(), key="short")
    with pytest.raises(ValueError, match="non-empty list"):
        loads(dumps(new_state(), key=NEW), keys=NEW)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        loads(dumps(new_state(), key=NEW), keys=[])
    with pytest.raises(TypeError):
        dumps(new_state(), key=123)  # type: ignore[arg-type]

"""Signed state documents, for state the client holds (a browser, a queue).

Approach: a handler that sends the conversation state to a client must be
able to tell, when it comes back, that nobody edited it (a forged history
is a prompt injection). ``sign`` prefixes the JSON document with an
HMAC-SHA256 tag (standard library only) and the id of the key that made it;
``verify`` checks the tag in constant time against the configured keys and
returns the JSON. Key rotation: sign with the newest key, verify with a
list (newest first, older ones until every document they signed has
expired). A key id is a hash of the key, so it can be shown in errors
without revealing the key. Format (one line of ASCII, then the JSON)::

    sp-signed.v1.<key id: 16 hex>.<tag: 43 base64url chars>.<JSON document>
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from ._errors import SignatureError

__all__ = ["MAGIC", "key_id", "sign", "verify"]

MAGIC = "sp-signed.v1."
MIN_KEY_BYTES = 16
_TAG_CHARS = 43


def _key_bytes(key: str | bytes) -> bytes:
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError(f"a signing key must be str or bytes, got {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"a signing key must have at least {MIN_KEY_BYTES} bytes (use e.g. "
            f"secrets.token_hex(32)), got {len(key)}"
        )
    return bytes(key)


def key_id(key: str | bytes) -> str:
    """A short public id of ``key`` (16 hex digits), named in documents and errors.

    >>> key_id("0123456789abcdef0123456789abcdef")
    'd0242856f5be257b'
    """
    return hashlib.sha256(b"stableprefix key id\0" + _key_bytes(key)).hexdigest()[:16]


def _tag(key: bytes, head: str, document: str) -> str:
    mac = hmac.new(key, head.encode() + document.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign(document: str, key: str | bytes) -> str:
    """``document`` (JSON text) with an HMAC-SHA256 tag in front.

    Raises:
        TypeError / ValueError: ``key`` is not str/bytes or shorter than 16 bytes.

    >>> signed = sign('{"a":1}', "0123456789abcdef0123456789abcdef")
    >>> signed.startswith("sp-signed.v1.d0242856f5be257b."), signed.endswith('{"a":1}')
    (True, True)
    """
    raw = _key_bytes(key)
    head = f"{MAGIC}{key_id(raw)}."
    return f"{head}{_tag(raw, head, document)}.{document}"


def verify(text: str | bytes, keys: Sequence[str | bytes]) -> str:
    """The JSON document inside a signed text, if one of ``keys`` signed it.

    Raises:
        TypeError / ValueError: ``keys`` is empty or holds a bad key.
        SignatureError: the text is unsigned, tampered with, or signed by a
            key that is not in ``keys`` (``key_id`` names it).

    >>> k = "0123456789abcdef0123456789abcdef"
    >>> verify(sign('{"a":1}', k), [k])
    '{"a":1}'
    >>> verify(sign('{"a":1}', k).replace('"a":1', '"a":2'), [k])
    Traceback (most recent call last):
    ...
    stableprefix._errors.SignatureError: the signature does not match: the document was changed ...
    """
    if isinstance(keys, (str, bytes)) or not keys:
        raise ValueError("keys must be a non-empty list of signing keys (newest first)")
    by_id = {key_id(k): _key_bytes(k) for k in keys}
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode()
        except UnicodeDecodeError as exc:
            raise SignatureError("the document is not UTF-8 text") from exc
    if not text.startswith(MAGIC):
        raise SignatureError(
            "the document is not signed, and signing keys are configured: refuse it, or "
            "load it without keys= if it comes from a trusted place"
        )
    kid, _, rest = text[len(MAGIC) :].partition(".")
    tag, _, document = rest.partition(".")
    if len(kid) != 16 or len(tag) != _TAG_CHARS:
        raise SignatureError("the signature header is malformed")
    key = by_id.get(kid)
    if key is None:
        raise SignatureError(
            f"signed with key {kid}, which is not among the configured keys "
            f"({', '.join(by_id)}); add it to keys= while its documents are in use",
            key_id=kid,
        )
    if not hmac.compare_digest(tag, _tag(key, f"{MAGIC}{kid}.", document)):
        raise SignatureError(
            "the signature does not match: the document was changed after it was signed",
            key_id=kid,
        )
    return document

"""The digest that ends a state document, and what it vouches for.

Approach: ``dumps`` ends a document with the SHA-256 of the rest followed
by the adapter that computed its token counts and hash (``counting_tag``),
and writes it only for a state the library checked or built. ``loads``
keeps the hasher of a document that ends with a digest; ``check_state``
finishes it with its own adapter's tag and, when it matches, trusts the
derived fields instead of recomputing them (every message is still
validated). A document edited, re-serialised by a database, read with an
adapter that counts differently, or dumped from a state the library never
checked is recomputed in full. The digest detects change; it does not
authenticate: sign documents that pass through untrusted hands
(``dumps(key=)``).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

__all__ = ["DIGEST", "counting_tag", "seal_digest", "seal_of"]

#: The name of the last field of a written document.
DIGEST = "digest"
_TAIL = len(f',"{DIGEST}":"') + 64 + 2
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def counting_tag(adapter: Any) -> str | None:
    """What a document's digest binds its token counts to: the adapter, in full.

    ``None`` (no digest: counts are recomputed on every load) for an
    adapter with its own token counter, whose identity does not survive
    the process. The library's version is included: a new release may
    estimate differently.
    """
    if adapter is None or getattr(adapter, "token_counter", None) is not None:
        return None
    from . import __version__

    kind = type(adapter)
    return f"{__version__}:{kind.__module__}.{kind.__qualname__}:{adapter!r}"


def seal_digest(body: Any, tag: str) -> str:
    """The digest of a document: SHA-256 of its text (``body``'s hasher) and ``tag``."""
    hasher = body.copy()
    hasher.update(b"\n" + tag.encode("utf-8", "surrogatepass"))
    return str(hasher.hexdigest())


def seal_of(text: str | bytes | bytearray, digest: Any) -> tuple[Any, str] | None:
    """(hasher of the document without its digest, digest), if ``text`` ends with it."""
    if type(digest) is not str or not _HEX64.match(digest):
        return None
    try:
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    except UnicodeError:
        return None
    if data[-_TAIL:] != f',"{DIGEST}":"{digest}"}}'.encode():
        return None
    hasher = hashlib.sha256(memoryview(data)[:-_TAIL])
    hasher.update(b"}")
    return hasher, digest

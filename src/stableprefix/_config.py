"""``PromptConfig``: everything about a conversation that is not its state.

It is frozen and validated when built, so a config that exists is a config
that works. Tool definitions are copied once and stored with their keys in
canonical (sorted) order, so the serialised prefix does not depend on the
order in which the caller happened to write them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ._adapter import Message, ProviderAdapter
from ._errors import InvalidConfigError
from ._events import Event
from ._json import JSONPathError, canonical, copy_json, sha256_hex, sorted_json, utf8_error
from ._registry import default_adapter

__all__ = ["CompactionHook", "PromptConfig", "TransitionHook"]

TransitionMode = Literal["none", "manual", "agent_cycle"]
DynamicPosition = Literal["auto", "tail", "before_recent", "append"]
CompactionHook = Callable[[list[Message], int, ProviderAdapter], list[Message]]
TransitionHook = Callable[[list[Message]], list[Message]]

_MODES = ("none", "manual", "agent_cycle")
_POSITIONS = ("auto", "tail", "before_recent", "append")


def _check_callable(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"PromptConfig.{name} must be callable or None, got {type(value).__name__}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptConfig:
    """How requests are assembled and history is managed.

    Args:
        static_system_prompt: fixed instructions, first in every request.
        tools: tool definitions in the adapter's format; part of the stable
            prefix, stored with a canonical key order.
        transition_mode: when recent messages move into committed history:
            ``"none"`` (at once), ``"manual"`` (on ``transition()``) or
            ``"agent_cycle"`` (when an assistant message calls no tool).
        adapter: the provider adapter (default ``OpenAIAdapter()``).
        history_max_tokens: budget of committed history; ``None`` never compacts.
        compaction_target: size after a compaction (default ``history_max_tokens // 2``).
        compaction_hook: ``hook(messages, target_tokens, adapter) -> messages``
            to summarise instead of dropping the oldest rounds.
        transition_hook: ``hook(messages) -> messages`` rewriting messages on
            their way into history.
        dynamic_position: where the dynamic context goes: ``"tail"``,
            ``"before_recent"``, ``"append"`` (kept in the turn), or
            ``"auto"`` (the default): ``"tail"``, except that for an adapter
            whose engine caches its own generated tokens (a local engine,
            ``TransformersAdapter``) a context of at most
            ``append_context_max_tokens`` tokens is kept in the turn. See
            ``functional.effective_position`` for the measurements behind it.
        append_context_max_tokens: the ``"auto"`` threshold (default 256).
        on_event: called with every ``Event`` the conversation reports (a
            ``CompactionEvent`` after each compaction), once the change it
            describes has been applied.

    Raises:
        TypeError: a field has the wrong type.
        InvalidConfigError: a field has a value that cannot work.

    >>> cfg = PromptConfig(static_system_prompt="You help.", history_max_tokens=8000)
    >>> cfg.compaction_target
    4000
    >>> PromptConfig(transition_mode="sometimes")
    Traceback (most recent call last):
    ...
    stableprefix._errors.InvalidConfigError: PromptConfig.transition_mode: must be one of ...
    """

    static_system_prompt: str = ""
    tools: Sequence[Message] = ()
    transition_mode: TransitionMode = "none"
    adapter: ProviderAdapter = field(default_factory=default_adapter)
    history_max_tokens: int | None = None
    compaction_target: int | None = None
    compaction_hook: CompactionHook | None = None
    transition_hook: TransitionHook | None = None
    dynamic_position: DynamicPosition = "auto"
    append_context_max_tokens: int = 256
    on_event: Callable[[Event], object] | None = None
    _prefix_hash: str = field(init=False, repr=False, compare=False, default="")
    _static_tokens: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        if not isinstance(self.static_system_prompt, str):
            raise TypeError(
                "PromptConfig.static_system_prompt must be a str, got "
                f"{type(self.static_system_prompt).__name__}"
            )
        problem = utf8_error(self.static_system_prompt)
        if problem is not None:
            raise InvalidConfigError(problem, field="static_system_prompt")
        if not isinstance(self.adapter, ProviderAdapter):
            raise TypeError(
                "PromptConfig.adapter must be a ProviderAdapter instance, got "
                f"{type(self.adapter).__name__}"
            )
        self._check_choices()
        self._check_budget()
        for name in ("compaction_hook", "transition_hook", "on_event"):
            _check_callable(name, getattr(self, name))
        tools = self._canonical_tools()
        object.__setattr__(self, "tools", tools)
        prefix = canonical([list(tools), self.static_system_prompt])
        object.__setattr__(self, "_prefix_hash", sha256_hex(prefix))
        static = self.adapter.count_tools_tokens(tools) + self.adapter.count_text_tokens(
            self.static_system_prompt
        )
        object.__setattr__(self, "_static_tokens", static)

    def _check_choices(self) -> None:
        if self.transition_mode not in _MODES:
            raise InvalidConfigError(
                f"must be one of {', '.join(_MODES)}; got {self.transition_mode!r}",
                field="transition_mode",
            )
        if self.dynamic_position not in _POSITIONS:
            raise InvalidConfigError(
                f"must be one of {', '.join(_POSITIONS)}; got {self.dynamic_position!r}",
                field="dynamic_position",
            )

    def _check_budget(self) -> None:
        limit = self.append_context_max_tokens
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError("PromptConfig.append_context_max_tokens must be an int, got "
                            f"{type(limit).__name__}")
        if limit < 0:
            raise InvalidConfigError(f"must be >= 0, got {limit}",
                                     field="append_context_max_tokens")
        for name in ("history_max_tokens", "compaction_target"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(
                    f"PromptConfig.{name} must be an int or None, got {type(value).__name__}"
                )
        if self.history_max_tokens is None:
            if self.compaction_target is not None:
                raise InvalidConfigError(
                    "needs history_max_tokens; set history_max_tokens too, or drop "
                    "compaction_target",
                    field="compaction_target",
                )
            return
        if self.history_max_tokens <= 0:
            raise InvalidConfigError(
                f"must be > 0, got {self.history_max_tokens}; use None to never compact",
                field="history_max_tokens",
            )
        if self.compaction_target is None:
            object.__setattr__(self, "compaction_target", self.history_max_tokens // 2)
        elif not 0 <= self.compaction_target < self.history_max_tokens:
            raise InvalidConfigError(
                f"must be >= 0 and < history_max_tokens ({self.history_max_tokens}), "
                f"got {self.compaction_target}",
                field="compaction_target",
            )

    def _canonical_tools(self) -> tuple[Message, ...]:
        if isinstance(self.tools, (str, bytes, dict)) or not isinstance(self.tools, Sequence):
            raise TypeError(
                f"PromptConfig.tools must be a list of dicts, got {type(self.tools).__name__}"
            )
        try:
            copied = copy_json(list(self.tools), "$.tools")
        except JSONPathError as exc:
            raise InvalidConfigError(f"{exc} (at {exc.path})", field="tools") from exc
        self.adapter.validate_tools(copied)
        return tuple(sorted_json(t) for t in copied)

    @property
    def prefix_hash(self) -> str:
        """SHA-256 of the tools and the static system prompt (canonical JSON)."""
        return self._prefix_hash

    @property
    def static_tokens(self) -> int:
        """Estimated tokens of the tools plus the static system prompt."""
        return self._static_tokens

    def replace(self, **changes: Any) -> PromptConfig:
        """A copy of this config with some fields changed (validated again).

        >>> PromptConfig().replace(history_max_tokens=100).compaction_target
        50
        """
        values = {name: getattr(self, name) for name in _FIELDS}
        if "history_max_tokens" in changes and "compaction_target" not in changes:
            values["compaction_target"] = None
        values.update(changes)
        return PromptConfig(**values)


_FIELDS = (
    "static_system_prompt",
    "tools",
    "transition_mode",
    "adapter",
    "history_max_tokens",
    "compaction_target",
    "compaction_hook",
    "transition_hook",
    "dynamic_position",
    "append_context_max_tokens",
    "on_event",
)

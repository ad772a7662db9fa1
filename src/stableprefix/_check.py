"""The one state check every way in goes through.

Approach: ``loads`` can check a document's structure alone; everything else
needs the provider's adapter: each message valid for the provider, the
order of tool calls and results, ``pending``, and the *derived* fields.
Per-message token counts are recomputed by the adapter, so budgets never
rest on edited numbers and a state can move to an adapter of the same wire
format that counts differently; ``history_hash``, ``pending``, ``context``
and ``format`` are recomputed and compared, so a state whose fingerprint or
turn would silently be wrong is refused with the path of the first field
that disagrees. The functional API, ``PromptManager`` and the stores
call ``check_state`` on every state they are handed.

Checking is O(history), so it is done once per state, not once per call. A
state the library checked or built is returned as a ``dict`` subclass that
remembers the adapter it was checked for and a signature of its fields
(which list objects it holds, their lengths, totals, hash, ...); handing it
back costs a comparison of that signature. A state changed from outside
(another list, a message added or removed, a total edited) no longer
matches and is checked again in full. Messages themselves are never
modified by the library; a caller who edits one in place inside a state it
already handed in must check that state again (``check_state`` on a copy,
e.g. ``loads(dumps(state))``).
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

from ._adapter import ProviderAdapter
from ._config import PromptConfig
from ._errors import InvalidMessageError, InvalidStateError, StablePrefixError
from ._json import EMPTY_HASH, chain_hash
from ._sequence import advance
from ._state import (
    CheckedState,
    State,
    counting_tag,
    is_intact,
    seal_digest,
    signature,
    validate_state,
    with_stack_room,
)

__all__ = ["check_state", "is_checked", "mark_checked"]


def mark_checked(state: State, adapter: ProviderAdapter) -> State:
    """Remember that ``state`` is valid for ``adapter`` (the library built or checked it).

    Returns a shallow copy that ``check_state`` recognises at the cost of a
    signature comparison; the lists and messages are shared, not copied.
    """
    out = CheckedState(state)
    out._adapter, out._derived = adapter, True
    out._sig = signature(out)
    return out  # type: ignore[return-value]


def is_checked(state: Any, adapter: ProviderAdapter) -> bool:
    """Whether ``state`` is a checked state for ``adapter``, unchanged since."""
    if not is_intact(state):
        return False
    mine = state._adapter
    return mine is adapter or bool(mine == adapter)


def check_state(state: Any, config: PromptConfig) -> State:
    """Check a state completely against ``config``; return it ready to use.

    The check every way in shares: the structure (``loads`` does this part
    alone), every message validated by ``config.adapter``, the order of tool
    calls and their results, ``pending``, and the derived fields. Token
    counts are recomputed with ``config.adapter`` (the authority on its own
    counts: a state moves between adapters of one wire format that count
    differently), so budgets are never computed from edited numbers; the
    totals must add up, and ``history_hash``, ``pending``, ``context`` and
    ``format`` must agree with the messages, or the state is refused. A
    state the library returned (from ``check_state``, a functional operation
    or a manager) is recognised cheaply and not checked twice.

    Args:
        state: a state, e.g. from ``loads`` or your database.
        config: the conversation's config (its adapter decides what is valid).

    Returns:
        The state (a shallow copy sharing the messages), marked as checked.

    Raises:
        TypeError: ``config`` is not a ``PromptConfig`` or ``state`` not a dict.
        InvalidStateError: naming the path of the first bad field (``path``).

    >>> from stableprefix import PromptConfig, dumps, functional, loads, new_state
    >>> cfg = PromptConfig()
    >>> s = functional.append_message(new_state(), {"role": "user", "content": "Hi"}, cfg)
    >>> check_state(loads(dumps(s)), cfg) == s
    True
    >>> edited = loads(dumps(s))
    >>> edited["history_hash"] = "0" * 64
    >>> check_state(edited, cfg)
    Traceback (most recent call last):
    ...
    stableprefix._errors.InvalidStateError: invalid state at $.history_hash: does not match ...
    """
    if not isinstance(config, PromptConfig):
        raise TypeError(
            f"config must be a PromptConfig, got {type(config).__name__}; "
            "pass the conversation's PromptConfig"
        )
    if is_checked(state, config.adapter):
        return state  # type: ignore[no-any-return]
    if not isinstance(state, dict):
        raise TypeError(
            f"state must be a state dict (see new_state() and loads()), got {type(state).__name__}"
        )
    return with_stack_room(_check, state, config)


def _check(state: Any, config: PromptConfig) -> State:
    # A document ``loads`` read back exactly as ``dumps`` wrote it for this
    # adapter carries the derived fields it computes: no recomputing them.
    adapter = config.adapter
    intact = is_intact(state)  # its structure was checked when it was made
    derived_ok = intact and (state._derived or _sealed_for(state, adapter))
    checked: State = state if intact else validate_state(state)
    fmt = checked["format"]
    if fmt is not None and fmt != adapter.name:
        raise InvalidStateError(
            f"the state holds {fmt} messages but the config uses {adapter.name}; "
            "use the adapter the conversation was started with",
            path="$.format",
        )
    out: State = {**checked}
    out.pop("digest", None)  # type: ignore[typeddict-item]  # json.loads(dumps(...)) kept it
    pending = _check_order(adapter, out)
    if not derived_ok:
        for part in ("committed", "recent"):
            counts = [
                _count(adapter, m, part, i)
                for i, m in enumerate(out[part])  # type: ignore[literal-required,unused-ignore]
            ]
            if counts != out[f"{part}_counts"]:  # type: ignore[literal-required]
                out[f"{part}_counts"] = counts  # type: ignore[literal-required]
                out[f"{part}_tokens"] = sum(counts)  # type: ignore[literal-required]
    index = len(out["committed"]) + len(out["recent"])
    if list(pending) != out["pending"]:
        raise InvalidStateError(
            f"lists {out['pending']} but the messages leave {list(pending)} awaiting results",
            path="$.pending",
        )
    if index and fmt is None:
        raise InvalidStateError(
            f"is null but the state holds messages; set it to {adapter.name!r}", path="$.format"
        )
    if not derived_ok:
        _check_hash(out)
    _check_context(out, adapter)
    return mark_checked(out, adapter)


def _sealed_for(state: Any, adapter: ProviderAdapter) -> bool:
    seal = getattr(state, "_seal", None)
    tag = counting_tag(adapter)
    return seal is not None and tag is not None and seal_digest(seal[0], tag) == seal[1]


_PLAIN_METHODS = ("validate_message", "check_first", "tool_call_ids", "tool_result_ids")


def _plain_roles(adapter: ProviderAdapter) -> frozenset[str]:
    """``adapter.plain_roles``, unless a subclass changed what they promise."""
    for cls in type(adapter).__mro__:
        found = vars(cls)
        if "plain_roles" in found:
            return adapter.plain_roles
        if any(name in found for name in _PLAIN_METHODS):
            return frozenset()
    return frozenset()


def _all_plain(messages: list[Any], plain: frozenset[str]) -> bool:
    """Whether every message passes the plain test of ``_one``.

    The same test, computed by C-level iteration over the whole list (a
    message that is not a dict, or a role that is not hashable, makes
    ``dict.get`` or the set raise ``TypeError``: not plain).
    """
    try:
        if set(map(len, messages)) != _TWO:
            return False
        if not set(map(dict.get, messages, repeat("role"))) <= plain:
            return False
        contents = list(map(dict.get, messages, repeat("content")))
        return all(contents) and not any(map(str.isspace, contents))  # type: ignore[arg-type]
    except TypeError:
        return False


_TWO = {2}


def _check_order(adapter: ProviderAdapter, state: State) -> tuple[str, ...]:
    """Validate every message and their order; return the tool calls left pending."""
    # Runs once per message of every checked state: the path of a message is
    # built only when it is refused.
    pending: tuple[str, ...] = ()
    plain = _plain_roles(adapter)
    index = 0
    for part in ("committed", "recent"):
        messages: list[Any] = state[part]  # type: ignore[literal-required,unused-ignore]
        i = 0
        try:
            # The conversation's first message is always checked in full.
            first = 1 if index == 0 and messages else 0
            if first:
                pending = _one(adapter, messages[0], 0, pending)
            if not (plain and not pending and _all_plain(messages[first:], plain)):
                for i in range(first, len(messages)):
                    pending = _one(adapter, messages[i], index + i, pending, plain)
        except StablePrefixError as exc:
            path = f"$.{part}[{i}]" + _inner(exc)
            raise InvalidStateError(str(exc), path=path) from exc
        index += len(messages)
    return pending


def _one(
    adapter: ProviderAdapter,
    message: Any,
    index: int,
    pending: tuple[str, ...],
    plain: frozenset[str] = frozenset(),
) -> tuple[str, ...]:
    """Check one message at ``index``; return the pending tool calls after it."""
    if type(message) is not dict:  # replaced inside a checked state's list
        raise InvalidMessageError(
            f"must be a message object, got {type(message).__name__}", index=index
        )
    if plain and not pending and len(message) == 2:
        content, role = message.get("content"), message.get("role")
        if (
            type(content) is str
            and type(role) is str
            and role in plain
            and content
            and not content.isspace()
        ):
            return pending  # valid, calls and answers nothing (see plain_roles)
    adapter.validate_message(message, index=index)
    if index == 0:
        adapter.check_first(message, index=0)
    return advance(pending, message, adapter, index)


def _inner(exc: StablePrefixError) -> str:
    inner = getattr(exc, "path", "$")
    return inner[1:] if isinstance(inner, str) and inner.startswith("$") else ""


def _count(adapter: ProviderAdapter, message: Any, part: str, i: int) -> int:
    try:
        n = adapter.count_tokens(message)
    except StablePrefixError as exc:
        raise InvalidStateError(f"cannot count its tokens: {exc}", path=f"$.{part}[{i}]") from exc
    if type(n) is not int or n < 0:
        raise InvalidStateError(
            f"the adapter's token count for it is {n!r}, not a whole number >= 0; "
            "fix the token counter",
            path=f"$.{part}[{i}]",
        )
    return n


def _check_context(state: State, adapter: ProviderAdapter) -> None:
    # ``context`` says which context text the conversation already holds, so
    # an unchanged one is not sent again; it must really be there.
    if state["context"] is None:
        return
    message = adapter.context_message(state["context"])
    for part in ("recent", "committed"):
        if any(m == message for m in reversed(state[part])):  # type: ignore[literal-required,unused-ignore]
            return
    raise InvalidStateError(
        "names a dynamic context that no message of the conversation holds; set it to null",
        path="$.context",
    )


def _check_hash(state: State) -> None:
    h = EMPTY_HASH
    for message in state["committed"]:
        h = chain_hash(h, message)
    if h != state["history_hash"]:
        raise InvalidStateError(
            "does not match the committed messages (they were edited, reordered or "
            "removed outside the library)",
            path="$.history_hash",
        )

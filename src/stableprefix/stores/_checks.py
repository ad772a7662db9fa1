"""The checks a store runs: on what it loads, and on what it is asked to save.

Approach: every state read from a store passes the core's state check
(``check_loaded``), except that rows sealed for an equal adapter are that
checked state again (see ``_codec``). A save checks every field of the
state but only the messages that are new since the stored version
(``check_shape`` + ``check_fresh``): the others are the stored ones,
compared when the change is computed, which passed when they were saved.
"""

from __future__ import annotations

from typing import Any

from .._config import PromptConfig
from .._errors import InvalidStateError, StoreError
from .._state import State, validate_state
from ._codec import Delta, adapter_fingerprint

__all__ = ["check_fresh", "check_id", "check_loaded", "check_shape", "check_version"]


def check_loaded(
    state: State,
    config: PromptConfig | None,
    session_id: str,
    *,
    sealed: bool = False,
    checked_by: str | None = None,
) -> State:
    """The single state check for a state read from a store.

    Args:
        sealed: the rows matched their seal (written by the library, unchanged).
        checked_by: with ``sealed``, the fingerprint of the adapter the
            rows were checked for when they were written; if it is
            ``config.adapter``'s, the state passed this check already (its
            messages, their order, counts, hash; the library's encoder
            wrote them and ``json.loads`` read them, so they are plain
            JSON) and only its small fields are checked again.

    Raises:
        StoreError: the stored state does not pass (naming the session and the field).
    """
    try:
        if config is None:
            return validate_state(state)
        from .._check import check_state

        if sealed and checked_by is not None and checked_by == adapter_fingerprint(config.adapter):
            from .._check import mark_checked

            validate_state(_shell(state))
            return mark_checked(state, config.adapter)
        return check_state(state, config)
    except InvalidStateError as exc:
        raise StoreError(
            f"the stored state is not valid ({exc}); it was written by something else or "
            "damaged: delete the session or restore it",
            session_id=session_id,
            operation="load",
        ) from exc


def _shell(state: Any, fresh: list[Any] | None = None, counts: list[Any] | None = None) -> Any:
    shell = {**state, "committed": [], "committed_counts": [], "committed_tokens": 0}
    shell.update(recent=fresh or [], recent_counts=counts or [], recent_tokens=sum(counts or []))
    return shell


def check_shape(state: Any) -> None:
    """Check a state's fields and totals; its messages are checked as they are saved.

    A save writes only the messages that are new since the stored version;
    the others are the stored ones (compared when the change is computed),
    which passed when they were saved. So a save checks every field but
    only the new messages, and costs O(change) in Python.

    Raises:
        InvalidStateError: naming the path of the first bad field.
    """
    try:
        if not isinstance(state, dict):
            raise InvalidStateError("not a JSON object")
        validate_state(_shell(state))
        for part in ("committed", "recent"):
            messages, counts = state[part], state[f"{part}_counts"]
            if not (
                isinstance(messages, list)
                and isinstance(counts, list)
                and len(messages) == len(counts)
                and sum(counts) == state[f"{part}_tokens"]
            ):
                raise InvalidStateError(f"{part} does not add up")
    except (InvalidStateError, TypeError) as exc:
        validate_state(state)  # names the exact path
        raise InvalidStateError(str(exc)) from exc


def check_fresh(state: State, delta: Delta) -> None:
    """Check the messages ``delta`` writes (see ``check_shape``).

    Raises:
        InvalidStateError: naming the path of the first bad message.
    """
    messages = [*state["committed"], *state["recent"]]
    counts = [*state["committed_counts"], *state["recent_counts"]]
    picked = [*range(delta.fresh[0]), *range(delta.fresh[1], len(messages))]
    try:
        validate_state(_shell(state, [messages[i] for i in picked], [counts[i] for i in picked]))
    except (InvalidStateError, TypeError) as exc:
        validate_state(state)  # names the exact path
        raise InvalidStateError(str(exc)) from exc


def check_id(session_id: Any) -> str:
    if not isinstance(session_id, str):
        raise TypeError(f"session_id must be a str, got {type(session_id).__name__}")
    if not session_id or len(session_id) > 512:
        raise ValueError("session_id must be a non-empty string of at most 512 characters")
    return session_id


def check_version(version: Any) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise TypeError(f"expected_version must be an int >= 0 (from load), got {version!r}")
    return version

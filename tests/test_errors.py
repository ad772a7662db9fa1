"""One module defines every error; foreign exceptions are translated in one way."""

from __future__ import annotations

import importlib
import json
import pkgutil
from contextlib import AbstractContextManager

import pytest

import stableprefix
from stableprefix import InvalidMessageError, InvalidStateError, StablePrefixError, StoreError
from stableprefix import _errors as errors
from stableprefix.adapters import AnthropicAdapter, GeminiAdapter, OpenAIAdapter


def _all_subclasses(cls: type) -> set[type]:
    out: set[type] = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_all_subclasses(sub)}
    return out


def test_every_library_error_is_defined_in_the_errors_module_and_drawn_in_its_tree() -> None:
    for info in pkgutil.walk_packages(stableprefix.__path__, "stableprefix."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    classes = {
        c for c in _all_subclasses(StablePrefixError) if c.__module__.startswith("stableprefix")
    }
    assert len(classes) >= 15
    tree = errors.__doc__ or ""
    for cls in classes:
        assert cls.__module__ == "stableprefix._errors", f"{cls.__name__} is defined elsewhere"
        assert f"+-- {cls.__name__}" in tree, f"{cls.__name__} is missing from the tree"
        assert cls.__name__ in errors.__all__


def test_errors_are_re_exported_where_users_meet_them() -> None:
    from stableprefix import pricing, sim

    assert sim.CacheRuleError is errors.CacheRuleError
    assert pricing.UnknownModelError is errors.UnknownModelError
    assert stableprefix.UsageError is errors.UsageError


def tr(*foreign: type[BaseException], doing: str) -> AbstractContextManager[None]:
    return errors.translate(StoreError, *foreign, doing=doing)


def test_translate_chains_the_foreign_error_and_names_what_was_being_done() -> None:
    with pytest.raises(StoreError) as info, tr(OSError, doing="opening sessions.db"):
        raise PermissionError("read-only file system")
    assert str(info.value) == "opening sessions.db failed (PermissionError: read-only file system)"
    assert isinstance(info.value.__cause__, PermissionError)


def test_translate_leaves_library_errors_and_other_exceptions_alone() -> None:
    own = InvalidStateError("bad", path="$.version")
    with pytest.raises(InvalidStateError) as info, tr(Exception, doing="loading"):
        raise own
    assert info.value is own
    with pytest.raises(KeyError), tr(json.JSONDecodeError, doing="loading"):
        raise KeyError("x")
    with pytest.raises(TypeError, match="at least one"), tr(doing="loading"):
        pass


class _BrokenSDKMessage:
    def model_dump(self, **kwargs: object) -> dict[str, object]:
        raise RuntimeError("validation failed for field 'content'")


@pytest.mark.parametrize("adapter", [OpenAIAdapter(), AnthropicAdapter(), GeminiAdapter()],
                         ids=lambda a: a.name)
def test_a_broken_sdk_object_is_a_library_error(adapter: object) -> None:
    from stableprefix import PromptConfig, PromptManager

    pm = PromptManager(PromptConfig(adapter=adapter))  # type: ignore[arg-type]
    with pytest.raises(InvalidMessageError, match="_BrokenSDKMessage") as info:
        pm.append(_BrokenSDKMessage())
    assert isinstance(info.value.__cause__, RuntimeError)
    assert pm.state["recent"] == []

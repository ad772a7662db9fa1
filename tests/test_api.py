"""The public surface: one front door, typed, and a core that does no I/O."""

from __future__ import annotations

import ast
import pathlib
import types

import stableprefix
import stableprefix.adapters

SRC = pathlib.Path(stableprefix.__file__).parent
CORE_MODULES = [
    "_adapter.py", "_apply.py", "_blocks.py", "_compaction.py", "_config.py", "_errors.py",
    "_events.py", "_json.py", "_manager.py", "_registry.py",
    "_seal.py", "_sequence.py", "_state.py", "_tokens.py", "_usage.py", "functional.py",
    "adapters/_base.py", "adapters/_openai.py", "adapters/_anthropic.py",
    "pricing.py", "_token_data.py", "sim/_base.py", "sim/_trie.py", "sim/_anthropic.py",
    "sim/_automatic.py", "sim/_local.py", "sim/_factory.py",
]
FORBIDDEN = {"socket", "sqlite3", "time", "urllib", "http", "random", "requests", "httpx",
             "subprocess", "asyncio"}


def test_all_matches_what_is_importable() -> None:
    for module in (stableprefix, stableprefix.adapters):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name} is in __all__ but missing"
        subpackages = ("adapters", "functional", "pricing", "sim", "tokens")
        public = {n for n in vars(module) if (not n.startswith("_") and not isinstance(
            getattr(module, n), type(stableprefix))) or n in subpackages}
        exported = set(module.__all__)
        missing = {n for n in public - exported if n not in ("annotations",)}
        assert not missing, f"{module.__name__} exposes {missing} without listing it in __all__"


def test_all_is_sorted_and_unique() -> None:
    names = stableprefix.__all__
    assert len(names) == len(set(names))


def test_py_typed_is_shipped() -> None:
    assert (SRC / "py.typed").exists()


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_core_modules_do_no_io() -> None:
    for rel in CORE_MODULES:
        bad = _imports(SRC / rel) & FORBIDDEN
        assert not bad, f"{rel} imports {bad}: the core must not do I/O or read the clock"


def test_core_does_not_import_benchmark_or_store_modules() -> None:
    for rel in CORE_MODULES:
        text = (SRC / rel).read_text()
        assert "benchmark" not in _imports(SRC / rel)
        assert "from .benchmark" not in text and "from .stores" not in text


def _relative_imports(path: pathlib.Path) -> set[str]:
    """Package-relative modules a file imports, as dotted names from the package root."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("stableprefix."):
                found.add(node.module.removeprefix("stableprefix."))
            elif node.level == 1 and node.module:
                found.add(node.module)
            elif node.level == 1:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("stableprefix.") for a in node.names
                         if a.name.startswith("stableprefix."))
    return found


def test_the_core_imports_no_adapter_store_or_benchmark_module() -> None:
    # The core: the private modules at the package root, plus the pure functional API.
    core = sorted([*SRC.glob("_*.py"), SRC / "functional.py"])
    assert len(core) > 10
    outer = ("adapters", "stores", "benchmark", "diagnostics", "sim")
    for path in core:
        if path.name == "__init__.py":
            continue
        bad = {m for m in _relative_imports(path) if m.split(".")[0] in outer}
        assert not bad, f"{path.name} imports {sorted(bad)}: the core must not depend on them"


def test_every_public_callable_has_an_example() -> None:
    for name in stableprefix.__all__:
        obj = getattr(stableprefix, name)
        if callable(obj) and not isinstance(obj, type(stableprefix)) and name != "Message":
            doc = getattr(obj, "__doc__", "") or ""
            if isinstance(obj, type) and issubclass(obj, BaseException):
                continue
            assert ">>>" in doc, f"stableprefix.{name} has no >>> example in its docstring"
    for name in stableprefix.adapters.__all__:
        obj = getattr(stableprefix.adapters, name)
        # (on Python 3.10 an alias such as Message = dict[str, Any] passes as a type)
        if isinstance(obj, type) and not isinstance(obj, types.GenericAlias):
            assert ">>>" in (obj.__doc__ or ""), f"adapters.{name} has no example"
    for name in stableprefix.functional.__all__:
        obj = getattr(stableprefix.functional, name)
        if callable(obj):
            assert ">>>" in (obj.__doc__ or ""), f"functional.{name} has no example"


def test_the_design_document_names_only_files_that_exist() -> None:
    import re

    root = SRC.parent.parent
    text = (root / "docs" / "design.md").read_text()
    named = set(re.findall(r"`([\w/]+\.py)`", text))
    assert len(named) >= 10
    for name in named:
        hits = [*root.glob(f"src/stableprefix/{name}"), *root.glob(f"src/stableprefix/*/{name}"),
                *root.glob(name)]
        assert hits, f"docs/design.md names {name}, which does not exist"

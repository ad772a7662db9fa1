"""The public surface of ``stableprefix.sim`` and ``stableprefix.pricing``:
``__all__`` is complete, every public callable has an example, and the
modules stay pure (no clock, no I/O, no randomness)."""

from __future__ import annotations

import ast
import inspect
import pathlib
import types

import pytest

import stableprefix
from stableprefix import pricing, sim

SRC = pathlib.Path(stableprefix.__file__).parent
PURE = [*sorted((SRC / "sim").glob("*.py")), SRC / "pricing.py"]
FORBIDDEN = {
    "socket",
    "sqlite3",
    "time",
    "datetime",
    "urllib",
    "http",
    "random",
    "secrets",
    "requests",
    "httpx",
    "subprocess",
    "asyncio",
    "os",
}


def _imports(path: pathlib.Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", PURE, ids=lambda p: p.name)
def test_simulator_modules_are_pure(path: pathlib.Path) -> None:
    bad = _imports(path) & FORBIDDEN
    assert not bad, f"{path.name} imports {bad}: simulators take time and data as arguments"


@pytest.mark.parametrize("module", [sim, pricing], ids=["sim", "pricing"])
def test_all_lists_what_is_public(module: types.ModuleType) -> None:
    for name in module.__all__:
        assert hasattr(module, name), name
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType) and n != "annotations"
    }
    # names imported only for type annotations are not part of the surface
    public -= {"Mapping", "MappingProxyType", "CacheUsage", "dataclass", "StablePrefixError"}
    assert public <= set(module.__all__), public - set(module.__all__)
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize(
    "name", [f"sim.{n}" for n in sim.__all__] + [f"pricing.{n}" for n in pricing.__all__]
)
def test_every_public_callable_has_an_example(name: str) -> None:
    module_name, attr = name.split(".")
    obj = getattr({"sim": sim, "pricing": pricing}[module_name], attr)
    if not callable(obj) or attr == "TimedRequest":
        return
    doc = inspect.getdoc(obj) or ""
    assert ">>>" in doc, f"{name} has no example"
    if obj is sim.CacheModel:  # a Protocol: its methods are signatures only
        return
    if inspect.isclass(obj) and not issubclass(obj, BaseException):
        for meth in ("process", "reset"):
            if hasattr(obj, meth):
                assert ">>>" in (inspect.getdoc(getattr(obj, meth)) or ""), f"{name}.{meth}"

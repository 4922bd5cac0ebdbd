"""The adapters reach the engine through its public surface only: no `_private` module of
``tfa_engine``, and only names a public module lists in its ``__all__``."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"
OWN = "tfa_engine.adapters"


def _package_of(path: Path) -> list[str]:
    """The dotted package a file of adapters/ belongs to, as parts."""
    folder = path.parent.relative_to(ADAPTERS).parts
    return [*OWN.split("."), *folder]


def engine_imports() -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """(where, engine module, names imported from it) for every import in adapters/ that
    leaves the adapters' own package; ``import m`` statements give no names."""
    for path in sorted(ADAPTERS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ADAPTERS.parent)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("tfa_engine") and not _own(alias.name):
                        yield where, alias.name, ()
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    package = _package_of(path)
                    base = package[: len(package) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                if module.startswith("tfa_engine") and not _own(module):
                    yield where, module, tuple(alias.name for alias in node.names)


def _own(module: str) -> bool:
    return module == OWN or module.startswith(OWN + ".")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_the_scan_sees_the_adapters_engine_imports() -> None:
    """The scan finds the adapters' imports of the engine (a scan finding none checks nothing)."""
    modules = {module for _, module, _ in engine_imports()}
    assert {"tfa_engine", "tfa_engine.store", "tfa_engine.config"} <= modules


def test_no_adapter_imports_a_private_engine_module() -> None:
    """No adapter imports an underscore module of the engine, or one by name."""
    found = [
        f"{where}: {module} {names}"
        for where, module, names in engine_imports()
        if any(_private(part) for part in module.split("."))
        or any(_private(name) for name in names)
    ]
    assert found == []


def test_adapters_import_only_names_the_engine_exports() -> None:
    """Every name an adapter imports from the engine is in its module's ``__all__``."""
    found = []
    for where, module, names in engine_imports():
        exported = set(getattr(importlib.import_module(module), "__all__", ()))
        found += [f"{where}: {module}.{name}" for name in names if name not in exported]
    assert found == []

"""docs/api.md is the public surface of tfa_engine: it lists exactly the public modules and
their ``__all__``, every listed name exists, and no public name hides a module."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest
from user_docs import every_page

import tfa_engine

API = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text(encoding="utf-8")
HEADING = re.compile(r"^#+ `(tfa_engine[\w.]*)`$")
ROW = re.compile(r"^\| `([\w]+)` \|")
FACES = "tfa_engine.adapters"  # the HTTP faces and the CLI: documented in the README


def documented() -> dict[str, list[str]]:
    """The names docs/api.md lists under each module heading, in order."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in API.splitlines():
        if line.startswith("#"):
            heading = HEADING.match(line)
            current = sections.setdefault(heading[1], []) if heading else None
        elif current is not None and (row := ROW.match(line)):
            current.append(row[1])
    return sections


def engine_modules(package: ModuleType = tfa_engine) -> list[str]:
    """Every module of the engine (not of its faces), found without importing modules."""
    found = [package.__name__]
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if info.name == FACES:
            continue
        if info.ispkg:
            found += engine_modules(importlib.import_module(info.name))
        else:
            found.append(info.name)
    return found


def public(name: str) -> bool:
    """A module is public when no part of its dotted name starts with an underscore."""
    return not any(part.startswith("_") for part in name.split("."))


PUBLIC = [name for name in engine_modules() if public(name)]
PACKAGES = [name for name in PUBLIC if hasattr(importlib.import_module(name), "__path__")]


def test_docs_list_every_public_module_and_no_other() -> None:
    """docs/api.md has a section for each module without an underscore in its name."""
    assert sorted(documented()) == sorted(PUBLIC)


@pytest.mark.parametrize("name", sorted(documented()))
def test_docs_list_exactly_the_modules_all(name: str) -> None:
    """The names docs/api.md lists for a module are its ``__all__``, each once."""
    listed = documented()[name]
    module = importlib.import_module(name)
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(getattr(module, "__all__", ()))


@pytest.mark.parametrize("name", PUBLIC)
def test_every_exported_name_exists(name: str) -> None:
    """Each name in a public module's ``__all__`` is there to import."""
    module = importlib.import_module(name)
    assert module.__all__
    assert [n for n in module.__all__ if not hasattr(module, n)] == []


@pytest.mark.parametrize("name", PACKAGES)
def test_no_name_of_a_package_hides_a_module_of_it(name: str) -> None:
    """A package attribute named like one of its modules is that module, not a function."""
    package = importlib.import_module(name)
    hidden = [
        info.name for info in pkgutil.iter_modules(package.__path__)
        if info.name in vars(package) and not isinstance(vars(package)[info.name], ModuleType)
    ]
    assert hidden == []


def test_the_top_level_exports_what_the_readme_imports() -> None:
    """Every name the README and the pages of docs/ import from tfa_engine is in its
    ``__all__``."""
    readme = every_page()
    imported = {
        name.strip()
        for names in re.findall(r"^from tfa_engine import ([\w, ]+)", readme, re.M)
        for name in names.split(",")
    }
    assert imported
    assert imported <= set(tfa_engine.__all__)

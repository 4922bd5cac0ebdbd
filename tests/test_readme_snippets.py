"""Every Python snippet of the README and of the pages of docs/ runs as written, inside a
project of the user's own.

The project holds a module ``engine.py`` and a package ``adapters/`` of its own, as Django
and Flask projects often do: the snippets import ``tfa_engine`` and must not pick those up.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from user_docs import code_blocks, every_page

SNIPPETS = code_blocks(every_page(), "python")
TIMEOUT = 60.0


def user_project(root: Path) -> Path:
    """A directory with the user's own ``engine.py`` and ``adapters/`` package."""
    (root / "engine.py").write_text("OWNER = 'the user'\n", encoding="utf-8")
    (root / "adapters").mkdir()
    (root / "adapters" / "__init__.py").write_text("OWNER = 'the user'\n", encoding="utf-8")
    return root


def test_the_readme_has_python_snippets() -> None:
    """The README shows direct import and the middleware (so the tests below run them)."""
    assert len(SNIPPETS) >= 2


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: s.splitlines()[0][:40])
def test_snippet_runs_as_written(tmp_path: Path, snippet: str) -> None:
    """The snippet, saved as a script in the user's project and run there, exits 0."""
    script = user_project(tmp_path) / "snippet.py"
    script.write_text(snippet, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )
    assert done.returncode == 0, done.stderr


def test_direct_import_snippet_validates_its_code(tmp_path: Path) -> None:
    """The direct-import snippet prints what its comment says: 0 Valid."""
    snippet = next(s for s in SNIPPETS if "validate_code" in s)
    script = user_project(tmp_path) / "snippet.py"
    script.write_text(snippet, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
        timeout=TIMEOUT, check=True,
    )
    assert done.stdout.strip() == "0 Valid"

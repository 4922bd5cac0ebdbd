"""Fixtures for the ``tfa`` command's tests.

Fixtures:
    tfa_env     a clean environment: no TFA_* variable from the caller, TFA_DATABASE in
                tmp_path, the memory gateway and cheap hashing. Returns the variables set.
    database    the path of that SQLite file.
    tfa         ``tfa(*argv)`` runs the command in-process (see cli_in_process.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_in_process import Tfa, in_process


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """Where the command's SQLite file goes."""
    return tmp_path / "tfa.db"


@pytest.fixture(autouse=True)
def tfa_env(monkeypatch: pytest.MonkeyPatch, database: Path) -> dict[str, str]:
    """Only the TFA_* variables a test sets itself, with a private database."""
    for name in list(os.environ):
        if name.startswith("TFA_"):
            monkeypatch.delenv(name)
    variables = {
        "TFA_DATABASE": str(database),
        "TFA_GATEWAY": "memory",
        "TFA_ARGON2_PROFILE": "test",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


@pytest.fixture
def tfa(capsys: pytest.CaptureFixture[str]) -> Tfa:
    """``tfa(*argv)`` runs the command in-process and returns its exit code and output."""
    return in_process(capsys)

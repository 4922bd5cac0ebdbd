"""What ``tfa`` leaves beside its SQLite database stays out of version control: a
checkout where someone ran ``tfa serve`` and ``tfa token create`` shows git nothing new."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tfa_processes import REPO, create_token_json, local_environ, start_serve

pytestmark = pytest.mark.network


def git(repo: Path, *argv: str) -> str:
    """Run git in ``repo``; its output."""
    done = subprocess.run(["git", *argv], cwd=repo, capture_output=True, text=True,
                          timeout=30, check=True)
    return done.stdout


def test_files_beside_the_database_are_ignored_by_git(tmp_path: Path) -> None:
    """After `tfa serve` and `tfa token create` in a checkout with the project's
    .gitignore, git lists no file they made (tfa.db and its .lock, .writer files)."""
    git(tmp_path, "init", "-q")
    shutil.copy(REPO / ".gitignore", tmp_path / ".gitignore")
    env = local_environ(tmp_path)
    server = start_serve(tmp_path, env)
    try:
        create_token_json(tmp_path, env, "shop")
    finally:
        server.stop()
    made = {path.name for path in tmp_path.iterdir()} - {".git", ".gitignore"}
    assert {"tfa.db", "tfa.db.lock", "tfa.db.writer"} <= made
    untracked = git(tmp_path, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert untracked == ["?? .gitignore"]

"""The README is the user's catalogue: it must list every status exactly."""

from pathlib import Path

import pytest

from tfa_engine import catalogue

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("status", catalogue.CATALOGUE, ids=lambda s: s.name)
def test_readme_lists_status(status: catalogue.Status) -> None:
    """Each status has a README table row with its code, HTTP status and exact text."""
    row = f"| {status.code} | {status.http} | {status.text}"
    assert row in README

"""tests/lowest-constraints.txt pins every dependency of setup.py at its lower bound."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
SETUP = (ROOT / "setup.py").read_text(encoding="utf-8")
CONSTRAINTS = (ROOT / "tests" / "lowest-constraints.txt").read_text(encoding="utf-8")
# A quoted requirement with a lower bound, as setup.py writes them: "name>=1.2; marker".
QUOTED = re.compile(
    r""""([A-Za-z0-9_.-]+(?:\[[a-z,]+\])?>=[^"]+)"|'([A-Za-z0-9_.-]+(?:\[[a-z,]+\])?>=[^']+)'"""
)


def lowest(requirement: Requirement) -> tuple[Version, str]:
    """The one version a requirement names (its bound or its pin), and its marker."""
    (spec,) = requirement.specifier
    return Version(spec.version), str(requirement.marker or "")


def test_every_lower_bound_is_pinned_as_written() -> None:
    """Every `>=X` of setup.py is `==X` in the constraints file, markers kept, and the
    file pins nothing else."""
    written = [double or single for double, single in QUOTED.findall(SETUP)]
    bounds = {r.name.lower(): lowest(r) for r in map(Requirement, written)}
    pins = {
        r.name.lower(): lowest(r)
        for r in (
            Requirement(line) for line in CONSTRAINTS.splitlines()
            if line.strip() and not line.startswith("#")
        )
    }
    assert len(bounds) >= 12
    assert pins == bounds

"""Run by `tox -e lowest`: every dependency is installed at the version
tests/lowest-constraints.txt pins (its lowest allowed), so the suite that follows
tests the lower bounds and not whatever pip picked."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

from packaging.requirements import Requirement

CONSTRAINTS = Path(__file__).resolve().parents[1] / "lowest-constraints.txt"


def main() -> int:
    """0 when every applicable pin is what is installed; else 1, naming the others."""
    wrong = []
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        pin = Requirement(line)
        if pin.marker is not None and not pin.marker.evaluate():
            continue
        (spec,) = pin.specifier
        try:
            installed = importlib.metadata.version(pin.name)
        except importlib.metadata.PackageNotFoundError:
            installed = "nothing"
        if installed != spec.version and not installed.startswith(spec.version + "."):
            wrong.append(f"{pin.name}: {installed} installed, {spec.version} pinned")
    for message in wrong:
        print(f"check_lowest: {message}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())

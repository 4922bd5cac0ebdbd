"""The benchmarks package lives at the repository root and is not installed: put it on
the path for these tests."""

import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.append(REPO)  # appended: an installed engine/adapters still wins

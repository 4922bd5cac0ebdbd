"""The attack suite's scan (tests/attacks/test_zz_no_secrets_left.py) sees what the whole
suite left: it runs after every other attack test, and under xdist on their worker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCAN = "tests/attacks/test_zz_no_secrets_left.py"
ATTACK = "tests/attacks/test_stolen_tokens.py"
TIMEOUT = 300.0  # seconds for one inner pytest run


def inner_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    """pytest run in a process of its own on this checkout, as a developer runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )


def test_the_scan_runs_after_the_attacks_whatever_the_command_line_order() -> None:
    """Given first on the command line, the scan's tests still come after the attack's."""
    listed = inner_pytest("--collect-only", "-q", SCAN, ATTACK)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    files = [line.split("::")[0] for line in listed.stdout.splitlines() if "::" in line]
    assert files.count(SCAN) >= 4 and files.count(ATTACK) >= 1
    assert files.index(SCAN) > max(i for i, f in enumerate(files) if f == ATTACK)


def test_under_xdist_the_attack_suite_runs_on_one_worker() -> None:
    """With two workers, every attack test and the scan run on the same one, and pass."""
    run = inner_pytest("-n", "2", "-v", ATTACK, SCAN)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    workers = re.findall(r"^\[(gw\d+)\] .*PASSED tests/attacks/", run.stdout, re.M)
    assert len(workers) >= 5, run.stdout[-3000:]
    assert len(set(workers)) == 1, run.stdout[-3000:]

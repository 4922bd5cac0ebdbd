"""A 201 means the code is on disk: SQLite commits wait for the disk by default.

The power cannot be cut in a test, so the durable setting is shown by what it does: the
write behind each sent code's 201 ends with an fsync (counted with strace in a child process),
while ``synchronous="NORMAL"`` leaves them to the checkpoints.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tfa_engine.store import SQLiteStore

CODES = 20
# The writes of one sent code: insert it, then activate it, each its own commit.
WRITER = """
import sys
from tfa_engine.store import NewCode, SQLiteStore
options = {} if sys.argv[2] == "default" else {"synchronous": sys.argv[2]}
store = SQLiteStore(sys.argv[1], **options)
for n in range(int(sys.argv[3])):
    code_id = store.insert_code(NewCode(
        str(10**19 + n), "tok", f"ref-{n}", "+447911123456", "hash", 6, False, "TFA", None,
        1.0, 301.0))
    store.activate_code(code_id, 1.0)
store.close()
"""


def syncs_while_writing(path: Path, synchronous: str) -> int:
    """fsync and fdatasync calls of a process that stores and activates ``CODES`` codes
    (the schema made beforehand, so migrations are not counted)."""
    SQLiteStore(path).close()
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("counting fsync calls needs strace (apt-get install strace)")
    out = path.with_suffix(".strace")
    subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=fsync,fdatasync", "-o", str(out),
         sys.executable, "-c", WRITER, str(path), synchronous, str(CODES)],
        check=True, timeout=60, capture_output=True,
    )
    return sum(1 for line in out.read_text().splitlines() if "sync(" in line)


def test_each_sent_code_is_synced_to_disk_by_default(tmp_path: Path) -> None:
    """With the defaults every activation (what a 201 rests on) is fsynced before it
    returns; the insert before it is not waited for, since that fsync covers it too."""
    syncs = syncs_while_writing(tmp_path / "tfa.db", "default")
    assert CODES <= syncs < 2 * CODES


def test_normal_mode_trades_the_syncs_away(tmp_path: Path) -> None:
    """``synchronous="NORMAL"`` (a documented trade) skips the per-commit fsync."""
    assert syncs_while_writing(tmp_path / "tfa.db", "NORMAL") < CODES / 2


def test_the_default_store_is_durable(tmp_path: Path) -> None:
    """SQLiteStore's default mode is FULL."""
    store = SQLiteStore(tmp_path / "tfa.db")
    try:
        assert store.synchronous == "FULL"
    finally:
        store.close()
